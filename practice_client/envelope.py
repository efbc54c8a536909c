"""Open a sealed booking exactly as docs/protocol.md describes: unseal, unpad, verify, check.

Every failure raises the one opaque `EnvelopeError`; its reason is for the log and never
carries booking content.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct

from nacl.exceptions import CryptoError
from nacl.public import SealedBox
from nacl.signing import VerifyKey

from practice_client.keys import KeyRing

_LENGTH = struct.Struct(">I")


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
    return document


def _decode_base64(sealed: str) -> bytes:
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
        parsed = json.loads(document.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EnvelopeError("signed document is not UTF-8 JSON") from error
    if not isinstance(parsed, dict):
        raise EnvelopeError("signed document is not a JSON object")
    return parsed
