"""Padding, sealing and the at-rest cipher with key rotation; the practice client opens
every padding format a relay has used."""

from __future__ import annotations

import base64
import secrets
import struct
import uuid

import pytest
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.signing import SigningKey

from practice_client.relay.envelope import MAX_SEALED_BYTES, EnvelopeError, open_item
from practice_client.relay.keys import KeyPair, KeyRing
from relay.crypto.sealing import (
    PAD_FLOOR,
    PAD_MAX,
    DataCipher,
    canonical_json,
    pad,
    padded_size,
    padme,
    seal_booking,
)
from relay.errors import DecryptionFailed
from tests.legacy import OLD_PAD_CLASSES, old_pad


def booking_document(practice: str, note: str = "") -> dict[str, object]:
    """A signed booking document as the relay builds it, with a note of the given text."""
    return {
        "id": str(uuid.uuid4()),
        "practice": practice,
        "kind": "slot",
        "language": "de",
        "first_name": "Maximilian",
        "last_name": "Müller-Lüdenscheidt",
        "birth_date": "1984-03-05",
        "gender": "male",
        "insurance": "statutory",
        "note": note,
        "new_patient": True,
        "doctor": "Dr. A. Beispiel",
        "appointment_type": "Erstgespräch",
        "start": "2026-11-23T09:00:00+01:00",
        "end": "2026-11-23T09:20:00+01:00",
        "email": "maximilian.mueller@example.org",
        "phone": "+49 30 1234567",
        "consent": True,
        "submitted_at": "2026-11-22T09:14:03Z",
        "consent_at": "2026-11-22T09:14:03Z",
    }


def open_as_client(
    sealed: bytes, document: dict[str, object], pair: KeyPair, relay_key: SigningKey
) -> dict[str, object]:
    return open_item(
        str(document["id"]),
        base64.b64encode(sealed).decode(),
        keys=KeyRing([pair]),
        relay_key=bytes(relay_key.verify_key),
        practice=str(document["practice"]),
    )


@pytest.mark.parametrize(
    ("length", "size"),
    [(0, 768), (764, 768), (765, 800), (1020, 1024), (1021, 1088), (8188, 8192)],
)
def test_padding_fills_the_floor_then_padme_lengths(length: int, size: int) -> None:
    """A message fills at least the floor; above it the next Padmé length, prefix included."""
    padded = pad(b"x" * length)
    assert len(padded) == size
    assert int.from_bytes(padded[:4], "big") == length
    assert padded[4 : 4 + length] == b"x" * length
    assert padded[4 + length :] == bytes(size - 4 - length)


def test_padding_refuses_messages_beyond_the_largest_size() -> None:
    """A message too large for the largest padded size is an error, never truncated."""
    with pytest.raises(ValueError, match="exceeds"):
        pad(b"x" * (PAD_MAX - 3))


def test_padme_costs_at_most_12_percent_and_leaks_few_sizes() -> None:
    """Padmé never shrinks, adds at most 1/16 above the floor (12 % in general), and yields
    few distinct sizes."""
    sizes = {padded_size(length) for length in range(1, PAD_MAX + 1)}
    assert all(padme(length) >= length for length in range(1, PAD_MAX + 1))
    assert all(padded_size(length) <= length * 1.0625 for length in range(PAD_FLOOR, PAD_MAX + 1))
    # 57 sizes: under 6 bits about the length, and none for anything within the floor.
    assert len(sizes) == 57
    assert min(sizes) == PAD_FLOOR
    assert max(sizes) == PAD_MAX


def test_typical_bookings_all_fill_the_floor() -> None:
    """No note or a note of 100 characters: the same size, so the size tells nothing."""
    signing_key = SigningKey.generate()
    for note in ("", "Rückenschmerzen seit Tagen, bitte vormittags.", "n" * 100):
        signed = signing_key.sign(canonical_json(booking_document("praxis-beispiel", note)))
        assert len(pad(bytes(signed))) == PAD_FLOOR


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


@pytest.mark.parametrize("note", ["", "Kontrolle nach Behandlung.", "Lange Notiz. " * 76])
def test_practice_client_opens_current_boxes(note: str) -> None:
    """Boxes of the floor size and of a Padmé size above it open in the practice client."""
    relay_key, pair = SigningKey.generate(), KeyPair.generate()
    document = booking_document("praxis-beispiel", note)
    sealed = seal_booking(document, signing_key=relay_key, practice_key=pair.public_key)
    assert len(sealed) - 48 == padded_size(4 + 64 + len(canonical_json(document)))
    assert open_as_client(sealed, document, pair, relay_key) == document


@pytest.mark.parametrize(("note", "size"), [("", 2048), ("Ä" * 1000 + "n" * 1000, 8192)])
def test_practice_client_opens_boxes_of_the_old_fixed_classes(note: str, size: int) -> None:
    """A box padded by an older relay to 2048 or 8192 bytes still opens and verifies."""
    relay_key, pair = SigningKey.generate(), KeyPair.generate()
    document = booking_document("praxis-beispiel", note)
    padded = old_pad(bytes(relay_key.sign(canonical_json(document))))
    assert len(padded) == size
    sealed = SealedBox(PublicKey(pair.public_key)).encrypt(padded)
    assert open_as_client(sealed, document, pair, relay_key) == document


def test_client_size_cap_is_the_largest_padded_size() -> None:
    """The client accepts a box of the largest padded size and refuses anything larger."""
    relay_key, pair = SigningKey.generate(), KeyPair.generate()
    assert MAX_SEALED_BYTES == PAD_MAX + 48 == OLD_PAD_CLASSES[-1] + 48
    document = booking_document("praxis-beispiel")
    signed = bytes(relay_key.sign(canonical_json(document)))
    largest = struct.pack(">I", len(signed)) + signed + bytes(PAD_MAX - 4 - len(signed))
    sealed = SealedBox(PublicKey(pair.public_key)).encrypt(largest)
    assert len(sealed) == MAX_SEALED_BYTES
    assert open_as_client(sealed, document, pair, relay_key) == document
    oversized = SealedBox(PublicKey(pair.public_key)).encrypt(largest + bytes(3))
    with pytest.raises(EnvelopeError, match="largest size class"):
        open_as_client(oversized, document, pair, relay_key)


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
