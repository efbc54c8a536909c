"""A booking sealed in the patient's browser (protocol 2): the clear fields' checks and the
envelope the relay signs around the blob it cannot open.

The relay sees the e-mail address, consent, the slot or the wished time frame, the key id,
the ticket and the blob; the rest never reaches it (docs/protocol.md, "Sealed in the
browser"). What it checks here is all it can: the fields it reads, with the rules of
relay/booking/submission.py, and the blob's shape.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from relay.booking.rules_file import CLEAR, SEALED_ONLY
from relay.booking.submission import (
    BookingKind,
    consent_given,
    email_address,
    form_to_data,
    optional_datetime,
    wish_end,
)
from relay.crypto.sealing import PAD_MAX, SEALED_BOX_OVERHEAD, is_sealed_size, key_id
from relay.crypto.tickets import Tickets
from relay.errors import ValidationFailed
from relay.practice.insurance import INSURANCES
from relay.practice.profile import LegalBasis, Profile, Slot
from relay.rules.values import ErrorCode, InvalidValueError, check, parse_aware_datetime, utc_iso

# What a protocol-2 submission may carry: the clear fields, the slot, the sealed part.
SEALED_KEYS = frozenset({*CLEAR, "slot", "sealed", "key_id", "ticket"})
# Sealed, but sent in the clear too for a slot kept for some insurance types: the slot
# tells the relay as much (docs/protocol.md, "Slots kept for some insurance types").
INSURANCE = "insurance"
# Sent by the booking form but not booking data (as in relay/booking/submission.py).
_FORM_ONLY = frozenset({"lang", "csrf", "nav"})
_MAX_BLOB_TEXT = 4 * (PAD_MAX + SEALED_BOX_OVERHEAD + 2) // 3 + 4


@dataclass(frozen=True)
class SealedRequest:
    """A valid browser-sealed submission; start and end in the practice's time zone."""

    booking_id: str
    key_id: str
    blob: bytes
    email: str
    start: datetime
    end: datetime | None
    # The published slot, and how the submission named it (kept for the envelope, so the
    # practice client compares it with the inner document's); None for a wish.
    slot: Slot | None
    slot_value: str | None
    # The insurance sent in the clear, for a slot kept for some types; else None.
    insurance: str | None = None

    @property
    def kind(self) -> BookingKind:
        return "wish" if self.slot is None else "slot"

    @property
    def doctor(self) -> str | None:
        """The slot's doctor; for a wish the relay does not learn it."""
        return None if self.slot is None else self.slot.doctor

    @property
    def appointment_type(self) -> str | None:
        return None if self.slot is None else self.slot.appointment_type

    def envelope(
        self, *, practice: str, submitted_at: datetime, language: str, legal_basis: LegalBasis
    ) -> dict[str, object]:
        """The outer document the relay signs and seals to the practice beside the blob.

        `legal_basis` is the practice's profile's. Whether the patient asked for reminders
        only the blob says (`reminder`): the relay never learns it."""
        moment = utc_iso(submitted_at)
        # Only for a slot kept for some insurance types, whose insurance came in the clear:
        # the practice client refuses a sealed part naming another.
        insurance = {} if self.insurance is None else {"insurance": self.insurance}
        return {
            **insurance,
            "type": "envelope",
            "protocol": 2,
            "id": self.booking_id,
            "practice": practice,
            "kind": self.kind,
            "slot": self.slot_value,
            "start": self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "doctor": self.doctor,
            "appointment_type": self.appointment_type,
            "language": language,
            "email": self.email,
            "consent": True,
            "submitted_at": moment,
            "consent_at": moment,
            "legal_basis": legal_basis,
            "key_id": self.key_id,
            "blob_sha256": hashlib.sha256(self.blob).hexdigest(),
            "blob_length": len(self.blob),
        }

    @property
    def blob_digest(self) -> str:
        return hashlib.sha256(self.blob).hexdigest()


def is_browser_sealed(data: Mapping[str, object]) -> bool:
    return "sealed" in data


