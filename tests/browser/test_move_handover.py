"""A move, end to end to the practice's files: the patient confirms in Chromium, the real
practice client writes the booking (JSON, ICS, FHIR), the patient moves it from the result
page, and the next run of the client moves the same booking: new times, the same UID with
the next SEQUENCE, FHIR's Appointment, the hook told `reschedule`; never a second booking.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from icalendar import Calendar
from playwright.async_api import Browser

from practice_client.handover.hooks import Hook
from practice_client.runner import RunConfig, run
from relay.i18n.catalogs import texts
from tests.browser.test_move import confirmed_in_browser, move_to
from tests.conftest import PracticeHandle, RunningRelay, SmtpSink
from tests.helpers import slot_times

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(("lang", "javascript"), [("de", True), ("tr", False)])
async def test_the_practice_client_moves_the_booking(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    tmp_path: Path,
    lang: str,
    javascript: bool,
) -> None:
    out_dir = tmp_path / "out"
    events = tmp_path / "events"
    # The hook notes each event it is run for.
    script = (
        f"import os; open({str(events)!r}, 'a').write(os.environ['TERMINRELAY_EVENT'] + chr(10))"
    )
    hook = f'{sys.executable} -c "{script}"'
    config = RunConfig(
        relay.url,
        practice.token,
        practice.key_file,
        out_dir,
        wait=0,
        formats=("json", "ics", "fhir"),
        hook=Hook(hook, timeout=30),
    )
    _, page = await confirmed_in_browser(
        browser, relay, practice, smtp_sink, lang=lang, javascript=javascript
    )
    assert await run(config, once=True) == 0
    (written,) = [path for path in out_dir.glob("*.json") if path.name.count(".") == 1]
    booking_id = json.loads(written.read_text())["id"]
    uid = str(Calendar.from_ical(written.with_suffix(".ics").read_bytes()).walk("VEVENT")[0]["UID"])

    # When the patient moves the appointment to the second slot from the result page
    async with page.expect_navigation():
        await page.get_by_role("link", name=texts(lang).gettext("Choose another time")).click()
    await move_to(page, 1, lang, f"handover-{lang}", javascript=javascript)
    await page.context.close()

    # Then the client's next run moves the same booking in every format
    assert await run(config, once=True) == 0
    assert [path.name for path in out_dir.glob("*.json") if path.name.count(".") == 1] == [
        written.name
    ]
    start, end = slot_times()[1]
    document = json.loads(written.read_text())
    assert (document["id"], document["status"]) == (booking_id, "booked")
    assert document["start"] == start.isoformat()
    assert document["end"] == end.isoformat()
    assert document["previous_start"] == slot_times()[0][0].isoformat()
    (event,) = Calendar.from_ical(written.with_suffix(".ics").read_bytes()).walk("VEVENT")
    assert str(event["UID"]) == uid
    assert int(event["SEQUENCE"]) == 1
    assert event.decoded("DTSTART") == start
    assert event.decoded("DTEND") == end
    bundle = json.loads((out_dir / f"{booking_id}.fhir.json").read_text())
    (appointment,) = [
        entry["resource"]
        for entry in bundle["entry"]
        if entry["resource"]["resourceType"] == "Appointment"
    ]
    assert appointment["start"] == start.isoformat()
    assert appointment["status"] == "booked"
    assert events.read_text().split() == ["booking", "reschedule"]
