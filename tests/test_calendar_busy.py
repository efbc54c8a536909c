"""Busy times from iCalendar text: recurrences, exceptions, overrides, zones and DST."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from practice_client.calendar.busy import (
    Busy,
    CalDavCalendar,
    CalendarUnavailableError,
    IcsFile,
    busy_from_ics,
    read_busy,
)

BERLIN = ZoneInfo("Europe/Berlin")
DOCTORS = ["Dr. A. Beispiel", "Dr. B. Muster"]
WINDOW = (
    datetime.fromisoformat("2026-03-01T00:00:00+01:00"),
    datetime.fromisoformat("2026-11-30T00:00:00+01:00"),
)

# What Thunderbird or Radicale send along with TZID=Europe/Berlin.
VTIMEZONE = """BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE
"""


def calendar(*events: str) -> str:
    body = "".join(
        f"BEGIN:VEVENT\nDTSTAMP:20260101T000000Z\n{event.strip()}\nEND:VEVENT\n" for event in events
    )
    text = f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n{VTIMEZONE}{body}END:VCALENDAR\n"
    return text.replace("\n", "\r\n")


def busy(*events: str) -> list[Busy]:
    return busy_from_ics(calendar(*events), *WINDOW, BERLIN, DOCTORS)


def spans(intervals: list[Busy]) -> list[str]:
    return [f"{b.start.isoformat()}/{b.end.isoformat()}" for b in intervals]


def test_recurring_berlin_event_stays_at_local_time_across_spring_change() -> None:
    """A weekly 09:00 Europe/Berlin event is 09:00 local before and after 29 March."""
    found = busy("""
UID:berlin-weekly
DTSTART;TZID=Europe/Berlin:20260316T090000
DTEND;TZID=Europe/Berlin:20260316T100000
RRULE:FREQ=WEEKLY;COUNT=3
""")
    assert spans(found) == [
        "2026-03-16T09:00:00+01:00/2026-03-16T10:00:00+01:00",
        "2026-03-23T09:00:00+01:00/2026-03-23T10:00:00+01:00",
        "2026-03-30T09:00:00+02:00/2026-03-30T10:00:00+02:00",
    ]


def test_recurring_berlin_event_stays_at_local_time_across_autumn_change() -> None:
    """A weekly 09:00 Europe/Berlin event is 09:00 local before and after 25 October."""
    found = busy("""
UID:berlin-autumn
DTSTART;TZID=Europe/Berlin:20261019T090000
DTEND;TZID=Europe/Berlin:20261019T100000
RRULE:FREQ=WEEKLY;COUNT=2
""")
    assert spans(found) == [
        "2026-10-19T09:00:00+02:00/2026-10-19T10:00:00+02:00",
        "2026-10-26T09:00:00+01:00/2026-10-26T10:00:00+01:00",
    ]


def test_recurring_utc_event_shifts_local_time_at_both_changes() -> None:
    """A weekly 08:00 UTC event is 09:00 local in winter and 10:00 in summer."""
    found = busy(
        """
UID:utc-spring
DTSTART:20260323T080000Z
DTEND:20260323T083000Z
RRULE:FREQ=WEEKLY;COUNT=2
""",
        """
UID:utc-autumn
DTSTART:20261019T080000Z
DTEND:20261019T083000Z
RRULE:FREQ=WEEKLY;COUNT=2
""",
    )
    assert [b.start.isoformat() for b in found] == [
        "2026-03-23T09:00:00+01:00",
        "2026-03-30T10:00:00+02:00",
        "2026-10-19T10:00:00+02:00",
        "2026-10-26T09:00:00+01:00",
    ]


def test_exdate_removes_and_override_moves_an_occurrence() -> None:
    """EXDATE drops an occurrence; a RECURRENCE-ID override moves another to its new time."""
    found = busy(
        """
UID:series
DTSTART;TZID=Europe/Berlin:20260302T140000
DTEND;TZID=Europe/Berlin:20260302T150000
RRULE:FREQ=WEEKLY;COUNT=4
EXDATE;TZID=Europe/Berlin:20260309T140000
""",
        """
UID:series
RECURRENCE-ID;TZID=Europe/Berlin:20260316T140000
DTSTART;TZID=Europe/Berlin:20260316T080000
DTEND;TZID=Europe/Berlin:20260316T083000
""",
    )
    assert spans(found) == [
        "2026-03-02T14:00:00+01:00/2026-03-02T15:00:00+01:00",
        "2026-03-16T08:00:00+01:00/2026-03-16T08:30:00+01:00",
        "2026-03-23T14:00:00+01:00/2026-03-23T15:00:00+01:00",
    ]


def test_transparent_and_cancelled_events_block_nothing() -> None:
    """TRANSP:TRANSPARENT, STATUS:CANCELLED and a cancelled override free their time."""
    found = busy(
        """
