"""Sign, pad and seal bookings for a practice; encrypt what the relay must read back.

The format of a sealed booking is fixed in docs/protocol.md. Plaintext bookings exist only
as arguments and return values here: nothing in this module stores or logs them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.exceptions import CryptoError
from nacl.public import PublicKey, SealedBox
from nacl.signing import SigningKey

from relay.errors import DecryptionFailed

# Two classes only, so the size of a sealed box tells at most "short note or long note".
# The validator's length limits keep every booking below the larger one.
PAD_CLASSES = (2048, 8192)
_LENGTH = struct.Struct(">I")

_NONCE_BYTES = 12
_KEY_ID_BYTES = 4


def canonical_json(document: Mapping[str, object]) -> bytes:
    """The booking document as signed: UTF-8, sorted keys, no insignificant white space."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def pad(message: bytes) -> bytes:
    """Length-prefix `message` and fill it with zeros up to its size class."""
    framed_length = _LENGTH.size + len(message)
    for size_class in PAD_CLASSES:
        if framed_length <= size_class:
            return _LENGTH.pack(len(message)) + message + bytes(size_class - framed_length)
    raise ValueError(f"message of {len(message)} bytes exceeds the largest pad class")


def seal_booking(
    document: Mapping[str, object], *, signing_key: SigningKey, practice_key: bytes
) -> bytes:
    """Sign, pad and seal a booking document to the practice's Curve25519 public key."""
    signed = signing_key.sign(canonical_json(document))
    return SealedBox(PublicKey(practice_key)).encrypt(pad(bytes(signed)))


def decode_public_key(text: str) -> bytes:
    """A 32-byte public key from standard base64; ValueError otherwise."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (ValueError, TypeError) as error:
        raise ValueError("not valid base64") from error
    if len(raw) != 32:
        raise ValueError("a public key has 32 bytes")
    try:
        PublicKey(raw)
    except CryptoError as error:  # pragma: no cover - any 32 bytes form a Curve25519 key
        raise ValueError("not a Curve25519 public key") from error
    return raw


class DataCipher:
    """AES-256-GCM for data the relay reads back (mail jobs, confirmation summaries).

    Ciphertexts start with a 4-byte key id (a hash of the key), so keys can rotate: the
    first key encrypts, every key decrypts. `context` is bound as associated data so a
    ciphertext copied to another key or purpose does not decrypt.
    """

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("at least one data key is needed")
        self._ciphers = {self.key_id(key): AESGCM(key) for key in keys}
        self._current = self.key_id(keys[0])

    @staticmethod
    def key_id(key: bytes) -> bytes:
        return hashlib.sha256(b"terminrelay data key id\0" + key).digest()[:_KEY_ID_BYTES]

    def encrypt(self, plaintext: bytes, *, context: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[self._current].encrypt(nonce, plaintext, context)
        return self._current + nonce + sealed

    def decrypt(self, ciphertext: bytes, *, context: bytes) -> bytes:
        key_id = ciphertext[:_KEY_ID_BYTES]
        nonce = ciphertext[_KEY_ID_BYTES : _KEY_ID_BYTES + _NONCE_BYTES]
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise DecryptionFailed
        try:
            return cipher.decrypt(nonce, ciphertext[_KEY_ID_BYTES + _NONCE_BYTES :], context)
        except InvalidTag as error:
            raise DecryptionFailed from error

    def encrypt_json(self, value: Mapping[str, object], *, context: bytes) -> bytes:
        return self.encrypt(canonical_json(value), context=context)

    def decrypt_json(self, ciphertext: bytes, *, context: bytes) -> dict[str, object]:
        value = json.loads(self.decrypt(ciphertext, context=context))
        if not isinstance(value, dict):
            raise DecryptionFailed
        return value
