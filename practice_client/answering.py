"""`practice-client answer {booking id} accept|decline|propose|cancel`: the practice's answer
to a booking, sent to the relay and written into the booking's files.

The relay keeps no patient address after confirmation, so the answer carries the one the
booking's `{id}.json` holds, and its language, for the relay's mail to the patient
(docs/protocol.md, "The practice's answer"). After the relay's 200 the booking's files are
rewritten (changes.py: the status the relay answered and an `answer` object; .json last,
atomically), `--exec` runs with `TERMINRELAY_EVENT=answer`, and the calendar, if one is
written, gets the new version (or keeps its marker for the next `run`).

Every failure is one line and an exit code: 1 for anything to fix here (the booking is not
in the folder, the relay refused the answer: 404, 409, 422), 2 for a refused token, 4 for
a relay that cannot be reached. The relay's answer is idempotent: answering again sends no
second mail, and rewrites nothing when the files say so already.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from practice_client.handover.caldav_write import CalendarSync, CalendarWriter
from practice_client.handover.changes import with_answer
from practice_client.handover.files import FileAccess
from practice_client.handover.hooks import Hook
from practice_client.handover.sink import BookingSink, usable_booking_id
from practice_client.handover.status import status_of
from practice_client.i18n import gettext as _
from practice_client.os_errors import explain_os_error
from practice_client.relay.api import (
    AuthError,
    RelayClient,
    RelayRequestError,
    RelayUnavailableError,
)
from practice_client.relay.confirmed_at import parse_timestamp
from practice_client.runner import ExitCode, appointment_time

log = logging.getLogger(__name__)

ANSWERS = ("accept", "decline", "propose", "cancel")
REASONS = ("no_free_time", "doctor_unavailable", "please_call", "referral_needed")
# What the relay may answer a booking's status to be after an answer.
_ANSWERED_STATUSES = ("booked", "declined", "pending", "cancelled")
_UTC = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Answer:
    booking_id: str
    answer: str
    start: str | None = None
    reason: str | None = None
    doctor: str | None = None
    appointment_type: str | None = None

    def problem(self) -> str | None:
        """Why the relay would refuse this answer's shape, said before asking it."""
        if self.answer not in ANSWERS:
            return _("the answer must be one of %(answers)s") % {"answers": ", ".join(ANSWERS)}
        if self.answer == "propose":
            if self.start is None:
                return _("propose needs --start, the time proposed (ISO 8601 with offset)")
            try:
                moment = datetime.fromisoformat(self.start)
            except ValueError:
                moment = None
            if moment is None or moment.tzinfo is None:
                return _("--start must be an ISO 8601 time with offset, e.g. %(example)s") % {
                    "example": "2026-12-10T09:00:00+01:00"
                }
        elif self.start is not None or self.doctor is not None or self.appointment_type:
            return _("--start, --doctor and --type go with propose only")
        if self.answer == "accept" and self.reason is not None:
            return _("accept takes no --reason")
        if self.reason is not None and self.reason not in REASONS:
            return _("--reason must be one of %(reasons)s") % {"reasons": ", ".join(REASONS)}
        return None


@dataclass(frozen=True)
class AnswerSettings:
    relay_url: str
    token: str
    out_dir: Path
    formats: tuple[str, ...]
    access: FileAccess
    hook: Hook | None = None
    calendar: CalendarWriter | None = None