UID:free
DTSTART;TZID=Europe/Berlin:20260302T090000
DTEND;TZID=Europe/Berlin:20260302T100000
TRANSP:TRANSPARENT
""",
        """
UID:cancelled
DTSTART;TZID=Europe/Berlin:20260303T090000
DTEND;TZID=Europe/Berlin:20260303T100000
STATUS:CANCELLED
""",
        """
UID:weekly
DTSTART;TZID=Europe/Berlin:20260304T090000
DTEND;TZID=Europe/Berlin:20260304T100000
RRULE:FREQ=WEEKLY;COUNT=2
""",
        """
UID:weekly
RECURRENCE-ID;TZID=Europe/Berlin:20260311T090000
DTSTART;TZID=Europe/Berlin:20260311T090000
DTEND;TZID=Europe/Berlin:20260311T100000
STATUS:CANCELLED
""",
    )
    assert spans(found) == ["2026-03-04T09:00:00+01:00/2026-03-04T10:00:00+01:00"]


def test_all_day_events_block_whole_local_days() -> None:
    """An all-day event blocks its days from local midnight, even on the DST day."""
    found = busy(
        """
UID:conference
DTSTART;VALUE=DATE:20260328
DTEND;VALUE=DATE:20260330
""",
        """
UID:single-day
DTSTART;VALUE=DATE:20261025
""",
    )
    assert spans(found) == [
        "2026-03-28T00:00:00+01:00/2026-03-30T00:00:00+02:00",
        "2026-10-25T00:00:00+02:00/2026-10-26T00:00:00+01:00",
    ]


def test_floating_duration_and_instant_events() -> None:
    """Times without zone are local; DURATION sets the end; DTSTART alone blocks its moment."""
    found = busy(
        """
UID:floating
DTSTART:20260305T110000
DURATION:PT45M
""",
        """
UID:instant
DTSTART;TZID=Europe/Berlin:20260306T090000
""",
    )
    assert spans(found) == [
        "2026-03-05T11:00:00+01:00/2026-03-05T11:45:00+01:00",
        "2026-03-06T09:00:00+01:00/2026-03-06T09:00:01+01:00",
    ]


def test_categories_name_the_doctors_an_event_blocks() -> None:
    """CATEGORIES naming a doctor (case ignored) blocks only them; other events block all."""
    found = busy(
        """
UID:only-b
DTSTART;TZID=Europe/Berlin:20260302T090000
DTEND;TZID=Europe/Berlin:20260302T100000
CATEGORIES:dr. b. muster,Urlaub
""",
        """
UID:team
DTSTART;TZID=Europe/Berlin:20260303T090000
DTEND;TZID=Europe/Berlin:20260303T100000
CATEGORIES:Teamsitzung
""",
    )
    only_b, team = found
    assert only_b.doctors == frozenset({"Dr. B. Muster"})
    assert only_b.blocks("Dr. B. Muster")
    assert not only_b.blocks("Dr. A. Beispiel")
    assert team.doctors is None
    assert team.blocks("Dr. A. Beispiel")


def test_events_outside_the_window_are_left_out() -> None:
    """Only occurrences overlapping the window count."""
    found = busy("""
UID:long-ago
DTSTART:20250101T090000Z
DTEND:20250101T100000Z
""")
    assert found == []


def test_unreadable_calendar_file_says_which_and_why(tmp_path: Path) -> None:
    """A missing or broken .ics file raises CalendarUnavailableError naming the file."""
    broken = tmp_path / "broken.ics"
    broken.write_text("this is not a calendar", encoding="utf-8")
    for path in (tmp_path / "missing.ics", broken):
        with pytest.raises(CalendarUnavailableError, match=str(path.name)):
            read_busy(IcsFile(path), *WINDOW, BERLIN, DOCTORS)


def test_unreachable_caldav_server_is_one_clear_error(tmp_path: Path) -> None:
    """A CalDAV URL nobody listens on raises CalendarUnavailableError naming the URL."""
    url = "http://127.0.0.1:9/calendars/praxis/"  # the discard port: connection refused
    with pytest.raises(CalendarUnavailableError, match="cannot reach CalDAV calendar"):
        read_busy(CalDavCalendar(url), *WINDOW, BERLIN, DOCTORS)
    password_file = tmp_path / "missing-password"
    with pytest.raises(CalendarUnavailableError, match="password file"):
        read_busy(CalDavCalendar(url, "praxis", password_file), *WINDOW, BERLIN, DOCTORS)
