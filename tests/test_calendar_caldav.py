"""Slots from a real CalDAV server (Radicale) published by the real client to the real relay.

Radicale runs as a subprocess on 127.0.0.1 with its own config, storage and a htpasswd
user; the calendar holds a weekly busy series with an EXDATE and an override, and a free
(transparent) event. The client runs as a real process, as a practice would run it.
"""

from __future__ import annotations

import asyncio
import html
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from tests.conftest import subprocess_env
from tests.helpers import NotReady, wait_until_async
from tests.servers import RADICALE_USER, Radicale, ics, launch_radicale

if TYPE_CHECKING:
    from tests.conftest import PracticeHandle, RunningRelay

BERLIN = ZoneInfo("Europe/Berlin")
DOCTOR = "Dr. A. Beispiel"
USER = RADICALE_USER
HOURS = (9, 10, 11)
HORIZON_DAYS = 16  # today (a holiday, so the time of day cannot matter) and 15 more days
CLIENT_SECONDS = 60


@pytest.fixture
async def radicale(tmp_path: Path) -> AsyncIterator[Radicale]:
    """A Radicale CalDAV server with htpasswd auth, stopped after the test."""
    server = await asyncio.to_thread(launch_radicale, tmp_path, subprocess_env())
    try:
        yield server
    finally:
        await asyncio.to_thread(server.process.stop)


def berlin(day: date, hour: int) -> str:
    """iCalendar local time, as used with TZID=Europe/Berlin."""
    return f"{day:%Y%m%d}T{hour:02d}0000"


async def fill_calendar(http_session: aiohttp.ClientSession, server: Radicale, first: date) -> None:
    """MKCALENDAR, then PUT: a weekly 10:00 series (3 times: first, +7 with EXDATE, +14
    moved to 09:00 by an override) and a transparent event at 11:00 on the first day."""
    async with http_session.request(
        "MKCALENDAR", server.calendar_url, headers=server.auth
    ) as response:
        assert response.status == 201, await response.text()
    series = ics(
        f"""
UID:weekly-meeting
SUMMARY:Teamsitzung
DTSTART;TZID=Europe/Berlin:{berlin(first, 10)}
DTEND;TZID=Europe/Berlin:{berlin(first, 11)}
RRULE:FREQ=WEEKLY;COUNT=3
EXDATE;TZID=Europe/Berlin:{berlin(first + timedelta(days=7), 10)}
""",
        f"""
UID:weekly-meeting
SUMMARY:Teamsitzung (vorgezogen)
RECURRENCE-ID;TZID=Europe/Berlin:{berlin(first + timedelta(days=14), 10)}
DTSTART;TZID=Europe/Berlin:{berlin(first + timedelta(days=14), 9)}
DTEND;TZID=Europe/Berlin:{berlin(first + timedelta(days=14), 10)}
""",
    )
    free = ics(f"""
UID:reminder
SUMMARY:Erinnerung
DTSTART;TZID=Europe/Berlin:{berlin(first, 11)}
DTEND;TZID=Europe/Berlin:{berlin(first, 12)}
TRANSP:TRANSPARENT
""")
    for name, body in (("weekly-meeting", series), ("reminder", free)):
        async with http_session.put(
            f"{server.calendar_url}{name}.ics",
            data=body.encode(),
            headers={"Content-Type": "text/calendar; charset=utf-8", **server.auth},
        ) as response:
            assert response.status == 201, await response.text()


def write_rules(path: Path, today: date) -> Path:
    path.write_text(
        f"""
name = "Praxis Dr. Beispiel"
time_zone = "Europe/Berlin"
accept_wishes = false
horizon_days = {HORIZON_DAYS}
lead_time = "0m"
holidays = ["{today.isoformat()}"]

[appointment_types]
"Sprechstunde" = 60

[[doctors]]
name = "{DOCTOR}"
[doctors.hours]
mo-so = ["09:00-12:00"]
""",
        encoding="utf-8",
    )
    return path


def local_start(day: date, hour: int) -> str:
    """A slot start as the relay shows it: ISO 8601 with the Berlin offset of that day."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=BERLIN).isoformat()


def expected_starts(first: date) -> set[str]:
    """Every 09, 10 and 11 o'clock slot of the 15 days, less the two busy ones."""
    busy = {(first, 10), (first + timedelta(days=14), 9)}
    days = [first + timedelta(days=offset) for offset in range(HORIZON_DAYS - 1)]
    return {local_start(day, hour) for day in days for hour in HOURS if (day, hour) not in busy}


