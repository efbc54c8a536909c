"""What happens to a written booking after it arrived, as new versions of its document.

Four kinds of change, each counting up the booking's `sequence` (status.py):

- a patient's cancellation notice (`"type": "cancellation"`): `cancelled`, `cancelled_at`;
- the patient's reply to the practice's proposal (`"type": "reply"`): `accept` books the
  proposed time (`start`/`end` become the notice's, UTC), `decline` ends the booking
  (`declined`, times unchanged); the notice is kept as `reply`;
- the patient's move to another slot (`"type": "reschedule"`): `start`, `end`, `slot`,
  `status` (the notice's: `booked`, or `proposed` where the practice confirms) and
  `rescheduled_at` become the notice's; `previous_start` and `previous_end` keep the time
  it moved from, `reschedule_id` the notice's id. A notice naming another doctor or type
  than the booking is refused (`RescheduleMismatch`): the relay moves a booking within
  its doctor and type only;
- the practice's own answer (`practice-client answer`): the status the relay answered and
  an `answer` object (answer, reason, answered_at, and for a proposal its start and end).

Notices arrive at least once and in no fixed order (docs/protocol.md), so `applied_before`
says when a notice changes nothing any more: a booking cancelled stays cancelled, and
a reschedule older than the one applied (by `rescheduled_at`) moves nothing back.
"""

from __future__ import annotations

from collections.abc import Mapping

from practice_client.handover.moments import aware_time
from practice_client.handover.status import ENDED, sequence_of, status_of

CANCELLATION = "cancellation"
REPLY = "reply"
RESCHEDULE = "reschedule"
# In the order notices kept for a booking not yet written are applied: a reply, a move,
# then a cancellation (which ends the booking whatever came before).
NOTICE_TYPES = (REPLY, RESCHEDULE, CANCELLATION)
# What a reschedule must name as the booking does.
_KEPT_BY_RESCHEDULE = ("doctor", "appointment_type")


class RescheduleMismatch(ValueError):
    """A reschedule naming another doctor or appointment type than its booking."""


def revised(booking: Mapping[str, object], **changes: object) -> dict[str, object]:
    """The booking with `changes` and its sequence one up."""
    return {**booking, **changes, "sequence": sequence_of(booking) + 1}


def applied_before(booking: Mapping[str, object], notice: Mapping[str, object]) -> bool:
    """Whether `notice` has nothing left to change in `booking`."""
    if status_of(booking) == "cancelled":
        return True  # also a reply after a cancellation: the appointment is gone
    if notice.get("type") == RESCHEDULE:
        if status_of(booking) in ENDED:
            return True  # declined: no appointment is left to move
        return _not_newer(notice.get("rescheduled_at"), booking.get("rescheduled_at"))
    if notice.get("type") == REPLY:
        reply = booking.get("reply")
        return isinstance(reply, Mapping) and reply.get("id") == notice.get("id")
    return False


def with_notice(booking: Mapping[str, object], notice: Mapping[str, object]) -> dict[str, object]:
    """The booking as `notice` (envelope-checked, or kept) leaves it; RescheduleMismatch
    for a reschedule naming another doctor or type."""
    if notice.get("type") == RESCHEDULE:
        return _moved(booking, notice)
    if notice.get("type") == REPLY:
        reply = {name: notice.get(name) for name in ("id", "reply", "start", "end", "replied_at")}
        if notice.get("reply") == "accept":
            return revised(
                booking, status="booked", start=notice["start"], end=notice["end"], reply=reply
            )
        return revised(booking, status="declined", reply=reply)
    return revised(booking, status="cancelled", cancelled_at=notice["cancelled_at"])


def with_answer(
    booking: Mapping[str, object], status: str, answer: Mapping[str, object]
) -> dict[str, object]:
    """The booking after the practice's answer, the relay having answered `status`."""
    return revised(booking, status=status, answer=dict(answer))


def kept_record(notice: Mapping[str, object]) -> dict[str, object]:
    """What is kept of a notice whose booking is not written yet: ids, times, the reply;
    nothing of the patient."""
    names = (
        *("type", "id", "booking_id", "cancelled_at", "reply", "start", "end", "replied_at"),
        *("slot", "doctor", "appointment_type", "status", "rescheduled_at"),
    )
    return {name: notice[name] for name in names if name in notice}


def newer_reschedule(notice: Mapping[str, object], kept: Mapping[str, object]) -> bool:
    """Whether `notice` is a later move than the `kept` one (so it replaces it)."""
    return not _not_newer(notice.get("rescheduled_at"), kept.get("rescheduled_at"))


def _moved(booking: Mapping[str, object], notice: Mapping[str, object]) -> dict[str, object]:
    for name in _KEPT_BY_RESCHEDULE:
        if notice.get(name) != booking.get(name):
            raise RescheduleMismatch(
                f"the reschedule {notice.get('id')} names another "
                f"{name.replace('_', ' ')} than the booking"
            )
    return revised(
        booking,
        status=notice["status"],
        start=notice["start"],
        end=notice["end"],
        slot=notice["slot"],
        rescheduled_at=notice["rescheduled_at"],
        previous_start=booking.get("start"),
        previous_end=booking.get("end"),
        reschedule_id=notice["id"],
    )


def _not_newer(candidate: object, applied: object) -> bool:
    """Whether the move at `candidate` is not later than the one `applied` (None: none)."""
    then, now = aware_time(applied), aware_time(candidate)
    return then is not None and (now is None or now <= then)


def blocks_time(booking: Mapping[str, object]) -> bool:
    """Whether the booking still holds a time (for the slots published)."""
    return status_of(booking) not in ENDED
