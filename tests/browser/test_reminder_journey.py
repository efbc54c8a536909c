"""A reminder, end to end: the patient ticks "remind me" in Chromium (German with
JavaScript, Turkish without), confirms, the real practice client writes the booking and,
once the reminder is due, asks the real relay to send it; the patient opens the
reminder's cancel link and stops further reminders with one click.

The slot starts a day and some seconds ahead, so that with the practice's "1 day before"
the reminder comes due during the test: the real clock, no setting for short delays.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser

from practice_client.runner import RunConfig, run
from relay.i18n.catalogs import texts
from tests.browser.pages import check_page, new_context
from tests.browser.test_patient_journey import fill_booking, time_radio
from tests.conftest import PracticeHandle, RunningRelay, SmtpSink, link_in
from tests.helpers import BERLIN, DOCTORS, booking_json, profile_json, put_profile, wait_until
from tests.test_answers import plain
from tests.test_cancellation import mail_to

pytestmark = pytest.mark.browser

# The patient's steps take seconds; the reminder comes due after them.
LEAD = timedelta(days=1, seconds=30)
LINK = re.compile(r"https?://\S+/x/[A-Za-z0-9._~-]+\?lang=[a-z]{2}")
STOP = re.compile(r"https?://\S+/x/[A-Za-z0-9._~-]+/reminders\?lang=[a-z]{2}")


@pytest.mark.parametrize(("lang", "javascript"), [("de", True), ("tr", False)])
async def test_a_patient_asks_for_a_reminder_and_gets_one_when_due(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    tmp_path: Path,
    lang: str,
    javascript: bool,
) -> None:
    t = texts(lang)
    start = (datetime.now(BERLIN) + LEAD).replace(microsecond=0)
    end = start + timedelta(minutes=20)
    slot = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "doctor": DOCTORS[0],
        "appointment_type": "Erstgespräch",
    }
    profile = {
        **profile_json(),
        "slots": [slot],
        "reminder_days": [1],
        "details": {"address": ["Hauptstraße 5", "10115 Berlin"], "phone": "030 1234567"},
    }
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
    name = f"reminder-{lang}-{'js' if javascript else 'nojs'}"
    context = await new_context(browser, lang=lang, viewport="phone", javascript=javascript)
    page = await context.new_page()

    # Given a patient who books the slot and ticks the reminder box
    booking = booking_json(start)
    await page.goto(f"{relay.url}/p/{practice.slug}?lang={lang}")
    assert await time_radio(page, slot["start"]).count() == 1
    await fill_booking(page, booking)
    reminder = page.locator("#field-reminder")
    assert not await reminder.is_checked()
    await reminder.check()
    async with page.expect_navigation():
        await (
            page.locator("form.booking .actions")
            .get_by_role("button", name=t.gettext("Send request"), exact=True)
            .click()
        )
    link = link_in(await mail_to(smtp_sink, booking["email"], "/c/"))
    await page.goto(link)
    async with page.expect_navigation():
        await page.get_by_role("button", name=t.gettext("Confirm request")).click()

    # When the practice client writes it and later, once the reminder is due, runs again
    out_dir = tmp_path / "out"
    config = RunConfig(relay.url, practice.token, practice.key_file, out_dir, wait=0)
    assert await run(config, once=True) == 0
    (written,) = [path for path in out_dir.glob("*.json") if path.name.count(".") == 1]
    document = json.loads(written.read_text())
    assert document["reminder"] is True
    assert document["reminder_consent_at"]
    assert not (out_dir / f"{document['id']}.reminders.json").exists()
    due = start - timedelta(days=1)
    wait_until(lambda: datetime.now(BERLIN) >= due, "the reminder's due time", seconds=90)
    assert await run(config, once=True) == 0

    # Then the patient gets one reminder, in their language, naming practice, time and
    # address, never the doctor or the type
    mail = await mail_to(smtp_sink, booking["email"], "Hauptstraße 5")
    assert mail["Content-Language"] == lang
    text = plain(mail)
    assert (
        t.gettext(
            "this is a reminder of your appointment at %(practice)s:",
            practice="Praxis Dr. Beispiel",
        )
        in text
    )
    assert DOCTORS[0] not in text
    assert "Erstgespräch" not in text
    state = json.loads((out_dir / f"{document['id']}.reminders.json").read_text())
    assert state["reminders"]["1"]["outcome"] == "queued"

    # And its cancel link opens the booking's page, and one click stops the reminders
    cancel = LINK.search(text.replace(STOP.search(text)[0], ""))  # type: ignore[index]
    assert cancel is not None
    await page.goto(cancel[0])
    assert await page.inner_text("h1") == t.gettext("Cancel the appointment")
    await check_page(page, f"{name}-cancel", axe=javascript)
    stop = STOP.search(text)
    assert stop is not None
    await page.goto(stop[0])
    await check_page(page, f"{name}-stop", axe=javascript)
    async with page.expect_navigation():
        await page.get_by_role("button", name=t.gettext("Send no more reminders")).click()
    assert await page.inner_text("h1") == t.gettext("No more reminders")
    await context.close()
    sent = [m for m in smtp_sink.messages if m["To"] == booking["email"]]
    assert len(sent) == 3  # the confirmation link, "booked", one reminder
