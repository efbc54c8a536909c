"""A practice's day, every part real: opening hours and a CalDAV calendar (Radicale) become
the slots the relay offers; a patient books one in Chromium and confirms by the mailed
link; the practice client writes JSON, ICS and FHIR and runs the practice's import hook;
the next publication no longer offers the slot. A booking for a time the calendar marked
busy after the patient sent it still arrives: the practice decides.

Screenshots go to test-artifacts/screenshots/practice-day-*.png; the form with the
published calendar is scanned with axe-core.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from icalendar import Calendar
from playwright.async_api import Browser, Locator, Page

from relay.practice.localtime import format_day
from tests.browser.pages import check_page, new_context
from tests.conftest import PracticeHandle, RunningRelay, SmtpSink, link_in, subprocess_env
from tests.helpers import BERLIN, READY_SECONDS, booking_json, submit
from tests.servers import Radicale, ics, launch_radicale
from tests.test_practice_client_fhir import validated

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCTOR_A, DOCTOR_B = "Dr. A. Beispiel", "Dr. B. Muster"
TYPE = "Sprechstunde"
TIMES = (time(9, 0), time(9, 30), time(10, 0), time(10, 30))
# Today (a holiday, so the time of day cannot matter) and 8 days: the weekly team meeting
# falls on the first of them and, excepted by EXDATE, on the last.
HORIZON_DAYS = 9
MEETING = (time(10, 0), time(11, 0))
# What the patient sees (German, the form's default language).
TEXT = {
    "next_week": "Nächste Woche",
    "times": "Uhrzeit am {day}",
    "submit": "Anfrage absenden",
    "sent": "Bitte bestätigen Sie",
    "confirm": "Anfrage bestätigen",
    "confirmed": "Termin gebucht",
}
# The practice's import script: records its arguments and its whole environment.
HOOK = """
import json, os, sys
from pathlib import Path
with open(Path(sys.argv[0]).with_name("calls.jsonl"), "a", encoding="utf-8") as calls:
    calls.write(json.dumps({"args": sys.argv[1:], "env": dict(os.environ)}) + "\\n")
"""
# Python may add LC_CTYPE to its own environment at start-up (PEP 538); nothing else may.
HOOK_ENVIRONMENT = {"PATH", "TERMINRELAY_BOOKING_ID", "TERMINRELAY_EVENT"}


@pytest.fixture
async def radicale(tmp_path: Path) -> AsyncIterator[Radicale]:
    """A Radicale CalDAV server with htpasswd auth, stopped after the test."""
    server = await asyncio.to_thread(launch_radicale, tmp_path, subprocess_env())
    try:
        yield server
    finally:
        await asyncio.to_thread(server.process.stop)


def local(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=BERLIN)


def ical(moment: datetime) -> str:
    """iCalendar local time, as used with TZID=Europe/Berlin."""
    return f"{moment:%Y%m%dT%H%M%S}"


def slot_value(day: date, at: time, doctor: str) -> str:
    """A slot as the form posts it: its start with the local offset, and the doctor."""
    return f"{local(day, at).isoformat()}|{doctor}"


def write_rules(path: Path, today: date) -> Path:
    doctors = "".join(
        f'\n[[doctors]]\nname = "{name}"\n[doctors.hours]\nmo-so = ["09:00-11:00"]\n'
        for name in (DOCTOR_A, DOCTOR_B)
    )
    path.write_text(
        f"""
name = "Praxis Dr. Beispiel"
time_zone = "Europe/Berlin"
accept_wishes = false
horizon_days = {HORIZON_DAYS}
lead_time = "0m"
holidays = ["{today.isoformat()}"]

[appointment_types]
"{TYPE}" = 30
{doctors}""",
        encoding="utf-8",
    )
    return path


def weekly_meeting(first: date) -> str:
    """A weekly team meeting for everyone, 10-11, that began a week before `first`; the
    occurrence a week after `first` is excepted (EXDATE)."""
    start, end = (local(first - timedelta(days=7), at) for at in MEETING)
    return ics(f"""
