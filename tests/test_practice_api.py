"""The practice API: bearer tokens, long poll, redelivery, acknowledgement, key and profile."""

from __future__ import annotations

import asyncio
import base64
import time

import aiohttp
import pytest
from nacl.public import PrivateKey, SealedBox
from nacl.signing import SigningKey

from relay.crypto.sealing import PAD_FLOOR
from tests.conftest import PracticeHandle, RelayFactory, RunningRelay, SmtpSink, link_in
from tests.helpers import booking_json, profile_json, put_profile, submit, wish_booking_json


async def confirmed_booking(
    http: aiohttp.ClientSession, relay: RunningRelay, practice: PracticeHandle, sink: SmtpSink
) -> None:
    """Submits and confirms a booking; the default profile takes wishes."""
    sink.clear()
    booking = wish_booking_json()
    response = await submit(http, relay.url, practice.slug, booking)
    assert response.status == 202, await response.text()
    (message,) = await sink.wait_for(1)
    async with http.post(link_in(message), data={"action": "confirm"}) as confirmed:
        assert confirmed.status == 200


async def fetch(
    http: aiohttp.ClientSession, relay: RunningRelay, practice: PracticeHandle, wait: int = 0
) -> list[dict[str, str]]:
    async with http.get(
        f"{relay.url}/api/v1/inbox", params={"wait": wait}, headers=practice.auth
    ) as response:
        assert response.status == 200
        items: list[dict[str, str]] = (await response.json())["items"]
        return items


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer ",
        "Bearer nonsense",
        "Basic dXNlcjpwYXNz",
        "Bearer praxis-test." + "x" * 32,
        "Bearer unknown-practice." + "x" * 32,
    ],
)
async def test_practice_api_needs_a_valid_token(
    relay: RunningRelay, practice: PracticeHandle, authorization: str | None
) -> None:
    """Every practice endpoint answers 401 with a JSON error to a missing or wrong token."""
    headers = {"Authorization": authorization} if authorization else {}
    async with aiohttp.ClientSession() as http:
        for method, path in (
            ("GET", "/api/v1/inbox?wait=0"),
            ("POST", "/api/v1/inbox/ack"),
            ("PUT", "/api/v1/profile"),
            ("PUT", "/api/v1/key"),
        ):
            async with http.request(method, relay.url + path, headers=headers, json={}) as response:
                assert response.status == 401, (method, path)
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
                assert "error" in await response.json()


