"""The profile to publish: opening-hours slots minus busy times minus received bookings.

Also the summary `publish` prints: slots per doctor and their day range, never the
profile itself (thousands of lines nobody reads); and the relay's refusals of a profile
built from rules, worded with the key and line of the rules file to change.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from practice_client.calendar.busy import Busy, BusySource, read_busy
from practice_client.calendar.opening_hours import (
    INSURANCES,
    Candidate,
    Rules,
    candidate_slots,
    first_and_last_day,
    load_rules,
    rules_message,
)
from practice_client.calendar.received import received_bookings


@dataclass(frozen=True)
class SlotSource:
    """Where the slots come from: the rules, a calendar and the output folder."""

    rules_file: Path
    calendar: BusySource | None = None
    bookings_dir: Path | None = None


@dataclass(frozen=True)
class BuiltProfile:
    profile: dict[str, object]
    slots: int
    busy_removed: int  # slots the calendar marks busy
    booked_removed: int  # further slots a received booking overlaps


def build_profile(source: SlotSource, now: datetime) -> BuiltProfile:
    """The profile for `now`: RulesError or CalendarUnavailableError if it cannot be built.

    Blocking (reads files and the calendar): call it in a thread from async code.
    """
    rules = load_rules(source.rules_file)
    candidates = candidate_slots(rules, now)
    busy: list[Busy] = []
    if source.calendar is not None:
        start, end = slot_window(rules, now)
        doctors = [doctor.name for doctor in rules.doctors]
        busy = read_busy(source.calendar, start, end, rules.zone, doctors)
    free, busy_removed = without(candidates, busy)
    booked = (
        received_bookings(source.bookings_dir, since=now) if source.bookings_dir is not None else []
    )
    free, booked_removed = without(free, booked)
    return BuiltProfile(
        profile=profile_json(rules, free),
        slots=len(free),
        busy_removed=busy_removed,
        booked_removed=booked_removed,
    )


def slot_window(rules: Rules, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) holding every slot the rules can offer at `now`."""
    first, last = first_and_last_day(rules, now)
    zone = rules.zone
    return (
        datetime.combine(first, time(), tzinfo=zone).astimezone(UTC),
        datetime.combine(last + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC),
    )


def without(candidates: Sequence[Candidate], busy: Sequence[Busy]) -> tuple[list[Candidate], int]:
    """The candidates no busy interval of their doctor overlaps; and how many were dropped."""
    merged: dict[str, tuple[list[datetime], list[datetime]]] = {}
    kept: list[Candidate] = []
    for candidate in candidates:
        if candidate.doctor not in merged:
            merged[candidate.doctor] = _merged(
                [interval for interval in busy if interval.blocks(candidate.doctor)]
            )
        starts, ends = merged[candidate.doctor]
        # The last busy interval starting before the slot ends is the only one that can
        # overlap it: merged intervals are disjoint and sorted.
        index = bisect.bisect_left(starts, candidate.end) - 1
        if index >= 0 and ends[index] > candidate.start:
            continue
        kept.append(candidate)
    return kept, len(candidates) - len(kept)


def _merged(intervals: Sequence[Busy]) -> tuple[list[datetime], list[datetime]]:
    """Starts and ends of the union of `intervals`, disjoint and sorted."""
    starts: list[datetime] = []
    ends: list[datetime] = []
    for interval in sorted(intervals, key=lambda busy: busy.start):
        if ends and interval.start <= ends[-1]:
            ends[-1] = max(ends[-1], interval.end)
        else:
            starts.append(interval.start)
            ends.append(interval.end)
    return starts, ends


def profile_json(rules: Rules, slots: Sequence[Candidate]) -> dict[str, object]:
    """The body of PUT /api/v1/profile; times ISO 8601 with the local offset."""
    profile: dict[str, object] = {
        "name": rules.name,
        "time_zone": rules.time_zone,
        "doctors": [doctor.name for doctor in rules.doctors],
        "appointment_types": [
            _appointment_type(rules, name, minutes) for name, minutes in rules.appointment_types
        ],
        "slots": [
            {
                "start": slot.start.isoformat(),
                "end": slot.end.isoformat(),
                "doctor": slot.doctor,
                "appointment_type": slot.appointment_type,
                # Only for a range kept for some types: relays before them refuse the key.
                **({"insurance": list(slot.insurance)} if slot.insurance else {}),
            }
            for slot in slots
        ],
        "accept_wishes": rules.accept_wishes,
        # Read by relays of protocol 2; a relay before it refuses the key, and
        # RelayClient.put_profile then publishes without it (see there).
        "sealing": rules.sealing,
    }
    if rules.frame_ancestors:
        profile["frame_ancestors"] = list(rules.frame_ancestors)
    # Only when the file names them: relays before them refuse the keys.
    if rules.confirmation is not None:
        profile["confirmation"] = rules.confirmation
    if rules.answer_within_hours is not None:
        profile["answer_within_hours"] = rules.answer_within_hours
    if rules.legal_basis is not None:
        profile["legal_basis"] = rules.legal_basis
    if rules.reminder_days is not None:
        profile["reminder_days"] = list(rules.reminder_days)
    if rules.details is not None:
        profile["details"] = dict(rules.details)
    # Only when the file names it: a relay that does not know the key refuses the profile.
    if rules.language is not None:
        profile["language"] = rules.language
    return profile


