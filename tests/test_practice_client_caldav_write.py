"""Bookings written into the practice's CalDAV calendar (practice_client/handover/
caldav_write.py): a real relay, the real client, a real Radicale."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from icalendar import Calendar

from practice_client.calendar.opening_hours import RulesError, parse_rules
from practice_client.handover.caldav_write import CalendarTarget, CalendarWriter
from practice_client.runner import RunConfig, run
from tests.conftest import PracticeHandle, RunningRelay, SmtpSink, subprocess_env
from tests.helpers import NotReady, profile_json, put_profile, wait_until
from tests.servers import Radicale, launch_radicale
from tests.test_cancellation import book_and_confirm

FORMATS = ("json", "ics", "caldav")
EXAMPLE_RULES = Path(__file__).parent.parent / "examples" / "opening-hours.toml"


def new_calendar(server: Radicale) -> str:
    url = f"{server.url}/{server.user}/{secrets.token_hex(4)}/"
    assert server.request("MKCALENDAR", url) == 201
    return url


async def event_in(server: Radicale, calendar_url: str, booking_id: str) -> Any | None:
    async with (
        aiohttp.ClientSession(headers=server.auth) as http,
        http.get(f"{calendar_url}{booking_id}.ics") as response,
    ):
        if response.status == 404:
            return None
        assert response.status == 200
        (event,) = Calendar.from_ical(await response.read()).walk("VEVENT")
        return event


async def events_count(server: Radicale, calendar_url: str) -> int:
    body = '<propfind xmlns="DAV:"><prop><getetag/></prop></propfind>'
    headers = {**server.auth, "Depth": "1", "Content-Type": "application/xml"}
    async with (
        aiohttp.ClientSession() as http,
        http.request("PROPFIND", calendar_url, data=body, headers=headers) as response,
    ):
        assert response.status == 207
        return (await response.text()).count(".ics</")


def writer(server: Radicale, calendar_url: str, out_dir: Path, **options: Any) -> CalendarWriter:
    target = CalendarTarget(calendar_url, server.user, server.password_file)
    return CalendarWriter(target, out_dir, **options)


async def drain(
    relay: RunningRelay, practice: PracticeHandle, out_dir: Path, calendar: CalendarWriter
) -> int:
    config = RunConfig(
        relay.url, practice.token, practice.key_file, out_dir, wait=0, formats=FORMATS,
        calendar=calendar,
    )  # fmt: skip
    return await run(config, once=True)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_a_booking_appears_with_its_id_as_uid_and_turns_cancelled(
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    radicale: Radicale,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    """Given a booked slot; when the client runs with the calendar, then the event is in
    Radicale under the booking id (CONFIRMED, SEQUENCE 0, time, type and initials only);
    writing it again leaves one event; the patient's cancellation turns it CANCELLED."""
    out_dir = tmp_path / "out"
    calendar_url = new_calendar(radicale)
    await put_profile(http, relay.url, practice.token, profile_json())
    confirmed = await book_and_confirm(http, relay, practice, smtp_sink)

    assert await drain(relay, practice, out_dir, writer(radicale, calendar_url, out_dir)) == 0

    (json_file,) = [p for p in out_dir.glob("*.json") if p.name.count(".") == 1]
    booking_id = json_file.stem
    event = await event_in(radicale, calendar_url, booking_id)
    assert event is not None
    assert str(event["UID"]) == booking_id
    assert (str(event["STATUS"]), int(event["SEQUENCE"])) == ("CONFIRMED", 0)
    first, last = confirmed.booking["first_name"], confirmed.booking["last_name"]
    assert str(event["SUMMARY"]) == f"09:00 Erstgespräch {first[0]}. {last[0]}."
    ical = event.to_ical().decode()
    for typed in (first, last, confirmed.booking["note"]):
        assert typed not in ical
    assert not list(out_dir.glob("*.caldav-pending"))

    # Written again (a redelivery, a restart): the same event, not a second one
    (out_dir / f"{booking_id}.caldav-pending").write_text("{}\n")
    report = await asyncio.to_thread(writer(radicale, calendar_url, out_dir).write_due)
    assert (report.written, report.failed) == (1, 0)
    assert await events_count(radicale, calendar_url) == 1

    # When the patient cancels
    async with http.post(confirmed.cancel_url, data={"action": "cancel"}) as cancelled:
        assert cancelled.status == 200
    assert await drain(relay, practice, out_dir, writer(radicale, calendar_url, out_dir)) == 0
    event = await event_in(radicale, calendar_url, booking_id)
    assert (str(event["STATUS"]), int(event["SEQUENCE"])) == ("CANCELLED", 1)
    assert str(event["TRANSP"]) == "TRANSPARENT"
    assert await events_count(radicale, calendar_url) == 1


