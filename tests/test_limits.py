"""Abuse limits against real relays sharing one real Redis: per recipient across networks
and processes, the sliding window per network, proof of work through the JSON header,
floods, resending instead of resubmitting, token guessing, operator mode and metrics."""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import subprocess
import sys
import time
from datetime import datetime
from typing import Any

import aiohttp
import pytest
import redis.asyncio

from relay.abuse.limits import Limits, normalize_email
from relay.abuse.pow import Challenge, solve
from relay.errors import RateLimited, SettingsError
from relay.ops.metrics import Metrics
from relay.settings import Settings
from relay.storage.store import Store, mail_queue_key
from tests.conftest import (
    PracticeHandle,
    RelayFactory,
    RunningRelay,
    SmtpSink,
    link_in,
    new_settings,
    subprocess_env,
)
from tests.helpers import (
    booking_json,
    profile_json,
    put_profile,
    wait_until_async,
    wish_booking_json,
)
from tests.test_pages import form_post
from tests.test_settings import valid_env

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"),)
# Cheap proofs for the tests; the product's default difficulty is a setting.
EASY = 2000
POW_HEADER = "X-Terminrelay-Pow"


def network(index: int) -> dict[str, str]:
    """Headers making a request come from client network 198.51.{index}.0/24 (the relay
    trusts loopback as its proxy in these tests)."""
    return {"X-Forwarded-For": f"198.51.{index}.7"}


async def post_booking(
    http: aiohttp.ClientSession,
    relay: RunningRelay,
    slug: str,
    booking: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], aiohttp.typedefs.LooseHeaders]:
    async with http.post(
        f"{relay.url}/api/v1/practices/{slug}/bookings", json=booking, headers=headers or {}
    ) as response:
        return response.status, await response.json(), response.headers


async def fetch_challenge(http: aiohttp.ClientSession, url: str, **headers: str) -> Challenge:
    async with http.get(url, headers=headers) as response:
        assert response.status == 200, await response.text()
        body = await response.json()
    return Challenge(
        body["algorithm"], body["challenge"], body["maxnumber"], body["salt"], body["signature"]
    )


async def queue_empty(relay: RunningRelay, slug: str) -> bool:
    """True once the mail worker has sent every queued mail of the practice."""
    return int(await relay.store.redis.zcard(mail_queue_key(slug))) == 0


def test_addresses_are_counted_in_one_spelling() -> None:
    """Case, a +tag and Gmail's dots do not make another recipient; other domains keep dots."""
    assert normalize_email(" Erika.M+termin@GoogleMail.com ") == "erikam@gmail.com"
    assert normalize_email("Erika.M+x@Example.ORG.") == "erika.m@example.org"
    assert normalize_email("+only@example.org") == "+only@example.org"


async def test_three_mails_per_address_from_twenty_networks_and_two_relays(
    relay_factory: RelayFactory, smtp_sink: SmtpSink
) -> None:
    """Given two relay processes sharing Redis; when twenty client networks submit for one
    address (spelled in different cases and with +tags), then three are accepted and mailed,
    the rest get 429 with an e-mail error and a Retry-After within the hour."""
    first = await relay_factory(trusted_proxies=LOOPBACK)
    # One deployment: the second process has the same keys.
    keys = {"signing_key": first.settings.signing_key, "data_keys": first.settings.data_keys}
    second = await relay_factory(trusted_proxies=LOOPBACK, **keys)
    practice = await first.add_practice()
    spellings = ["opfer@example.org", "Opfer@Example.org", "opfer+1@example.org"]
    statuses, refusals = [], []
    async with aiohttp.ClientSession() as http:
        for index in range(20):
            relay = (first, second)[index % 2]
            booking = wish_booking_json(email=spellings[index % 3])
            status, body, headers = await post_booking(
                http, relay, practice.slug, booking, network(index)
            )
            statuses.append(status)
            if status == 429:
                refusals.append((body, int(headers["Retry-After"])))
    assert statuses.count(202) == 3
    assert statuses.count(429) == 17
    for body, retry_after in refusals:
        assert "email" in body["errors"]
        assert 0 < retry_after <= 3600
    await smtp_sink.wait_for(3)
    await wait_until_async(lambda: queue_empty(first, practice.slug), "every mail sent")
    assert len(smtp_sink.messages) == 3


