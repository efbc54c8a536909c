"""After confirming, in a real Chromium: download the appointment for the patient's calendar,
cancel it through the link, and see the practice client mark the booking cancelled.

Every page is scanned with axe-core and saved as a screenshot (tests/browser/pages.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from icalendar import Calendar
from playwright.async_api import Browser

from practice_client.runner import RunConfig, run
from tests.browser.pages import TEXT, check_page, new_context
from tests.conftest import PracticeHandle, RunningRelay, SmtpSink, link_in
from tests.helpers import booking_json, profile_json, put_profile, slot_times, submit
from tests.test_practice_details import DETAILS

pytestmark = pytest.mark.browser

WORDS = {
    "de": {
        "calendar": "Termin in meinen Kalender",
        "cancel_link": "Termin absagen",
        "cancel_title": "Termin absagen",
        "cancel_button": "Ja, Termin absagen",
        "cancelled": "Termin abgesagt",
        "already": "Bereits abgesagt",
    },
    "en": {
        "calendar": "Add to my calendar",
        "cancel_link": "Cancel the appointment",
        "cancel_title": "Cancel the appointment",
        "cancel_button": "Yes, cancel the appointment",
        "cancelled": "Appointment cancelled",
        "already": "Already cancelled",
    },
}


def read_calendar(path: Path) -> Calendar:
    return Calendar.from_ical(path.read_bytes())


async def drain(relay: RunningRelay, practice: PracticeHandle, out_dir: Path) -> None:
    config = RunConfig(
        relay.url, practice.token, practice.key_file, out_dir, wait=0, formats=("json", "ics")
    )
    assert await run(config, once=True) == 0


@pytest.mark.parametrize(
    ("lang", "viewport", "javascript"),
    [("de", "phone", True), ("en", "desktop", True), ("en", "phone", False)],
)
async def test_confirm_download_the_calendar_file_then_cancel(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    tmp_path: Path,
    lang: str,
    viewport: str,
    javascript: bool,
) -> None:
    """Given a booking confirmed in the browser; the result page's calendar file holds the
    appointment; cancelling through its link makes the practice client mark it cancelled."""
    name = f"cancel-{lang}-{viewport}-{'js' if javascript else 'nojs'}"
    start, end = slot_times()[0]
    out_dir = tmp_path / "out"
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, {**profile_json(), "details": DETAILS})
        booking = booking_json(start)
        assert (await submit(http, relay.url, practice.slug, booking)).status == 202
    (message,) = await smtp_sink.wait_for(1)
    context = await new_context(browser, lang=lang, viewport=viewport, javascript=javascript)
    page = await context.new_page()

    # When the patient confirms
    await page.goto(f"{link_in(message)}?lang={lang}")
    async with page.expect_navigation():
        await page.get_by_role("button", name=TEXT[lang]["confirm"]).click()
    assert await page.inner_text("h1") == TEXT[lang]["confirmed"]
    await check_page(page, f"{name}-result", axe=javascript)

    # Then the calendar file holds this appointment
    async with page.expect_download() as downloading:
        await page.get_by_role("link", name=WORDS[lang]["calendar"]).click()
    download = await downloading.value
    assert download.suggested_filename.endswith(".ics")
    (event,) = read_calendar(await download.path()).walk("VEVENT")
    assert event.decoded("DTSTART") == start
    assert event.decoded("DTEND") == end
    assert DETAILS["address"][0] in str(event["LOCATION"])
    assert booking["last_name"] not in str(event.to_ical().decode())
    await drain(relay, practice, out_dir)
    (written,) = out_dir.glob("*.json")
    assert json.loads(written.read_text())["status"] == "booked"

    # When the patient follows the cancel link and cancels
    async with page.expect_navigation():
        await page.get_by_role("link", name=WORDS[lang]["cancel_link"]).click()
    assert await page.inner_text("h1") == WORDS[lang]["cancel_title"]
    cancel_url = page.url
    await check_page(page, f"{name}-cancel", axe=javascript)
    async with page.expect_navigation():
        await page.get_by_role("button", name=WORDS[lang]["cancel_button"]).click()
    assert await page.inner_text("h1") == WORDS[lang]["cancelled"]
    await check_page(page, f"{name}-cancelled", axe=javascript)
    await page.goto(cancel_url)
    assert await page.inner_text("h1") == WORDS[lang]["already"]
    await check_page(page, f"{name}-cancel-already", axe=javascript)
    await context.close()

    # Then the practice client marks the booking cancelled
    await drain(relay, practice, out_dir)
    document = json.loads(written.read_text())
    assert document["status"] == "cancelled"
    (event,) = read_calendar(written.with_suffix(".ics")).walk("VEVENT")
    assert str(event["STATUS"]) == "CANCELLED"
    assert int(event["SEQUENCE"]) == 1