def validate_sealed(
    data: Mapping[str, object],
    profile: Profile,
    *,
    practice: str,
    public_key: bytes,
    tickets: Tickets,
    now: datetime,
) -> SealedRequest:
    """Check a browser-sealed submission; ValidationFailed with one code per bad field."""
    errors: dict[str, ErrorCode] = {}
    for key in data:
        if key == INSURANCE:
            continue  # _clear_insurance decides, by the slot
        if key in SEALED_ONLY:
            errors[key] = "not_in_clear"
        elif key not in SEALED_KEYS:
            errors[key] = "unknown_field"
    if not profile.browser_sealing:
        errors["sealed"] = "browser_not_accepted"
    blob = check(errors, "sealed", _blob, data.get("sealed"))
    current_key = key_id(public_key)
    check(errors, "key_id", functools.partial(_key_id, current=current_key), data.get("key_id"))
    booking_id = check(
        errors,
        "ticket",
        functools.partial(tickets.booking_id, practice, now=now.timestamp()),
        data.get("ticket"),
    )
    email = check(errors, "email", email_address, data.get("email"))
    check(errors, "consent", consent_given, data.get("consent"))

    slot_value = data.get("slot")
    slot: Slot | None = None
    start: datetime | None
    end: datetime | None = None
    if slot_value not in (None, ""):
        for name in ("start", "end"):
            if data.get(name) not in (None, ""):
                errors.setdefault(name, "slot_mismatch")
        slot = check(errors, "slot", functools.partial(_slot, profile=profile, now=now), slot_value)
        start, end = (slot.start, slot.end) if slot else (None, None)
    elif not profile.accept_wishes:
        errors.setdefault("slot", "required")
        start = None
    else:
        start = check(errors, "start", parse_aware_datetime, data.get("start"))
        end = check(errors, "end", optional_datetime, data.get("end"))
        if start is not None:
            end = wish_end(errors, profile, now=now, start=start, end=end, appointment_type=None)

    resolved = slot is not None or slot_value in (None, "")
    insurance = _clear_insurance(errors, data.get(INSURANCE), slot) if resolved else None
    if errors or blob is None or booking_id is None or email is None or start is None:
        raise ValidationFailed(errors)
    zone = profile.zone
    return SealedRequest(
        booking_id=booking_id,
        key_id=current_key,
        blob=blob,
        email=email,
        start=start if slot else start.astimezone(zone),
        end=end if slot or end is None else end.astimezone(zone),
        slot=slot,
        slot_value=slot_value if slot is not None and isinstance(slot_value, str) else None,
        insurance=insurance,
    )


def _clear_insurance(errors: dict[str, ErrorCode], value: object, slot: Slot | None) -> str | None:
    """The insurance beside the blob: required for a slot kept for some types, which
    the relay checks it against; refused for any other time, which it would tell the
    relay without need."""
    if slot is None or not slot.insurance:
        if value not in (None, ""):
            errors[INSURANCE] = "not_in_clear"
        return None
    if value in (None, ""):
        errors[INSURANCE] = "required"
        return None
    if not isinstance(value, str):
        errors[INSURANCE] = "not_string"
        return None
    if value not in INSURANCES:
        errors[INSURANCE] = "invalid_choice"
        return None
    if not slot.fits(value):
        errors[INSURANCE] = "insurance_mismatch"
        return None
    return value


def _blob(value: object) -> bytes:
    if value is None or value == "":
        raise InvalidValueError("required")
    if not isinstance(value, str):
        raise InvalidValueError("not_string")
    if len(value) > _MAX_BLOB_TEXT:
        raise InvalidValueError("invalid_size")
    try:
        blob = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidValueError("invalid") from None
    if not is_sealed_size(len(blob)):
        raise InvalidValueError("invalid_size")
    return blob


def _key_id(value: object, *, current: str) -> str:
    if value is None or value == "":
        raise InvalidValueError("required")
    if value != current:
        raise InvalidValueError("unknown_key")
    return current


def _slot(value: object, *, profile: Profile, now: datetime) -> Slot:
    """The published slot `value` names as the slot picker does: "{start}|{doctor}"."""
    if not isinstance(value, str):
        raise InvalidValueError("not_string")
    start_text, _, doctor = value.partition("|")
    try:
        start = parse_aware_datetime(start_text)
    except InvalidValueError:
        raise InvalidValueError("not_a_slot") from None
    matching = [
        slot for slot in profile.slots_by_start.get(start, ()) if (slot.doctor or "") == doctor
    ]
    if len(matching) != 1:
        raise InvalidValueError("not_a_slot")
    if matching[0].start <= now:
        raise InvalidValueError("not_in_future")
    return matching[0]


def sealed_form_to_data(form: Mapping[str, str], *, time_zone: str) -> dict[str, object]:
    """A browser-sealed form post as the typed data `validate_sealed` takes: consent a
    boolean, a wish's datetime-local fields in the practice's time zone. Everything else
    stays as posted, so a sensitive field sent by mistake is refused, not dropped."""
    data: dict[str, object] = {k: v for k, v in form.items() if k not in _FORM_ONLY}
    typed = form_to_data(
        {k: v for k, v in form.items() if k in ("consent", "start", "end")}, time_zone=time_zone
    )
    data["consent"] = typed.get("consent", False)
    for name in ("start", "end"):
        if name in typed:
            data[name] = typed[name]
        else:
            data.pop(name, None)
    return data