async def test_sliding_window_has_no_double_burst_at_a_window_edge(
    redis_url: str, smtp_sink: SmtpSink
) -> None:
    """Given a limit of 3 per 10 s (proof of work off); when 3 pass just before a fixed
    window's edge, then right after the edge the 4th is refused, with Retry-After saying
    exactly when the oldest leaves the window; then one, and only one, more passes."""
    settings = new_settings(
        redis_url, smtp_sink.settings, 8080, submit_limit=3, submit_window=10, pow="off"
    )
    now = [0.0]
    client = redis.asyncio.from_url(redis_url)
    limits = Limits(settings=settings, store=Store(client), metrics=Metrics(), clock=lambda: now[0])

    async def submit_at(moment: float, member: str) -> None:
        now[0] = moment
        ticket = limits.ticket(
            "p", network="203.0.113.0/24", email=f"{member}@example.org", proof=None, member=member
        )
        await limits.admit_submission(ticket, proof=None)

    try:
        for index, moment in enumerate((1_900_000_007.5, 1_900_000_008.5, 1_900_000_009.5)):
            await submit_at(moment, f"m{index}")
        # A fixed 10 s window would start afresh at ...010.0 and let 3 more through.
        with pytest.raises(RateLimited) as refused:
            await submit_at(1_900_000_010.5, "m3")
        assert refused.value.retry_after == 7  # the first leaves at ...017.5
        await submit_at(1_900_000_017.6, "m4")
        with pytest.raises(RateLimited):
            await submit_at(1_900_000_017.7, "m5")
    finally:
        await client.aclose()


async def test_past_the_soft_limit_a_proof_in_the_header_gets_through_once(
    relay_factory: RelayFactory,
) -> None:
    """Given a soft limit of 1: the 2nd submission gets 429 naming the challenge URL and
    header; with a solved challenge in the header it is accepted; the same solution again,
    a forged one and an expired one are refused."""
    relay = await relay_factory(submit_limit=1, pow_difficulty=EASY)
    practice = await relay.add_practice()
    async with aiohttp.ClientSession() as http:
        assert (await post_booking(http, relay, practice.slug, wish_booking_json()))[0] == 202
        status, body, headers = await post_booking(http, relay, practice.slug, wish_booking_json())
        assert status == 429
        assert body["header"] == POW_HEADER
        assert int(headers["Retry-After"]) > 0
        challenge = await fetch_challenge(http, relay.url + body["challenge_url"])
        assert challenge.maxnumber == EASY
        proof = solve(challenge)

        accepted = await post_booking(
            http, relay, practice.slug, wish_booking_json(), {POW_HEADER: proof}
        )
        assert accepted[0] == 202
        again = await post_booking(
            http, relay, practice.slug, wish_booking_json(), {POW_HEADER: proof}
        )
        assert again[0] == 429

        document = json.loads(base64.b64decode(proof))
        document["signature"] = "0" * 64
        forged = base64.b64encode(json.dumps(document).encode()).decode()
        old = relay.service.limits.pow.issue(EASY, now=time.time() - 4000)
        for bad in (forged, solve(old)):
            status, _, _ = await post_booking(
                http, relay, practice.slug, wish_booking_json(), {POW_HEADER: bad}
            )
            assert status == 429
    metrics, _ = relay.service.metrics.render()
    assert b'terminrelay_pow_challenges_total{event="solved"} 1.0' in metrics
    assert b'terminrelay_limit_hits_total{kind="pow_invalid"} 3.0' in metrics
    assert b'terminrelay_limit_hits_total{kind="pow_required"} 1.0' in metrics
    assert b"terminrelay_pow_difficulty 2000.0" in metrics


async def test_past_the_hard_limit_even_a_proof_is_refused(relay_factory: RelayFactory) -> None:
    """Past the hard limit a valid proof does not help: 429 without a challenge URL."""
    relay = await relay_factory(submit_limit=1, submit_hard_limit=2, pow_difficulty=EASY)
    practice = await relay.add_practice()
    url = f"{relay.url}/api/v1/challenge?practice={practice.slug}"
    async with aiohttp.ClientSession() as http:
        assert (await post_booking(http, relay, practice.slug, wish_booking_json()))[0] == 202
        proof = solve(await fetch_challenge(http, url))
        headers = {POW_HEADER: proof}
        assert (await post_booking(http, relay, practice.slug, wish_booking_json(), headers))[
            0
        ] == 202
        proof = solve(await fetch_challenge(http, url))
        status, body, _ = await post_booking(
            http, relay, practice.slug, wish_booking_json(), {POW_HEADER: proof}
        )
    assert status == 429
    assert "challenge_url" not in body


