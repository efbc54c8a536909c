"""The practice answers, end to end: a real relay, the real practice client writing into a
real Radicale, the patient in Chromium. A request is accepted (the patient's mail in
Turkish, the calendar event from tentative to confirmed), declined (its time free again on
the form), answered with another time (accepted by the patient with one click), and a
booked appointment is cancelled by the practice.

Every page is scanned with axe-core and saved as a screenshot (tests/browser/pages.py).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from icalendar import Calendar
from playwright.async_api import Browser, Page

from practice_client.__main__ import main
from practice_client.handover.caldav_write import CalendarTarget, CalendarWriter
from practice_client.runner import RunConfig, run
from relay.i18n.catalogs import texts
from tests.browser.pages import TEXT, check_page, new_context
from tests.conftest import PracticeHandle, RunningRelay, SmtpSink, link_in
from tests.helpers import DOCTORS, booking_json, profile_json, put_profile, slot_times
from tests.servers import Radicale
from tests.test_cancellation import mail_to

pytestmark = pytest.mark.browser

FORMATS = ("json", "ics", "caldav")


class Practice:
    """The practice's side: its client's output folder and calendar, and its answers
    through the real command line."""

    def __init__(
        self, relay: RunningRelay, handle: PracticeHandle, radicale: Radicale, out_dir: Path
    ) -> None:
        self.relay, self.handle, self.radicale, self.out_dir = relay, handle, radicale, out_dir
        self.calendar_url = f"{radicale.url}/{radicale.user}/{secrets.token_hex(4)}/"
        assert radicale.request("MKCALENDAR", self.calendar_url) == 201

    async def run_once(self) -> None:
        target = CalendarTarget(self.calendar_url, self.radicale.user, self.radicale.password_file)
        config = RunConfig(
            self.relay.url,
            self.handle.token,
            self.handle.key_file,
            self.out_dir,
            wait=0,
            formats=FORMATS,
            calendar=CalendarWriter(target, self.out_dir),
        )
        assert await run(config, once=True) == 0

    async def answer(self, booking_id: str, *argv: str) -> None:
        command = [
            "answer",
            booking_id,
            *argv,
            "--relay",
            self.relay.url,
            "--token",
            self.handle.token,
            "--out",
            str(self.out_dir),
            "--format",
            ",".join(FORMATS),
            "--caldav",
            self.calendar_url,
            "--caldav-user",
            self.radicale.user,
            "--caldav-password-file",
            str(self.radicale.password_file),
        ]
        # Its own event loop, as on the command line.
        assert await asyncio.to_thread(main, command) == 0

    def booking(self) -> dict[str, Any]:
        (written,) = [p for p in self.out_dir.glob("*.json") if p.name.count(".") == 1]
        return dict(json.loads(written.read_text()))

    async def event(self, booking_id: str) -> Any:
        async with (
            aiohttp.ClientSession(headers=self.radicale.auth) as http,
            http.get(f"{self.calendar_url}{booking_id}.ics") as response,
        ):
            assert response.status == 200
            (event,) = Calendar.from_ical(await response.read()).walk("VEVENT")
            return event


async def request_in_browser(
    browser: Browser,
    relay: RunningRelay,
    handle: PracticeHandle,
    sink: SmtpSink,
    *,
    lang: str,
    name: str,
) -> tuple[dict[str, Any], Page]:
    """The patient's request for the first slot, confirmed in Chromium on a phone."""
    booking = booking_json(slot_times()[0][0])
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{relay.url}/api/v1/practices/{handle.slug}/bookings",
            json=booking,
            params={"lang": lang},
        ) as submitted,
    ):
        assert submitted.status == 202
    link = link_in(await mail_to(sink, booking["email"], "/c/"))
    context = await new_context(browser, lang=lang, viewport="phone", javascript=True)
    page = await context.new_page()
    await page.goto(link)
    async with page.expect_navigation():
        await page.get_by_role("button", name=texts(lang).gettext("Confirm request")).click()
    await check_page(page, f"{name}-confirmed")
    return booking, page


def slot_radio(page: Page, start: datetime) -> Any:
    return page.locator(f'input[name="slot"][value="{start.isoformat()}|{DOCTORS[0]}"]')


