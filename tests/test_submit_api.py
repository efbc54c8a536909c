"""POST /api/v1/practices/{practice}/bookings: validation, limits and slot holds."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.conftest import PracticeHandle, RedisServer, RelayFactory, RunningRelay
from tests.helpers import booking_json, profile_json, put_profile, slot_times, submit
from tests.test_booking_life import redis_snapshot


async def test_unknown_practice_is_404(relay: RunningRelay) -> None:
    """A booking for a slug nobody registered answers 404 with a JSON error."""
    async with aiohttp.ClientSession() as http:
        response = await submit(http, relay.url, "nobody", booking_json())
        assert response.status == 404
        assert (await response.json())["error"] == "unknown practice"


async def test_wrong_content_type_is_415(relay: RunningRelay, practice: PracticeHandle) -> None:
    """A form-encoded body on the JSON API answers 415."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{relay.url}/api/v1/practices/{practice.slug}/bookings", data={"first_name": "x"}
        ) as response,
    ):
        assert response.status == 415
        assert "error" in await response.json()


async def test_body_over_the_cap_is_413(relay: RunningRelay, practice: PracticeHandle) -> None:
    """A body larger than the cap answers 413 and stores nothing."""
    body = booking_json(note="x" * (relay.settings.max_body_bytes + 10))
    async with aiohttp.ClientSession() as http:
        response = await submit(http, relay.url, practice.slug, body)
    assert response.status == 413


async def test_invalid_json_is_400(relay: RunningRelay, practice: PracticeHandle) -> None:
    """A body that is not JSON at all answers 400."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{relay.url}/api/v1/practices/{practice.slug}/bookings",
            data=b"{not json",
            headers={"Content-Type": "application/json"},
        ) as response,
    ):
        assert response.status == 400


async def test_each_bad_field_gets_its_own_message_and_nothing_is_stored(
    relay: RunningRelay, practice: PracticeHandle, redis_server: RedisServer
) -> None:
    """Several invalid fields give 422 with exactly one message each; Redis is unchanged."""
    client = redis_server.client()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        before = redis_snapshot(client)
        response = await submit(
            http,
            relay.url,
            practice.slug,
            booking_json(
                birth_date="2999-01-01",
                email="not-an-address",
                consent=False,
                gender="robot",
                favourite_colour="blue",
            ),
        )
        errors = (await response.json())["errors"]
    assert response.status == 422
    assert set(errors) == {"birth_date", "email", "consent", "gender", "favourite_colour"}
    assert all(isinstance(message, str) and message for message in errors.values())
    assert redis_snapshot(client) == before
    client.close()


async def test_messages_follow_accept_language(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """The 422 messages are German by default and English when the client asks for it."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        url = f"{relay.url}/api/v1/practices/{practice.slug}/bookings"
        body = booking_json(first_name="")
        async with http.post(url, json=body) as german:
            german_message = (await german.json())["errors"]["first_name"]
        async with http.post(url, json=body, headers={"Accept-Language": "en"}) as english:
            english_message = (await english.json())["errors"]["first_name"]
    assert german_message != english_message
    assert "Please" in english_message


async def test_second_booking_for_a_held_slot_is_409(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """A slot held by a pending booking is refused to the next patient with 409."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        first = await submit(http, relay.url, practice.slug, booking_json())
        second = await submit(http, relay.url, practice.slug, booking_json())
        other_slot = await submit(
            http, relay.url, practice.slug, booking_json(start=slot_times()[1][0])
        )
    assert (first.status, second.status, other_slot.status) == (202, 409, 202)


async def test_fifty_concurrent_bookings_for_one_slot_one_wins(
    relay_factory: RelayFactory,
) -> None:
    """Of fifty simultaneous submissions for one slot exactly one is accepted."""
    relay = await relay_factory(submit_limit=1000)
    practice = await relay.add_practice()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        responses = await asyncio.gather(
            *(submit(http, relay.url, practice.slug, booking_json()) for _ in range(50))
        )
    statuses = sorted(response.status for response in responses)
    assert statuses.count(202) == 1
    assert statuses.count(409) == 49


async def test_too_many_submissions_get_429_with_retry_after(
    relay_factory: RelayFactory,
) -> None:
    """Past the limit per client network, submissions answer 429 with Retry-After."""
    relay = await relay_factory(submit_limit=2)
    practice = await relay.add_practice()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        statuses = []
        for start, _ in slot_times():
            response = await submit(http, relay.url, practice.slug, booking_json(start=start))
            statuses.append(response.status)
    assert statuses == [202, 202, 429]
    assert 0 < int(response.headers["Retry-After"]) <= relay.settings.submit_window


async def test_wish_without_slot_when_practice_accepts_wishes(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """A time that is no published slot is accepted as a wish only if the practice allows."""
    wish = slot_times(days_ahead=3)[0][0]
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json(accept_wishes=True))
        accepted = await submit(http, relay.url, practice.slug, booking_json(start=wish))
        await put_profile(http, relay.url, practice.token, profile_json(accept_wishes=False))
        refused = await submit(
            http, relay.url, practice.slug, booking_json(start=wish.replace(hour=14))
        )
        errors = await refused.json()
    assert accepted.status == 202
    assert refused.status == 422
    assert set(errors["errors"]) == {"start"}
