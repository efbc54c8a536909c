"""Bookings as events in the practice's CalDAV calendar (`run --format …,caldav` or
`[caldav.write]` in the opening-hours rules).

Each booking is one VEVENT whose UID is the booking id, stored as `{calendar}/{id}.ics`
with a plain PUT: writing it again replaces it, so a retry or a redelivery never makes a
second event. Its STATUS and SEQUENCE follow the booking's (status.py), so the event
turns from tentative to confirmed or cancelled as the practice answers, the patient
replies or cancels.

The calendar never holds up the files or the acknowledgement: the sink leaves a marker
`{id}.caldav-pending` beside a booking's files with every version it writes (in the same
durable batch), and this module puts the current version into the calendar and removes
the marker. A calendar that cannot be written keeps the marker, with the attempts and
when to try again (doubling from `retry_base` up to `retry_cap`); a client that starts
tries every marker at once, so a restart (with a fixed password, say) retries too.

What the event shows is the practice's choice: `summary` from the fields time, type,
doctor and initials (and the full name, `name`, only with `details = "full"`, which also
puts the booking's full description into the event). A calendar hosted by a third party
then holds health data: README, "Bookings in the practice calendar".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import string
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from practice_client.handover import ics
from practice_client.handover.files import write_atomically
from practice_client.handover.moments import iso_time
from practice_client.handover.sink import CALENDAR_MARKER_SUFFIX, usable_booking_id
from practice_client.handover.status import ENDED, ICS_STATUS, event_times, sequence_of, status_of
from practice_client.limits import load_json

log = logging.getLogger(__name__)

DEFAULT_SUMMARY = "{time} {type} {initials}"
Details = Literal["minimal", "full"]
DETAILS: tuple[Details, ...] = ("minimal", "full")
SUMMARY_FIELDS = ("time", "type", "doctor", "initials")
FULL_FIELDS = (*SUMMARY_FIELDS, "name")
# A calendar server that hangs must not hold a pass for long; the next one tries again.
CALDAV_WRITE_TIMEOUT = 15
DEFAULT_RETRY_BASE = 30.0
DEFAULT_RETRY_CAP = 3600.0
_PRODID = "-//Terminrelay//practice-client calendar//EN"
_MAX_MARKER_BYTES = 4096


class CalendarTargetError(ValueError):
    """A calendar setting that cannot work; the message names it."""


@dataclass(frozen=True)
class CalendarTarget:
    """Where and what to write: the calendar collection's URL, its credentials, the
    event's summary template and how much of the booking goes into the event."""

    url: str
    username: str | None = None
    password_file: Path | None = None
    summary: str = DEFAULT_SUMMARY
    details: Details = "minimal"

    def __post_init__(self) -> None:
        problem = summary_problem(self.summary, self.details)
        if problem is not None:
            raise CalendarTargetError(f"summary: {problem}")

    @property
    def collection(self) -> str:
        return self.url if self.url.endswith("/") else self.url + "/"

    def describe(self) -> str:
        return f"CalDAV calendar {self.url}"


def summary_problem(template: str, details: str) -> str | None:
    """Why `template` cannot be a summary (unknown fields, formatting beyond `{field}`),
    or None."""
    if details not in DETAILS:
        return f"details must be one of {', '.join(DETAILS)}, not {details!r}"
    allowed = FULL_FIELDS if details == "full" else SUMMARY_FIELDS
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as error:
        return f"not a template: {error}"
    for _, field, spec, conversion in parts:
        if field is None:
            continue
        if field == "name" and details != "full":
            return 'the full name ({name}) goes into the calendar only with details = "full"'
        if field not in allowed or spec or conversion:
            return f"unknown field {{{field}}}; use {', '.join('{' + f + '}' for f in allowed)}"
    return None


def event_calendar(booking: Mapping[str, object], target: CalendarTarget, *, now: datetime) -> str:
    """The booking as a VCALENDAR with one VEVENT (UID the booking id); ValueError for a
    booking without a usable start (a wish in words only)."""
    from icalendar import Calendar, Event  # noqa: PLC0415 - calendar libraries load late

    start_value, end_value = event_times(booking)
    start, end = iso_time(start_value), iso_time(end_value)
    if start is None:
        raise ValueError("the booking names no time a calendar can show")
    status = status_of(booking)
    event = Event()
    event.add("uid", str(booking["id"]))
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", _utc(start))
    if end is not None and end > start:
        event.add("dtend", _utc(end))
    event.add("sequence", sequence_of(booking))
    event.add("status", ICS_STATUS[status])
    event.add("summary", ics.SUMMARY_PREFIX.get(status, "") + _summary(booking, target, start))
    if target.details == "full":
        event.add("description", ics.describe(booking))
    else:
        event.add(
            "description",
            f"Terminrelay-Buchung {booking['id']}: die Angaben stehen in {booking['id']}.json",
        )
    doctor = booking.get("doctor")
    if isinstance(doctor, str) and doctor:
        # The busy-time reader blocks only the doctors an event's CATEGORIES name.
        event.add("categories", [doctor])
    # Declined and cancelled bookings block no time in the busy calendar.
    event.add("transp", "TRANSPARENT" if status in ENDED else "OPAQUE")
    calendar = Calendar()
    calendar.add("prodid", _PRODID)
    calendar.add("version", "2.0")
    calendar.add_component(event)
    return bytes(calendar.to_ical()).decode()


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is None else moment.astimezone(UTC)


