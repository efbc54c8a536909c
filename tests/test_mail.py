"""The confirmation mail: content, languages, queue, retries, and no blocking of submits."""

from __future__ import annotations

import time

import aiohttp

from relay.settings import SmtpSettings
from tests.conftest import PracticeHandle, RelayFactory, RunningRelay, SmtpSink, free_port, link_in
from tests.helpers import booking_json, profile_json, put_profile, submit, wish_booking_json


async def test_mail_is_german_then_english_with_html_and_no_health_data(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """The mail names the practice, carries the link in both parts, and no booking details."""
    booking = booking_json()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        assert (await submit(http, relay.url, practice.slug, booking)).status == 202
    (message,) = await smtp_sink.wait_for(1)
    assert smtp_sink.envelopes == [("termine@relay.test", [booking["email"]])]
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    text = plain.get_content()
    assert text.index("Guten Tag") < text.index("Hello")
    link = link_in(message)
    assert link in html.get_content()
    token = link.rsplit("/", 1)[1]
    assert len(token.split(".", 1)[1]) >= 22  # at least 128 bits of randomness
    for detail in ("Erstgespräch", booking["doctor"], booking["note"], booking["last_name"]):
        assert detail not in message.as_string()


async def test_submit_does_not_wait_for_a_dead_mail_server(relay_factory: RelayFactory) -> None:
    """With SMTP unreachable, submits still answer 202 at once; the job waits for retries."""
    nowhere = SmtpSettings(host="127.0.0.1", port=free_port())
    relay = await relay_factory(smtp=nowhere, mail_retry_base=0.05)
    practice = await relay.add_practice()
    booking = wish_booking_json()
    async with aiohttp.ClientSession() as http:
        started = time.monotonic()
        assert (await submit(http, relay.url, practice.slug, booking)).status == 202
        assert time.monotonic() - started < 0.5
    body = await relay.metrics_show(b'terminrelay_mail_total{outcome="retried"} 2.0')
    assert b'terminrelay_mail_total{outcome="sent"} 0.0' in body
    assert b'terminrelay_mail_total{outcome="retried"} 2.0' in body


async def test_temporary_smtp_failures_are_retried_until_sent(
    relay_factory: RelayFactory, smtp_sink: SmtpSink
) -> None:
    """A mail refused twice with 451 is sent on the third attempt and its job deleted."""
    relay = await relay_factory(mail_retry_base=0.05)
    practice = await relay.add_practice()
    smtp_sink.fail_next = 2
    booking = wish_booking_json()
    async with aiohttp.ClientSession() as http:
        assert (await submit(http, relay.url, practice.slug, booking)).status == 202
    (message,) = await smtp_sink.wait_for(1)
    assert message["To"] == booking["email"]
    # The relay counts the mail once the server's answer is in, a moment after the sink.
    body = await relay.metrics_show(b'terminrelay_mail_total{outcome="sent"} 1.0')
    assert b'terminrelay_mail_total{outcome="retried"} 2.0' in body
    assert b'terminrelay_mail_total{outcome="sent"} 1.0' in body
    assert [key async for key in relay.store.redis.scan_iter("tr:{*}:m:*")] == []


async def test_mail_given_up_after_max_attempts(
    relay_factory: RelayFactory, smtp_sink: SmtpSink
) -> None:
    """A mail that keeps failing is given up after the configured attempts, counted failed."""
    relay = await relay_factory(mail_retry_base=0.02, mail_max_attempts=3)
    practice = await relay.add_practice()
    smtp_sink.fail_next = 100
    booking = wish_booking_json()
    async with aiohttp.ClientSession() as http:
        assert (await submit(http, relay.url, practice.slug, booking)).status == 202
    body = await relay.metrics_show(b'terminrelay_mail_total{outcome="failed"} 1.0')
    assert b'terminrelay_mail_total{outcome="failed"} 1.0' in body
    assert b'terminrelay_mail_total{outcome="retried"} 2.0' in body
    assert [key async for key in relay.store.redis.scan_iter("tr:{*}:m:*")] == []
