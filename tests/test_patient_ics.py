"""The patient's "add to my calendar" download after confirming: one event, this booking's,
built from the link alone (the relay stores nothing for it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp
from icalendar import Calendar

from tests.conftest import PracticeHandle, RedisServer, RunningRelay, SmtpSink
from tests.helpers import booking_json, profile_json, put_profile, slot_times
from tests.test_cancellation import book_and_confirm
from tests.test_practice_details import DETAILS


async def test_the_download_holds_exactly_this_booking(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink, redis_server: RedisServer
) -> None:
    """Given two patients' confirmed bookings; the first one's calendar link gives one
    event at its slot, at the practice's address, with its cancel link, and nothing of
    either patient or of the other booking."""
    profile = {**profile_json(), "details": DETAILS}
    slots = slot_times()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
        first = await book_and_confirm(http, relay, practice, smtp_sink, booking_json(slots[0][0]))
        second = await book_and_confirm(http, relay, practice, smtp_sink, booking_json(slots[2][0]))
        keys_before = sorted(redis_server.client().keys("*"))
        assert first.calendar_url is not None
        async with http.get(relay.url + first.calendar_url) as download:
            assert download.status == 200
            assert download.content_type == "text/calendar"
            assert download.headers["Content-Disposition"].startswith("attachment;")
            assert download.headers["Cache-Control"] == "no-store"
            body = await download.read()
    # Nothing was stored for the download
    assert sorted(redis_server.client().keys("*")) == keys_before

    calendar = Calendar.from_ical(body)
    (event,) = calendar.walk("VEVENT")
    assert event.decoded("DTSTART") == slots[0][0]
    assert event.decoded("DTEND") == slots[0][1]
    assert "Praxis Dr. Beispiel" in str(event["SUMMARY"])
    assert DETAILS["address"][0] in str(event["LOCATION"])
    description = str(event["DESCRIPTION"])
    assert first.cancel_url in description
    assert second.cancel_url not in description
    text = body.decode()
    assert _ical_utc(slots[2][0]) not in text
    assert _ical_utc(slots[0][0]) in text
    for patient in (first.booking, second.booking):
        for typed in ("first_name", "last_name", "email", "phone", "note", "birth_date"):
            assert str(patient[typed]) not in text, typed


def _ical_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


async def test_downloading_twice_gives_the_same_event(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """The event's UID is stable, so a second download updates the calendar entry."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        confirmed = await book_and_confirm(http, relay, practice, smtp_sink)
        assert confirmed.calendar_url is not None
        uids = []
        for _ in range(2):
            async with http.get(relay.url + confirmed.calendar_url) as download:
                uids.append(str(Calendar.from_ical(await download.read()).walk("VEVENT")[0]["UID"]))
    assert uids[0] == uids[1]
    assert confirmed.booking["email"] not in uids[0]


async def test_forged_or_expired_calendar_links_answer_410(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """A link the relay did not make, a changed one, or one older than a day is refused."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        confirmed = await book_and_confirm(http, relay, practice, smtp_sink)
        assert confirmed.calendar_url is not None
        sealed = confirmed.calendar_url.removeprefix("/calendar/").removesuffix(".ics")
        flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
        for path in (f"/calendar/{flipped}.ics", "/calendar/AAAA.ics"):
            async with http.get(relay.url + path) as page:
                assert page.status == 410
                assert "Kalenderdatei" in await page.text()
        entry: Any = relay.service.cancellations.calendar_entry(sealed)
        assert entry.practice == practice.slug
        # A day later the same link is refused: the relay's clock moved on.
        relay.service.cancellations._clock = lambda: datetime.now().timestamp() + 86_401
        async with http.get(relay.url + confirmed.calendar_url) as late:
            assert late.status == 410