def _appointment_type(rules: Rules, name: str, minutes: int) -> dict[str, object]:
    kind: dict[str, object] = {"name": name, "minutes": minutes}
    note = rules.note_of(name)
    if note is not None:
        kind["note"] = note
    # The practice's words in patients' languages; left out when none are given.
    if rules.names.get(name):
        kind["names"] = dict(rules.names[name])
    if rules.type_notes.get(name):
        kind["notes"] = dict(rules.type_notes[name])
    return kind


# "details.address[1]" -> "details", "address", "[1]"
_PATH_PART = re.compile(r"[^.\[\]]+|\[\d+\]")


def relay_problems(
    rules_file: Path, profile: Mapping[str, object], errors: Mapping[str, str]
) -> list[str]:
    """The relay's refusals of a profile built from `rules_file` (a 422: profile path ->
    message), each worded like a rules problem with the key and line to change there."""
    try:
        text = rules_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""  # then the lines name the key without a line number
    return [
        _relay_problem(text, str(rules_file), profile, path, f"refused by the relay: {message}")
        for path, message in errors.items()
    ]


def _relay_problem(
    text: str, source: str, profile: Mapping[str, object], path: str, message: str
) -> str:
    parts = _PATH_PART.findall(path)
    value = _value_at(profile, parts)
    hint = value if isinstance(value, str | int) and not isinstance(value, bool) else None
    head = parts[0] if parts else path
    index = int(parts[1][1:-1]) if len(parts) > 1 and parts[1].startswith("[") else None
    if head == "slots":
        # Built from the opening hours, so no line of the file holds it.
        slot = _value_at(profile, parts[:2])
        about = f" ({slot.get('doctor')}, {slot.get('start')})" if isinstance(slot, Mapping) else ""
        return f"{source}: {path}{about}: {message}"
    if head == "doctors" and index is not None:
        return rules_message(
            text, source, f"doctors[{index}].name", message, hint=hint, doctor=index
        )
    if head == "appointment_types" and index is not None:
        kind = _value_at(profile, parts[:2])
        name = kind.get("name") if isinstance(kind, Mapping) else None
        rest = "".join(f".{part}" for part in parts[2:] if part != "name")
        return rules_message(
            text,
            source,
            f"appointment_types.{name}{rest}",
            message,
            hint=hint if rest else name,
            table="appointment_types",
        )
    table = ".".join(part for part in parts[:-1] if not part.startswith("[")) or None
    return rules_message(text, source, path, message, hint=hint, table=table)


def _value_at(data: object, parts: Sequence[str]) -> object:
    """The value at a path's parts in JSON-like data, or None."""
    for part in parts:
        if part.startswith("[") and isinstance(data, list):
            position = int(part[1:-1])
            data = data[position] if position < len(data) else None
        elif isinstance(data, Mapping):
            data = data.get(part)
        else:
            return None
    return data


def body_size(profile: Mapping[str, object]) -> int:
    """Bytes of the profile as the client sends it (aiohttp's json.dumps defaults)."""
    return len(json.dumps(profile).encode())


def summary_lines(profile: Mapping[str, object]) -> list[str]:
    """Slots per doctor and their first and last day, in the practice's time zone."""
    zone_name = str(profile.get("time_zone") or "Europe/Berlin")
    zone = ZoneInfo(zone_name)
    slots = profile.get("slots")
    slots = slots if isinstance(slots, list) else []
    doctors = profile.get("doctors")
    days: dict[str, list[date]] = {
        str(name): [] for name in (doctors if isinstance(doctors, list) else [])
    }
    for slot in slots:
        if not isinstance(slot, Mapping) or not isinstance(slot.get("start"), str):
            continue
        doctor = str(slot.get("doctor") or "(no doctor)")
        days.setdefault(doctor, []).append(
            datetime.fromisoformat(slot["start"]).astimezone(zone).date()
        )
    lines = [
        f"{profile.get('name')}: {_slots(len(slots))}{_day_range(days)} ({zone_name}), "
        f"accepts wishes: {'yes' if profile.get('accept_wishes') else 'no'}, "
        f"confirmation: {profile.get('confirmation') or 'direct'}"
    ]
    for doctor, dates in days.items():
        lines.append(f"  {doctor}: {_slots(len(dates))}{_day_range({doctor: dates})}")
    by_insurance = _per_insurance(slots)
    if by_insurance:
        lines.append(f"  by insurance: {by_insurance}")
    return lines


def _per_insurance(slots: Sequence[object]) -> str:
    """ "statutory 700 slots, private 941 slots, self_pay 941 slots": what patients of each
    type can book (a slot open to all counts for each); "" when no slot is kept for some
    types, where every count would be the total."""
    limited = [
        slot.get("insurance")
        for slot in slots
        if isinstance(slot, Mapping) and isinstance(slot.get("insurance"), list)
    ]
    if not limited:
        return ""
    open_to_all = len(slots) - len(limited)
    counts = {
        kind: open_to_all + sum(1 for types in limited if isinstance(types, list) and kind in types)
        for kind in INSURANCES
    }
    return ", ".join(f"{kind} {_slots(count)}" for kind, count in counts.items())


def _slots(count: int) -> str:
    return "1 slot" if count == 1 else f"{count:,} slots"


def _day_range(days: Mapping[str, Sequence[date]]) -> str:
    every = [day for dates in days.values() for day in dates]
    if not every:
        return ""
    first, last = min(every), max(every)
    return f", {first:%a} {first.isoformat()} to {last:%a} {last.isoformat()}"
