"""Busy times from the practice's calendar: an .ics file or a CalDAV calendar.

Recurrences (RRULE, RDATE, EXDATE, RECURRENCE-ID overrides) are expanded here, on the
client, by recurring-ical-events, rather than by the server (CalDAV's `expand`): the same
code then serves .ics files and every CalDAV server, and correctness does not hang on
each server's partial support of server-side expansion. The server only narrows the
search to the window (a CalDAV time-range query, which includes recurring events with an
occurrence in it).

Which doctor an event blocks: an event whose CATEGORIES name doctors (as written in the
rules, case ignored) blocks only them; any other event blocks every doctor. Blocking too
much is the safe failure: a slot that is not offered costs less than a double booking.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from icalendar import Calendar

# The calendar libraries (icalendar, recurring-ical-events, caldav with requests and lxml)
# are imported where a calendar is read: they cost a tenth of a second at every start of a
# client, and most runs (`run --once` draining bookings) never read a calendar.

# A calendar is read at most this long; a hanging server must not stall publishing.
CALDAV_TIMEOUT = 30
# An .ics file this large is not a practice calendar but a mistake (or an export of years).
MAX_ICS_BYTES = 50 * 1024 * 1024
# An event without duration (DTSTART only) still blocks the slot it falls into.
_INSTANT = timedelta(seconds=1)


class CalendarUnavailableError(Exception):
    """The calendar could not be read; the message says which and why, in one line."""


@dataclass(frozen=True)
class Busy:
    """A busy interval; `doctors` None means every doctor."""

    start: datetime
    end: datetime
    doctors: frozenset[str] | None

    def blocks(self, doctor: str | None) -> bool:
        return self.doctors is None or doctor is None or doctor in self.doctors


@dataclass(frozen=True)
class IcsFile:
    path: Path

    def describe(self) -> str:
        return f"calendar file {self.path}"


@dataclass(frozen=True)
class CalDavCalendar:
    url: str
    username: str | None = None
    password_file: Path | None = None

    def describe(self) -> str:
        return f"CalDAV calendar {self.url}"


BusySource = IcsFile | CalDavCalendar


def read_busy(
    source: BusySource, start: datetime, end: datetime, zone: ZoneInfo, doctors: Sequence[str]
) -> list[Busy]:
    """Busy intervals overlapping [start, end); CalendarUnavailableError if unreadable.

    Blocking (file or network I/O): call it in a thread from async code.
    """
    if isinstance(source, IcsFile):
        calendars = [_parse(_read_ics(source.path), source)]
    else:
        calendars = [_parse(data, source) for data in _read_caldav(source, start, end)]
    try:
        return busy_in_calendars(calendars, start, end, zone, doctors)
    except ValueError as error:  # recurring-ical-events' InvalidCalendar and friends
        raise CalendarUnavailableError(
            f"{source.describe()} holds an event that cannot be read: {error}"
        ) from error


def busy_in_calendars(
    calendars: Iterable[Calendar],
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    doctors: Sequence[str],
) -> list[Busy]:
    """Busy intervals of every event occurrence overlapping [start, end), by start.

    Cancelled (STATUS:CANCELLED) and free (TRANSP:TRANSPARENT) occurrences block nothing;
    an all-day event blocks its whole days in the practice's `zone`; times without a
    zone (floating) are taken in `zone`.
    """
    import recurring_ical_events  # noqa: PLC0415 - see the note on imports above

    by_name = {doctor.casefold(): doctor for doctor in doctors}
    busy: list[Busy] = []
    # A day of margin: all-day events are dates, compared by the library in its own way.
    query_start, query_end = start - timedelta(days=1), end + timedelta(days=1)
    for calendar in calendars:
        for event in recurring_ical_events.of(calendar).between(query_start, query_end):
            if _frees_nothing(event):
                continue
            begins, ends = _local(event.start, zone), _local(event.end, zone)
            if ends <= begins:
                ends = begins + _INSTANT
            if ends <= start or begins >= end:
                continue
            busy.append(Busy(begins, ends, _doctors_named(event, by_name)))
    busy.sort(key=lambda interval: interval.start)
    return busy


def busy_from_ics(
    text: str | bytes, start: datetime, end: datetime, zone: ZoneInfo, doctors: Sequence[str]
) -> list[Busy]:
    """busy_in_calendars of one calendar given as text (ValueError if it is not one)."""
    from icalendar import Calendar  # noqa: PLC0415 - see the note on imports above

    return busy_in_calendars([Calendar.from_ical(text)], start, end, zone, doctors)


def _frees_nothing(event: Calendar) -> bool:
    status = str(event.get("STATUS", "")).upper()
    transparency = str(event.get("TRANSP", "")).upper()
    return status == "CANCELLED" or transparency == "TRANSPARENT"


def _local(moment: date | datetime, zone: ZoneInfo) -> datetime:
    if not isinstance(moment, datetime):  # an all-day event's date: from local midnight
        return datetime.combine(moment, time(), tzinfo=zone)
    if moment.tzinfo is None:  # floating time: the practice's wall clock
        return moment.replace(tzinfo=zone)
    return moment.astimezone(zone)


def _doctors_named(event: Calendar, by_name: dict[str, str]) -> frozenset[str] | None:
    named = {
        by_name[category.casefold()]
        for category in _categories(event)
        if category.casefold() in by_name
    }
    return frozenset(named) or None


def _categories(event: Calendar) -> list[str]:
    """CATEGORIES values; the property may appear several times, each with a list."""
    found = event.get("CATEGORIES")
    if found is None:
        return []
    properties = found if isinstance(found, list) else [found]
    return [str(value).strip() for prop in properties for value in getattr(prop, "cats", [])]


def _read_ics(path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            data = file.read(MAX_ICS_BYTES + 1)
    except OSError as error:
        raise CalendarUnavailableError(
            f"cannot read calendar file {path}: {error.strerror or error}"
        ) from error
    if len(data) > MAX_ICS_BYTES:
        raise CalendarUnavailableError(
            f"calendar file {path} is larger than {MAX_ICS_BYTES // (1024 * 1024)} MB"
        )
    return data


def _parse(data: bytes | str, source: BusySource) -> Calendar:
    from icalendar import Calendar  # noqa: PLC0415 - see the note on imports above

    try:
        return Calendar.from_ical(data)
    except ValueError as error:
        raise CalendarUnavailableError(
            f"{source.describe()} is not an iCalendar (.ics) calendar: {error}"
        ) from error


def _read_caldav(source: CalDavCalendar, start: datetime, end: datetime) -> list[str]:
    """The raw iCalendar text of every object with an event in [start, end)."""
    from caldav.collection import Calendar as DavCalendar  # noqa: PLC0415 - see above
    from caldav.davclient import DAVClient  # noqa: PLC0415
    from caldav.lib.error import DAVError  # noqa: PLC0415

    password = _password(source)
    try:
        with DAVClient(
            url=source.url, username=source.username, password=password, timeout=CALDAV_TIMEOUT
        ) as client:
            calendar = DavCalendar(client=client, url=source.url)
            return _texts(calendar.search(start=start, end=end, event=True, expand=False))
    except DAVError as error:
        raise CalendarUnavailableError(
            f"{source.describe()} answered with an error: {_first_line(error)}"
        ) from error
    # requests' errors are OSErrors; lxml's XMLSyntaxError (a broken answer) a SyntaxError.
    except (OSError, ValueError, TypeError, SyntaxError) as error:
        raise CalendarUnavailableError(
            f"cannot reach {source.describe()}: {_first_line(error)}"
        ) from error


def _texts(found: object) -> list[str]:
    if not isinstance(found, list):  # only caldav's async client returns coroutines
        raise TypeError("the CalDAV search did not return a list")
    return [str(item.data) for item in found]


def _password(source: CalDavCalendar) -> str | None:
    if source.password_file is None:
        return None
    try:
        # One line; the newline an editor adds is not part of the password.
        return source.password_file.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as error:
        raise CalendarUnavailableError(
            f"cannot read the CalDAV password file {source.password_file}: {error}"
        ) from error


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
