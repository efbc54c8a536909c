"""Moving a confirmed booking to another published slot in one step (docs/protocol.md,
"Rescheduling").

The patient holds the link `/x/{cancel token}`. Choosing a new time in the picker holds
that slot for MOVE_HOLD_SECONDS in a move record beside the cancel record
(`tr:{p}:v:{hash}`: the slot id and the hold's end). One confirmation by the same link then
moves the booking (lua/move.lua): the old slot is released, the new one taken, the cancel
record (and the answer record) rewritten to the new slot and its start, pending reminder
mails dropped, and one signed, sealed `reschedule` notice put into the practice's inbox.
Never a second booking.

What the relay keeps is what the cancel record kept, moved: `{booking id}:{new slot id}`
until the new start. The doctor, type and time of the appointment come from the public
profile (the slot) and from the "choose another time" link's sealed parameter
(relay/mail/move_links.py), never from a store of the relay's.

A practice that confirms each request (`confirmation: by_practice`) gets the new time as
a request (`status: proposed`): the new slot is held until its answer is due, as at
confirming, and the old time is released at once. The patient is told so.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from nacl.signing import SigningKey

from relay.crypto import tokens
from relay.crypto.sealing import DataCipher, seal_booking
from relay.errors import MoveRefused, TokenGone
from relay.mail.move_links import LinkedAppointment, open_appointment, seal_appointment
from relay.ops.metrics import Metrics
from relay.practice.cache import CachedPractice, PracticeCache
from relay.practice.profile import Slot
from relay.practice.slot_index import FreeSlots
from relay.rules.values import utc_iso
from relay.settings import Settings
from relay.storage.store import AnswerRecord, AnswerState, MoveStep, Store
from relay.storage.wakeups import Wakeups

# How long a chosen new time is held for the confirmation: long enough to read the page
# and press one button, short enough that an abandoned choice soon frees the slot.
MOVE_HOLD_SECONDS = 15 * 60
MoveStatus = Literal["booked", "proposed"]


@dataclass(frozen=True)
class Movable:
    """A confirmed booking that its link may move, as read."""

    practice: str
    token_hash: str
    booking_id: str
    slot: str
    status: MoveStatus
    read: AnswerState
    record: AnswerRecord | None

    def claim_is_ours(self, now_ms: int) -> bool:
        # Booked directly: taken until the slot ends, past the cancel record's end.
        return self.record is None or self.record.held_until_ms > now_ms


@dataclass(frozen=True)
class Held:
    """The new slot held for the confirmation, until `until`."""

    slot: Slot
    until: datetime


@dataclass(frozen=True)
class Moved:
    """The booking on its new slot; `changed` False for a confirmation repeated."""

    slot: Slot
    status: MoveStatus
    changed: bool
    # The sealed parameter naming the booking on its new slot (relay/mail/move_links.py).
    param: str


class Moves:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        cipher: DataCipher,
        signing_key: SigningKey,
        metrics: Metrics,
        wakeups: Wakeups,
        practices: PracticeCache,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.cipher = cipher
        self.signing_key = signing_key
        self.metrics = metrics
        self.wakeups = wakeups
        self.practices = practices
        self._clock = clock

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # Reading

    async def movable(self, cancel_token: str) -> Movable:
        """The booking as read; TokenGone when the link leads nowhere, MoveRefused when
        it cannot be moved."""
        slug, token_hash = tokens.parse_token(cancel_token)
        state = await self.store.answer_state(slug, token_hash)
        if not state.cancel_record or state.ends_ms < 0:
            raise TokenGone
        if state.cancel_record == "cancelled":
            raise MoveRefused("final")
        record = AnswerRecord.unpack(state.answer_record) if state.answer_record else None
        status = record.status if record else "booked"
        if status in ("declined", "cancelled", "withdrawn"):
            raise MoveRefused("final")
        if status == "pending":
            raise MoveRefused("pending")
        booking_id, _, slot = state.cancel_record.partition(":")
        if not slot:
            raise MoveRefused("wish")
        return Movable(
            slug,
            token_hash,
            booking_id,
            slot,
            "proposed" if status == "proposed" else "booked",
            state,
            record,
        )

    def linked(self, booking: Movable, param: str) -> LinkedAppointment | None:
        """The appointment the link's parameter names, if it is this booking on its
        current slot (an older link, from before a move, names nothing)."""
        linked = open_appointment(self.cipher, booking.practice, param)
        if linked is None or (linked.booking_id, linked.slot) != (booking.booking_id, booking.slot):
            return None
        return linked

    async def free_slots(self, slug: str) -> tuple[CachedPractice, FreeSlots]:
        """The practice and its slots free right now, as the picker shows them."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        found = await self.store.availability(slug, now_ms=int(now.timestamp() * 1000))
        cached = await self.practices.at_version(slug, found.profile_version)
        return cached, cached.index.free(found.unavailable, now)

    async def held(self, booking: Movable) -> Held | None:
        """The new slot held for this booking, if the hold lasts and the slot is still
        published."""
        found = await self.store.move_record(booking.practice, booking.token_hash)
        if found is None or found[1] <= self._now_ms():
            return None
        slot = _published(await self.practices.current(booking.practice), found[0])
        return None if slot is None else Held(slot, _moment(found[1]))

    # Changing

    async def hold(self, cancel_token: str, slot: Slot) -> Held | Literal["same", "taken"]:
        """Holds `slot` (one of the picker's free slots) for the confirmation."""
        for _attempt in range(3):
            booking = await self.movable(cancel_token)
            if slot.id == booking.slot:
                return "same"
            _, free = await self.free_slots(booking.practice)
            if slot not in free:
                return "taken"
            # Never past either appointment's start: nothing of a booking outlasts it.
            until_ms = min(
                self._now_ms() + MOVE_HOLD_SECONDS * 1000, _ms(slot.start), booking.read.ends_ms
            )
            outcome = await self.store.move_hold(
                booking.practice,
                booking.token_hash,
                read=booking.read,
                booking_id=booking.booking_id,
                slot=slot.id,
                until_ms=until_ms,
            )
            if outcome == "taken":
                return "taken"
            if outcome == "held":
                self.metrics.bookings.labels(event="move_hold").inc()
                return Held(slot, _moment(until_ms))
        raise TokenGone

    async def move(self, cancel_token: str, slot_id: str) -> Moved | Literal["taken"]:
        """Moves the booking to `slot_id`, held before (or still free): one reschedule
        notice to the practice."""
        for _attempt in range(3):
            booking = await self.movable(cancel_token)
            cached = await self.practices.current(booking.practice)
            slot = _published(cached, slot_id)
            if booking.slot == slot_id and slot is not None:
                # Moved already (a second click, a retry): nothing more to do.
                return Moved(slot, booking.status, False, self._param(booking, slot))
            now_ms = self._now_ms()
            if slot is None or _ms(slot.start) <= now_ms:
                return "taken"
            step, notice = self._step(booking, cached, slot, now_ms)
            sealed = seal_booking(
                notice, signing_key=self.signing_key, practice_key=cached.practice.public_key
            )
            outcome = await self.store.move(
                booking.practice,
                booking.token_hash,
                MoveStep(
                    read=booking.read,
                    booking_id=booking.booking_id,
                    slot=slot.id,
                    slot_until_ms=step.slot_until_ms,
                    release=booking.slot if booking.claim_is_ours(now_ms) else "",
                    cancel_record=f"{booking.booking_id}:{slot.id}",
                    ends_ms=_ms(slot.start),
                    answer_record=step.answer_record,
                    notice_id=str(notice["id"]),
                    notice=sealed,
                    notice_at=str(notice["rescheduled_at"]),
                    inbox_ttl=self.settings.inbox_ttl,
                    now_ms=now_ms,
                ),
            )
            if outcome == "taken":
                return "taken"
            if outcome == "moved":
                self.metrics.bookings.labels(event="moved").inc()
                self.wakeups.wake(booking.practice)
                return Moved(slot, step.status, True, self._param(booking, slot))
        raise TokenGone

    def _param(self, booking: Movable, slot: Slot) -> str:
        return seal_appointment(
            self.cipher, booking.practice, linked_appointment(booking.booking_id, slot)
        )

    def _step(
        self, booking: Movable, cached: CachedPractice, slot: Slot, now_ms: int
    ) -> tuple[_Step, dict[str, object]]:
        profile = cached.profile
        end_ms = _ms(slot.end)
        mails = booking.record.mails if booking.record else 0
        status: MoveStatus
        if profile.confirmation == "by_practice":
            # A new request for the practice: held until its answer is due, as confirming.
            status = "proposed"
            until = min(end_ms, now_ms + profile.answer_within_hours * 3_600_000)
            record = AnswerRecord("proposed", until, end_ms, mails).pack()
        else:
            status, until = "booked", end_ms
            record = AnswerRecord("booked", end_ms, end_ms, mails).pack() if booking.record else ""
        zone = profile.zone
        notice: dict[str, object] = {
            "type": "reschedule",
            "id": str(uuid.uuid4()),
            "booking_id": booking.booking_id,
            "practice": booking.practice,
            "slot": slot.id,
            "start": slot.start.astimezone(zone).isoformat(),
            "end": slot.end.astimezone(zone).isoformat(),
            "doctor": slot.doctor,
            "appointment_type": slot.appointment_type,
            "status": status,
            "rescheduled_at": utc_iso(datetime.fromtimestamp(now_ms / 1000, UTC)),
        }
        return _Step(status, until, record), notice


@dataclass(frozen=True)
class _Step:
    status: MoveStatus
    slot_until_ms: int
    answer_record: str


def linked_appointment(booking_id: str, slot: Slot) -> LinkedAppointment:
    return LinkedAppointment(
        booking_id=booking_id,
        slot=slot.id,
        doctor=slot.doctor,
        appointment_type=slot.appointment_type,
        start=slot.start.isoformat(),
        end=slot.end.isoformat(),
    )


def _published(cached: CachedPractice, slot_id: str) -> Slot | None:
    position = cached.index.position.get(slot_id)
    return None if position is None else cached.index.slots[position]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
