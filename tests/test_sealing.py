"""Padding, sealing and the at-rest cipher with key rotation."""

from __future__ import annotations

import secrets

import pytest
from nacl.public import PrivateKey, SealedBox
from nacl.signing import SigningKey

from relay.errors import DecryptionFailed
from relay.sealing import PAD_CLASSES, DataCipher, canonical_json, pad, seal_booking


@pytest.mark.parametrize(("length", "size"), [(0, 2048), (2044, 2048), (2045, 8192)])
def test_padding_uses_the_smallest_class(length: int, size: int) -> None:
    """A message is padded to the smallest size class that holds it and its length."""
    padded = pad(b"x" * length)
    assert len(padded) == size
    assert int.from_bytes(padded[:4], "big") == length


def test_padding_refuses_messages_beyond_the_largest_class() -> None:
    """A message too large for every class is an error, never silently truncated."""
    with pytest.raises(ValueError, match="exceeds"):
        pad(b"x" * PAD_CLASSES[-1])


def test_sealed_booking_opens_and_verifies() -> None:
    """The practice key opens the box; the relay key verifies the signed document inside."""
    signing_key, practice_key = SigningKey.generate(), PrivateKey.generate()
    document = {"id": "b1", "practice": "p", "note": "ÄÖÜ"}
    sealed = seal_booking(
        document, signing_key=signing_key, practice_key=bytes(practice_key.public_key)
    )
    padded = SealedBox(practice_key).decrypt(sealed)
    signed = padded[4 : 4 + int.from_bytes(padded[:4], "big")]
    assert signing_key.verify_key.verify(signed) == canonical_json(document)


def test_data_cipher_rotation_old_key_decrypts_new_key_encrypts() -> None:
    """After rotation the new first key encrypts and the old one still decrypts old data."""
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    before = DataCipher([old]).encrypt(b"mail job", context=b"mail:p:1")
    rotated = DataCipher([new, old])
    assert rotated.decrypt(before, context=b"mail:p:1") == b"mail job"
    after = rotated.encrypt(b"next job", context=b"mail:p:2")
    assert after[:4] == DataCipher.key_id(new)
    with pytest.raises(DecryptionFailed):
        DataCipher([old]).decrypt(after, context=b"mail:p:2")


def test_data_cipher_binds_context_and_detects_tampering() -> None:
    """A ciphertext moved to another context, or altered, fails with one opaque error."""
    cipher = DataCipher([secrets.token_bytes(32)])
    sealed = cipher.encrypt(b"summary", context=b"summary:p:1")
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(sealed, context=b"summary:p:2")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(tampered, context=b"summary:p:1")
