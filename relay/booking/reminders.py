"""Reminders before an appointment, sent when the practice's client asks (docs/protocol.md,
"Reminders").

The patient asks for them with a checkbox of its own (consent, recorded in the sealed
booking document with its time). The relay keeps nothing for them in advance: the
practice's client holds the booking with the address and the time anyway, and at the due
time it posts `POST /api/v1/bookings/{id}/remind`. The relay finds the booking as it
finds it for an answer (booking id and address give the cancel token, hence the records'
key; relay/booking/answers.py), checks that it is booked and that the patient has not
opted out, and queues one mail. The address is in that mail job, encrypted, until it is
sent, and nowhere else.

What the relay keeps, under the hash of the cancel token, each ending when the appointment
starts: a mark per reminder queued (so a client asking again after a lost answer sends
nothing twice) and the patient's opt-out. The reminder names the practice, the date, the
time and the practice's address, with the cancel link and a one-click opt-out; never the
doctor or the type of appointment.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from relay.booking.answers import Answers
from relay.booking.submission import email_address
from relay.crypto import tokens
from relay.crypto.sealing import DataCipher
from relay.errors import AnswerRefused, BookingNotFound, TokenGone, ValidationFailed
from relay.i18n.languages import DEFAULT_LANGUAGE, LANGUAGES
from relay.mail.jobs import mail_job_context
from relay.mail.move_links import MOVE_PARAM, LinkedAppointment, seal_appointment
from relay.ops.metrics import Metrics
from relay.practice.cache import PracticeCache
from relay.practice.profile import MAX_ENTRY_NAME_LENGTH, Profile
from relay.rules.values import (
    ErrorCode,
    InvalidValueError,
    check,
    clean_text,
    parse_aware_datetime,
)
from relay.settings import Settings
from relay.storage.store import ReminderStep, Store

# The numbers a reminder may have: a practice sends at most two per appointment.
NUMBERS = (1, 2)
# A reminder's mail is tried for up to an hour, never past the appointment's start.
REMINDER_MAIL_TTL = 3600
# The patient's page that stops the reminders (relay/web/reminders.py), after the cancel
# link's path.
OPT_OUT_SUFFIX = "/reminders"
_KEYS = frozenset({"email", "lang", "start", "end", "number", "doctor", "appointment_type"})

Reminded = Literal["queued", "already"]


@dataclass(frozen=True)
class ReminderRequest:
    """A validated `POST /api/v1/bookings/{id}/remind` body."""

    email: str
    lang: str
    start: datetime
    end: datetime | None
    number: int
    # The booking's, for the "choose another time" link only (sealed into it).
    doctor: str | None = None
    appointment_type: str | None = None


def parse_reminder(data: object) -> ReminderRequest:
    """Raises ValidationFailed with a code per member."""
    if not isinstance(data, Mapping):
        raise ValidationFailed({"email": "not_object"})
    errors: dict[str, ErrorCode] = {str(key): "unknown_field" for key in data if key not in _KEYS}
    email = check(errors, "email", email_address, data.get("email"))
    lang = check(errors, "lang", _language, data.get("lang", DEFAULT_LANGUAGE))
    start = check(errors, "start", parse_aware_datetime, data.get("start"))
    end = check(errors, "end", _optional_time, data.get("end"))
    number = check(errors, "number", _number, data.get("number", 1))
    doctor = check(errors, "doctor", _optional_text, data.get("doctor"))
    kind = check(errors, "appointment_type", _optional_text, data.get("appointment_type"))
    if start is not None and end is not None and end <= start:
        errors["end"] = "end_before_start"
    if errors or email is None or lang is None or start is None or number is None:
        raise ValidationFailed(errors)
    return ReminderRequest(email, lang, start, end, number, doctor, kind)


class Reminders:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        cipher: DataCipher,
        metrics: Metrics,
        practices: PracticeCache,
        answers: Answers,
        cancel_token: Callable[[str, str, str], str],
        mail_queued: Callable[[str], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.cipher = cipher
        self.metrics = metrics
        self.practices = practices
        self.answers = answers
        # (practice, booking id, address) -> the booking's cancel token.
        self._cancel_token = cancel_token
        self._mail_queued = mail_queued
        self._clock = clock

    async def remind(self, slug: str, booking_id: str, request: ReminderRequest) -> Reminded:
        """Queues the reminder's mail. BookingNotFound if no booking of this practice has
        this id and address (or its appointment has started); AnswerRefused if it is not
        booked or the patient opted out."""
        cancel_token = self._cancel_token(slug, booking_id, request.email)
        token_hash = tokens.parse_token(cancel_token)[1]
        now_ms = int(self._clock() * 1000)
        start_ms = int(request.start.timestamp() * 1000)
        if start_ms <= now_ms:
            raise ValidationFailed({"start": "not_in_future"})
        cached = await self.practices.current(slug)
        job_id = f"{booking_id}.r{request.number}"
        for _attempt in range(3):
            found = await self.answers.booking_status(slug, token_hash)
            # The key is derived from this booking id: a record there is this booking's.
            if found is None or found[1] not in ("", booking_id):
                raise BookingNotFound
            read, _, status = found
            if status != "booked":
                raise AnswerRefused(status, "only a booked appointment is reminded of")
            # A slot's cancel record ends when its appointment starts: another start is a
            # time the patient has moved away from (the practice's client has yet to
            # fetch the move), never one to remind of.
            slot = read.cancel_record.partition(":")[2]
            if slot and read.ends_ms != start_ms:
                raise AnswerRefused("moved", "the appointment starts at another time now")
            step = ReminderStep(
                read=read,
                number=request.number,
                start_ms=start_ms,
                now_ms=now_ms,
                job_id=job_id,
                mail_job=self._mail_job(
                    slug,
                    job_id,
                    request,
                    cancel_token=cancel_token,
                    profile=cached.profile,
                    slot=slot,
                    booking_id=booking_id,
                ),
                mail_ttl=max(1, min(REMINDER_MAIL_TTL, (start_ms - now_ms) // 1000)),
            )
            outcome = await self.store.remind(slug, token_hash, step)
            if outcome == "opted_out":
                raise AnswerRefused("opted_out", "the patient asked for no reminders")
            if outcome == "queued":
                self.metrics.bookings.labels(event="reminder_queued").inc()
                self._mail_queued(slug)
                return "queued"
            if outcome == "already":
                return "already"
        raise AnswerRefused("changing", "the booking changed while reminding; try again")

    def _mail_job(
        self,
        slug: str,
        job_id: str,
        request: ReminderRequest,
        *,
        cancel_token: str,
        profile: Profile,
        slot: str,
        booking_id: str,
    ) -> bytes:
        """The reminder's mail job: what relay/mail/compose.py needs, nothing of the
        booking but its time; its move link carries the appointment sealed
        (relay/mail/move_links.py)."""
        link = f"{self.settings.public_url}/x/{cancel_token}"
        move_link = ""
        if slot:
            appointment = LinkedAppointment(
                booking_id=booking_id,
                slot=slot,
                doctor=request.doctor,
                appointment_type=request.appointment_type,
                start=request.start.isoformat(),
                end=request.end.isoformat() if request.end else "",
            )
            sealed = seal_appointment(self.cipher, slug, appointment)
            move_link = f"{link}/move?{MOVE_PARAM}={sealed}"
        job = {
            "kind": "reminder",
            "to": request.email,
            "lang": request.lang,
            "practice_name": profile.name,
            "time_zone": profile.time_zone,
            "start": request.start.isoformat(),
            "end": request.end.isoformat() if request.end else "",
            "address": list(profile.details.address),
            "phone": profile.details.phone or "",
            "link": link,
            "stop": link + OPT_OUT_SUFFIX,
            "move_link": move_link,
        }
        return self.cipher.encrypt_json(job, context=mail_job_context(slug, job_id))

    # The patient

    async def opted_out(self, cancel_token: str) -> bool:
        """Whether the patient stopped the reminders; TokenGone for no live booking."""
        slug, token_hash = tokens.parse_token(cancel_token)
        found = await self.answers.booking_status(slug, token_hash)
        if found is None or not found[1]:
            raise TokenGone
        return await self.store.opted_out_of_reminders(slug, token_hash)

    async def opt_out(self, cancel_token: str) -> None:
        """Stops the booking's reminders, queued ones included; TokenGone for no live
        booking."""
        slug, token_hash = tokens.parse_token(cancel_token)
        if not await self.store.opt_out_of_reminders(slug, token_hash):
            raise TokenGone
        self.metrics.bookings.labels(event="reminder_opt_out").inc()


def _language(value: object) -> str:
    if not isinstance(value, str) or value not in LANGUAGES:
        raise InvalidValueError("invalid_choice")
    return value


def _optional_time(value: object) -> datetime | None:
    return None if value is None else parse_aware_datetime(value)


def _optional_text(value: object) -> str | None:
    return clean_text(value, max_length=MAX_ENTRY_NAME_LENGTH, required=False)


def _number(value: object) -> int:
    for number in NUMBERS:
        if value == number and type(value) is int:
            return number
    raise InvalidValueError("invalid_choice")