async def client(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m practice_client ARGS` as a real process."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "practice_client", *args],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=CLIENT_SECONDS,
        check=False,
    )


def caldav_args(relay: RunningRelay, practice: PracticeHandle, server: Radicale) -> list[str]:
    return [
        "--relay", relay.url, "--token", practice.token, "--key-file", str(practice.key_file),
        "--caldav", server.calendar_url, "--caldav-user", USER,
        "--caldav-password-file", str(server.password_file),
    ]  # fmt: skip


async def offered(http_session: aiohttp.ClientSession, relay: RunningRelay, slug: str) -> Any:
    async with http_session.get(f"{relay.url}/api/v1/practices/{slug}") as response:
        assert response.status == 200
        return await response.json()


async def form_slot_values(
    http_session: aiohttp.ClientSession, relay: RunningRelay, slug: str
) -> set[str]:
    """Every time the form's slot picker offers: each enabled day of each week."""
    values: set[str] = set()
    week_url: str | None = f"/p/{slug}"
    for _ in range(60):  # weeks; far more than the rules publish
        if week_url is None:
            break
        page = await _page(http_session, relay, week_url)
        days = re.findall(r'class="day"[^>]*formaction="([^"]+)"[^>]*aria-pressed="[a-z]+">', page)
        for day_url in days:
            day_page = await _page(http_session, relay, html.unescape(day_url))
            found = re.findall(r'name="slot" value="([^"]*)"', day_page)
            values.update(html.unescape(value) for value in found if value)
        following = re.search(r'id="week-next" name="nav" value="go" formaction="([^"]+)"', page)
        week_url = html.unescape(following.group(1)) if following else None
    return values


async def _page(http_session: aiohttp.ClientSession, relay: RunningRelay, path: str) -> str:
    async with http_session.get(f"{relay.url}{path}") as response:
        assert response.status == 200
        return await response.text()


async def test_publish_from_caldav_offers_exactly_the_free_slots(
    relay: RunningRelay, practice: PracticeHandle, radicale: Radicale, tmp_path: Path
) -> None:
    """Busy occurrences are absent, the EXDATE'd one and the transparent event's are offered."""
    # Given opening hours 09-12 every day and a calendar with a weekly series on Radicale
    today = datetime.now(BERLIN).date()
    first = today + timedelta(days=1)
    rules = write_rules(tmp_path / "opening-hours.toml", today)
    async with aiohttp.ClientSession() as http_session:
        await fill_calendar(http_session, radicale, first)

        # When the client publishes from the rules and the CalDAV calendar
        published = await client(
            "publish", "--rules", str(rules), *caldav_args(relay, practice, radicale)
        )

        # Then the relay offers exactly the free slots, in the API and on the form
        assert published.returncode == 0, published.stderr
        profile = await offered(http_session, relay, practice.slug)
        form_values = await form_slot_values(http_session, relay, practice.slug)
    expected = expected_starts(first)
    assert {slot["start"] for slot in profile["slots"]} == expected
    assert form_values == {f"{start}|{DOCTOR}" for start in expected}
    # Spelled out: the first occurrence and the override are busy, the excepted one is free,
    # and so is the time of the moved occurrence and of the transparent event.
    assert f"{local_start(first, 10)}|{DOCTOR}" not in form_values
    assert f"{local_start(first + timedelta(days=14), 9)}|{DOCTOR}" not in form_values
    assert f"{local_start(first + timedelta(days=7), 10)}|{DOCTOR}" in form_values
    assert f"{local_start(first + timedelta(days=14), 10)}|{DOCTOR}" in form_values
    assert f"{local_start(first, 11)}|{DOCTOR}" in form_values
    # And publish printed a summary, not the profile
    assert f"{DOCTOR}: {len(expected)} slots" in published.stdout
    assert "2 slots busy in the calendar" in published.stdout
    assert '"slots"' not in published.stdout


async def test_unreadable_calendar_keeps_the_last_good_profile(
    relay: RunningRelay, practice: PracticeHandle, radicale: Radicale, tmp_path: Path
) -> None:
    """With Radicale stopped, publish and run say so in one line and the relay keeps its slots."""
    today = datetime.now(BERLIN).date()
    first = today + timedelta(days=1)
    rules = write_rules(tmp_path / "opening-hours.toml", today)
    out_dir = tmp_path / "bookings"
    async with aiohttp.ClientSession() as http_session:
        await fill_calendar(http_session, radicale, first)
        good = await client(
            "publish", "--rules", str(rules), *caldav_args(relay, practice, radicale)
        )
        assert good.returncode == 0, good.stderr
        before = await offered(http_session, relay, practice.slug)

        # When the calendar server is gone
        await asyncio.to_thread(radicale.process.stop)
        failed = await client(
            "publish", "--rules", str(rules), *caldav_args(relay, practice, radicale)
        )
        once = await client(
            "run", "--once", "--out", str(out_dir), "--publish-every", "15m",
            "--rules", str(rules), *caldav_args(relay, practice, radicale),
        )  # fmt: skip
        after = await offered(http_session, relay, practice.slug)

    # Then nothing was published, each run said why in one line, and the slots stay
    assert failed.returncode == 1
    (line,) = [line for line in failed.stderr.splitlines() if "CalDAV" in line]
    assert f"cannot reach CalDAV calendar {radicale.calendar_url}" in line
    assert "nothing published, the relay keeps the slots it had" in line
    assert once.returncode == 1, once.stderr
    (line,) = [line for line in once.stderr.splitlines() if "CalDAV" in line]
    assert "the relay keeps the slots it had" in line
    assert "Traceback" not in failed.stderr + once.stderr
    assert after["slots"] == before["slots"]
    assert len(after["slots"]) == len(expected_starts(first))


async def test_run_publishes_beside_the_inbox_loop(
    relay: RunningRelay, practice: PracticeHandle, radicale: Radicale, tmp_path: Path
) -> None:
    """`run --publish-every` publishes at start while it delivers, and stops cleanly."""
    today = datetime.now(BERLIN).date()
    first = today + timedelta(days=1)
    rules = write_rules(tmp_path / "opening-hours.toml", today)
    async with aiohttp.ClientSession() as http_session:
        await fill_calendar(http_session, radicale, first)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "practice_client", "run", "--wait", "1",
            "--out", str(tmp_path / "bookings"), "--publish-every", "15m",
            "--rules", str(rules), *caldav_args(relay, practice, radicale),
            env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:

            async def published() -> bool:
                profile = await offered(http_session, relay, practice.slug)
                if not profile["slots"]:
                    raise NotReady("the relay offers no slots yet")
                return True

            await wait_until_async(published, "the running client to publish its slots")
            profile = await offered(http_session, relay, practice.slug)
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(process.communicate(), CLIENT_SECONDS)
    assert process.returncode == 0, err.decode()
    assert {slot["start"] for slot in profile["slots"]} == expected_starts(first)
    log = err.decode()
    assert re.search(r"published Praxis Dr\. Beispiel: \d+ slots", log), log
    assert "Traceback" not in log


SIX_WEEKS_FIVE_DOCTORS = """
name = "Gemeinschaftspraxis am Markt"
time_zone = "Europe/Berlin"
horizon_days = 42
lead_time = "0m"
holidays = ["{today}"]
breaks = ["12:00-13:00"]

[appointment_types]
"Kontrolle" = 15
"Erstgespräch" = 30
""" + "".join(
    f"""
[[doctors]]
name = "Dr. {letter}. Arzt"
[doctors.hours]
mo-fr = ["08:00-12:00", "13:00-16:00 Erstgespräch"]
"""
    for letter in "ABCDE"
)


def found(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in {text!r}"
    return match[1]


async def test_six_week_profile_is_published_whole_or_refused_clearly(
    relay: RunningRelay, practice: PracticeHandle, tmp_path: Path
) -> None:
    """About 3,000 slots: the relay stores them all, or the client names count and size."""
    today = datetime.now(BERLIN).date()
    rules = tmp_path / "six-weeks.toml"
    rules.write_text(SIX_WEEKS_FIVE_DOCTORS.format(today=today.isoformat()), encoding="utf-8")
    args = ["--relay", relay.url, "--token", practice.token, "--rules", str(rules)]

    dry = await client("publish", "--dry-run", *args)
    published = await client("publish", *args)

    assert dry.returncode == 0, dry.stderr
    count = int(found(r": ([\d,]+) slots, ", dry.stdout).replace(",", ""))
    size = found(r"profile of ([\d,]+) bytes", dry.stdout)
    assert 2800 <= count <= 3300
    async with aiohttp.ClientSession() as http_session:
        stored = await offered(http_session, relay, practice.slug)
    if published.returncode == 0:
        assert len(stored["slots"]) == count
    else:
        # The relay's limits are below this profile today: nothing changed, and the client
        # says why with the numbers instead of an HTTP status.
        assert published.returncode == 1
        assert stored["slots"] == []
        assert f"too large ({count:,} slots, {size} bytes)" in published.stderr, published.stderr
