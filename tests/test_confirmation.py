"""GET/POST /c/{token}: view, confirm, withdraw; single use; fifty concurrent confirms."""

from __future__ import annotations

import asyncio

import aiohttp

from relay.web.appkeys import METRICS
from tests.conftest import PracticeHandle, RedisServer, RunningRelay, SmtpSink, link_in
from tests.helpers import booking_json, profile_json, put_profile, submit


async def pending_link(
    http: aiohttp.ClientSession, relay: RunningRelay, practice: PracticeHandle, sink: SmtpSink
) -> str:
    await put_profile(http, relay.url, practice.token, profile_json())
    response = await submit(http, relay.url, practice.slug, booking_json())
    assert response.status == 202
    (message,) = await sink.wait_for(1)
    return link_in(message)


async def offered_starts(http: aiohttp.ClientSession, relay: RunningRelay, slug: str) -> list[str]:
    async with http.get(f"{relay.url}/api/v1/practices/{slug}") as response:
        return [slot["start"] for slot in (await response.json())["slots"]]


async def test_unknown_and_malformed_tokens_answer_410(relay: RunningRelay) -> None:
    """A token never issued, or not even well-formed, answers 410 with a page."""
    async with aiohttp.ClientSession() as http:
        for token in ("praxis-test." + "A" * 32, "garbage"):
            async with http.get(f"{relay.url}/c/{token}") as page:
                assert page.status == 410
                assert "nicht mehr gültig" in await page.text()
            async with http.post(f"{relay.url}/c/{token}", data={"action": "confirm"}) as post:
                assert post.status == 410


async def test_withdraw_deletes_everything_and_frees_the_slot(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink, redis_server: RedisServer
) -> None:
    """Withdrawing leaves no key of the booking; the link then answers 410; slot free again."""
    async with aiohttp.ClientSession() as http:
        link = await pending_link(http, relay, practice, smtp_sink)
        held = await offered_starts(http, relay, practice.slug)
        async with http.post(link, data={"action": "withdraw"}) as withdrawn:
            assert withdrawn.status == 200
            assert "zurückgezogen" in await withdrawn.text()
        async with http.post(link, data={"action": "confirm"}) as late_confirm:
            assert late_confirm.status == 410
        async with http.get(link) as page:
            assert page.status == 410
        freed = await offered_starts(http, relay, practice.slug)
    assert len(freed) == len(held) + 1
    client = redis_server.client()
    # The abuse limits' counters (tr:{limits}:…) belong to no booking.
    kinds = {
        key.decode().split(":")[2]
        for key in client.scan_iter("tr:{*")
        if not key.startswith(b"tr:{limits}:")
    }
    assert kinds == {"practice", "profile"}
    client.close()


async def test_unknown_action_is_400_and_changes_nothing(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """A POST without a known action is refused and the booking stays pending."""
    async with aiohttp.ClientSession() as http:
        link = await pending_link(http, relay, practice, smtp_sink)
        async with http.post(link, data={"action": "delete-all"}) as response:
            assert response.status == 400
        async with http.get(link) as page:
            assert page.status == 200


async def test_fifty_concurrent_confirms_change_state_once(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink, redis_server: RedisServer
) -> None:
    """Fifty simultaneous confirms: one confirms, the others see "already", one inbox item."""

    async def confirm(http: aiohttp.ClientSession, link: str) -> str:
        async with http.post(link, data={"action": "confirm"}, params={"lang": "en"}) as page:
            assert page.status == 200
            return await page.text()

    async with aiohttp.ClientSession() as http:
        link = await pending_link(http, relay, practice, smtp_sink)
        pages = await asyncio.gather(*(confirm(http, link) for _ in range(50)))
    assert sum("Appointment booked" in page for page in pages) == 1
    assert sum("Already confirmed" in page for page in pages) == 49
    client = redis_server.client()
    assert client.zcard("tr:{praxis-test}:inbox") == 1
    assert len(list(client.scan_iter("tr:{praxis-test}:i:*"))) == 1
    client.close()
    body, _ = relay.app[METRICS].render()
    assert b'terminrelay_bookings_total{event="confirmed"} 1.0' in body
