"""Opening sealed bookings made by the relay's own sealing code
(practice_client/relay/envelope.py)."""

from __future__ import annotations

import base64
import struct
import uuid
from typing import Any

import pytest
from nacl.public import PublicKey, SealedBox
from nacl.signing import SigningKey

from practice_client.relay.envelope import EnvelopeError, open_item
from practice_client.relay.keys import KeyPair, KeyRing
from relay.crypto.sealing import canonical_json, pad, seal_booking

SLUG = "praxis-test"


def booking(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "practice": SLUG,
        "first_name": "Erika",
        "last_name": "Mustermann",
        "birth_date": "1980-02-29",
        "gender": "female",
        "insurance": "statutory",
        "note": "x" * 900,
        "new_patient": True,
        "start": "2026-12-01T09:00:00+01:00",
        "end": "2026-12-01T09:20:00+01:00",
        "email": "erika@example.org",
        "phone": "+49301234567",
        "consent": True,
        "submitted_at": "2026-11-22T09:00:00Z",
        "consent_at": "2026-11-22T09:00:00Z",
    }
    document.update(changes)
    return document


def sealed_b64(document: dict[str, Any], *, signing_key: SigningKey, pair: KeyPair) -> str:
    sealed = seal_booking(document, signing_key=signing_key, practice_key=pair.public_key)
    return base64.b64encode(sealed).decode()


@pytest.fixture
def relay_signing_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def pair() -> KeyPair:
    return KeyPair.generate()


def open_with(
    item_id: str, sealed: str, pair: KeyPair, relay_signing_key: SigningKey
) -> dict[str, object]:
    return open_item(
        item_id,
        sealed,
        keys=KeyRing([pair]),
        relay_key=bytes(relay_signing_key.verify_key),
        practice=SLUG,
    )


def test_a_sealed_booking_opens_to_its_document(
    relay_signing_key: SigningKey, pair: KeyPair
) -> None:
    """A booking sealed by relay.sealing opens to exactly the document that was sealed."""
    document = booking()
    sealed = sealed_b64(document, signing_key=relay_signing_key, pair=pair)

    assert open_with(document["id"], sealed, pair, relay_signing_key) == document


def test_an_item_sealed_to_an_older_key_in_the_ring_opens(relay_signing_key: SigningKey) -> None:
    """After a rotation, items sealed to the previous key still open."""
    old, new = KeyPair.generate(), KeyPair.generate()
    document = booking()
    sealed = sealed_b64(document, signing_key=relay_signing_key, pair=old)

    opened = open_item(
        document["id"],
        sealed,
        keys=KeyRing([new, old]),
        relay_key=bytes(relay_signing_key.verify_key),
        practice=SLUG,
    )

    assert opened == document


def test_an_item_sealed_to_a_key_we_do_not_hold_is_rejected(
    relay_signing_key: SigningKey, pair: KeyPair
) -> None:
    """A box sealed to someone else's key does not open."""
    document = booking()
    sealed = sealed_b64(document, signing_key=relay_signing_key, pair=KeyPair.generate())

    with pytest.raises(EnvelopeError, match="none of the 1 keys"):
        open_with(document["id"], sealed, pair, relay_signing_key)


def test_a_booking_signed_by_another_relay_key_is_rejected(pair: KeyPair) -> None:
    """A forged booking (signed by a key other than the pinned one) is refused."""
    document = booking()
    sealed = sealed_b64(document, signing_key=SigningKey.generate(), pair=pair)

    with pytest.raises(EnvelopeError, match="signature"):
        open_with(document["id"], sealed, pair, SigningKey.generate())


def test_an_unsigned_booking_is_rejected(relay_signing_key: SigningKey, pair: KeyPair) -> None:
    """Anyone can seal to the practice's public key; without the relay's signature: refused."""
    document = booking()
    forged = SealedBox(PublicKey(pair.public_key)).encrypt(pad(canonical_json(document)))

    with pytest.raises(EnvelopeError):
        open_with(document["id"], base64.b64encode(forged).decode(), pair, relay_signing_key)


def test_a_booking_for_another_practice_is_rejected(
    relay_signing_key: SigningKey, pair: KeyPair
) -> None:
    """A correctly signed booking naming another practice is refused."""
    document = booking(practice="praxis-andere")
    sealed = sealed_b64(document, signing_key=relay_signing_key, pair=pair)

    with pytest.raises(EnvelopeError, match="another practice"):
        open_with(document["id"], sealed, pair, relay_signing_key)


def test_a_booking_under_another_item_id_is_rejected(
    relay_signing_key: SigningKey, pair: KeyPair
) -> None:
    """The signed id must be the inbox item's id (no replay under a new id)."""
    document = booking()
    sealed = sealed_b64(document, signing_key=relay_signing_key, pair=pair)

    with pytest.raises(EnvelopeError, match="id"):
        open_with(str(uuid.uuid4()), sealed, pair, relay_signing_key)


@pytest.mark.parametrize("position", [0, 40, 100, -1])
def test_tampered_ciphertext_is_rejected(
    relay_signing_key: SigningKey, pair: KeyPair, position: int
) -> None:
    """Flipping any bit of the sealed box makes it unopenable."""
    document = booking()
    raw = bytearray(
        seal_booking(document, signing_key=relay_signing_key, practice_key=pair.public_key)
    )
    raw[position] ^= 0x01

    with pytest.raises(EnvelopeError):
        open_with(document["id"], base64.b64encode(raw).decode(), pair, relay_signing_key)


def test_a_lying_length_prefix_is_rejected(relay_signing_key: SigningKey, pair: KeyPair) -> None:
    """A length prefix beyond the padded message is refused, not read past."""
    padded = struct.pack(">I", 10_000) + bytes(2044)
    sealed = SealedBox(PublicKey(pair.public_key)).encrypt(padded)

    with pytest.raises(EnvelopeError, match="length prefix"):
        open_with("x", base64.b64encode(sealed).decode(), pair, relay_signing_key)


def test_a_signed_document_that_is_not_an_object_is_rejected(
    relay_signing_key: SigningKey, pair: KeyPair
) -> None:
    """Signed JSON that is not an object is refused."""
    signed = bytes(relay_signing_key.sign(b"[1, 2, 3]"))
    sealed = SealedBox(PublicKey(pair.public_key)).encrypt(pad(signed))

    with pytest.raises(EnvelopeError, match="not a JSON object"):
        open_with("x", base64.b64encode(sealed).decode(), pair, relay_signing_key)


def test_sealed_text_that_is_not_base64_is_rejected(
    relay_signing_key: SigningKey, pair: KeyPair
) -> None:
    """Garbage in the `sealed` field is one more rejection, not a crash."""
    with pytest.raises(EnvelopeError, match="base64"):
        open_with("x", "not base64!", pair, relay_signing_key)


def test_rejection_reasons_never_carry_booking_values(
    relay_signing_key: SigningKey, pair: KeyPair
) -> None:
    """The reason (which is logged) names no value of the booking."""
    document = booking(practice="Erika Mustermann")
    sealed = sealed_b64(document, signing_key=relay_signing_key, pair=pair)

    with pytest.raises(EnvelopeError) as rejected:
        open_with(document["id"], sealed, pair, relay_signing_key)

    assert "Erika" not in rejected.value.reason
    assert "Mustermann" not in str(rejected.value)