def _summary(booking: Mapping[str, object], target: CalendarTarget, start: datetime) -> str:
    first, last = (_text(booking.get(name)) for name in ("first_name", "last_name"))
    fields = {
        "time": start.strftime("%H:%M"),
        "type": _text(booking.get("appointment_type")) or "Terminanfrage",
        "doctor": _text(booking.get("doctor")),
        "initials": " ".join(f"{part[0]}." for part in (first, last) if part),
        "name": " ".join(part for part in (first, last) if part),
    }
    return " ".join(target.summary.format_map(fields).split())


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


@dataclass(frozen=True)
class PassReport:
    """What one pass did; `next_due` the seconds until a marker is due again (None: none)."""

    written: int
    failed: int
    next_due: float | None


class CalendarWriter:
    """Puts the versions marked in `out_dir` into the calendar. Blocking (requests):
    the runner calls `write_due` in a thread."""

    def __init__(
        self,
        target: CalendarTarget,
        out_dir: Path,
        *,
        retry_base: float = DEFAULT_RETRY_BASE,
        retry_cap: float = DEFAULT_RETRY_CAP,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.target = target
        self.out_dir = out_dir
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self._clock = clock
        self.stopping = threading.Event()  # set: a pass ends after the booking in hand

    def marked(self) -> list[str]:
        """The booking ids whose last version is not in the calendar yet."""
        try:
            names = sorted(path.name for path in self.out_dir.glob(f"*{CALENDAR_MARKER_SUFFIX}"))
        except OSError:
            return []
        ids = (name.removesuffix(CALENDAR_MARKER_SUFFIX) for name in names)
        return [booking_id for booking_id in ids if usable_booking_id(booking_id)]

    def write_due(self, *, all_now: bool = False) -> PassReport:
        """Write every marked booking that is due (every one with `all_now`)."""
        from caldav.davclient import DAVClient  # noqa: PLC0415 - calendar libraries load late

        written = failed = 0
        next_due: float | None = None
        now = self._clock()
        due = []
        for booking_id in self.marked():
            retry_at = self._retry_at(booking_id)
            if all_now or retry_at <= now:
                due.append(booking_id)
            else:
                next_due = _sooner(next_due, retry_at - now)
        if not due:
            return PassReport(0, 0, next_due)
        try:
            password = self._password()
        except OSError as error:
            problem = f"cannot read the password file {self.target.password_file}: {error}"
            for booking_id in due:
                next_due = _sooner(next_due, self._failed(booking_id, problem, None))
            return PassReport(0, len(due), next_due)
        with DAVClient(
            url=self.target.url,
            username=self.target.username,
            password=password,
            timeout=CALDAV_WRITE_TIMEOUT,
        ) as client:
            for booking_id in due:
                if self.stopping.is_set():
                    break
                delay = self._write_one(client, booking_id)
                if delay is None:
                    written += 1
                else:
                    failed += 1
                    next_due = _sooner(next_due, delay)
        return PassReport(written, failed, next_due)

    def _write_one(self, client: object, booking_id: str) -> float | None:
        """Put one booking's current version; None when done, else seconds until retry."""
        from caldav.lib.error import DAVError  # noqa: PLC0415

        marker = self.out_dir / f"{booking_id}{CALENDAR_MARKER_SUFFIX}"
        version = _stamp(marker)
        if version is None:
            return None  # written meanwhile
        try:
            booking = _read_object(self.out_dir / f"{booking_id}.json")
            text = event_calendar(booking, self.target, now=datetime.now(UTC))
        except (OSError, ValueError) as error:
            # Nothing a retry could change: the booking's files say why (or a later
            # version comes with a new marker).
            log.warning("booking %s is not put into the calendar: %s", booking_id, error)
            _remove_if(marker, version)
            return None
        try:
            answer = client.put(  # type: ignore[attr-defined]
                self.target.collection + f"{booking_id}.ics",
                text,
                {"Content-Type": "text/calendar; charset=utf-8"},
            )
            status = int(answer.status)
        except DAVError as error:
            return self._failed(
                booking_id, f"answered with an error: {_first_line(error)}", version
            )
        # requests' errors are OSErrors
        except (OSError, ValueError, TypeError) as error:
            return self._failed(booking_id, f"cannot be reached: {_first_line(error)}", version)
        if status not in (200, 201, 204):
            return self._failed(booking_id, f"answered HTTP {status} to the PUT", version)
        # A version written meanwhile (a new marker) is written by the next pass.
        _remove_if(marker, version)
        log.info(
            "booking %s is in the calendar (%s, SEQUENCE %d)",
            booking_id,
            ICS_STATUS[status_of(booking)],
            sequence_of(booking),
        )
        return None

    def _failed(self, booking_id: str, problem: str, version: tuple[int, int] | None) -> float:
        marker = self.out_dir / f"{booking_id}{CALENDAR_MARKER_SUFFIX}"
        attempts = self._attempts(booking_id) + 1
        delay = min(self.retry_cap, self.retry_base * 2.0 ** (attempts - 1))
        if version is None or _stamp(marker) == version:
            state = {"attempts": attempts, "retry_at": self._clock() + delay}
            try:
                write_atomically(marker, (json.dumps(state) + "\n").encode())
            except OSError as error:
                log.warning("cannot note the retry in %s: %s", marker.name, error.strerror)
        log.warning(
            "the %s %s for booking %s; the files are written, the calendar is tried again "
            "in %d s (attempt %d)",
            self.target.describe(),
            problem,
            booking_id,
            delay,
            attempts,
        )
        return delay

    def _state(self, booking_id: str) -> Mapping[str, object]:
        marker = self.out_dir / f"{booking_id}{CALENDAR_MARKER_SUFFIX}"
        try:
            data = marker.read_bytes()[:_MAX_MARKER_BYTES]
            state = load_json(data)
        except (OSError, ValueError):  # JsonRejectedError is a ValueError
            return {}
        return state if isinstance(state, dict) else {}

    def _attempts(self, booking_id: str) -> int:
        attempts = self._state(booking_id).get("attempts")
        return attempts if type(attempts) is int and attempts >= 0 else 0

    def _retry_at(self, booking_id: str) -> float:
        retry_at: object = self._state(booking_id).get("retry_at")
        return float(retry_at) if isinstance(retry_at, int | float) else 0.0

    def _password(self) -> str | None:
        if self.target.password_file is None:
            return None
        # One line; the newline an editor adds is not part of the password.
        return self.target.password_file.read_text(encoding="utf-8").rstrip("\r\n")


def _sooner(current: float | None, candidate: float) -> float:
    return candidate if current is None else min(current, candidate)


def _stamp(path: Path) -> tuple[int, int] | None:
    """The marker's identity: a new version replaces it (a new inode by rename)."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_ino, status.st_mtime_ns


def _remove_if(marker: Path, version: tuple[int, int]) -> None:
    if _stamp(marker) == version:
        marker.unlink(missing_ok=True)


def _read_object(path: Path) -> dict[str, object]:
    if path.stat().st_size > 1024 * 1024:
        raise ValueError(f"{path.name} is larger than any booking file")
    document = load_json(path.read_bytes())
    if not isinstance(document, dict):
        raise ValueError(f"{path.name} is not a JSON object")  # noqa: TRY004
    return document


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


class CalendarSync:
    """`run`'s calendar beside delivery: a pass at start (every marker, a restart retries),
    then one after each batch written (`wake`) and when the next retry is due."""

    def __init__(self, writer: CalendarWriter) -> None:
        self.writer = writer
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    def wake(self) -> None:
        self._wake.set()

    async def write_all(self) -> PassReport:
        """One pass over every marker now (`run --once`, `answer`)."""
        return await asyncio.to_thread(self.writer.write_due, all_now=True)

    async def stop(self) -> None:
        """End the loop; a pass in hand ends after the booking it is writing."""
        self.writer.stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        all_now = True
        while True:
            self._wake.clear()
            try:
                report = await asyncio.to_thread(self.writer.write_due, all_now=all_now)
            except Exception as error:
                # A library failing unforeseen costs a pass, never delivery.
                log.error(  # noqa: TRY400 - one line; a message could quote the server
                    "the %s could not be written (%s)",
                    self.writer.target.describe(),
                    type(error).__name__,
                )
                report = PassReport(0, 0, self.writer.retry_base)
            all_now = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), report.next_due)
