"""Open a sealed item exactly as docs/protocol.md describes: unseal, unpad, verify, check.

An item is a booking, a patient's cancellation of one (`"type": "cancellation"`), the
patient's reply to the practice's proposal of another time (`"type": "reply"`), or the
relay's envelope around a booking sealed in the patient's browser (`"type": "envelope"`,
protocol 2), whose inner part practice_client/relay/inner.py opens.

Every failure raises the one opaque `EnvelopeError`; its reason is for the log and never
carries booking content.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct

from nacl.bindings import crypto_box_SEALBYTES
from nacl.exceptions import CryptoError
from nacl.public import Box, PublicKey, SealedBox
from nacl.signing import VerifyKey

from practice_client.handover.sink import usable_booking_id
from practice_client.handover.status import ARRIVING
from practice_client.limits import JsonRejectedError, load_json
from practice_client.relay.booking_rules import RuleBroken, load_rules, strict_datetime
from practice_client.relay.confirmed_at import parse_timestamp
from practice_client.relay.keys import KeyRing

_LENGTH = struct.Struct(">I")
# An envelope (protocol 2) starts with the relay's ephemeral Curve25519 public key.
_EPHEMERAL_KEY_BYTES = 32

# The signed document's `type`; a booking has none (relays before cancellations) or
# "booking". Anything else is from a newer protocol and refused, never written as a booking.
BOOKING = "booking"
CANCELLATION = "cancellation"
REPLY = "reply"
RESCHEDULE = "reschedule"
ENVELOPE = "envelope"
NOTICES = (CANCELLATION, REPLY, RESCHEDULE)
# The protocol an envelope's `protocol` names; another one is from a newer relay.
ENVELOPE_PROTOCOL = 2

# The relay pads every booking to at most this many bytes, in every format it has used:
# the fixed classes 2048 and 8192 of older relays, and a floor with Padmé lengths above it
# of current ones (relay/crypto/sealing.py, docs/protocol.md). The length prefix says where the
# booking ends in any of them, so one reader opens all. A sealed box adds an ephemeral
# public key and a MAC; anything larger did not come from a relay following the protocol,
# and is refused before it is decoded or decrypted.
MAX_PADDED_BYTES = 8192
MAX_SEALED_BYTES = MAX_PADDED_BYTES + int(crypto_box_SEALBYTES)
MAX_SEALED_BASE64 = 4 * -(-MAX_SEALED_BYTES // 3)

# What an envelope names, checked before anything of it is written (inner.py writes it to
# {id}.rejected.json when the browser's part fails): a slot is "{start}|{doctor}", a
# language a short tag ("de", "en"), the key id 16 and the digest 64 hexadecimal digits.
_MAX_SLOT_LENGTH = 200
_MAX_ENTRY_LENGTH = 100
_LANGUAGE = re.compile(r"[a-z]{2,8}(?:-[A-Za-z0-9]{1,8}){0,3}", re.ASCII)
_KEY_ID = re.compile(r"[0-9a-f]{16}", re.ASCII)
_SHA256 = re.compile(r"[0-9a-f]{64}", re.ASCII)


class EnvelopeError(Exception):
    """A sealed booking that must not be written or acknowledged."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def open_item(
    item_id: str,
    sealed: str,
    *,
    keys: KeyRing,
    relay_key: bytes,
    practice: str,
    boxed: bool = False,
) -> dict[str, object]:
    """The booking document inside an inbox item, after every check of the protocol.

    `boxed`: the item carries a browser's blob, so `sealed` is a protocol 2 envelope, a
    NaCl box from the relay's ephemeral key (docs/protocol.md, "The envelope").
    """
    raw = _decode_base64(sealed)
    padded = open_box(raw, keys) if boxed else unseal(raw, keys)
    document = _parse(_verify(unpad(padded), relay_key))
    if boxed != (document.get("type") == ENVELOPE):
        # An envelope without its blob, or a blob beside a booking: neither is protocol.
        raise EnvelopeError("item's blob and its signed document do not belong together")
    if document.get("practice") != practice:
        raise EnvelopeError(f"booking names another practice than {practice!r}")
    if document.get("id") != item_id:
        # A relay replaying one practice's booking under another item id would pass the
        # signature check; this check ties the signed content to the item acknowledged.
        raise EnvelopeError("booking id differs from the inbox item id")
    kind = document_type(document)
    if kind == CANCELLATION:
        _check_cancellation(document)
    elif kind == REPLY:
        _check_reply(document)
    elif kind == RESCHEDULE:
        _check_reschedule(document)
    elif kind == ENVELOPE:
        _check_envelope(document)
    if kind in (BOOKING, ENVELOPE):
        _check_status(document)
    return document


