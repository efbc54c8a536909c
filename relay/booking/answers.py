"""After confirming: the practice's answer, the patient's reply to a time the practice
proposed, and the patient's cancellation (docs/protocol.md, "The practice's answers").

The relay keeps no address and no index for a confirmed booking. What it keeps are two
keys under the hash of the booking's cancel token (relay/storage/store.py): the cancel
record (`{booking id}:{slot id}`, then `cancelled`) and, for a request the practice
answers, the answer record (AnswerRecord: the status, until when this booking's claim on
its slot lasts, and a time the practice proposed). Both end when the appointment starts.

The practice finds a booking by what its client holds, the booking id and the patient's
address: from them the relay derives the confirmation token, the cancel token and so the
records' key, as it derived them at confirmation. A wrong address, another practice's
booking or one whose time has passed finds nothing (404), so an answer can only mail the
address the patient confirmed, and only for that practice. The address is in the answer's
mail job, encrypted, until it is sent (at most an hour), and nowhere else.

Each step is decided here from the records as read and written by one script only if
they are still as read (lua/answer.lua): two answers racing cannot both apply. The same
answer twice changes nothing and sends no second mail.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from nacl.signing import SigningKey

from relay.booking.submission import email_address
from relay.crypto import tokens
from relay.crypto.sealing import DataCipher, seal_booking
from relay.errors import AnswerRefused, BookingNotFound, TokenGone, ValidationFailed
from relay.i18n.languages import DEFAULT_LANGUAGE, LANGUAGES
from relay.mail.compose import REASONS
from relay.mail.jobs import mail_job_context
from relay.mail.move_links import MOVE_PARAM, LinkedAppointment, seal_appointment
from relay.ops.metrics import Metrics
from relay.practice.cache import PracticeCache
from relay.practice.profile import MAX_ENTRY_NAME_LENGTH, Profile, Slot
from relay.rules.values import (
    ErrorCode,
    InvalidValueError,
    check,
    clean_text,
    parse_aware_datetime,
    utc_iso,
)
from relay.settings import Settings
from relay.storage.store import AnswerRecord, AnswerState, AnswerStep, Store
from relay.storage.wakeups import Wakeups

Answer = Literal["accept", "decline", "propose", "cancel"]
ANSWERS: tuple[Answer, ...] = ("accept", "decline", "propose", "cancel")
# The statuses of docs/protocol.md: `withdrawn` is a cancellation by the patient, told
# apart from the practice's own (`cancelled`) so that the practice's answer is refused.
Status = Literal["proposed", "booked", "pending", "declined", "cancelled", "withdrawn"]
# The answer's mail is tried for as long as the confirmation mail is.
ANSWER_MAIL_TTL = 3600
# A proposed time the practice does not publish as a slot lasts this long, unless given.
DEFAULT_PROPOSAL_MINUTES = 30
_ANSWER_KEYS = frozenset({"answer", "email", "lang", "reason", "start", "end", "doctor", "type"})
# The answer that leads to each status, to tell "the same answer again".
_RESULT: Mapping[Answer, Status] = {
    "accept": "booked",
    "decline": "declined",
    "propose": "pending",
    "cancel": "cancelled",
}
_FINAL: frozenset[str] = frozenset({"declined", "cancelled", "withdrawn"})
_REFUSALS: Mapping[str, str] = {
    "withdrawn": "the patient cancelled this booking",
    "declined": "this request was declined",
    "cancelled": "this booking was cancelled by the practice",
    "pending": "the practice proposed another time; the patient's reply is awaited",
    "booked": "this booking is booked; answer cancel to cancel it",
}


@dataclass(frozen=True)
class PracticeAnswer:
    """A validated `POST /api/v1/bookings/{id}/answer` body."""

    answer: Answer
    email: str
    lang: str
    reason: str | None
    start: datetime | None
    end: datetime | None
    doctor: str | None


@dataclass(frozen=True)
class Answered:
    """What the answer endpoint returns; `start`, `end` and `held` for a proposal."""

    booking_id: str
    status: Status
    changed: bool
    held: bool | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class BookingView:
    """What the patient's link (/x/{token}) shows: the practice, the status, until when
    the link works, and a time the practice proposed or agreed to."""

    practice: str
    status: Status
    expires_at: datetime | None
    start: datetime | None = None
    end: datetime | None = None


PatientOutcome = Literal["cancelled", "accepted", "declined", "already", "taken"]
_PATIENT_OUTCOMES: Mapping[str, PatientOutcome] = {
    "cancel": "cancelled",
    "accept": "accepted",
    "decline": "declined",
}


@dataclass(frozen=True)
class _Current:
    """A confirmed booking's records as read."""

    read: AnswerState
    booking_id: str
    slot: str
    record: AnswerRecord

    @property
    def status(self) -> Status:
        return _status(self.record.status)

    def claim_is_ours(self, now_ms: int) -> bool:
        return self.record.held_until_ms > now_ms

    def held_slot(self) -> str:
        """The slot this booking's claim is on: a proposed one while the patient is to
        reply, else its own."""
        return self.record.proposed_slot if self.status == "pending" else self.slot