UID:teamsitzung
SUMMARY:Teamsitzung
DTSTART;TZID=Europe/Berlin:{ical(start)}
DTEND;TZID=Europe/Berlin:{ical(end)}
RRULE:FREQ=WEEKLY;COUNT=4
EXDATE;TZID=Europe/Berlin:{ical(local(first + timedelta(days=7), MEETING[0]))}
""")


def training(day: date, doctor: str) -> str:
    """Dr. B's training 08:30-09:30: CATEGORIES names the doctor it blocks."""
    return ics(f"""
UID:fortbildung
SUMMARY:Fortbildung
CATEGORIES:{doctor}
DTSTART;TZID=Europe/Berlin:{ical(local(day, time(8, 30)))}
DTEND;TZID=Europe/Berlin:{ical(local(day, time(9, 30)))}
""")


def expected_slots(first: date) -> set[str]:
    """Every slot of the 8 days for both doctors, less the meeting on the first day."""
    busy = {(first, at) for at in TIMES if MEETING[0] <= at < MEETING[1]}
    days = [first + timedelta(days=offset) for offset in range(HORIZON_DAYS - 1)]
    return {
        slot_value(day, at, doctor)
        for day in days
        for at in TIMES
        for doctor in (DOCTOR_A, DOCTOR_B)
        if (day, at) not in busy
    }