def document_type(document: dict[str, object]) -> str:
    """`booking`, `cancellation`, `reply`, `reschedule` or `envelope` (of protocol 2);
    EnvelopeError for any other."""
    kind = document.get("type", BOOKING)
    if kind not in (BOOKING, *NOTICES, ENVELOPE):
        shown = repr(kind)[:40] if isinstance(kind, str) else type(kind).__name__
        raise EnvelopeError(f"unknown document type {shown}")
    if kind == ENVELOPE:
        protocol = document.get("protocol")
        if type(protocol) is not int or protocol != ENVELOPE_PROTOCOL:
            shown = repr(protocol)[:20]
            raise EnvelopeError(f"envelope of unknown protocol {shown}")
    return str(kind)


def _check_cancellation(document: dict[str, object]) -> None:
    """What the client relies on in a cancellation: whose, and when (re-rendered)."""
    booking_id = document.get("booking_id")
    if not isinstance(booking_id, str) or not usable_booking_id(booking_id):
        raise EnvelopeError("cancellation without a usable booking id")
    cancelled_at = parse_timestamp(document.get("cancelled_at"))
    if cancelled_at is None:
        raise EnvelopeError("cancellation without a valid cancelled_at")
    document["cancelled_at"] = cancelled_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_status(document: dict[str, object]) -> None:
    """A booking's signed `status`: `booked`, `proposed`, or none (relays before it)."""
    status = document.get("status")
    if status is not None and status not in ARRIVING:
        shown = repr(status)[:40] if isinstance(status, str) else type(status).__name__
        raise EnvelopeError(f"booking with an unknown status {shown}")


def _check_reply(document: dict[str, object]) -> None:
    """A patient's reply to a proposal: whose, which, the time it books, when (all times
    re-rendered in UTC)."""
    booking_id = document.get("booking_id")
    if not isinstance(booking_id, str) or not usable_booking_id(booking_id):
        raise EnvelopeError("reply without a usable booking id")
    if document.get("reply") not in ("accept", "decline"):
        raise EnvelopeError("reply that neither accepts nor declines")
    moments = {}
    for name in ("start", "end", "replied_at"):
        moment = parse_timestamp(document.get(name))
        if moment is None:
            raise EnvelopeError(f"reply without a valid {name}")
        moments[name] = moment
    if moments["end"] <= moments["start"]:
        raise EnvelopeError("reply whose end is not after its start")
    for name, moment in moments.items():
        document[name] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_reschedule(document: dict[str, object]) -> None:
    """A patient's move of a booking to another slot: whose, the new slot and its times
    (with their offset, re-rendered), its status, when (re-rendered in UTC); the doctor
    and type it names, compared with the booking's when it is applied (changes.py)."""
    booking_id = document.get("booking_id")
    if not isinstance(booking_id, str) or not usable_booking_id(booking_id):
        raise EnvelopeError("reschedule without a usable booking id")
    _entry(document, "slot", required=True, max_length=_MAX_SLOT_LENGTH, what="reschedule")
    for name in ("doctor", "appointment_type"):
        _entry(document, name, required=False, max_length=_MAX_ENTRY_LENGTH, what="reschedule")
    start, end = strict_datetime(document.get("start")), strict_datetime(document.get("end"))
    if start is None or end is None:
        raise EnvelopeError("reschedule without a valid start and end")
    if end <= start:
        raise EnvelopeError("reschedule whose end is not after its start")
    if document.get("status") not in ARRIVING:
        raise EnvelopeError("reschedule without a status a booking may arrive with")
    rescheduled_at = parse_timestamp(document.get("rescheduled_at"))
    if rescheduled_at is None:
        raise EnvelopeError("reschedule without a valid rescheduled_at")
    # Re-rendered, never copied: the relay's text reaches files and calendars.
    document["start"], document["end"] = start.isoformat(), end.isoformat()
    document["rescheduled_at"] = rescheduled_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_envelope(envelope: dict[str, object]) -> None:
    """The envelope's shape (docs/protocol.md, "The envelope"), so that what it names can
    be compared with the inner part and written to {id}.rejected.json as it is.

    Keys a newer relay adds are ignored: nothing of the envelope is written but the
    fields named here.
    """
    kind = envelope.get("kind")
    if kind not in ("slot", "wish"):
        raise EnvelopeError("envelope with an unknown kind of booking")
    slot = envelope.get("slot")
    if kind == "wish" and slot is not None:
        raise EnvelopeError("envelope of a wish that names a slot")
    if kind == "slot":
        _entry(envelope, "slot", required=True, max_length=_MAX_SLOT_LENGTH)
    if strict_datetime(envelope.get("start")) is None:
        raise EnvelopeError("envelope without a valid start")
    if envelope.get("end") is not None and strict_datetime(envelope.get("end")) is None:
        raise EnvelopeError("envelope with an invalid end")
    for name in ("doctor", "appointment_type"):
        _entry(envelope, name, required=False, max_length=_MAX_ENTRY_LENGTH)
    insurance = envelope.get("insurance")
    # Sent in the clear for a slot kept for some insurance types (null otherwise; absent
    # from relays before them): one of the booking field's choices.
    if insurance is not None and insurance not in load_rules().field("insurance").choices:
        raise EnvelopeError("envelope with an unknown insurance")
    language = envelope.get("language")
    if not isinstance(language, str) or _LANGUAGE.fullmatch(language) is None:
        raise EnvelopeError("envelope without a valid language")
    try:
        load_rules().email_problem("email", envelope.get("email"))
    except RuleBroken as broken:
        raise EnvelopeError(f"envelope: {broken}") from None
    if envelope.get("consent") is not True:
        raise EnvelopeError("envelope without consent")
    for name in ("submitted_at", "consent_at"):
        if parse_timestamp(envelope.get(name)) is None:
            raise EnvelopeError(f"envelope without a valid {name}")
    for name, pattern in (("key_id", _KEY_ID), ("blob_sha256", _SHA256)):
        value = envelope.get(name)
        if not isinstance(value, str) or pattern.fullmatch(value) is None:
            raise EnvelopeError(f"envelope without a valid {name}")
    length = envelope.get("blob_length")
    if type(length) is not int or not 0 < length <= MAX_SEALED_BYTES:
        raise EnvelopeError("envelope without a valid blob_length")


