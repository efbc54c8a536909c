"""Opening-hours rules (a TOML file practice staff write) and the slots they offer.

The format is documented in docs/opening-hours.md with a complete example in
examples/opening-hours.toml. Every problem found is reported at once, each naming the key
and, where it can be found, the line, so staff can fix a file in one go.

Slots are cut on a fixed grid from the start of each opening range: busy times and
bookings remove slots but never shift the others. That keeps a slot's start (and so its
id on the relay, which holds and marks slots by start and doctor) the same across
re-publishing, whatever the calendar does in between.
"""

from __future__ import annotations

import itertools
import re
import tomllib
import zoneinfo
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from practice_client.calendar.calendar_write import CalendarWriteRules, read_calendar_write
from practice_client.calendar.durations import parse_duration
from practice_client.calendar.rules_details import (
    by_language,
    optional_text,
    read_details,
    read_note,
)
from practice_client.handover.languages import PATIENT_LANGUAGES

# The relay's own bounds (relay/practice/profile.py), repeated so a practice learns of a breach from
# its rules file rather than from a rejected upload. The client does not import the relay.
MAX_NAME_LENGTH = 200
MAX_ENTRY_NAME_LENGTH = 100
MAX_DOCTORS = 50
MAX_APPOINTMENT_TYPES = 50
MIN_MINUTES = 5
MAX_MINUTES = 480
MAX_HORIZON_DAYS = 365

# Who may seal the practice's bookings (docs/protocol.md, "Sealed in the browser"): the
# patient's browser where JavaScript runs and the relay otherwise, the browser only, or
# the relay only. This client opens both, so it offers both unless the rules say otherwise.
SEALINGS = ("either", "browser", "relay")
DEFAULT_SEALING = "either"

DEFAULT_TIME_ZONE = "Europe/Berlin"
DEFAULT_HORIZON_DAYS = 28
DEFAULT_LEAD_TIME = "2h"
# The language of the practice's own texts (name, notes, opening hours) when not given.
DEFAULT_LANGUAGE = "de"

_MINUTES_PER_DAY = 24 * 60

_WEEKDAY_NAMES: dict[str, int] = {}
for _number, _names in enumerate(
    (
        ("mo", "mon", "monday", "montag"),
        ("di", "tue", "tuesday", "dienstag"),
        ("mi", "wed", "wednesday", "mittwoch"),
        ("do", "thu", "thursday", "donnerstag"),
        ("fr", "fri", "friday", "freitag"),
        ("sa", "sat", "saturday", "samstag", "sonnabend"),
        ("so", "sun", "sunday", "sonntag"),
    )
):
    for _name in _names:
        _WEEKDAY_NAMES[_name] = _number
WEEKDAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

_TOP_KEYS = frozenset(
    {
        "name",
        "time_zone",
        "accept_wishes",
        "horizon_days",
        "lead_time",
        "holidays",
        "breaks",
        "appointment_types",
        "doctors",
        "frame_ancestors",
        "details",
        "sealing",
        "language",
        "caldav",
        "confirmation",
        "answer_within_hours",
        "legal_basis",
        "reminders",
    }
)
# Whether confirming a slot books it or asks the practice (the relay's profile member).
CONFIRMATIONS = ("direct", "by_practice")
MAX_ANSWER_WITHIN_HOURS = 336
# What bookings rest on (the relay's profile member `legal_basis`, docs/privacy.md).
LEGAL_BASES = ("contract", "consent")
# [reminders] days_before = [1] or [7, 1]: the relay's `reminder_days`.
MAX_REMINDERS = 2
MAX_REMINDER_DAYS = 7
_REMINDER_KEYS = frozenset({"days_before"})
_TYPE_KEYS = ("minutes", "note", "names", "notes")
_DOCTOR_KEYS = frozenset({"name", "appointment_types", "hours", "breaks", "holidays"})
# A range kept for some insurance types: { range = "08:00-10:00", insurance = [...] }.
_RANGE_TABLE_KEYS = frozenset({"range", "insurance"})
# The booking field's choices (the relay's relay/practice/insurance.py), repeated here: the
# client does not import the relay, and booking_rules.json is read only for bookings.
INSURANCES = ("statutory", "private", "self_pay")
_TIME_RANGE = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")
_RANGE_WITH_TYPE = re.compile(rf"\s*({_TIME_RANGE.pattern})(?:\s+(\S.*?))?\s*")
_BREAK = re.compile(rf"\s*(?:([A-Za-z]+)\s+)?({_TIME_RANGE.pattern})\s*")


