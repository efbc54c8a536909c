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
from collections.abc import Callable, Mapping, Sequence

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.exceptions import CryptoError
from nacl.public import Box, PrivateKey, PublicKey, SealedBox
from nacl.signing import SigningKey

from relay.errors import DecryptionFailed

# Padded sizes (the privacy argument is in docs/protocol.md, "Padding"): every booking
# fills at least PAD_FLOOR bytes, so all bookings without a note or with a short one
# (about 630 to 760 bytes) have the same size; above it a booking is padded to the next
# Padmé length, which costs at most 12 % and reveals only the top bits of the length. The
# floor also keeps a typical pending booking, with its summary, in one 1,280-byte
# allocation of Redis (bench/memory_bench.py). The validator's length limits keep every
# booking within PAD_MAX, the cap practice clients enforce (practice_client/relay/envelope.py).
PAD_FLOOR = 768
PAD_MAX = 8192
_LENGTH = struct.Struct(">I")

# What an anonymous sealed box adds to its message: the ephemeral public key and the MAC.
SEALED_BOX_OVERHEAD = 48

_NONCE_BYTES = 12
_KEY_ID_BYTES = 4


def canonical_json(document: Mapping[str, object]) -> bytes:
    """The booking document as signed: UTF-8, sorted keys, no insignificant white space.

    orjson writes the same bytes as `json.dumps(ensure_ascii=False, sort_keys=True,
    separators=(",", ":"))` for these documents (strings, integers, booleans, null) at a
    tenth of the cost, and as seal.js's canonicalJson (tests/browser/test_seal_script.py).
    """
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def padme(length: int) -> int:
    """The Padmé length for `length` bytes (Nikitin et al., PETS 2019): round up so that
    only the top log2(log2(length)) + 1 bits of the length stay significant."""
    if length < 2:
        return length
    exponent = length.bit_length() - 1
    dropped_bits = exponent - exponent.bit_length()
    mask = (1 << dropped_bits) - 1
    return (length + mask) & ~mask


def padded_size(framed_length: int) -> int:
    """How many bytes a message of `framed_length` bytes (length prefix included) fills."""
    size = max(PAD_FLOOR, padme(framed_length))
    if size > PAD_MAX:
        raise ValueError(f"message of {framed_length} bytes exceeds the largest padded size")
    return size


def pad(message: bytes) -> bytes:
    """Length-prefix `message` and fill it with zeros up to its padded size."""
    framed_length = _LENGTH.size + len(message)
    return _LENGTH.pack(len(message)) + message + bytes(padded_size(framed_length) - framed_length)


# How long the relay keeps one ephemeral key pair per practice key for envelopes.
ENVELOPE_KEY_SECONDS = 60.0
_ENVELOPE_KEYS_KEPT = 10_000


class EnvelopeSealer:
    """Signs, pads and encrypts protocol 2 envelopes to a practice key: a NaCl box from an
    ephemeral key pair of the relay's, made anew every ENVELOPE_KEY_SECONDS per practice
    key, with a random nonce (docs/protocol.md, "The envelope").

    A sealed box makes a key pair and computes a shared key for every message: two
    Curve25519 multiplications, the largest cost of a browser-sealed submission. Keeping
    the pair (and its precomputed shared key) a minute takes that away. What it keeps in
    memory opens only envelopes this process made in that minute, which it held in the
    clear anyway; the signature inside, not the box, says who made an envelope.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._boxes: dict[bytes, tuple[float, bytes, Box]] = {}

    def seal(
        self, document: Mapping[str, object], *, signing_key: SigningKey, practice_key: bytes
    ) -> bytes:
        now = self._clock()
        kept = self._boxes.get(practice_key)
        if kept is None or now - kept[0] >= ENVELOPE_KEY_SECONDS:
            if len(self._boxes) >= _ENVELOPE_KEYS_KEPT:
                self._boxes.clear()
            ephemeral = PrivateKey.generate()
            kept = (now, bytes(ephemeral.public_key), Box(ephemeral, PublicKey(practice_key)))
            self._boxes[practice_key] = kept
        _, public, box = kept
        signed = signing_key.sign(canonical_json(document))
        return public + bytes(box.encrypt(pad(bytes(signed))))


def is_sealed_size(length: int) -> bool:
    """Whether a sealed box of `length` bytes holds a message of an allowed padded size:
    what the relay can check of a blob sealed in the browser, which it cannot open."""
    padded = length - SEALED_BOX_OVERHEAD
    # Padmé lengths are fixed points of padme: rounding a rounded length changes nothing.
    return PAD_FLOOR <= padded <= PAD_MAX and (padded == PAD_FLOOR or padme(padded) == padded)


def key_id(public_key: bytes) -> str:
    """The id a page and a browser-sealed submission name a practice key by."""
    return hashlib.sha256(public_key).hexdigest()[:16]


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