async def test_a_flood_asks_everyone_for_a_proof_and_raises_the_difficulty(
    relay_factory: RelayFactory,
) -> None:
    """Given a practice flood threshold of 2 per minute; after 2 submissions a fresh
    network also needs a proof, and the challenge gets harder as the flood grows."""
    relay = await relay_factory(trusted_proxies=LOOPBACK, flood_practice=2, pow_difficulty=EASY)
    practice = await relay.add_practice()
    url = f"{relay.url}/api/v1/challenge?practice={practice.slug}"

    async def early_in_a_minute() -> bool | None:
        # The flood is counted per wall-clock minute: the submissions below must fall
        # into one, even on a slow machine.
        return time.time() % 60 < 30 or None

    await wait_until_async(early_in_a_minute, "the first half of a minute")
    async with aiohttp.ClientSession() as http:
        calm = await fetch_challenge(http, url, **network(50))
        for index in range(2):
            booking = wish_booking_json()
            assert (await post_booking(http, relay, practice.slug, booking, network(index)))[
                0
            ] == 202
        status, body, _ = await post_booking(
            http, relay, practice.slug, wish_booking_json(), network(60)
        )
        assert status == 429
        assert "challenge_url" in body
        for index in range(2, 4):
            proof = solve(await fetch_challenge(http, url, **network(index)))
            headers = {POW_HEADER: proof, **network(index)}
            assert (await post_booking(http, relay, practice.slug, wish_booking_json(), headers))[
                0
            ] == 202
        stormy = await fetch_challenge(http, url, **network(61))
    assert calm.maxnumber == EASY
    assert stormy.maxnumber == 2 * EASY


async def test_the_form_carries_a_challenge_only_when_one_is_needed(
    relay_factory: RelayFactory,
) -> None:
    """The form has no proof-of-work widget for a calm network; `relay pow always` (the
    operator's switch in Redis) puts it in every form, `relay pow default` takes it out."""
    relay = await relay_factory(pow_difficulty=EASY)
    practice = await relay.add_practice()
    form_url = f"{relay.url}/p/{practice.slug}"
    async with aiohttp.ClientSession() as http:
        async with http.get(form_url) as page:
            assert 'id="pow"' not in await page.text()
        await relay.store.set_pow_mode("always")
        async with http.get(form_url) as page:
            html = await page.text()
        assert 'id="pow"' in html
        assert "/static/pow.js" in html
        assert (await post_booking(http, relay, practice.slug, wish_booking_json()))[0] == 429
        await relay.store.set_pow_mode(None)
        async with http.get(form_url) as page:
            assert 'id="pow"' not in await page.text()


