"""A pending booking nobody confirms disappears entirely when its TTL runs out."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from relay.settings import SmtpSettings
from relay.web.appkeys import METRICS
from tests.conftest import RedisServer, RelayFactory, SmtpSink, free_port, link_in
from tests.helpers import booking_json, profile_json, put_profile, submit, wish_booking_json


@pytest.mark.slow
async def test_unconfirmed_booking_expires_completely(
    relay_factory: RelayFactory, smtp_sink: SmtpSink, redis_server: RedisServer
) -> None:
    """Booking, mail job, token, summary and slot hold are gone after the TTL; link is 410."""
    relay = await relay_factory(pending_ttl=2, housekeeping_interval=0.2)
    practice = await relay.add_practice()
    client = redis_server.client()
    async with aiohttp.ClientSession() as http:
        # Given a pending booking for a slot
        await put_profile(http, relay.url, practice.token, profile_json())
        booking = booking_json()
        assert (await submit(http, relay.url, practice.slug, booking)).status == 202
        link = link_in((await smtp_sink.wait_for(1))[0])
        kinds = {key.decode().split(":")[2] for key in client.scan_iter("tr:{*")}
        # The booking is keyed by its token's hash; a `t` key appears only on confirmation
        assert {"b", "h", "pending"} <= kinds
        # Every key of the booking carries the pending TTL (the index of pending ids outlives
        # them by design, to count expiries)
        booking_keys = [
            key
            for key in client.scan_iter("tr:{*")
            if key.split(b":")[2] not in (b"practice", b"profile", b"pending")
            # The abuse limits' logs are no part of a booking (tr:{limits}:…).
            and not key.startswith(b"tr:{limits}:")
        ]
        assert booking_keys
        assert all(0 < client.ttl(key) <= 2 for key in booking_keys)

        # When the TTL runs out
        await asyncio.sleep(2.6)

        # Then nothing of it is left, the link answers 410 and the slot is free again
        kinds = {
            key.decode().split(":")[2]
            for key in client.scan_iter("tr:{*")
            if not key.startswith(b"tr:{limits}:")
        }
        assert kinds <= {"practice", "profile", "pending"}
        assert client.zcard(f"tr:{{{practice.slug}}}:pending") == 0
        async with http.get(link) as page:
            assert page.status == 410
        async with http.post(link, data={"action": "confirm"}) as late:
            assert late.status == 410
        async with http.get(f"{relay.url}/api/v1/practices/{practice.slug}") as profile:
            offered = [slot["start"] for slot in (await profile.json())["slots"]]
        assert booking["start"] in offered
    body, _ = relay.app[METRICS].render()
    assert b'terminrelay_bookings_total{event="expired"} 1.0' in body
    client.close()


@pytest.mark.slow
async def test_unsent_mail_job_expires_with_its_booking(
    relay_factory: RelayFactory, redis_server: RedisServer
) -> None:
    """With the mail server down, the queued job still disappears with the booking."""
    nowhere = SmtpSettings(host="127.0.0.1", port=free_port())
    relay = await relay_factory(pending_ttl=1, mail_retry_base=0.1, smtp=nowhere)
    practice = await relay.add_practice()
    client = redis_server.client()
    async with aiohttp.ClientSession() as http:
        booking = wish_booking_json()
        assert (await submit(http, relay.url, practice.slug, booking)).status == 202
    assert list(client.scan_iter("tr:{*}:m:*"))
    await asyncio.sleep(1.5)
    assert not list(client.scan_iter("tr:{*}:m:*"))
    client.close()