async def answer(
    settings: AnswerSettings,
    given: Answer,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Send the answer, then write the booking's files; the exit code."""
    problem = given.problem()
    if problem is not None:
        log.error("%s", problem)
        return ExitCode.FAILURE
    sink = BookingSink(settings.out_dir, formats=settings.formats, access=settings.access)
    booking = _booking(sink, given.booking_id)
    if booking is None:
        return ExitCode.FAILURE
    email = booking.get("email")
    if not isinstance(email, str):
        log.error(
            _("booking %(id)s names no e-mail address to send the answer to; call the patient")
            % {"id": given.booking_id}
        )
        return ExitCode.FAILURE
    body = _body(given, email, booking)
    code, answered = await _send(settings.relay_url, settings.token, given.booking_id, body)
    if answered is None:
        return code
    status = answered.get("status")
    if status not in _ANSWERED_STATUSES:
        log.error(
            _("the relay's answer names no status a booking can have (%(status)r)")
            % {"status": str(status)[:20]}
        )
        return ExitCode.FAILURE
    record = _record(given, answered, answered_at=clock())
    previous = booking.get("answer")
    if (
        answered.get("changed") is False
        and status_of(booking) == status
        and isinstance(previous, Mapping)
        and previous.get("answer") == given.answer
    ):
        log.info(
            _("booking %(id)s was answered so before; the patient was not mailed again")
            % {"id": given.booking_id}
        )
        return ExitCode.OK
    return await _write(settings, sink, with_answer(booking, str(status), record))


def _booking(sink: BookingSink, booking_id: str) -> dict[str, object] | None:
    folder = sink.out_dir
    if not usable_booking_id(booking_id):
        log.error(_("%(id)r is not a booking id") % {"id": booking_id[:80]})
        return None
    try:
        return sink.read_booking(booking_id)
    except FileNotFoundError:
        log.error(  # noqa: TRY400 - one line, never a traceback
            _("booking %(id)s is not in %(folder)s (no %(id)s.json there); check the id and --out")
            % {"id": booking_id, "folder": folder}
        )
    except OSError as error:
        log.error("%s", explain_os_error(error, "read"))  # noqa: TRY400 - one line, never a traceback
    except ValueError as error:
        log.error(  # noqa: TRY400 - one line, never a traceback
            _("booking %(id)s cannot be read: %(error)s") % {"id": booking_id, "error": error}
        )
    return None


def _body(given: Answer, email: str, booking: Mapping[str, object]) -> dict[str, object]:
    body: dict[str, object] = {"answer": given.answer, "email": email}
    language = booking.get("language")
    body["lang"] = language if isinstance(language, str) and language else "de"
    if given.reason is not None:
        body["reason"] = given.reason
    if given.answer != "propose":
        # The relay keeps no time of a booking: the mail names the one the practice has.
        for name in ("start", "end"):
            value = booking.get(name)
            if isinstance(value, str) and value:
                body[name] = value
    else:
        body["start"] = given.start
        if given.doctor is not None:
            body["doctor"] = given.doctor
        if given.appointment_type is not None:
            body["type"] = given.appointment_type
    return body


async def _send(
    relay_url: str, token: str, booking_id: str, body: Mapping[str, object]
) -> tuple[int, dict[str, object] | None]:
    """The relay's 200 answer, or the exit code and the one line said."""
    try:
        async with RelayClient(relay_url, token) as relay:
            return ExitCode.OK, await relay.answer(booking_id, body)
    except AuthError:
        log.error(_("the relay rejected the practice token"))  # noqa: TRY400 - one line, never a traceback
        return ExitCode.TOKEN_REJECTED, None
    except RelayUnavailableError as error:
        log.error(  # noqa: TRY400 - one line, never a traceback
            _("the relay at %(url)s could not be reached (%(error)s); nothing was answered")
            % {"url": relay_url, "error": error}
        )
        return ExitCode.UNREACHABLE, None
    except RelayRequestError as error:
        log.error("%s", _refusal(error, booking_id))  # noqa: TRY400 - one line, never a traceback
        return ExitCode.FAILURE, None


def _refusal(error: RelayRequestError, booking_id: str) -> str:
    payload = error.payload if isinstance(error.payload, dict) else {}
    if error.status == 404:
        return _(
            "the relay knows no booking %(id)s of this practice for this patient's address, "
            "or its time has passed; nothing was answered"
        ) % {"id": booking_id}
    if error.status == 409:
        return _(
            "the relay refused the answer: the booking is %(status)s now (%(why)s); the "
            "files are unchanged"
        ) % {"status": str(payload.get("status", "?"))[:20], "why": str(payload.get("error"))[:200]}
    if error.status == 422:
        errors = payload.get("errors")
        named = (
            "; ".join(f"{key}: {str(value)[:100]}" for key, value in list(errors.items())[:6])
            if isinstance(errors, dict)
            else "?"
        )
        return _("the relay refused the answer as invalid: %(errors)s") % {"errors": named}
    return _("the relay answered HTTP %(status)d; nothing was answered") % {"status": error.status}


def _record(
    given: Answer, answered: Mapping[str, object], *, answered_at: datetime
) -> dict[str, object]:
    """The `answer` object of the booking's .json."""
    record: dict[str, object] = {
        "answer": given.answer,
        "reason": given.reason,
        "answered_at": answered_at.astimezone(UTC).strftime(_UTC),
    }
    if answered.get("status") == "pending":
        for name in ("start", "end"):
            moment = parse_timestamp(answered.get(name))
            # Re-rendered, never copied: the relay's text reaches files and calendars.
            record[name] = None if moment is None else moment.strftime(_UTC)
        record["held"] = answered.get("held") is True
    return record


async def _write(settings: AnswerSettings, sink: BookingSink, booking: dict[str, object]) -> int:
    booking_id = str(booking["id"])
    try:
        sink.rewrite(booking)
    except OSError as error:
        log.error(  # noqa: TRY400 - one line, never a traceback
            _(
                "the relay took the answer, but the files of booking %(id)s could not be "
                "rewritten: %(error)s"
            )
            % {"id": booking_id, "error": explain_os_error(error, "write")}
        )
        return ExitCode.FAILURE
    log.info(
        _("booking %(id)s is %(status)s now (%(formats)s): %(time)s")
        % {
            "id": booking_id,
            "status": booking["status"],
            "formats": ", ".join(sink.formats),
            "time": appointment_time(booking),
        }
    )
    code = ExitCode.OK
    if settings.hook is not None:
        result = await settings.hook.run(booking_id, sink.files(booking_id), event="answer")
        if not result.ok:
            log.error(
                _("the --exec command failed for the answer to booking %(id)s (%(problem)s)")
                % {"id": booking_id, "problem": result.problem}
            )
            code = ExitCode.FAILURE
    if settings.calendar is not None:
        # A calendar that cannot be written keeps its marker; `run` tries it again.
        await CalendarSync(settings.calendar).write_all()
    return code
