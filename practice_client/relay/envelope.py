"""Open a sealed item exactly as docs/protocol.md describes: unseal, unpad, verify, check.

An item is a booking, or (`"type": "cancellation"`) a patient's cancellation of one.

Every failure raises the one opaque `EnvelopeError`; its reason is for the log and never
carries booking content.
"""

from __future__ import annotations

import base64
import binascii
import struct

from nacl.bindings import crypto_box_SEALBYTES
from nacl.exceptions import CryptoError
from nacl.public import SealedBox
from nacl.signing import VerifyKey

from practice_client.handover.sink import usable_booking_id
from practice_client.limits import JsonRejectedError, load_json
from practice_client.relay.confirmed_at import parse_timestamp
from practice_client.relay.keys import KeyRing

_LENGTH = struct.Struct(">I")

# The signed document's `type`; a booking has none (relays before cancellations) or
# "booking". Anything else is from a newer protocol and refused, never written as a booking.
BOOKING = "booking"
CANCELLATION = "cancellation"

# The relay pads every booking to at most this many bytes, in every format it has used:
# the fixed classes 2048 and 8192 of older relays, and a floor with Padmé lengths above it
# of current ones (relay/crypto/sealing.py, docs/protocol.md). The length prefix says where the
# booking ends in any of them, so one reader opens all. A sealed box adds an ephemeral
# public key and a MAC; anything larger did not come from a relay following the protocol,
# and is refused before it is decoded or decrypted.
MAX_PADDED_BYTES = 8192
MAX_SEALED_BYTES = MAX_PADDED_BYTES + int(crypto_box_SEALBYTES)
MAX_SEALED_BASE64 = 4 * -(-MAX_SEALED_BYTES // 3)


class EnvelopeError(Exception):
    """A sealed booking that must not be written or acknowledged."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def open_item(
    item_id: str, sealed: str, *, keys: KeyRing, relay_key: bytes, practice: str
) -> dict[str, object]:
    """The booking document inside an inbox item, after every check of the protocol."""
    padded = _unseal(_decode_base64(sealed), keys)
    document = _parse(_verify(_unpad(padded), relay_key))
    if document.get("practice") != practice:
        raise EnvelopeError(f"booking names another practice than {practice!r}")
    if document.get("id") != item_id:
        # A relay replaying one practice's booking under another item id would pass the
        # signature check; this check ties the signed content to the item acknowledged.
        raise EnvelopeError("booking id differs from the inbox item id")
    kind = document_type(document)
    if kind == CANCELLATION:
        _check_cancellation(document)
    return document


def document_type(document: dict[str, object]) -> str:
    """`booking` or `cancellation`; EnvelopeError for any other."""
    kind = document.get("type", BOOKING)
    if kind not in (BOOKING, CANCELLATION):
        shown = repr(kind)[:40] if isinstance(kind, str) else type(kind).__name__
        raise EnvelopeError(f"unknown document type {shown}")
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


def _decode_base64(sealed: str) -> bytes:
    if len(sealed) > MAX_SEALED_BASE64:
        raise EnvelopeError(
            f"sealed box is larger than the largest size class ({MAX_SEALED_BYTES} bytes)"
        )
    try:
        return base64.b64decode(sealed, validate=True)
    except (binascii.Error, ValueError) as error:
        raise EnvelopeError("sealed box is not valid base64") from error


def _unseal(sealed: bytes, keys: KeyRing) -> bytes:
    # Newest first: after a rotation nearly every item is sealed to the newest key.
    for pair in keys.pairs:
        try:
            return bytes(SealedBox(pair.private_key).decrypt(sealed))
        except CryptoError:
            continue
    raise EnvelopeError(f"sealed box opens with none of the {len(keys.pairs)} keys")


def _unpad(padded: bytes) -> bytes:
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