async def practice_client(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m practice_client ARGS` as a real process, as a practice runs it."""
    env = {k: v for k, v in subprocess_env().items() if not k.startswith("PRACTICE_")}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "practice_client", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=READY_SECONDS,
        check=False,
    )


async def offered(http: aiohttp.ClientSession, relay: RunningRelay, slug: str) -> set[str]:
    """The free slots the relay offers in its public API, as the form posts them."""
    async with http.get(f"{relay.url}/api/v1/practices/{slug}") as response:
        assert response.status == 200
        profile = await response.json()
    return {f"{slot['start']}|{slot['doctor']}" for slot in profile["slots"]}


async def stored(relay: RunningRelay, slug: str) -> set[str]:
    """Every slot of the profile the client last published (held or not)."""
    profile = json.loads(await relay.store.profile(slug))
    return {f"{slot['start']}|{slot['doctor']}" for slot in profile["slots"]}


def times_of_day(page: Page, day: date) -> Locator:
    """The group of times for `day`, named by its legend."""
    return page.get_by_role("group", name=TEXT["times"].format(day=format_day(day, "de")))


async def show_day(page: Page, day: date, *, next_week: bool = False) -> Locator:
    """Chooses `day` in the picker (a week ahead first if asked); its times' group."""
    if next_week:
        await page.get_by_role("button", name=TEXT["next_week"]).click()
    # A day button's name is its short label and count: "Di. 1.12. 8 frei".
    await page.get_by_role("button", name=re.compile(rf"\b{day.day}\.{day.month}\.\s")).click()
    times = times_of_day(page, day)
    await times.wait_for(timeout=20_000)
    return times


async def values_in(times: Locator) -> set[str]:
    radios = times.get_by_role("radio")
    return {value for value in await radios.evaluate_all("rs => rs.map(r => r.value)") if value}


async def book_in_form(
    page: Page, times: Locator, doctor: str, at: str, booking: dict[str, Any]
) -> None:
    """Chooses the time of `doctor` and fills in the form by its labels, then sends it."""
    await times.get_by_role("group", name=doctor).get_by_role("radio", name=at).check()
    await page.get_by_label("Vorname").fill(booking["first_name"])
    await page.get_by_label("Nachname").fill(booking["last_name"])
    await page.get_by_label("Geburtsdatum").fill(booking["birth_date"])
    await page.get_by_role("group", name="Geschlecht").get_by_label("weiblich").check()
    await page.get_by_role("group", name="Versicherung").get_by_label("gesetzlich").check()
    first_visit = page.get_by_role("group", name="Ich bin zum ersten Mal in dieser Praxis")
    await first_visit.get_by_label("Ja", exact=True).check()
    await page.get_by_label("E-Mail-Adresse").fill(booking["email"])
    await page.get_by_label("Telefonnummer").fill(booking["phone"])
    await page.get_by_label("Nachricht an die Praxis").fill(booking["note"])
    # The default basis (the DSK's): the box acknowledges the privacy notice.
    await page.get_by_label("Ich habe die Datenschutzhinweise gelesen").check()
    # The practice client publishes `sealing: either`: the browser seals, and the relay's
    # answer replaces the page in place (no navigation).
    await page.get_by_role("button", name=TEXT["submit"]).click()
    await page.get_by_role("heading", level=1, name=TEXT["sent"]).wait_for()


def mail_to(messages: list[EmailMessage], address: str) -> EmailMessage:
    (message,) = [m for m in messages if m["To"] == address]
    return message


def booking_files(out_dir: Path) -> dict[str, dict[str, Any]]:
    """Booking id -> its JSON document, for every {id}.json the client wrote."""
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in out_dir.glob("*.json")
        if not path.name.endswith(".fhir.json")
    }


def assert_handed_over(
    out_dir: Path, booking_id: str, booking: dict[str, Any], start: datetime
) -> None:
    """JSON, ICS and a valid FHIR bundle of the booking, all for the slot it took."""
    document = json.loads((out_dir / f"{booking_id}.json").read_text(encoding="utf-8"))
    for key in ("first_name", "last_name", "email", "doctor", "appointment_type"):
        assert document[key] == booking[key], key
    assert datetime.fromisoformat(document["start"]) == start
    event = Calendar.from_ical((out_dir / f"{booking_id}.ics").read_bytes()).walk("VEVENT")[0]
    assert event.decoded("DTSTART") == start
    bundle = json.loads((out_dir / f"{booking_id}.fhir.json").read_text(encoding="utf-8"))
    validated(bundle)
    resources = {entry["resource"]["resourceType"]: entry["resource"] for entry in bundle["entry"]}
    appointment, patient = resources["Appointment"], resources["Patient"]
    assert appointment["status"] == "booked"
    assert datetime.fromisoformat(appointment["start"]) == start
    assert appointment["serviceType"][0]["text"] == TYPE
    assert booking["doctor"] in [p["actor"]["display"] for p in appointment["participant"]]
    assert patient["name"][0]["family"] == booking["last_name"]
    assert patient["birthDate"] == booking["birth_date"]


async def test_from_the_calendar_to_the_practice_software_and_back(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    radicale: Radicale,
    tmp_path: Path,
) -> None:
    """Calendar slots are booked in Chromium, handed over, then no longer published."""
    today = datetime.now(BERLIN).date()
    first, week_later = today + timedelta(days=1), today + timedelta(days=8)
    rules = write_rules(tmp_path / "opening-hours.toml", today)
    out_dir = tmp_path / "termine"
    hook = tmp_path / "import" / "import.py"
    hook.parent.mkdir()
    hook.write_text(HOOK, encoding="utf-8")
    relay_args = [
        "--relay",
        relay.url,
        "--token",
        practice.token,
        "--key-file",
        str(practice.key_file),
    ]
    calendar_args = [
        "--rules", str(rules), "--out", str(out_dir), "--caldav", radicale.calendar_url,
        "--caldav-user", radicale.user, "--caldav-password-file", str(radicale.password_file),
    ]  # fmt: skip

    # Given opening hours 09-11 for two doctors and a weekly meeting on the CalDAV server
    await asyncio.to_thread(radicale.make_calendar)
    await asyncio.to_thread(radicale.put_event, "teamsitzung", weekly_meeting(first))

    # When the practice publishes from them
    published = await practice_client("publish", *relay_args, *calendar_args)

    # Then the relay offers every slot but the meeting's, on the form too
    assert published.returncode == 0, published.stderr
    assert "4 slots busy in the calendar" in published.stdout, published.stdout
    expected = expected_slots(first)
    async with aiohttp.ClientSession() as http:
        assert await offered(http, relay, practice.slug) == expected
    context = await new_context(browser, lang="de", viewport="desktop")
    page = await context.new_page()
    await page.goto(f"{relay.url}/p/{practice.slug}")
    on_first = await show_day(page, first)
    assert await values_in(on_first) == {v for v in expected if v.startswith(first.isoformat())}
    assert slot_value(first, time(10, 0), DOCTOR_A) not in await values_in(on_first)
    await check_page(page, "practice-day-1-form")  # with axe-core
    on_week_later = await show_day(page, week_later, next_week=True)
    # The meeting's excepted occurrence leaves 10:00 free a week later.
    assert slot_value(week_later, time(10, 0), DOCTOR_A) in await values_in(on_week_later)

    # When a patient books Dr. A at 10:00 that day in the form
    patient = booking_json(doctor=DOCTOR_A, appointment_type=TYPE)
    await book_in_form(page, on_week_later, DOCTOR_A, "10:00", patient)
    await check_page(page, "practice-day-2-sent", axe=False)
    # and another asks for Dr. B at 09:00 through the API, which the practice's calendar
    # then marks busy (a training entered before anyone confirmed)
    late_start = local(week_later, time(9, 0))
    late = booking_json(start=late_start, doctor=DOCTOR_B, appointment_type=TYPE)
    async with aiohttp.ClientSession() as http:
        assert (await submit(http, relay.url, practice.slug, late)).status == 202
    await asyncio.to_thread(radicale.put_event, "fortbildung", training(week_later, DOCTOR_B))
    messages = await smtp_sink.wait_for(2)

    # And both confirm through the mailed links
    await page.goto(link_in(mail_to(messages, patient["email"])))
    async with page.expect_navigation():
        await page.get_by_role("button", name=TEXT["confirm"]).click()
    assert await page.get_by_role("heading", level=1).inner_text() == TEXT["confirmed"]
    await check_page(page, "practice-day-3-confirmed", axe=False)
    await page.goto(link_in(mail_to(messages, late["email"])))
    async with page.expect_navigation():
        await page.get_by_role("button", name=TEXT["confirm"]).click()

    # And the client fetches them, handing over as JSON, ICS and FHIR to the import hook
    ran = await practice_client(
        "run", "--once", "--wait", "0", *relay_args, "--out", str(out_dir),
        "--format", "json,ics,fhir", "--exec", f"{sys.executable} {hook}",
    )  # fmt: skip

    # Then both bookings are there in three formats, the busy one too: the practice decides
    assert ran.returncode == 0, ran.stderr
    assert "summary: 2 written" in ran.stderr, ran.stderr
    written = booking_files(out_dir)
    by_email = {document["email"]: booking_id for booking_id, document in written.items()}
    assert set(by_email) == {patient["email"], late["email"]}
    assert_handed_over(out_dir, by_email[patient["email"]], patient, local(week_later, time(10, 0)))
    assert_handed_over(out_dir, by_email[late["email"]], late, late_start)
    # And the hook ran once for each with its file paths and nothing personal in its env
    calls = [json.loads(line) for line in hook.with_name("calls.jsonl").read_text().splitlines()]
    assert sorted(call["env"]["TERMINRELAY_BOOKING_ID"] for call in calls) == sorted(written)
    for call in calls:
        booking_id = call["env"]["TERMINRELAY_BOOKING_ID"]
        paths = [out_dir / f"{booking_id}{suffix}" for suffix in (".json", ".ics", ".fhir.json")]
        assert sorted(call["args"]) == sorted(str(path) for path in paths)
        assert set(call["env"]) - {"LC_CTYPE"} == HOOK_ENVIRONMENT
        assert call["env"]["TERMINRELAY_EVENT"] == "booking"
        private = [practice.token, *(str(v) for b in (patient, late) for v in b.values() if v)]
        environment = json.dumps(call["env"])
        leaked = [value for value in private if len(value) > 4 and value in environment]
        assert leaked == []

    # When the practice publishes again, from its calendar and the bookings received
    before = await stored(relay, practice.slug)
    republished = await practice_client("publish", *relay_args, *calendar_args)

    # Then neither slot is published any more: one booked, one busy in the calendar
    assert republished.returncode == 0, republished.stderr
    assert "5 slots busy in the calendar, 1 taken by bookings received" in republished.stdout
    booked = slot_value(week_later, time(10, 0), DOCTOR_A)
    made_busy = slot_value(week_later, time(9, 0), DOCTOR_B)
    assert {booked, made_busy} <= before
    assert await stored(relay, practice.slug) == before - {booked, made_busy}
    # And the form no longer offers them
    await page.goto(f"{relay.url}/p/{practice.slug}")
    on_week_later = await show_day(page, week_later, next_week=True)
    shown = await values_in(on_week_later)
    assert booked not in shown
    assert made_busy not in shown
    assert slot_value(week_later, time(9, 0), DOCTOR_A) in shown
    await check_page(page, "practice-day-4-republished", axe=False)
    await context.close()