def parse_answer(data: object) -> PracticeAnswer:
    """Raises ValidationFailed with a code per member."""
    if not isinstance(data, Mapping):
        raise ValidationFailed({"answer": "not_object"})
    errors: dict[str, ErrorCode] = {
        str(key): "unknown_field" for key in data if key not in _ANSWER_KEYS
    }
    answer = check(errors, "answer", _answer, data.get("answer"))
    email = check(errors, "email", email_address, data.get("email"))
    lang = check(errors, "lang", _language, data.get("lang", DEFAULT_LANGUAGE))
    reason = check(errors, "reason", _reason, data.get("reason"))
    start = check(errors, "start", _optional_time, data.get("start"))
    end = check(errors, "end", _optional_time, data.get("end"))
    doctor = check(errors, "doctor", _optional_text, data.get("doctor"))
    if answer == "propose" and start is None and "start" not in errors:
        errors["start"] = "required"
    if answer == "accept" and reason is not None:
        errors["reason"] = "invalid_choice"
    if start is not None and end is not None and end <= start:
        errors["end"] = "end_before_start"
    if errors or answer is None or email is None or lang is None:
        raise ValidationFailed(errors)
    return PracticeAnswer(answer, email, lang, reason, start, end, doctor)


class Answers:
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
        cancel_token: Callable[[str, str, str], str],
        mail_queued: Callable[[str], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.cipher = cipher
        self.signing_key = signing_key
        self.metrics = metrics
        self.wakeups = wakeups
        self.practices = practices
        # (practice, booking id, address) -> the booking's cancel token.
        self._cancel_token = cancel_token
        self._mail_queued = mail_queued
        self._clock = clock

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # The practice

    async def answer(self, slug: str, booking_id: str, answer: PracticeAnswer) -> Answered:
        """Applies the practice's answer and queues its mail to the patient."""
        cancel_token = self._cancel_token(slug, booking_id, answer.email)
        token_hash = tokens.parse_token(cancel_token)[1]
        cached = await self.practices.current(slug)
        for _attempt in range(3):
            current = await self._current(slug, token_hash)
            # The records' key is derived from this booking id: a record there is this
            # booking's (its cancel record names it too, until it is cancelled).
            if current is None or current.booking_id not in ("", booking_id):
                raise BookingNotFound
            now_ms = self._now_ms()
            if current.status == _RESULT[answer.answer] and _same(current.record, answer):
                return _answered(booking_id, current.record, changed=False)
            if current.status in _FINAL or (current.status in _REFUSED_FROM.get(answer.answer, ())):
                raise AnswerRefused(current.status, _REFUSALS[current.status])
            step = self._practice_step(current, answer, cached.profile, now_ms)
            mails = step.record.mails
            step = replace(
                step,
                mail_job=self._answer_mail(
                    slug,
                    f"{booking_id}.a{mails}",
                    answer,
                    record=step.record,
                    practice_name=cached.profile.name,
                    time_zone=cached.profile.time_zone,
                    cancel_token=cancel_token,
                    move_param=self._move_param(slug, booking_id, current.slot, answer),
                ),
                mail_job_id=f"{booking_id}.a{mails}",
                mail_ttl=ANSWER_MAIL_TTL,
            )
            outcome = await self.store.answer(slug, token_hash, step)
            if outcome == "taken":
                raise AnswerRefused(
                    current.status, "the slot is taken by another booking; propose another time"
                )
            if outcome == "done":
                self.metrics.bookings.labels(event=f"answer_{answer.answer}").inc()
                self._mail_queued(slug)
                return _answered(booking_id, step.record, changed=True)
        # Three other steps in between: as busy as a profile changing twice.
        raise AnswerRefused("changing", "the booking changed while answering; try again")

    def _practice_step(
        self, current: _Current, answer: PracticeAnswer, profile: Profile, now_ms: int
    ) -> AnswerStep:
        record = replace(current.record, mails=current.record.mails + 1)
        release = current.held_slot() if current.claim_is_ours(now_ms) else ""
        step = AnswerStep(read=current.read, record=record, now_ms=now_ms)
        if answer.answer == "accept":
            # Accepting a request whose claim ran out claims the slot again, if still free.
            slot_end = current.record.slot_end_ms
            record = replace(record, status="booked", held_until_ms=slot_end)
            if not current.slot or slot_end <= now_ms:
                return replace(step, record=replace(record, held_until_ms=0))
            return replace(
                step,
                record=record,
                claim=current.slot,
                claim_until_ms=slot_end,
                claim_only_if_free=not current.claim_is_ours(now_ms),
            )
        if answer.answer in ("decline", "cancel"):
            status: Status = "declined" if answer.answer == "decline" else "cancelled"
            return replace(
                step,
                record=replace(record, status=status, held_until_ms=0),
                cancel_record="cancelled",
                release=release,
            )
        start = answer.start
        if start is None:  # parse_answer requires it for a proposal
            raise ValidationFailed({"start": "required"})
        slot = _published_slot(profile, start, answer.doctor)
        end = answer.end or (
            slot.end if slot else start + timedelta(minutes=DEFAULT_PROPOSAL_MINUTES)
        )
        start_ms, end_ms = _ms(start), _ms(end)
        if start_ms <= now_ms:
            raise ValidationFailed({"start": "not_in_future"})
        # The proposed slot is held as long as the practice's own answer may take.
        held_until = min(start_ms, now_ms + profile.answer_within_hours * 3_600_000)
        record = replace(
            record,
            status="pending",
            held_until_ms=held_until if slot else 0,
            proposed_slot=slot.id if slot else "",
            proposed_start_ms=start_ms,
            proposed_end_ms=end_ms,
        )
        return replace(
            step,
            record=record,
            ends_ms=max(current.read.ends_ms, start_ms),
            claim=slot.id if slot else "",
            claim_until_ms=held_until,
            claim_only_if_free=True,
            # Proposing again the slot already held for this booking keeps the claim.
            release="" if slot and release == slot.id else release,
        )

    # The patient

    async def view(self, cancel_token: str) -> BookingView:
        """What the patient's link shows; changes nothing. TokenGone if expired or unknown."""
        slug, token_hash = tokens.parse_token(cancel_token)
        current = await self._current(slug, token_hash)
        if current is None:
            raise TokenGone
        record = current.record
        start = end = None
        if record.proposed_start_ms:
            start, end = _moment(record.proposed_start_ms), _moment(record.proposed_end_ms)
        expires = None if current.status in _FINAL else _moment(current.read.ends_ms)
        return BookingView(slug, current.status, expires, start, end)

    async def cancel(self, cancel_token: str) -> PatientOutcome:
        """The patient cancels: the claim is given up and a sealed notice goes to the
        practice's inbox."""
        return await self._patient(cancel_token, "cancel")

    async def reply(self, cancel_token: str, *, accept: bool) -> PatientOutcome:
        """The patient accepts or declines the time the practice proposed."""
        return await self._patient(cancel_token, "accept" if accept else "decline")

    async def _patient(
        self, cancel_token: str, action: Literal["cancel", "accept", "decline"]
    ) -> PatientOutcome:
        slug, token_hash = tokens.parse_token(cancel_token)
        for _attempt in range(3):
            current = await self._current(slug, token_hash)
            if current is None:
                raise TokenGone
            if current.status in _FINAL or (action != "cancel" and current.status != "pending"):
                return "already"
            now_ms = self._now_ms()
            step, document = self._patient_step(current, action, slug, now_ms)
            practice = await self.store.practice(slug)
            notice = seal_booking(
                document, signing_key=self.signing_key, practice_key=practice.public_key
            )
            step = replace(
                step,
                notice_id=str(document["id"]),
                notice=notice,
                notice_at=utc_iso(_moment(now_ms)),
                inbox_ttl=self.settings.inbox_ttl,
            )
            outcome = await self.store.answer(slug, token_hash, step)
            if outcome == "taken":
                return "taken"
            if outcome == "done":
                event = "cancelled" if action == "cancel" else f"reply_{action}"
                self.metrics.bookings.labels(event=event).inc()
                self.wakeups.wake(slug)
                return _PATIENT_OUTCOMES[action]
        return "already"

    def _patient_step(
        self,
        current: _Current,
        action: Literal["cancel", "accept", "decline"],
        slug: str,
        now_ms: int,
    ) -> tuple[AnswerStep, dict[str, object]]:
        record = current.record
        notice_id = str(uuid.uuid4())
        moment = utc_iso(_moment(now_ms))
        step = AnswerStep(read=current.read, record=record, now_ms=now_ms)
        release = current.held_slot() if current.claim_is_ours(now_ms) else ""
        if action == "cancel":
            document: dict[str, object] = {
                "type": "cancellation",
                "id": notice_id,
                "booking_id": current.booking_id,
                "practice": slug,
                "cancelled_at": moment,
            }
            withdrawn = replace(record, status="withdrawn", held_until_ms=0)
            return replace(
                step, record=withdrawn, cancel_record="cancelled", release=release
            ), document
        document = {
            "type": "reply",
            "id": notice_id,
            "booking_id": current.booking_id,
            "practice": slug,
            "reply": action,
            "start": utc_iso(_moment(record.proposed_start_ms)),
            "end": utc_iso(_moment(record.proposed_end_ms)),
            "replied_at": moment,
        }
        if action == "decline":
            declined = replace(record, status="declined", held_until_ms=0)
            return replace(
                step, record=declined, cancel_record="cancelled", release=release
            ), document
        slot = record.proposed_slot
        booked = replace(
            record,
            status="booked",
            held_until_ms=record.proposed_end_ms if slot else 0,
            slot_end_ms=record.proposed_end_ms,
        )
        return replace(
            step,
            record=booked,
            # The cancel record now names the proposed slot, so cancelling frees it, and
            # lasts until the proposed time starts.
            cancel_record=f"{current.booking_id}:{slot}",
            ends_ms=record.proposed_start_ms,
            claim=slot,
            claim_until_ms=record.proposed_end_ms,
            claim_only_if_free=not current.claim_is_ours(now_ms),
        ), document

    # Both

    async def booking_status(
        self, slug: str, token_hash: str
    ) -> tuple[AnswerState, str, Status] | None:
        """A confirmed booking's records as read, its id and status; None if there is no
        cancel record (unknown, or the appointment has started)."""
        current = await self._current(slug, token_hash)
        if current is None:
            return None
        return current.read, current.booking_id, current.status

    async def _current(self, slug: str, token_hash: str) -> _Current | None:
        state = await self.store.answer_state(slug, token_hash)
        if not state.cancel_record or state.ends_ms < 0:
            return None
        if state.answer_record:
            record = AnswerRecord.unpack(state.answer_record)
        elif state.cancel_record == "cancelled":
            # Cancelled by the patient before answer records existed.
            record = AnswerRecord("withdrawn")
        else:
            # Booked directly (or confirmed before answer records existed): the slot is
            # taken until it ends, after the cancel record's end (the slot's start).
            record = AnswerRecord("booked", held_until_ms=state.ends_ms)
        booking_id, _, slot = state.cancel_record.partition(":")
        if state.cancel_record == "cancelled":
            booking_id = slot = ""
        return _Current(state, booking_id, slot, record)

    def _move_param(self, slug: str, booking_id: str, slot: str, answer: PracticeAnswer) -> str:
        """The appointment an accepted booking's move link carries ('' for none)."""
        if answer.answer != "accept" or not slot:
            return ""
        appointment = LinkedAppointment(
            booking_id=booking_id,
            slot=slot,
            doctor=answer.doctor,
            appointment_type=None,
            start=answer.start.isoformat() if answer.start else "",
            end=answer.end.isoformat() if answer.end else "",
        )
        return seal_appointment(self.cipher, slug, appointment)

    def _answer_mail(
        self,
        slug: str,
        job_id: str,
        answer: PracticeAnswer,
        *,
        record: AnswerRecord,
        practice_name: str,
        time_zone: str,
        cancel_token: str,
        move_param: str = "",
    ) -> bytes:
        """The answer's mail job: what relay/mail/compose.py needs, nothing of the booking
        but its time."""
        start, end = answer.start, answer.end
        if answer.answer == "propose":
            start, end = _moment(record.proposed_start_ms), _moment(record.proposed_end_ms)
        base = self.settings.public_url
        job = {
            "kind": "answer",
            "answer": answer.answer,
            "to": answer.email,
            "lang": answer.lang,
            "practice_name": practice_name,
            "time_zone": time_zone,
            "reason": answer.reason or "",
            "start": start.isoformat() if start else "",
            "end": end.isoformat() if end else "",
            # Accept or choose another time (a proposal), cancel (booked): the patient's link.
            "link": f"{base}/x/{cancel_token}" if answer.answer in ("accept", "propose") else "",
            "book_again": f"{base}/p/{slug}" if answer.answer in ("decline", "cancel") else "",
            # Accepted, on a published slot: "choose another time" (relay/booking/moves.py).
            "move_link": f"{base}/x/{cancel_token}/move?{MOVE_PARAM}={move_param}"
            if move_param
            else "",
        }
        return self.cipher.encrypt_json(job, context=mail_job_context(slug, job_id))


# A practice's answer that its booking's status refuses (besides the final ones).
_REFUSED_FROM: Mapping[Answer, tuple[Status, ...]] = {
    "accept": ("pending",),
    "decline": ("booked",),
}


def _same(record: AnswerRecord, answer: PracticeAnswer) -> bool:
    """Whether the answer repeats the one that led to the record (a retry)."""
    if answer.answer != "propose" or answer.start is None:
        return True
    return record.proposed_start_ms == _ms(answer.start)


def _answered(booking_id: str, record: AnswerRecord, *, changed: bool) -> Answered:
    status = _status(record.status)
    if status != "pending":
        return Answered(booking_id, status, changed)
    return Answered(
        booking_id,
        status,
        changed,
        held=bool(record.proposed_slot),
        start=_moment(record.proposed_start_ms),
        end=_moment(record.proposed_end_ms),
    )


def _published_slot(profile: Profile, start: datetime, doctor: str | None) -> Slot | None:
    """The published slot starting at `start` (the doctor's, when named)."""
    candidates = profile.slots_by_start.get(start, ())
    for slot in candidates:
        if doctor is None or slot.doctor == doctor:
            return slot
    return None


def _status(value: str) -> Status:
    for status in ("proposed", "booked", "pending", "declined", "cancelled", "withdrawn"):
        if value == status:
            return status
    raise ValueError(f"unknown answer status {value!r}")


def _answer(value: object) -> Answer:
    for answer in ANSWERS:
        if value == answer:
            return answer
    raise InvalidValueError("required" if value is None else "invalid_choice")


def _language(value: object) -> str:
    if not isinstance(value, str) or value not in LANGUAGES:
        raise InvalidValueError("invalid_choice")
    return value


def _reason(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in REASONS:
        raise InvalidValueError("invalid_choice")
    return value


def _optional_time(value: object) -> datetime | None:
    return None if value is None else parse_aware_datetime(value)


def _optional_text(value: object) -> str | None:
    return clean_text(value, max_length=MAX_ENTRY_NAME_LENGTH, required=False)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
