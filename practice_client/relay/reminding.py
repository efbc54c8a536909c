"""`run`'s reminders beside delivery: at a reminder's due time the client asks the relay
to mail it (`POST /api/v1/bookings/{id}/remind`, docs/protocol.md, "Reminders").

What is due, and what came of it, is handover/reminders.py; this module reads the
bookings in the output folder, asks the relay, and records each answer in
`{id}.reminders.json` before asking for anything else. A task sleeps until the next
reminder is due (at most `MAX_SLEEP`, so a clock change or a file the practice software
changed is noticed soon), and is woken when a batch is written. `run --once` asks for the
reminders due now after draining the inbox.

The practice's reminder days come from `--rules` when run has them (`RunConfig.
reminder_days`), else from the relay's public profile (`reminder_days`, read again every
`PROFILE_EVERY`), else `[1]`. The profile is asked for only when some booking wants
reminders.

Log lines name booking ids, numbers and times only, never the patient's address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from practice_client.handover.files import FileAccess
from practice_client.handover.reminders import (
    DEFAULT_DAYS,
    Due,
    ReminderState,
    checked_days,
    due_now,
    next_due,
    read_state,
    state_path,
    wants_reminders,
    write_state,
)
from practice_client.handover.sink import MAX_BOOKING_FILE_BYTES, usable_booking_id
from practice_client.limits import JsonRejectedError, load_json
from practice_client.relay.api import (
    AuthError,
    RelayClient,
    RelayRequestError,
    RelayUnavailableError,
)
from practice_client.relay.retry import RetryPolicy

log = logging.getLogger(__name__)

MAX_SLEEP = 60.0
PROFILE_EVERY = 3600.0
# What the relay's 200 may say: queued now, or queued before for this number and start.
_QUEUED = ("queued", "already")


class Reminders:
    """Reminders of the bookings in `out_dir`, asked of `relay` when due."""

    def __init__(
        self,
        relay: RelayClient,
        out_dir: Path,
        slug: str,
        *,
        days: tuple[int, ...] | None = None,
        access: FileAccess | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.relay = relay
        self.out_dir = out_dir
        self.slug = slug
        self.access = access or FileAccess()
        self.retry = retry or RetryPolicy()
        self._given_days = days
        self._profile_days: tuple[int, ...] | None = None
        self._profile_read_at: float | None = None
        self._clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # booking id -> (the .json's mtime and size, the booking as read then)
        self._read: dict[str, tuple[tuple[int, int], dict[str, object]]] = {}
        self.asked = 0  # answers recorded in this run, for tests and the log

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="reminders")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def send_once(self) -> None:
        """One pass now (`run --once`): a relay out of reach is a warning, the reminders
        are asked for at the next run."""
        try:
            await self.send_due()
        except RelayUnavailableError as error:
            log.warning("reminders not sent: the relay is unavailable (%s); next run", error)
        except AuthError:
            log.error("reminders not sent: the relay rejected the practice token")  # noqa: TRY400

    async def send_due(self) -> float:
        """Ask for every reminder due now; the seconds until the next falls due (at most
        MAX_SLEEP). RelayUnavailableError and AuthError end the pass."""
        now = self._clock()
        wanting = [(i, b) for i, b in self._bookings() if wants_reminders(b)]
        if not wanting:
            return MAX_SLEEP
        days = await self._days()
        soonest: datetime | None = None
        for booking_id, booking in wanting:
            path = state_path(self.out_dir, booking_id)
            try:
                state = read_state(path)
            except (OSError, ValueError) as error:
                log.error(  # noqa: TRY400 - one line, never a traceback
                    "booking %s: no reminder, its state is unreadable: %s", booking_id, error
                )
                continue
            due = due_now(booking, days, state, now=now)
            if due is not None:
                await self._ask(booking_id, booking, due, state)
                write_state(path, state, self.access)
                self.asked += 1
            upcoming = next_due(booking, days, state, now=now)
            if upcoming is not None and (soonest is None or upcoming < soonest):
                soonest = upcoming
        if soonest is None:
            return MAX_SLEEP
        return max(0.0, min(MAX_SLEEP, (soonest - self._clock()).total_seconds()))

    async def _ask(
        self, booking_id: str, booking: Mapping[str, object], due: Due, state: ReminderState
    ) -> None:
        """POST the reminder; the answer recorded in `state` (not yet written)."""
        now = self._clock()
        email = booking.get("email")
        if not isinstance(email, str) or not email:
            log.warning(
                "booking %s names no e-mail address; reminder %d not sent", booking_id, due.number
            )
            state.record(due, "no_email", at=now)
            return
        language = booking.get("language")
        body: dict[str, object] = {
            "email": email,
            "lang": language if isinstance(language, str) and language else "de",
            "start": due.start,
            "end": booking.get("end"),
            "number": due.number,
        }
        # For the reminder's "choose another time" link, sealed by the relay into the link:
        # the mail itself never names them.
        for member in ("doctor", "appointment_type"):
            if isinstance(booking.get(member), str):
                body[member] = booking[member]
        try:
            answer = await self.relay.remind(booking_id, body)
        except RelayRequestError as error:
            outcome = _refusal(error)
            state.record(due, outcome, at=now)
            log.info(
                "reminder %d of booking %s not sent: the relay answered %d (%s)",
                due.number,
                booking_id,
                error.status,
                outcome,
            )
            return
        status = answer.get("status")
        outcome = status if status in _QUEUED else "queued"
        state.record(due, str(outcome), at=now)
        log.info(
            "reminder %d of booking %s %s for the appointment at %s",
            due.number,
            booking_id,
            "queued" if outcome == "queued" else "was queued before",
            due.start,
        )

    async def _days(self) -> tuple[int, ...]:
        if self._given_days is not None:
            return self._given_days
        read_at = self._profile_read_at
        if read_at is None or time.monotonic() - read_at >= PROFILE_EVERY:
            profile = await self.relay.practice_profile(self.slug)
            days = checked_days(profile.get("reminder_days"))
            if days is None:
                if "reminder_days" in profile:
                    log.warning("the relay's profile names unusable reminder_days; using [1]")
                days = DEFAULT_DAYS
            self._profile_days, self._profile_read_at = days, time.monotonic()
        return self._profile_days or ()

    def _bookings(self) -> list[tuple[str, dict[str, object]]]:
        """The bookings in the folder ({id}.json), each read again only if it changed."""
        try:
            paths = sorted(self.out_dir.glob("*.json"))
        except OSError as error:
            log.warning("cannot list the bookings in %s: %s", self.out_dir, error.strerror)
            return []
        found = []
        seen = set()
        for path in paths:
            booking_id = path.name.removesuffix(".json")
            if not usable_booking_id(booking_id):
                continue  # {id}.reminders.json, {id}.rejected.json, …
            seen.add(booking_id)
            booking = self._booking(booking_id, path)
            if booking is not None:
                found.append((booking_id, booking))
        for gone in set(self._read) - seen:
            del self._read[gone]
        return found

    def _booking(self, booking_id: str, path: Path) -> dict[str, object] | None:
        try:
            status = path.stat()
            stamp = (status.st_mtime_ns, status.st_size)
            cached = self._read.get(booking_id)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            if status.st_size > MAX_BOOKING_FILE_BYTES:
                return None
            document = load_json(path.read_bytes())
        except (OSError, JsonRejectedError, ValueError):
            return None
        if not isinstance(document, dict):
            return None
        self._read[booking_id] = (stamp, document)
        return document

    async def _loop(self) -> None:
        failures = 0
        while True:
            self._wake.clear()
            try:
                wait = await self.send_due()
                failures = 0
            except RelayUnavailableError as error:
                failures += 1
                wait = self.retry.delay(failures)
                log.warning(
                    "reminders: the relay is unavailable (%s); retrying in %.1f s", error, wait
                )
            except AuthError:
                wait = MAX_SLEEP  # delivery says so and stops
            except Exception as error:
                # A bug or a library failing unforeseen must cost a pass, never delivery.
                log.error("the reminders could not be sent (%s)", type(error).__name__)  # noqa: TRY400
                wait = MAX_SLEEP
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)


def _refusal(error: RelayRequestError) -> str:
    """The outcome recorded for a refused reminder: the relay's 409 status (opted_out,
    cancelled, …), not_found (404: unknown, or the appointment has started), invalid
    (422: its fields were named in the log) or the HTTP status."""
    payload = error.payload if isinstance(error.payload, dict) else {}
    if error.status == 409:
        status = payload.get("status")
        return status[:20] if isinstance(status, str) and status.isidentifier() else "refused"
    if error.status == 404:
        return "not_found"
    if error.status == 422:
        errors = payload.get("errors")
        named = ", ".join(list(errors)[:6]) if isinstance(errors, dict) else "?"
        log.error("the relay refused a reminder as invalid (%s)", named[:200])
        return "invalid"
    return f"http_{error.status}"