def test_relay_pow_command_sets_and_clears_the_mode(redis_url: str) -> None:
    """`relay pow always` stores the mode for all processes; `relay pow default` clears
    it; `relay pow` shows what is in force."""
    env = subprocess_env(RELAY_REDIS_URL=redis_url)

    def relay_pow(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "relay", "pow", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    assert "always" in relay_pow("always")
    assert "always" in relay_pow()
    assert "RELAY_POW" in relay_pow("default")


async def test_the_same_request_again_resends_the_mail_instead_of_slot_taken(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """Given a pending booking of a slot; the same address and slot again answer 202
    `resent` with the same link mailed again; another address gets 409; a fourth mail to
    the address is past the recipient limit."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        booking = booking_json()
        assert (await post_booking(http, relay, practice.slug, booking))[0] == 202
        (first,) = await smtp_sink.wait_for(1)
        await wait_until_async(lambda: queue_empty(relay, practice.slug), "the first mail sent")

        again = dict(booking, email=booking["email"].upper(), phone="")
        status, body, _ = await post_booking(http, relay, practice.slug, again)
        assert (status, body.get("resent")) == (202, True)
        messages = await smtp_sink.wait_for(2)
        assert link_in(messages[1]) == link_in(first)
        assert messages[1]["To"] == again["email"]

        other = dict(booking, email="someone.else@example.org")
        assert (await post_booking(http, relay, practice.slug, other))[0] == 409

        await wait_until_async(lambda: queue_empty(relay, practice.slug), "the resent mail")
        assert (await post_booking(http, relay, practice.slug, booking))[0] == 202
        await smtp_sink.wait_for(3)
        status, body, _ = await post_booking(http, relay, practice.slug, booking)
    assert status == 429
    assert "email" in body["errors"]
    body_metrics, _ = relay.service.metrics.render()
    assert b'terminrelay_bookings_total{event="resent"} 2.0' in body_metrics
    assert b'terminrelay_limit_hits_total{kind="recipient"} 1.0' in body_metrics


async def test_the_sent_page_sends_the_mail_again(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """The sent page's button mails the same link again; a tampered resend token is 410."""
    async with aiohttp.ClientSession() as http:
        profile = profile_json()
        await put_profile(http, relay.url, practice.token, profile)
        booking = booking_json()
        async with http.post(f"{relay.url}/p/{practice.slug}", data=form_post(booking)) as sent:
            assert sent.status == 200
            html = await sent.text()
        match = re.search(r'name="resend" value="([^"]+)"', html)
        assert match, "no resend field on the sent page"
        token = match.group(1)
        (first,) = await smtp_sink.wait_for(1)
        await wait_until_async(lambda: queue_empty(relay, practice.slug), "the first mail sent")

        resend_url = f"{relay.url}/p/{practice.slug}/resend"
        async with http.post(resend_url, data={"resend": token}) as resent:
            assert resent.status == 200
            assert "noch einmal gesendet" in await resent.text()
        messages = await smtp_sink.wait_for(2)
        assert link_in(messages[1]) == link_in(first)

        booking_id, _, sealed = token.partition(".")
        tampered = f"{booking_id}.{sealed[:-4]}AAAA"
        async with http.post(resend_url, data={"resend": tampered}) as refused:
            assert refused.status == 410


async def test_failed_confirmation_tokens_are_limited_per_network_successes_never(
    relay_factory: RelayFactory, smtp_sink: SmtpSink
) -> None:
    """Past 3 failed confirmation tokens a network gets 429 for further failures, while a
    real link from the same network still opens and confirms."""
    relay = await relay_factory(guess_limit=3)
    practice = await relay.add_practice()
    async with aiohttp.ClientSession() as http:
        assert (await post_booking(http, relay, practice.slug, wish_booking_json()))[0] == 202
        (message,) = await smtp_sink.wait_for(1)
        link = link_in(message)
        statuses = []
        for _ in range(5):
            async with http.get(f"{relay.url}/c/{practice.slug}.{'A' * 32}") as guess:
                statuses.append(guess.status)
                retry_after = guess.headers.get("Retry-After")
        assert statuses == [410, 410, 410, 429, 429]
        assert retry_after is not None
        assert 0 < int(retry_after) <= relay.settings.guess_window
        async with http.get(link) as page:
            assert page.status == 200
        async with http.post(link, data={"action": "confirm"}) as confirmed:
            assert confirmed.status == 200
    metrics, _ = relay.service.metrics.render()
    assert b'terminrelay_limit_hits_total{kind="guess_confirm"} 2.0' in metrics


async def test_practice_clients_are_never_limited_by_a_guesser_in_their_network(
    relay_factory: RelayFactory,
) -> None:
    """Past 3 failed practice tokens a network gets 429 for failures, yet two practices in
    that network keep polling with their valid tokens, many times over."""
    relay = await relay_factory(guess_limit=3)
    practices = [await relay.add_practice(f"praxis-{index}") for index in range(2)]
    async with aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(5):
            headers = {"Authorization": f"Bearer praxis-0.{'B' * 32}"}
            async with http.get(f"{relay.url}/api/v1/inbox?wait=0", headers=headers) as failed:
                statuses.append(failed.status)
        assert statuses == [401, 401, 401, 429, 429]
        for _ in range(10):
            for practice in practices:
                async with http.get(
                    f"{relay.url}/api/v1/inbox?wait=0", headers=practice.auth
                ) as polled:
                    assert polled.status == 200
    metrics, _ = relay.service.metrics.render()
    assert b'terminrelay_limit_hits_total{kind="guess_practice"} 2.0' in metrics


async def test_recipient_refusal_in_the_form_keeps_what_was_typed(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """The fourth form post for one address within the hour answers 429 with the form
    again, every value kept, and the mailbox message on top."""
    async with aiohttp.ClientSession() as http:
        profile = profile_json(count=4)
        await put_profile(http, relay.url, practice.token, profile)
        email = "viermal@example.org"
        for index in range(4):
            start = datetime.fromisoformat(profile["slots"][index]["start"])
            booking = booking_json(start=start, email=email)
            async with http.post(
                f"{relay.url}/p/{practice.slug}", data=form_post(booking)
            ) as response:
                status, html = response.status, await response.text()
                retry_after = response.headers.get("Retry-After")
    assert status == 429
    assert retry_after is not None
    assert "Anfragen warten schon in Ihrem Postfach" in html
    for value in (booking["first_name"], booking["last_name"], email, booking["phone"]):
        assert value in html


def test_limit_settings_parse_and_bad_ones_are_named() -> None:
    """The limit settings come from RELAY_* variables; a bad one stops start-up naming it."""
    env = valid_env()
    settings = Settings.from_env(
        {
            **env,
            "RELAY_POW": "always",
            "RELAY_POW_DIFFICULTY": "100000",
            "RELAY_SUBMIT_WINDOW": "60",
            "RELAY_RECIPIENT_LIMIT": "5",
            "RELAY_GUESS_LIMIT": "7",
        }
    )
    assert (settings.pow, settings.pow_difficulty, settings.submit_window) == (
        "always",
        100_000,
        60,
    )
    assert (settings.recipient_limit, settings.guess_limit) == (5, 7)
    assert Settings.from_env(env).pow == "auto"
    for name, value in (("RELAY_POW", "sometimes"), ("RELAY_POW_DIFFICULTY", "10")):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({**env, name: value})