def _entry(
    envelope: dict[str, object],
    name: str,
    *,
    required: bool,
    max_length: int,
    what: str = "envelope",
) -> None:
    """A one-line text of the envelope (or of a reschedule): the slot, the doctor, the
    appointment type."""
    value = envelope.get(name)
    if value is None and not required:
        return
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise EnvelopeError(f"{what} without a valid {name}")
    try:
        load_rules().text_problem(name, value)
    except RuleBroken as broken:
        raise EnvelopeError(f"{what}: {broken}") from None


def _decode_base64(sealed: str) -> bytes:
    if len(sealed) > MAX_SEALED_BASE64:
        raise EnvelopeError(
            f"sealed box is larger than the largest size class ({MAX_SEALED_BYTES} bytes)"
        )
    try:
        return base64.b64decode(sealed, validate=True)
    except (binascii.Error, ValueError) as error:
        raise EnvelopeError("sealed box is not valid base64") from error


def unseal(sealed: bytes, keys: KeyRing) -> bytes:
    """The message in a sealed box, opened with the first key of the ring that fits."""
    # Newest first: after a rotation nearly every item is sealed to the newest key.
    for pair in keys.pairs:
        try:
            return bytes(SealedBox(pair.private_key).decrypt(sealed))
        except CryptoError:
            continue
    raise EnvelopeError(f"sealed box opens with none of the {len(keys.pairs)} keys")


def open_box(sealed: bytes, keys: KeyRing) -> bytes:
    """The message in an envelope: the relay's ephemeral public key, then a NaCl box
    (nonce first) to one of the ring's keys."""
    if len(sealed) < _EPHEMERAL_KEY_BYTES:
        raise EnvelopeError("envelope is shorter than its ephemeral key")
    ephemeral = PublicKey(sealed[:_EPHEMERAL_KEY_BYTES])
    for pair in keys.pairs:
        try:
            return bytes(Box(pair.private_key, ephemeral).decrypt(sealed[_EPHEMERAL_KEY_BYTES:]))
        except CryptoError:
            continue
    raise EnvelopeError(f"envelope opens with none of the {len(keys.pairs)} keys")


def unpad(padded: bytes) -> bytes:
    """The message inside a padded one: as long as its length prefix says."""
    if len(padded) > MAX_PADDED_BYTES:
        raise EnvelopeError(f"padded message is larger than {MAX_PADDED_BYTES} bytes")
    if len(padded) < _LENGTH.size:
        raise EnvelopeError("padded message is shorter than its length prefix")
    (length,) = _LENGTH.unpack_from(padded)
    if length > len(padded) - _LENGTH.size:
        raise EnvelopeError("length prefix exceeds the padded message")
    return padded[_LENGTH.size : _LENGTH.size + length]


def _verify(signed: bytes, relay_key: bytes) -> bytes:
    try:
        return bytes(VerifyKey(relay_key).verify(signed))
    except (CryptoError, ValueError, TypeError) as error:
        raise EnvelopeError("relay signature does not verify with the pinned relay key") from error


def _parse(document: bytes) -> dict[str, object]:
    try:
        parsed = load_json(document)
    except JsonRejectedError as error:
        raise EnvelopeError(f"signed document refused: {error}") from error
    if not isinstance(parsed, dict):
        raise EnvelopeError("signed document is not a JSON object")
    return parsed
