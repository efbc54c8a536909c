"""The appointment a "choose another time" link carries (relay/booking/moves.py).

After confirming, the relay keeps no doctor, type or time of a booking: only its cancel
record (`{booking id}:{slot id}`). So whoever still knows the appointment (the result page,
the mail worker opening the "handed to the practice" mail's summary, the practice's answer)
seals it under the data keys into the link itself, as the calendar link does. The pages
trust what it says only while the cancel record still names the same booking and slot:
after a move or a cancellation an old link shows nothing of it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from relay.crypto.sealing import DataCipher
from relay.errors import DecryptionFailed
from relay.practice.profile import Slot

# The link's query parameter.
MOVE_PARAM = "m"


def move_link_context(practice: str) -> bytes:
    return f"move link:{practice}".encode()


@dataclass(frozen=True)
class LinkedAppointment:
    """What a move link names: the booking, its slot and that slot's public data."""

    booking_id: str
    slot: str
    doctor: str | None
    appointment_type: str | None
    start: str
    end: str


def summary_appointment(booking_id: str, summary: Mapping[str, object]) -> LinkedAppointment:
    """The appointment of a slot booking's encrypted summary; its slot's id is the
    profile's (start and doctor)."""
    start = datetime.fromisoformat(str(summary["start"]))
    end_text = str(summary.get("end") or "")
    doctor = _text(summary, "doctor")
    kind = _text(summary, "appointment_type")
    end = datetime.fromisoformat(end_text) if end_text else start
    return LinkedAppointment(
        booking_id=booking_id,
        slot=Slot(start, end, doctor, kind).id,
        doctor=doctor,
        appointment_type=kind,
        start=start.isoformat(),
        end=end_text,
    )


def seal_appointment(cipher: DataCipher, practice: str, appointment: LinkedAppointment) -> str:
    """The parameter's value: base64url of an AES-GCM ciphertext bound to the practice."""
    sealed = cipher.encrypt_json(
        {
            "b": appointment.booking_id,
            "s": appointment.slot,
            "d": appointment.doctor,
            "t": appointment.appointment_type,
            "st": appointment.start,
            "e": appointment.end,
        },
        context=move_link_context(practice),
    )
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()


def open_appointment(cipher: DataCipher, practice: str, value: str) -> LinkedAppointment | None:
    """The appointment a parameter names; None when it is not the relay's (or its key
    was retired): the pages then show the picker unfiltered."""
    if not value or len(value) > 2048:
        return None
    try:
        opened = cipher.decrypt_json(
            base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)),
            context=move_link_context(practice),
        )
    except (DecryptionFailed, binascii.Error, ValueError):
        return None
    return LinkedAppointment(
        booking_id=str(opened.get("b") or ""),
        slot=str(opened.get("s") or ""),
        doctor=_text(opened, "d"),
        appointment_type=_text(opened, "t"),
        start=str(opened.get("st") or ""),
        end=str(opened.get("e") or ""),
    )


def _text(opened: Mapping[str, object], name: str) -> str | None:
    value = opened.get(name)
    return value if isinstance(value, str) and value else None