class RulesError(Exception):
    """The rules file is unusable; one line per problem, each naming key and line."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class DayRange:
    """Closed days, first and last included."""

    first: date
    last: date

    def covers(self, day: date) -> bool:
        return self.first <= day <= self.last


@dataclass(frozen=True)
class Minutes:
    """A time-of-day range in minutes since midnight, end excluded."""

    start: int
    end: int


@dataclass(frozen=True)
class Hours:
    """An opening range on one weekday (0 Monday) offering one appointment type."""

    weekday: int
    span: Minutes
    appointment_type: str
    # The insurance types its slots are kept for, in INSURANCES' order; () for every one.
    insurance: tuple[str, ...] = ()


@dataclass(frozen=True)
class Break:
    """A daily break, or one on a single weekday."""

    weekday: int | None
    span: Minutes


@dataclass(frozen=True)
class Doctor:
    name: str
    appointment_types: tuple[str, ...]
    hours: tuple[Hours, ...]
    breaks: tuple[Break, ...]
    holidays: tuple[DayRange, ...]


@dataclass(frozen=True)
class Rules:
    name: str
    time_zone: str
    accept_wishes: bool
    horizon_days: int
    lead_time: timedelta
    appointment_types: tuple[tuple[str, int], ...]  # (name, minutes), in file order
    holidays: tuple[DayRange, ...]
    breaks: tuple[Break, ...]
    doctors: tuple[Doctor, ...]
    # Origins allowed to embed the booking form; passed on for the relay to check.
    frame_ancestors: tuple[str, ...] = ()
    # (type name, note to patients) for the types that have one, in file order.
    notes: tuple[tuple[str, str], ...] = ()
    # The profile's "details" as JSON-ready data (practice_client/calendar/rules_details.py).
    details: Mapping[str, object] | None = field(default=None, hash=False)
    sealing: str = DEFAULT_SEALING  # one of SEALINGS
    # The language the practice's own texts are in, as the file gives it (None: not given,
    # DEFAULT_LANGUAGE; the profile then leaves it out, as relays before it refuse the key).
    language: str | None = None
    # Per type name, its name and its note in patients' languages: {"tr": "…"}.
    names: Mapping[str, Mapping[str, str]] = field(default_factory=dict, hash=False)
    type_notes: Mapping[str, Mapping[str, str]] = field(default_factory=dict, hash=False)
    # [caldav.write]: the calendar the bookings are written to (calendar_write.py).
    calendar_write: CalendarWriteRules | None = None
    # "direct" or "by_practice", and how long a request holds its slot for the answer;
    # None: not given (the profile leaves them out, as relays before them refuse the keys).
    confirmation: str | None = None
    answer_within_hours: int | None = None
    # "contract" or "consent", and the days before an appointment reminders go out; None:
    # not given (the profile leaves them out, as relays before them refuse the keys).
    legal_basis: str | None = None
    reminder_days: tuple[int, ...] | None = None

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def minutes_of(self, appointment_type: str) -> int:
        return dict(self.appointment_types)[appointment_type]

    def note_of(self, appointment_type: str) -> str | None:
        return dict(self.notes).get(appointment_type)

    @property
    def practice_language(self) -> str:
        return self.language or DEFAULT_LANGUAGE


@dataclass(frozen=True, order=True)
class Candidate:
    """A slot the opening hours offer, before busy times and bookings are taken out."""

    start: datetime
    end: datetime
    doctor: str
    appointment_type: str
    insurance: tuple[str, ...] = ()


# Slots ---------------------------------------------------------------------------------


def first_and_last_day(rules: Rules, now: datetime) -> tuple[date, date]:
    """The local days slots are offered on: today and the next horizon_days - 1 days."""
    today = now.astimezone(rules.zone).date()
    return today, today + timedelta(days=rules.horizon_days - 1)


def candidate_slots(rules: Rules, now: datetime) -> list[Candidate]:
    """Every slot the rules offer from `now` + lead time to the horizon, by start."""
    zone = rules.zone
    earliest = now + rules.lead_time
    first, last = first_and_last_day(rules, now)
    candidates: list[Candidate] = []
    day = first
    while day <= last:
        if not any(closed.covers(day) for closed in rules.holidays):
            for doctor in rules.doctors:
                if any(absent.covers(day) for absent in doctor.holidays):
                    continue
                breaks = [*rules.breaks, *doctor.breaks]
                for hours in doctor.hours:
                    if hours.weekday != day.weekday():
                        continue
                    minutes = rules.minutes_of(hours.appointment_type)
                    for piece in _without_breaks(hours.span, breaks, day.weekday()):
                        for start, end in _cut(day, piece, minutes, zone):
                            if start >= earliest:
                                candidates.append(
                                    Candidate(
                                        start,
                                        end,
                                        doctor.name,
                                        hours.appointment_type,
                                        hours.insurance,
                                    )
                                )
        day += timedelta(days=1)
    candidates.sort()
    return candidates


def _without_breaks(span: Minutes, breaks: Sequence[Break], weekday: int) -> list[Minutes]:
    pieces = [span]
    for pause in breaks:
        if pause.weekday not in (None, weekday):
            continue
        remaining: list[Minutes] = []
        for piece in pieces:
            if pause.span.end <= piece.start or piece.end <= pause.span.start:
                remaining.append(piece)
                continue
            if piece.start < pause.span.start:
                remaining.append(Minutes(piece.start, pause.span.start))
            if pause.span.end < piece.end:
                remaining.append(Minutes(pause.span.end, piece.end))
        pieces = remaining
    return pieces


def _cut(
    day: date, piece: Minutes, minutes: int, zone: zoneinfo.ZoneInfo
) -> Iterator[tuple[datetime, datetime]]:
    """Consecutive slots of `minutes` from the piece's start, in local wall-clock time.

    Wall-clock arithmetic keeps 09:00 at 09:00 on both sides of a clock change. A slot
    whose local start does not exist (the hour skipped in spring), or which would cross
    the change itself (a night hour), is left out rather than offered at a wrong time.
    """
    at = piece.start
    while at + minutes <= piece.end:
        wall = datetime.combine(day, time(at // 60, at % 60))
        start = wall.replace(tzinfo=zone)
        end = (start.astimezone(UTC) + timedelta(minutes=minutes)).astimezone(zone)
        if _exists(start) and end.replace(tzinfo=None) == wall + timedelta(minutes=minutes):
            yield start, end
        at += minutes


def _exists(moment: datetime) -> bool:
    """Whether a local time exists (not skipped by the clock change in spring)."""
    again = moment.astimezone(UTC).astimezone(moment.tzinfo)
    return again.replace(tzinfo=None) == moment.replace(tzinfo=None)


# Reading and validating the file -------------------------------------------------------


def load_rules(path: Path) -> Rules:
    """The rules in `path`; RulesError naming each problem, key and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RulesError([f"cannot read rules {path}: {error.strerror or error}"]) from error
    except UnicodeDecodeError as error:
        raise RulesError([f"rules {path} are not UTF-8 text"]) from error
    return parse_rules(text, source=str(path))


