"""Reminders the patient asked for: which is due when, and what became of each, kept in
`{id}.reminders.json` beside the booking.

The relay keeps no reminder data (docs/protocol.md, "Reminders"): the practice client,
which holds the booking anyway, asks the relay to mail the reminder when it is due
(practice_client/relay/reminding.py). This module decides, without a clock of its own or any
HTTP:

- which bookings get reminders: `"reminder": true` (consent given on the form; missing
  means no), a slot (not a wish), `booked` (not proposed, pending, declined or
  cancelled), its start in the future;
- when: reminder n is due `days[n-1]` days before the start (the practice's
  `reminder_days`, e.g. `[7, 1]`: number 1 a week before, number 2 a day before). A
  reminder due before the patient asked for it (before the booking, or before a move to
  a new time) is never sent: the patient has just been mailed;
- a client that was not running at the due time sends late, but only the latest reminder
  due (never two at once) and never within `LAST_CALL` of the start.

`{id}.reminders.json` says for which start which number came to what (`queued`,
`already`, or refused with the relay's reason), so a restart never asks twice; the
relay's `already` covers a crash between its answer and the file's write. A new start
(a move) gets its reminders anew; `opted_out` stops every reminder of the booking.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from practice_client.handover.files import FileAccess, write_atomically
from practice_client.handover.moments import aware_time
from practice_client.handover.status import status_of
from practice_client.limits import JsonRejectedError, load_json

STATE_SUFFIX = ".reminders.json"
# Closer to the start, a reminder only disturbs: the patient is on the way, or not coming.
LAST_CALL = timedelta(hours=2)
# What the practice may choose (the rules' [reminders] days_before, the profile's
# reminder_days): none, one or two reminders, 1 to 7 days before.
MAX_REMINDERS = 2
DAYS_RANGE = range(1, 8)
DEFAULT_DAYS = (1,)
# The outcome that ends every reminder of a booking.
OPTED_OUT = "opted_out"
_MAX_STATE_BYTES = 64 * 1024
_UTC = "%Y-%m-%dT%H:%M:%SZ"


def checked_days(value: object) -> tuple[int, ...] | None:
    """`reminder_days` as a tuple if it is 0-2 distinct whole numbers of 1..7; else None."""
    if not isinstance(value, list | tuple) or len(value) > MAX_REMINDERS:
        return None
    days = tuple(value)
    if any(type(day) is not int or day not in DAYS_RANGE for day in days):
        return None
    return days if len(set(days)) == len(days) else None


@dataclass(frozen=True)
class Due:
    """A reminder to ask for now: its number and the start it is for."""

    number: int
    start: str


@dataclass
class ReminderState:
    """What `{id}.reminders.json` holds: the start the reminders were for, each number's
    outcome (and when), and why all reminders stopped, if they did."""

    start: str | None = None
    outcomes: dict[str, dict[str, str]] = field(default_factory=dict)
    stopped: str | None = None

    def for_start(self, start: str) -> ReminderState:
        """The state for reminders of `start`: a new start (a move) begins afresh, but a
        stop (the patient opted out) stays."""
        if self.start == start:
            return self
        return ReminderState(start=start, stopped=self.stopped)

    def record(self, due: Due, outcome: str, *, at: datetime) -> None:
        """What came of reminder `due`; a state of another start begins afresh."""
        if self.start != due.start:
            self.start, self.outcomes = due.start, {}
        self.outcomes[str(due.number)] = {
            "outcome": outcome,
            "at": at.astimezone(UTC).strftime(_UTC),
        }
        if outcome == OPTED_OUT:
            self.stopped = OPTED_OUT

    def to_json(self) -> bytes:
        document = {"start": self.start, "reminders": self.outcomes, "stopped": self.stopped}
        return (json.dumps(document, sort_keys=True, indent=2) + "\n").encode()


def state_path(out_dir: Path, booking_id: str) -> Path:
    return out_dir / f"{booking_id}{STATE_SUFFIX}"


def read_state(path: Path) -> ReminderState:
    """The state a client wrote; an empty one if there is none. ValueError if the file is
    not one (then no reminder is sent: better none than a second)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return ReminderState()
    if size > _MAX_STATE_BYTES:
        raise ValueError(f"{path.name} is larger than any reminder state")
    try:
        document = load_json(path.read_bytes())
    except (JsonRejectedError, ValueError) as error:
        raise ValueError(f"{path.name} is not readable JSON: {error}") from error
    if not isinstance(document, dict):
        raise ValueError(f"{path.name} is not a JSON object")  # noqa: TRY004 - as above
    start, stopped, outcomes = (document.get(k) for k in ("start", "stopped", "reminders"))
    kept = {
        number: {"outcome": str(entry.get("outcome")), "at": str(entry.get("at"))}
        for number, entry in (outcomes.items() if isinstance(outcomes, dict) else ())
        if isinstance(entry, dict)
    }
    return ReminderState(
        start if isinstance(start, str) else None,
        kept,
        stopped if isinstance(stopped, str) else None,
    )