async def test_long_poll_answers_within_milliseconds_of_a_confirm(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """A waiting long poll returns the item right after the confirm, not at its deadline."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        response = await submit(http, relay.url, practice.slug, booking_json())
        assert response.status == 202
        link = link_in((await smtp_sink.wait_for(1))[0])
        poll = asyncio.create_task(fetch(http, relay, practice, wait=30))
        await asyncio.sleep(0.3)
        assert not poll.done()
        started = time.monotonic()
        async with http.post(link, data={"action": "confirm"}) as confirmed:
            assert confirmed.status == 200
        items = await asyncio.wait_for(poll, 5)
        latency = time.monotonic() - started
    assert len(items) == 1
    assert latency < 0.5


async def test_empty_long_poll_returns_after_wait(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """With nothing to deliver, the poll answers an empty list after about `wait` seconds."""
    async with aiohttp.ClientSession() as http:
        started = time.monotonic()
        assert await fetch(http, relay, practice, wait=1) == []
    assert 0.9 < time.monotonic() - started < 3


async def test_unacknowledged_items_are_delivered_again(
    relay_factory: RelayFactory, smtp_sink: SmtpSink
) -> None:
    """A fetched item stays hidden for the visibility timeout, then comes back until acked."""
    relay = await relay_factory(inbox_visibility=1)
    practice = await relay.add_practice()
    async with aiohttp.ClientSession() as http:
        await confirmed_booking(http, relay, practice, smtp_sink)
        (first,) = await fetch(http, relay, practice)
        assert await fetch(http, relay, practice) == []
        started = time.monotonic()
        (again,) = await fetch(http, relay, practice, wait=5)
        assert 0.5 < time.monotonic() - started < 2.5
        assert again["id"] == first["id"]
        assert again["sealed"] == first["sealed"]
        async with http.post(
            f"{relay.url}/api/v1/inbox/ack", json={"ids": [first["id"]]}, headers=practice.auth
        ) as ack:
            assert (await ack.json()) == {"acknowledged": 1}
        async with http.post(
            f"{relay.url}/api/v1/inbox/ack", json={"ids": [first["id"]]}, headers=practice.auth
        ) as ack_again:
            assert ack_again.status == 200
            assert (await ack_again.json()) == {"acknowledged": 0}
        await asyncio.sleep(1.2)
        assert await fetch(http, relay, practice) == []


async def test_sealed_items_open_only_with_the_practice_key_and_have_a_fixed_size(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """The inbox item is a sealed box of the floor size that the practice's key opens."""
    async with aiohttp.ClientSession() as http:
        await confirmed_booking(http, relay, practice, smtp_sink)
        (item,) = await fetch(http, relay, practice)
    sealed = base64.b64decode(item["sealed"])
    # A booking without a long note fills the floor size, plus a 32-byte ephemeral key and
    # a 16-byte MAC
    assert len(sealed) == PAD_FLOOR + 48
    padded = SealedBox(practice.private_key).decrypt(sealed)
    assert len(padded) == PAD_FLOOR
    with pytest.raises(Exception, match="ecrypt"):
        SealedBox(PrivateKey.generate()).decrypt(sealed)


async def test_ack_rejects_malformed_ids(relay: RunningRelay, practice: PracticeHandle) -> None:
    """Acknowledging something that is not a list of ids answers 422."""
    async with aiohttp.ClientSession() as http:
        for body in ({"ids": "abc"}, {"ids": [1, 2]}, {}, {"ids": ["x"] * 101}):
            async with http.post(
                f"{relay.url}/api/v1/inbox/ack", json=body, headers=practice.auth
            ) as response:
                assert response.status == 422


async def test_inbox_items_expire_after_inbox_ttl(
    relay_factory: RelayFactory, smtp_sink: SmtpSink
) -> None:
    """An item nobody fetches disappears after RELAY_INBOX_TTL."""
    relay = await relay_factory(inbox_ttl=1)
    practice = await relay.add_practice()
    async with aiohttp.ClientSession() as http:
        await confirmed_booking(http, relay, practice, smtp_sink)
        await asyncio.sleep(1.3)
        assert await fetch(http, relay, practice) == []
    assert [key async for key in relay.store.redis.scan_iter("tr:{praxis-test}:i:*")] == []


async def test_key_rotation_seals_new_bookings_to_the_new_key(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """After PUT /api/v1/key, new bookings open with the new key, not the old one."""
    new_key = PrivateKey.generate()
    async with aiohttp.ClientSession() as http:
        async with http.put(
            f"{relay.url}/api/v1/key",
            json={"public_key": base64.b64encode(bytes(new_key.public_key)).decode()},
            headers=practice.auth,
        ) as rotated:
            assert rotated.status == 200
        async with http.put(
            f"{relay.url}/api/v1/key", json={"public_key": "too-short"}, headers=practice.auth
        ) as refused:
            assert refused.status == 422
            assert set((await refused.json())["errors"]) == {"public_key"}
        async with http.get(f"{relay.url}/api/v1/practices/{practice.slug}") as profile:
            published = (await profile.json())["public_key"]
        assert base64.b64decode(published) == bytes(new_key.public_key)
        await confirmed_booking(http, relay, practice, smtp_sink)
        (item,) = await fetch(http, relay, practice)
    sealed = base64.b64decode(item["sealed"])
    assert SealedBox(new_key).decrypt(sealed)
    with pytest.raises(Exception, match="ecrypt"):
        SealedBox(practice.private_key).decrypt(sealed)


async def test_profile_errors_name_each_path(relay: RunningRelay, practice: PracticeHandle) -> None:
    """An invalid profile answers 422 with an error per path and keeps the old profile."""
    bad = profile_json()
    bad["time_zone"] = "Mars/Olympus"
    bad["slots"][1]["end"] = bad["slots"][1]["start"]
    async with aiohttp.ClientSession() as http:
        async with http.put(
            f"{relay.url}/api/v1/profile", json=bad, headers=practice.auth
        ) as response:
            assert response.status == 422
            errors = (await response.json())["errors"]
        async with http.get(f"{relay.url}/api/v1/practices/{practice.slug}") as profile:
            kept = await profile.json()
    assert set(errors) == {"time_zone", "slots[1].end"}
    assert kept["time_zone"] == "Europe/Berlin"
    assert kept["slots"] == []


async def test_relay_publishes_its_signing_key(relay: RunningRelay) -> None:
    """GET /api/v1/relay-key serves the Ed25519 public half of RELAY_SIGNING_KEY."""
    async with aiohttp.ClientSession() as http, http.get(f"{relay.url}/api/v1/relay-key") as r:
        body = await r.json()
    expected = bytes(SigningKey(relay.settings.signing_key).verify_key)
    assert body == {"public_key": base64.b64encode(expected).decode(), "algorithm": "ed25519"}


async def test_an_empty_answer_counts_the_items_another_client_holds(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """Given an item fetched and not yet acknowledged, a second fetch gets no items but
    `in_flight` 1; after the acknowledgement, 0."""
    async with aiohttp.ClientSession() as http:
        await confirmed_booking(http, relay, practice, smtp_sink)
        url = f"{relay.url}/api/v1/inbox?wait=0"
        async with http.get(url, headers=practice.auth) as first:
            body = await first.json()
        assert len(body["items"]) == 1
        assert body["in_flight"] == 0
        async with http.get(url, headers=practice.auth) as second:
            assert await second.json() == {"items": [], "in_flight": 1}
        async with http.post(
            f"{relay.url}/api/v1/inbox/ack",
            json={"ids": [body["items"][0]["id"]]},
            headers=practice.auth,
        ) as ack:
            assert ack.status == 200
        async with http.get(url, headers=practice.auth) as third:
            assert await third.json() == {"items": [], "in_flight": 0}
