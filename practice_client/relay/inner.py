"""Protocol 2: the part of a booking the patient's browser sealed, opened and checked
against the relay's signed envelope (docs/protocol.md, "Sealed in the browser").

The envelope (checked by envelope.py) is what the relay saw: who to call back, for which
time. The blob beside it only the browser and this client can read. Here are steps 2 to 5
of "What the practice client checks": the blob is the one the relay signed, it opens with
one of our keys, its document follows the booking rules and names what the envelope names.
Any failure raises `SealedPartRejected`, whose record holds the envelope's data only, for
`{id}.rejected.json`: waiting cannot make such a blob readable, so the practice is told
at once whom to call back, and why.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping

from practice_client.limits import JsonRejectedError, load_json
from practice_client.relay.booking_rules import (
    BookingRules,
    RuleBroken,
    load_rules,
    strict_datetime,
)
from practice_client.relay.confirmed_at import parse_timestamp
from practice_client.relay.envelope import (
    MAX_SEALED_BASE64,
    EnvelopeError,
    unpad,
    unseal,
)
from practice_client.relay.keys import KeyRing

# What a booking's processing rests on (relay/practice/profile.py LEGAL_BASES); a
# document without it comes from a relay whose form asked for consent.
LEGAL_BASES = ("contract", "consent")
LEGACY_LEGAL_BASIS = "consent"
# Who sealed a written booking: `sealed_by` in {id}.json.
SEALED_BY_BROWSER = "browser"
SEALED_BY_RELAY = "relay"

# The inner document's keys besides the booking's fields, each equal to the envelope's.
_BOUND = ("id", "practice", "kind", "slot", "language")
# What step 5 compares, named for staff in the rejection's reason.
_NAMES = {
    "id": "booking id",
    "practice": "practice",
    "kind": "kind of booking",
    "slot": "slot",
    "language": "language",
    "email": "e-mail address",
    "start": "start",
    "end": "end",
    "doctor": "doctor",
    "appointment_type": "appointment type",
    "insurance": "insurance",
}
# What {id}.rejected.json takes from the envelope: all the relay saw and signed.
REJECTED_FIELDS = (
    "id",
    "practice",
    "kind",
    "slot",
    "start",
    "end",
    "doctor",
    "appointment_type",
    "language",
    "email",
    "submitted_at",
    "consent_at",
)


class SealedPartRejected(Exception):
    """The browser's part of a booking cannot be written: `reason` is one English
    sentence for staff, `record` what {id}.rejected.json holds (envelope data only)."""

    def __init__(self, reason: str, record: dict[str, object]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.record = record


class _Broken(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def open_sealed_part(
    envelope: Mapping[str, object],
    blob: str | None,
    keys: KeyRing,
    *,
    rules: BookingRules | None = None,
) -> dict[str, object]:
    """The booking inside `blob`, after steps 2 to 5; SealedPartRejected otherwise.

    `envelope` is a checked envelope (envelope.open_item). The booking has the inner
    document's fields (not its `slot`: the relay's handle, `{start}|{doctor}`, which the
    booking names anyway), the envelope's `submitted_at` and `consent_at`, and
    `"sealed_by": "browser"`.
    """
    rules = rules or load_rules()
    try:
        inner = _open(envelope, blob, keys)
        booking = _checked(inner, envelope, rules)
    except _Broken as broken:
        raise SealedPartRejected(broken.reason, rejection(envelope, broken.reason)) from None
    return booking


def rejection(envelope: Mapping[str, object], reason: str) -> dict[str, object]:
    """What {id}.rejected.json holds: the envelope's fields, who sealed, status, reason.
    The runner adds `confirmed_at`, checked as for every booking."""
    record = {name: envelope.get(name) for name in REJECTED_FIELDS}
    record.update(sealed_by=SEALED_BY_BROWSER, status="rejected", reason=reason)
    return record


def _open(envelope: Mapping[str, object], blob: str | None, keys: KeyRing) -> dict[str, object]:
    """Steps 2 and 3: the blob the relay signed, opened, unpadded and parsed."""
    if not isinstance(blob, str):
        raise _Broken("the relay sent the booking without its sealed part")
    if len(blob) > MAX_SEALED_BASE64:
        raise _Broken("the sealed part is larger than the relay signed")
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        raise _Broken("the sealed part is not valid base64") from None
    if len(raw) != envelope.get("blob_length") or hashlib.sha256(raw).hexdigest() != envelope.get(
        "blob_sha256"
    ):
        raise _Broken(
            "the sealed part is not the one the relay signed (its SHA-256 or length differs)"
        )
    try:
        padded = unseal(raw, keys)
    except EnvelopeError:
        raise _Broken("the sealed part does not open with any of this practice's keys") from None
    try:
        message = unpad(padded)
    except EnvelopeError:
        raise _Broken("the sealed part's length prefix is invalid") from None
    try:
        document = load_json(message)
    except JsonRejectedError as error:
        raise _Broken(f"the sealed part is not JSON within the client's limits ({error})") from None
    if not isinstance(document, dict):
        raise _Broken("the sealed part is not a JSON object")
    return document


def _checked(
    inner: dict[str, object], envelope: Mapping[str, object], rules: BookingRules
) -> dict[str, object]:
    """Steps 4 and 5: the rules, then what the inner document shares with the envelope."""
    if any(key not in rules.names and key not in _BOUND for key in inner):
        # The key is not named: the browser chose it, and it could hold anything.
        raise _Broken("the sealed part holds a field the booking rules do not know")
    submitted = parse_timestamp(envelope.get("submitted_at"))
    if submitted is None:  # pragma: no cover - envelope.py checked it
        raise _Broken("the envelope has no submission time")
    try:
        fields = rules.checked(inner, submitted=submitted)
    except RuleBroken as broken:
        raise _Broken(f"the sealed part breaks the booking rules: {broken}") from None
    for name in _BOUND:
        if name not in inner:
            raise _Broken(f"the sealed part names no {_NAMES[name]}")
    for name in (*_BOUND, "email"):
        if inner[name] != envelope.get(name):
            _differs(name)
    for name in ("start", "end"):
        if _instant(inner.get(name)) != _instant(envelope.get(name)):
            _differs(name)
    if envelope.get("kind") == "slot":
        # The relay knows the slot's doctor and type, if it names them; the patient may
        # have chosen a type for a slot without one.
        for name in ("doctor", "appointment_type"):
            if envelope.get(name) is not None and fields[name] != envelope.get(name):
                _differs(name)
    # For a slot kept for some insurance types the patient's browser sent the insurance
    # in the clear too, and the relay checked that one against the slot: a sealed part
    # naming another would book a slot the patient may not have.
    if envelope.get("insurance") is not None and fields["insurance"] != envelope["insurance"]:
        _differs("insurance")
    booking: dict[str, object] = {name: inner[name] for name in _BOUND if name != "slot"}
    booking.update(fields)
    booking.update(
        submitted_at=envelope.get("submitted_at"),
        consent_at=envelope.get("consent_at"),
        sealed_by=SEALED_BY_BROWSER,
        **legal_members(envelope, reminder=fields.get("reminder") is True),
    )
    if envelope.get("status") is not None:
        # Signed by the relay, checked by envelope.py: booked or proposed.
        booking["status"] = envelope["status"]
    return booking


def legal_members(document: Mapping[str, object], *, reminder: bool) -> dict[str, object]:
    """`legal_basis`, `reminder` and `reminder_consent_at` for {id}.json.

    The basis is the relay's signed word (the practice's profile when the booking was
    made); documents from relays before it were made on the consent the form asked for.
    The reminder consent was given with the booking, so its time is the signed
    `submitted_at`. Documents from before reminders asked for none.
    """
    basis = document.get("legal_basis")
    return {
        "legal_basis": basis if basis in LEGAL_BASES else LEGACY_LEGAL_BASIS,
        "reminder": reminder,
        "reminder_consent_at": document.get("submitted_at") if reminder else None,
    }


def _differs(name: str) -> None:
    raise _Broken(f"the sealed part names another {_NAMES[name]} than the relay's envelope")


def _instant(value: object) -> object:
    """The moment a checked time names (None for none), comparable across offsets."""
    return None if value is None else strict_datetime(value)