async def test_a_calendar_that_is_down_holds_up_nothing_and_gets_the_event_later(
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    """Given Radicale down; when the client runs, then the files are written and the item
    acknowledged, a marker notes the attempt and the retry; once Radicale is back, the
    client started again puts the event there (the restart retries), and the marker goes."""
    server = await asyncio.to_thread(launch_radicale, tmp_path, subprocess_env())
    try:
        calendar_url = new_calendar(server)
        await asyncio.to_thread(server.process.stop)
        out_dir = tmp_path / "out"
        await put_profile(http, relay.url, practice.token, profile_json())
        await book_and_confirm(http, relay, practice, smtp_sink)

        down = writer(server, calendar_url, out_dir, retry_base=0.2)
        assert await drain(relay, practice, out_dir, down) == 0

        (json_file,) = [p for p in out_dir.glob("*.json") if p.name.count(".") == 1]
        booking_id = json_file.stem
        assert (out_dir / f"{booking_id}.ics").is_file()
        async with http.get(
            f"{relay.url}/api/v1/inbox", params={"wait": "0"}, headers=practice.auth
        ) as inbox:
            assert (await inbox.json())["items"] == []  # acknowledged
        marker = json.loads((out_dir / f"{booking_id}.caldav-pending").read_text())
        assert marker["attempts"] == 1

        # When Radicale comes back, a running client writes it on the next retry
        await asyncio.to_thread(server.process.start)
        stop = asyncio.Event()
        config = RunConfig(
            relay.url, practice.token, practice.key_file, out_dir, wait=1, formats=FORMATS,
            calendar=writer(server, calendar_url, out_dir, retry_base=0.2),
        )  # fmt: skip
        running = asyncio.create_task(run(config, once=False, stop=stop))
        try:

            def written() -> bool:
                if (out_dir / f"{booking_id}.caldav-pending").exists():
                    raise NotReady("the marker is still there")
                return True

            await asyncio.to_thread(wait_until, written, "the event written after Radicale is back")
        finally:
            stop.set()
            await running
        event = await event_in(server, calendar_url, booking_id)
        assert event is not None
        assert str(event["UID"]) == booking_id
    finally:
        await asyncio.to_thread(server.process.stop)


def test_caldav_write_rules_name_the_calendar_and_guard_the_full_name() -> None:
    """[caldav.write] gives the URL, credentials and summary; the name only with
    details = "full"; unknown fields and keys are refused with their line."""
    base = EXAMPLE_RULES.read_text(encoding="utf-8")
    rules = parse_rules(
        base + '\n[caldav.write]\nurl = "https://dav.example.org/cal/"\nusername = "praxis"\n'
        'summary = "{time} {doctor}: {name}"\ndetails = "full"\n'
    )
    assert rules.calendar_write is not None
    target = rules.calendar_write.target(None)
    assert (target.url, target.username, target.details) == (
        "https://dav.example.org/cal/",
        "praxis",
        "full",
    )
    for section, problem in (
        ('summary = "{time} {name}"', 'only with details = "full"'),
        ('summary = "{time} {birth_date}"', "unknown field {birth_date}"),
        ("colour = 3", "caldav.write.colour: unknown key"),
    ):
        with pytest.raises(RulesError, match=problem):
            parse_rules(base + f"\n[caldav.write]\n{section}\n")