def parse_rules(text: str, *, source: str = "rules") -> Rules:
    """The rules in TOML `text`; `source` names the file in messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # tomllib's message ends with "(at line N, column M)".
        raise RulesError([f"{source}: not valid TOML: {error}"]) from error
    reader = _Reader(text, source)
    rules = reader.rules(data)
    if reader.problems or rules is None:
        raise RulesError(reader.problems)
    return rules


def rules_message(
    text: str,
    source: str,
    key: str,
    message: str,
    *,
    hint: object = None,
    table: str | None = None,
    doctor: int | None = None,
) -> str:
    """`message` about `key` worded like a rules problem: "{source}, line N: {key}: …".

    The line is searched after the `[table]` header (or `table = {`; else its parent's:
    `[a.b]`, else `[a]`) or the index-th `[[doctors]]` one. For problems found after the
    file was read, such as the relay's refusal of a value.
    """
    reader = _Reader(text, source)
    after = 0
    if doctor is not None:
        after = reader.doctor_line(doctor)
    while table and not (after := reader.table_line(table)):
        table = table.rpartition(".")[0]
    reader.problem(key, message, hint=hint, after=after)
    return reader.problems[-1]


class _Reader:
    """Validates the parsed TOML, collecting every problem with its key and line."""

    def __init__(self, text: str, source: str) -> None:
        self.lines = text.splitlines()
        self.source = source
        self.problems: list[str] = []
        # Filled by appointment_types(): a type's name and note by language.
        self.type_names: dict[str, dict[str, str]] = {}
        self.type_notes: dict[str, dict[str, str]] = {}

    # Messages

    def problem(self, key: str, message: str, *, hint: object = None, after: int = 0) -> None:
        line = self.line_of(key, hint, after)
        where = f"{self.source}, line {line}" if line else self.source
        self.problems.append(f"{where}: {key}: {message}")

    def line_of(self, key: str, hint: object, after: int) -> int | None:
        """The 1-based line holding the key's last part and `hint` (a value), else `hint`,
        else the key's last part."""
        last = re.split(r"[.\[]", key.rsplit(": ", 1)[-1])
        leaf = next((part for part in reversed(last) if part and not part[0].isdigit()), "")
        # `leaf = ...`, `"leaf" = ...`, `[leaf]` or `[doctors.leaf]`
        pattern = re.compile(rf"^\s*(\[+\s*([\w\"' -]+\.)*)?[\"']?{re.escape(leaf)}[\"']?\s*[=\].]")
        if hint is not None and not isinstance(hint, Mapping | list):
            needle = str(hint).lower() if isinstance(hint, bool) else str(hint)
            # Both first: a value may also appear inside another one (a website's host
            # in the e-mail address above it).
            if leaf and needle:
                found = self._find(
                    lambda line: needle in line and bool(pattern.search(line)), after
                )
                if found:
                    return found
            found = self._find(lambda line: bool(needle) and needle in line, after)
            if found:
                return found
        if leaf:
            return self._find(lambda line: pattern.search(line) is not None, after)
        return None

    def _find(self, matches: Callable[[str], bool], after: int) -> int | None:
        for number in range(after, len(self.lines)):
            if matches(self.lines[number]):
                return number + 1
        return None

    def table_line(self, name: str) -> int:
        """The 0-based line of the `[name]` header (`[a.b]` for "a.b"), or of `b = {` (an
        inline table) after `[a]`; 0 if there is neither."""
        parts = [rf"[\"']?{re.escape(part)}[\"']?" for part in name.split(".")]
        header = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(parts) + r"\s*\]")
        for number, line in enumerate(self.lines):
            if header.match(line):
                return number
        parent, dot, _ = name.rpartition(".")
        if dot:
            inline = re.compile(rf"^\s*{parts[-1]}\s*=\s*\{{")
            found = self._find(lambda line: inline.match(line) is not None, self.table_line(parent))
            if found:
                return found - 1
        return 0

    def doctor_line(self, index: int) -> int:
        """The 0-based line of the index-th [[doctors]] header, to search after it."""
        seen = -1
        for number, line in enumerate(self.lines):
            if re.match(r"^\s*\[\[\s*doctors\s*\]\]", line):
                seen += 1
                if seen == index:
                    return number
        return 0

    # The file

    def rules(self, data: Mapping[str, object]) -> Rules | None:
        for key in data:
            if key not in _TOP_KEYS:
                self.problem(key, f"unknown key (known: {', '.join(sorted(_TOP_KEYS))})")
        name = self.text("name", data.get("name"), MAX_NAME_LENGTH)
        time_zone = self.time_zone(data.get("time_zone", DEFAULT_TIME_ZONE))
        accept_wishes = data.get("accept_wishes", True)
        if not isinstance(accept_wishes, bool):
            self.problem("accept_wishes", "must be true or false", hint=accept_wishes)
            accept_wishes = True
        sealing = data.get("sealing", DEFAULT_SEALING)
        if sealing not in SEALINGS:
            choices = ", ".join(f'"{choice}"' for choice in SEALINGS)
            self.problem("sealing", f"must be one of {choices}", hint=sealing)
            sealing = DEFAULT_SEALING
        language = data.get("language")
        if language is not None and language not in PATIENT_LANGUAGES:
            choices = ", ".join(f'"{code}"' for code in PATIENT_LANGUAGES)
            self.problem("language", f"must be one of {choices}", hint=language)
            language = None
        confirmation = data.get("confirmation")
        if confirmation is not None and confirmation not in CONFIRMATIONS:
            choices = ", ".join(f'"{choice}"' for choice in CONFIRMATIONS)
            self.problem("confirmation", f"must be one of {choices}", hint=confirmation)
            confirmation = None
        answer_within = data.get("answer_within_hours")
        if answer_within is not None and (
            isinstance(answer_within, bool)
            or not isinstance(answer_within, int)
            or not 1 <= answer_within <= MAX_ANSWER_WITHIN_HOURS
        ):
            self.problem(
                "answer_within_hours",
                f"must be a whole number of hours from 1 to {MAX_ANSWER_WITHIN_HOURS}",
                hint=answer_within,
            )
            answer_within = None
        legal_basis = data.get("legal_basis")
        if legal_basis is not None and legal_basis not in LEGAL_BASES:
            choices = ", ".join(f'"{choice}"' for choice in LEGAL_BASES)
            self.problem("legal_basis", f"must be one of {choices}", hint=legal_basis)
            legal_basis = None
        reminder_days = self.reminders(data.get("reminders"))
        horizon = self.horizon(data.get("horizon_days", DEFAULT_HORIZON_DAYS))
        lead_time = self.lead_time(data.get("lead_time", DEFAULT_LEAD_TIME))
        holidays = self.day_ranges("holidays", data.get("holidays", []))
        breaks = self.breaks("breaks", data.get("breaks", []))
        typed = self.appointment_types(data.get("appointment_types"))
        types = tuple((name, minutes) for name, minutes, _ in typed)
        doctors = self.doctors(data.get("doctors"), dict(types))
        details = read_details(data.get("details"), self)
        calendar_write = read_calendar_write(data.get("caldav"), self)
        frame_ancestors = data.get("frame_ancestors", [])
        if not isinstance(frame_ancestors, list) or not all(
            isinstance(origin, str) for origin in frame_ancestors
        ):
            self.problem("frame_ancestors", 'must be a list such as ["https://praxis.de"]')
            frame_ancestors = []
        if name is None or time_zone is None or horizon is None or lead_time is None:
            return None
        return Rules(
            name=name,
            time_zone=time_zone,
            accept_wishes=accept_wishes,
            horizon_days=horizon,
            lead_time=lead_time,
            appointment_types=types,
            holidays=holidays,
            breaks=breaks,
            doctors=doctors,
            frame_ancestors=tuple(frame_ancestors),
            notes=tuple((name, note) for name, _, note in typed if note is not None),
            details=details,
            sealing=str(sealing),
            language=None if language is None else str(language),
            names=dict(self.type_names),
            type_notes=dict(self.type_notes),
            calendar_write=calendar_write,
            confirmation=None if confirmation is None else str(confirmation),
            answer_within_hours=None if answer_within is None else int(answer_within),
            legal_basis=None if legal_basis is None else str(legal_basis),
            reminder_days=reminder_days,
        )

    def reminders(self, value: object) -> tuple[int, ...] | None:
        """[reminders] days_before = [7, 1]: up to two distinct days from 1 to 7; None
        when the table is absent or wrong (the problem is recorded)."""
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.problem("reminders", "must be a table such as [reminders] days_before = [1]")
            return None
        for key in value:
            if key not in _REMINDER_KEYS:
                self.problem(f"reminders.{key}", "unknown key (known: days_before)")
        days = value.get("days_before", [])
        if (
            not isinstance(days, list)
            or len(days) > MAX_REMINDERS
            or not all(type(day) is int and 1 <= day <= MAX_REMINDER_DAYS for day in days)
            or len(set(days)) != len(days)
        ):
            self.problem(
                "reminders.days_before",
                f"must be a list of at most {MAX_REMINDERS} different days from 1 to "
                f"{MAX_REMINDER_DAYS}, such as [1] or [7, 1]",
            )
            return None
        return tuple(sorted(days, reverse=True))

    def text(self, key: str, value: object, max_length: int, *, after: int = 0) -> str | None:
        if value is None:
            self.problem(key, "is required", after=after)
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(key, "must be a non-empty text in quotes", hint=value, after=after)
            return None
        if len(value.strip()) > max_length:
            self.problem(key, f"is longer than {max_length} characters", hint=value, after=after)
            return None
        return value.strip()

    def time_zone(self, value: object) -> str | None:
        if not isinstance(value, str) or value not in _time_zones():
            self.problem(
                "time_zone", f"{value!r} is not an IANA time zone such as Europe/Berlin", hint=value
            )
            return None
        return value

    def horizon(self, value: object) -> int | None:
        if not isinstance(value, int) or isinstance(value, bool):
            self.problem("horizon_days", "must be a whole number of days", hint=value)
            return None
        if not 1 <= value <= MAX_HORIZON_DAYS:
            self.problem("horizon_days", f"must be between 1 and {MAX_HORIZON_DAYS}", hint=value)
            return None
        return value

    def lead_time(self, value: object) -> timedelta | None:
        if not isinstance(value, str):
            self.problem("lead_time", 'must be a duration in quotes such as "2h"', hint=value)
            return None
        try:
            return parse_duration(value)
        except ValueError as error:
            self.problem("lead_time", str(error), hint=value)
            return None

    def day_ranges(self, key: str, value: object, *, after: int = 0) -> tuple[DayRange, ...]:
        if not isinstance(value, list):
            self.problem(
                key, 'must be a list such as ["2026-12-24", "2026-12-27..2027-01-02"]', after=after
            )
            return ()
        ranges: list[DayRange] = []
        for index, item in enumerate(value):
            item_key = f"{key}[{index}]"
            if isinstance(item, date) and not isinstance(item, datetime):
                ranges.append(DayRange(item, item))
                continue
            parsed = _day_range(item) if isinstance(item, str) else None
            if parsed is None:
                self.problem(
                    item_key,
                    f"{item!r} is not a date (2026-12-24) or range (2026-12-27..2027-01-02)",
                    hint=item,
                    after=after,
                )
                continue
            ranges.append(parsed)
        return tuple(ranges)

    def breaks(self, key: str, value: object, *, after: int = 0) -> tuple[Break, ...]:
        if not isinstance(value, list):
            self.problem(
                key, 'must be a list such as ["12:30-13:00", "Fri 10:00-10:30"]', after=after
            )
            return ()
        breaks: list[Break] = []
        for index, item in enumerate(value):
            item_key = f"{key}[{index}]"
            match = _BREAK.fullmatch(item) if isinstance(item, str) else None
            span = _span(match[2]) if match else None
            weekday = _WEEKDAY_NAMES.get(match[1].lower()) if match and match[1] else None
            if match is None or span is None or (match[1] and weekday is None):
                self.problem(
                    item_key,
                    f'{item!r} is not a break such as "12:30-13:00" or "Fri 10:00-10:30"',
                    hint=item,
                    after=after,
                )
                continue
            breaks.append(Break(weekday, span))
        return tuple(breaks)

    def appointment_types(self, value: object) -> tuple[tuple[str, int, str | None], ...]:
        """(name, minutes, note) of each type: `"Kontrolle" = 10` or, with a note,
        `"Erstgespräch" = { minutes = 20, note = "Bitte Überweisung mitbringen" }`."""
        key = "appointment_types"
        if value is None:
            self.problem(key, 'is required: a table of names and minutes, "Kontrolle" = 10')
            return ()
        if not isinstance(value, Mapping) or not value:
            self.problem(key, 'must be a table of names and minutes, such as "Kontrolle" = 10')
            return ()
        if len(value) > MAX_APPOINTMENT_TYPES:
            self.problem(key, f"at most {MAX_APPOINTMENT_TYPES} appointment types")
            return ()
        after = self.table_line(key)
        types: list[tuple[str, int, str | None]] = []
        for name, entry in value.items():
            item_key = f"{key}.{name}"
            if len(name.strip()) > MAX_ENTRY_NAME_LENGTH or not name.strip():
                self.problem(item_key, f"a name of 1 to {MAX_ENTRY_NAME_LENGTH} characters")
                continue
            minutes, note = entry, None
            if isinstance(entry, Mapping):
                # From the type's own line (inline table or [appointment_types.name]).
                own = self.line_of(item_key, name, after)
                own_after = own - 1 if own else after
                for unknown in (part for part in entry if part not in _TYPE_KEYS):
                    self.problem(
                        f"{item_key}.{unknown}",
                        f"unknown key (known: {', '.join(_TYPE_KEYS)})",
                        hint=name,
                        after=after,
                    )
                minutes = entry.get("minutes")
                note = read_note(self, f"{item_key}.note", entry.get("note"), own_after)
                self.translations(item_key, name.strip(), entry, own_after)
            if not isinstance(minutes, int) or isinstance(minutes, bool):
                self.problem(
                    item_key,
                    'must be a whole number of minutes, or { minutes = 20, note = "…" }',
                    hint=name,
                )
                continue
            if not MIN_MINUTES <= minutes <= MAX_MINUTES:
                self.problem(item_key, f"must be {MIN_MINUTES} to {MAX_MINUTES} minutes", hint=name)
                continue
            types.append((name.strip(), minutes, note))
        return tuple(types)

    def translations(self, key: str, name: str, entry: Mapping[str, object], after: int) -> None:
        """A type's `names` and `notes` by language, read like its name and note."""
        names = by_language(
            self,
            f"{key}.names",
            entry.get("names"),
            lambda item_key, item: optional_text(
                self, item_key, item, MAX_ENTRY_NAME_LENGTH, after
            ),
            after,
        )
        notes = by_language(
            self,
            f"{key}.notes",
            entry.get("notes"),
            lambda item_key, item: read_note(self, item_key, item, after),
            after,
        )
        if names:
            self.type_names[name] = names
        if notes:
            self.type_notes[name] = notes

    def doctors(self, value: object, types: Mapping[str, int]) -> tuple[Doctor, ...]:
        if not isinstance(value, list) or not value:
            self.problem("doctors", "at least one [[doctors]] table is required")
            return ()
        if len(value) > MAX_DOCTORS:
            self.problem("doctors", f"at most {MAX_DOCTORS} doctors")
            return ()
        doctors: list[Doctor] = []
        for index, item in enumerate(value):
            after = self.doctor_line(index)
            if not isinstance(item, Mapping):
                self.problem(f"doctors[{index}]", "must be a [[doctors]] table", after=after)
                continue
            doctor = self.doctor(index, item, types, after)
            if doctor is None:
                continue
            if any(other.name == doctor.name for other in doctors):
                self.problem(
                    f"doctors[{index}].name", "appears twice", hint=doctor.name, after=after
                )
                continue
            doctors.append(doctor)
        return tuple(doctors)

    def doctor(
        self, index: int, item: Mapping[str, object], types: Mapping[str, int], after: int
    ) -> Doctor | None:
        name = self.text(
            f"doctors[{index}].name", item.get("name"), MAX_ENTRY_NAME_LENGTH, after=after
        )
        label = f'doctor "{name}"' if name else f"doctors[{index}]"
        for key in item:
            if key not in _DOCTOR_KEYS:
                self.problem(
                    f"{label}: {key}",
                    f"unknown key (known: {', '.join(sorted(_DOCTOR_KEYS))})",
                    after=after,
                )
        offered = self.offered_types(label, item.get("appointment_types"), types, after)
        hours = self.hours(label, item.get("hours"), offered, types, after)
        breaks = self.breaks(f"{label}: breaks", item.get("breaks", []), after=after)
        holidays = self.day_ranges(f"{label}: holidays", item.get("holidays", []), after=after)
        if name is None:
            return None
        return Doctor(name, offered, hours, breaks, holidays)

    def offered_types(
        self, label: str, value: object, types: Mapping[str, int], after: int
    ) -> tuple[str, ...]:
        key = f"{label}: appointment_types"
        if value is None:  # every type, the first in the file being the default
            return tuple(types)
        if not isinstance(value, list) or not value:
            self.problem(key, 'must be a list of names such as ["Kontrolle"]', after=after)
            return ()
        offered: list[str] = []
        for item in value:
            if not isinstance(item, str) or item.strip() not in types:
                self.problem(
                    key,
                    f"{item!r} is not one of the [appointment_types] ({', '.join(types)})",
                    hint=item,
                    after=after,
                )
                continue
            offered.append(item.strip())
        return tuple(offered)

    def hours(
        self,
        label: str,
        value: object,
        offered: Sequence[str],
        types: Mapping[str, int],
        after: int,
    ) -> tuple[Hours, ...]:
        key = f"{label}: hours"
        if not isinstance(value, Mapping) or not value:
            self.problem(key, 'is required: a table such as mo-fr = ["08:00-12:00"]', after=after)
            return ()
        hours: list[Hours] = []
        for days, ranges in value.items():
            weekdays = _weekdays(days)
            if weekdays is None:
                self.problem(
                    f"{key}.{days}",
                    "not a weekday or weekday range (mo, tue, mittwoch, mo-fr, mon-fri ...)",
                    after=after,
                )
                continue
            if not isinstance(ranges, list):
                self.problem(f"{key}.{days}", 'must be a list such as ["08:00-12:00"]', after=after)
                continue
            for item in ranges:
                text, insurance = self.range_entry(f"{key}.{days}", item, after)
                if text is None:
                    continue
                parsed = self.opening_range(f"{key}.{days}", text, offered, types, after)
                if parsed is not None:
                    span, kind = parsed
                    hours.extend(Hours(weekday, span, kind, insurance) for weekday in weekdays)
        self.reject_overlaps(key, hours, after)
        return tuple(sorted(hours, key=lambda entry: (entry.weekday, entry.span.start)))

    def range_entry(
        self, key: str, item: object, after: int
    ) -> tuple[object | None, tuple[str, ...]]:
        """A range as written: its text and the insurance types it is kept for. A string
        is open to every insurance; a table `{ range = "…", insurance = ["private"] }`
        keeps its slots for the types named."""
        if not isinstance(item, Mapping):
            return item, ()
        unknown = sorted(str(name) for name in item if name not in _RANGE_TABLE_KEYS)
        text = item.get("range")
        if unknown or text is None:
            self.problem(
                key,
                'a range kept for some insurance types is written { range = "08:00-12:00", '
                'insurance = ["private"] }'
                + (f" (unknown key {unknown[0]!r})" if unknown else " (range missing)"),
                hint=text if isinstance(text, str) else "insurance",
                after=after,
            )
            return None, ()
        value = item.get("insurance")
        names = value if isinstance(value, list) else []
        wrong = [name for name in names if name not in INSURANCES]
        if not names or wrong:
            shown = f"{wrong[0]!r} is not" if wrong else "must be a list of"
            self.problem(
                f"{key}: insurance",
                f'{shown} one or more of {", ".join(INSURANCES)}, such as ["private"]',
                # The wrong value as written, quoted: "privat" also lies inside "private".
                hint=f'"{wrong[0]}"' if wrong and isinstance(wrong[0], str) else text,
                after=after,
            )
            return None, ()
        if len(set(names)) == len(INSURANCES):
            return text, ()  # every type: the same as a plain range
        return text, tuple(kind for kind in INSURANCES if kind in names)

    def opening_range(
        self,
        key: str,
        item: object,
        offered: Sequence[str],
        types: Mapping[str, int],
        after: int,
    ) -> tuple[Minutes, str] | None:
        match = _RANGE_WITH_TYPE.fullmatch(item) if isinstance(item, str) else None
        span = _span(match[1]) if match else None
        if match is None or span is None:
            self.problem(
                key,
                f'{item!r} is not a range such as "08:00-12:00" or "14:00-17:00 Erstgespräch"',
                hint=item,
                after=after,
            )
            return None
        kind = match[6].strip() if match[6] else (offered[0] if offered else None)
        if kind is None:
            return None  # the doctor's appointment_types are wrong; reported already
        if kind not in types:
            self.problem(
                key, f"{kind!r} is not one of the [appointment_types]", hint=item, after=after
            )
            return None
        if kind not in offered:
            self.problem(
                key,
                f"{kind!r} is not in this doctor's appointment_types",
                hint=item,
                after=after,
            )
            return None
        return span, kind

    def reject_overlaps(self, key: str, hours: Sequence[Hours], after: int) -> None:
        """Overlapping ranges would offer one doctor twice at a time: the relay refuses that."""
        ordered = sorted(hours, key=lambda entry: (entry.weekday, entry.span.start))
        for previous, current in itertools.pairwise(ordered):
            if previous.weekday == current.weekday and current.span.start < previous.span.end:
                self.problem(
                    key,
                    f"ranges overlap on {WEEKDAY_LABELS[current.weekday]} "
                    f"({_clock(previous.span)} and {_clock(current.span)})",
                    hint=_clock(current.span),
                    after=after,
                )