def write_state(path: Path, state: ReminderState, access: FileAccess) -> None:
    """Durably, atomically: a crash leaves the old state or the new one."""
    write_atomically(path, state.to_json(), mode=access.mode, group=access.group)


def wants_reminders(booking: Mapping[str, object]) -> bool:
    """Whether the booking is one reminders are sent for (whatever the time)."""
    return (
        booking.get("reminder") is True
        and booking.get("kind", "slot") != "wish"
        and status_of(booking) == "booked"
    )


def due_times(start: datetime, days: Sequence[int]) -> list[tuple[int, datetime]]:
    """(number, due time) of each reminder of an appointment at `start`, numbered as
    listed."""
    return [(number, start - timedelta(days=d)) for number, d in enumerate(days, start=1)]


def due_now(
    booking: Mapping[str, object],
    days: Sequence[int],
    state: ReminderState,
    *,
    now: datetime,
) -> Due | None:
    """The reminder to ask for now, if any: the latest one due, unless it, or one due
    later, came to something for this start already."""
    start_text, start = _start(booking)
    if start_text is None or start is None or not wants_reminders(booking):
        return None
    state = state.for_start(start_text)
    if state.stopped is not None or now >= start - LAST_CALL:
        return None
    asked_since = _asked_since(booking)
    due = [
        (at, number)
        for number, at in due_times(start, days)
        if at <= now and (asked_since is None or at >= asked_since)
    ]
    if not due:
        return None
    latest_at, latest = max(due)
    # One due later than the latest due (listed first, e.g. [1, 7]) cannot exist; one
    # recorded that is due no earlier means the latest was sent or refused already.
    done = {int(n) for n in state.outcomes if n.isdigit()}
    if any(at >= latest_at for number, at in due_times(start, days) if number in done):
        return None
    return Due(latest, start_text)


def next_due(
    booking: Mapping[str, object],
    days: Sequence[int],
    state: ReminderState,
    *,
    now: datetime,
) -> datetime | None:
    """When the booking's next reminder falls due after `now`, if one will."""
    start_text, start = _start(booking)
    if start_text is None or start is None or not wants_reminders(booking):
        return None
    state = state.for_start(start_text)
    if state.stopped is not None:
        return None
    later = [at for _, at in due_times(start, days) if now < at < start - LAST_CALL]
    return min(later, default=None)


def _start(booking: Mapping[str, object]) -> tuple[str | None, datetime | None]:
    start = booking.get("start")
    if not isinstance(start, str):
        return None, None
    return start, aware_time(start)


def _asked_since(booking: Mapping[str, object]) -> datetime | None:
    """Since when the patient has wanted reminders of this time: the consent, the
    booking, or its move, whichever is latest."""
    moments = [
        aware_time(booking.get(name))
        for name in ("reminder_consent_at", "confirmed_at", "submitted_at", "rescheduled_at")
    ]
    known = [moment for moment in moments if moment is not None]
    return max(known, default=None)
