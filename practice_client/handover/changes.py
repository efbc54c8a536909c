"""What happens to a written booking after it arrived, as new versions of its document.

Three kinds of change, each counting up the booking's `sequence` (status.py):

- a patient's cancellation notice (`"type": "cancellation"`): `cancelled`, `cancelled_at`;
- the patient's reply to the practice's proposal (`"type": "reply"`): `accept` books the
  proposed time (`start`/`end` become the notice's, UTC), `decline` ends the booking
  (`declined`, times unchanged); the notice is kept as `reply`;
- the practice's own answer (`practice-client answer`): the status the relay answered and
  an `answer` object (answer, reason, answered_at, and for a proposal its start and end).

Notices arrive at least once and in no fixed order (docs/protocol.md), so `applied_before`
says when a notice changes nothing any more: a booking cancelled stays cancelled.
"""

from __future__ import annotations

from collections.abc import Mapping

from practice_client.handover.status import ENDED, sequence_of, status_of

CANCELLATION = "cancellation"
REPLY = "reply"
NOTICE_TYPES = (CANCELLATION, REPLY)


def revised(booking: Mapping[str, object], **changes: object) -> dict[str, object]:
    """The booking with `changes` and its sequence one up."""
    return {**booking, **changes, "sequence": sequence_of(booking) + 1}


def applied_before(booking: Mapping[str, object], notice: Mapping[str, object]) -> bool:
    """Whether `notice` has nothing left to change in `booking`."""
    if status_of(booking) == "cancelled":
        return True  # also a reply after a cancellation: the appointment is gone
    if notice.get("type") == REPLY:
        reply = booking.get("reply")
        return isinstance(reply, Mapping) and reply.get("id") == notice.get("id")
    return False


def with_notice(booking: Mapping[str, object], notice: Mapping[str, object]) -> dict[str, object]:
    """The booking as `notice` (envelope-checked, or kept) leaves it."""
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
    names = ("type", "id", "booking_id", "cancelled_at", "reply", "start", "end", "replied_at")
    return {name: notice[name] for name in names if name in notice}


def blocks_time(booking: Mapping[str, object]) -> bool:
    """Whether the booking still holds a time (for the slots published)."""
    return status_of(booking) not in ENDED