def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - {"localtime"}


def _span(text: str) -> Minutes | None:
    """ "08:00-12:00" as minutes since midnight; None unless a real, forward range."""
    match = _TIME_RANGE.fullmatch(text.strip())
    if match is None:
        return None
    start_hour, start_minute, end_hour, end_minute = (int(part) for part in match.groups())
    if start_hour > 23 or end_hour > 24 or start_minute > 59 or end_minute > 59:
        return None
    start, end = start_hour * 60 + start_minute, end_hour * 60 + end_minute
    if not start < end <= _MINUTES_PER_DAY:
        return None
    return Minutes(start, end)


def _clock(span: Minutes) -> str:
    return f"{span.start // 60:02d}:{span.start % 60:02d}-{span.end // 60:02d}:{span.end % 60:02d}"


def _day_range(text: str) -> DayRange | None:
    first_text, dots, last_text = text.strip().partition("..")
    try:
        first = date.fromisoformat(first_text.strip())
        last = date.fromisoformat(last_text.strip()) if dots else first
    except ValueError:
        return None
    return DayRange(first, last) if first <= last else None


def _weekdays(key: str) -> list[int] | None:
    """ "mo" -> [0]; "mo-fr" or "mon-fri" -> [0..4]; None if not weekday names."""
    first_name, dash, last_name = key.strip().lower().partition("-")
    first = _WEEKDAY_NAMES.get(first_name.strip())
    last = _WEEKDAY_NAMES.get(last_name.strip()) if dash else first
    if first is None or last is None or last < first:
        return None
    return list(range(first, last + 1))