async def test_an_accepted_request_turns_booked_in_mail_files_and_calendar(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    radicale: Radicale,
    tmp_path: Path,
) -> None:
    """Given a practice that confirms each request; a patient requests a time in Turkish;
    the practice accepts with `practice-client answer`; then the patient's mail is in
    Turkish and the event in the practice's calendar turns from tentative to confirmed."""
    side = Practice(relay, practice, radicale, tmp_path / "out")
    async with aiohttp.ClientSession() as http:
        await put_profile(
            http, relay.url, practice.token, {**profile_json(), "confirmation": "by_practice"}
        )
    booking, page = await request_in_browser(
        browser, relay, practice, smtp_sink, lang="tr", name="answer-accept-tr"
    )
    t = texts("tr")
    assert await page.inner_text("h1") == t.gettext("Request confirmed")
    await page.context.close()
    await side.run_once()
    written = side.booking()
    assert written["status"] == "proposed"
    assert (await side.event(written["id"]))["STATUS"] == "TENTATIVE"

    await side.answer(written["id"], "accept")

    mail = await mail_to(smtp_sink, booking["email"], "Antwort der Praxis")
    assert mail["Content-Language"] == "tr"
    assert mail["Subject"] == t.gettext(
        "Appointment confirmed – %(practice)s", practice=practice.name
    )
    assert side.booking()["status"] == "booked"
    event = await side.event(written["id"])
    assert event["STATUS"] == "CONFIRMED"
    assert int(event["SEQUENCE"]) >= 1


async def test_a_declined_request_shows_its_time_free_again_on_the_form(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    radicale: Radicale,
    tmp_path: Path,
) -> None:
    side = Practice(relay, practice, radicale, tmp_path / "out")
    async with aiohttp.ClientSession() as http:
        await put_profile(
            http, relay.url, practice.token, {**profile_json(), "confirmation": "by_practice"}
        )
    _, page = await request_in_browser(
        browser, relay, practice, smtp_sink, lang="de", name="answer-decline-de"
    )
    start = slot_times()[0][0]
    await page.goto(f"{relay.url}/p/{practice.slug}?lang=de")
    assert await slot_radio(page, start).count() == 0
    await side.run_once()
    booking_id = side.booking()["id"]

    await side.answer(booking_id, "decline", "--reason", "no_free_time")

    await page.reload()
    assert await slot_radio(page, start).count() == 1
    await check_page(page, "answer-decline-de-form")
    assert side.booking()["status"] == "declined"
    assert (await side.event(booking_id))["STATUS"] == "CANCELLED"
    await page.context.close()


async def test_a_proposed_time_accepted_with_one_click_moves_files_and_calendar(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    radicale: Radicale,
    tmp_path: Path,
) -> None:
    side = Practice(relay, practice, radicale, tmp_path / "out")
    async with aiohttp.ClientSession() as http:
        await put_profile(
            http, relay.url, practice.token, {**profile_json(), "confirmation": "by_practice"}
        )
    booking, page = await request_in_browser(
        browser, relay, practice, smtp_sink, lang="en", name="answer-propose-en"
    )
    await side.run_once()
    booking_id = side.booking()["id"]
    new_start, new_end = slot_times()[1]

    await side.answer(booking_id, "propose", "--start", new_start.isoformat())
    assert (await side.event(booking_id)).decoded("DTSTART") == new_start

    mail = await mail_to(smtp_sink, booking["email"], "Proposed time")
    text = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    (link,) = [line for line in text.splitlines() if "/x/" in line]
    await page.goto(link.strip())
    assert await page.inner_text("h1") == "The practice proposes another time"
    await check_page(page, "answer-propose-en-page")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Accept this time").click()
    assert await page.inner_text("h1") == "Appointment booked"
    await check_page(page, "answer-propose-en-accepted")
    await page.context.close()

    await side.run_once()
    written = side.booking()
    assert written["status"] == "booked"
    assert datetime.fromisoformat(written["start"]).astimezone(UTC) == new_start.astimezone(UTC)
    event = await side.event(booking_id)
    assert event["STATUS"] == "CONFIRMED"
    assert event.decoded("DTSTART") == new_start
    assert event.decoded("DTEND") == new_end


async def test_an_appointment_cancelled_by_the_practice_tells_the_patient(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    radicale: Radicale,
    tmp_path: Path,
) -> None:
    side = Practice(relay, practice, radicale, tmp_path / "out")
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
    booking, page = await request_in_browser(
        browser, relay, practice, smtp_sink, lang="de", name="answer-cancel-de"
    )
    assert await page.inner_text("h1") == TEXT["de"]["confirmed"]
    cancel_link = page.get_by_role("link", name="Termin absagen")
    patient_link = await cancel_link.get_attribute("href")
    await side.run_once()
    booking_id = side.booking()["id"]
    assert (await side.event(booking_id))["STATUS"] == "CONFIRMED"

    await side.answer(booking_id, "cancel", "--reason", "doctor_unavailable")

    mail = await mail_to(smtp_sink, booking["email"], "musste Ihren Termin leider absagen")
    text = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert f"/p/{practice.slug}?lang=de" in text
    assert (await side.event(booking_id))["STATUS"] == "CANCELLED"
    assert side.booking()["status"] == "cancelled"
    await page.goto(f"{relay.url}{patient_link}")
    assert await page.inner_text("h1") == "Die Praxis hat den Termin abgesagt"
    await check_page(page, "answer-cancel-de-patient")
    await page.context.close()
