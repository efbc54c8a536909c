"""Opening a browser-sealed booking (protocol 2): the envelope (practice_client/relay/
envelope.py), the inner part and its checks (inner.py), the rules (booking_rules.py)."""

from __future__ import annotations

import base64
import json
import unicodedata
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.public import PublicKey, SealedBox
from nacl.signing import SigningKey

from practice_client.relay.booking_rules import (
    KINDS,
    RuleBroken,
    RulesFileError,
    load_rules,
    parse_rules,
)
from practice_client.relay.envelope import EnvelopeError, open_item
from practice_client.relay.inner import REJECTED_FIELDS, SealedPartRejected, open_sealed_part
from practice_client.relay.keys import KeyPair, KeyRing
from relay.crypto.sealing import pad
from relay.rules.values import InvalidValueError, clean_text
from tests.browser_sealed import (
    FIRST_NAME,
    LAST_NAME,
    SLUG,
    SUBMITTED_AT,
    SealedItem,
    inner_document,
    sealed_item,
    wish_document,
)

SUBMITTED = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


RULES_FILE = Path(__file__).resolve().parent.parent / "practice_client/relay/booking_rules.json"


@pytest.fixture
def signing_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def pair() -> KeyPair:
    return KeyPair.generate()


def opened(sealed: SealedItem, signing_key: SigningKey, ring: KeyRing) -> dict[str, object]:
    """What the runner does with an item: open the envelope, then the browser's part."""
    envelope = open_item(
        sealed.id,
        sealed.item["sealed"],
        keys=ring,
        relay_key=bytes(signing_key.verify_key),
        practice=SLUG,
        boxed=True,
    )
    return open_sealed_part(envelope, sealed.item["blob"], ring)


def rejected(sealed: SealedItem, signing_key: SigningKey, pair: KeyPair) -> SealedPartRejected:
    with pytest.raises(SealedPartRejected) as failure:
        opened(sealed, signing_key, KeyRing([pair]))
    return failure.value


# What opens ------------------------------------------------------------------------------


def test_a_browser_sealed_slot_booking_opens_to_its_inner_fields(
    signing_key: SigningKey, pair: KeyPair
) -> None:
    """The booking is the inner document's fields (without `slot`), the envelope's times,
    and sealed_by browser."""
    sealed = sealed_item(signing_key, pair.public_key)

    booking = opened(sealed, signing_key, KeyRing([pair]))

    expected = {k: v for k, v in sealed.inner.items() if k != "slot"}
    expected.update(submitted_at=SUBMITTED_AT, consent_at=SUBMITTED_AT, sealed_by="browser")
    # An envelope without a legal basis (an older relay's form asked for consent), a blob
    # without the reminder box.
    expected.update(legal_basis="consent", reminder=False, reminder_consent_at=None)
    assert booking == expected


def test_a_wish_without_end_opens(signing_key: SigningKey, pair: KeyPair) -> None:
    """A wish: no slot, no doctor or type in the envelope, end null in both."""
    sealed = sealed_item(signing_key, pair.public_key, wish_document(doctor="Dr. B"))

    booking = opened(sealed, signing_key, KeyRing([pair]))

    assert booking["kind"] == "wish"
    assert booking["end"] is None
    assert booking["doctor"] == "Dr. B"  # the patient's choice, which the relay never saw


def test_the_same_instant_in_another_offset_matches(signing_key: SigningKey, pair: KeyPair) -> None:
    """start and end are compared as instants: 09:00+01:00 is 08:00Z; the inner text is kept."""
    sealed = sealed_item(
        signing_key, pair.public_key, start="2026-12-08T08:00:00Z", end="2026-12-08T08:20:00Z"
    )

    assert opened(sealed, signing_key, KeyRing([pair]))["start"] == "2026-12-08T09:00:00+01:00"


def test_a_slot_without_a_type_may_carry_the_type_the_patient_chose(
    signing_key: SigningKey, pair: KeyPair
) -> None:
    """The envelope names no type (the slot has none): the inner one is not compared."""
    sealed = sealed_item(signing_key, pair.public_key, appointment_type=None)

    assert opened(sealed, signing_key, KeyRing([pair]))["appointment_type"] == "Vorsorge"


def test_a_blob_sealed_to_an_older_key_of_the_ring_opens(signing_key: SigningKey) -> None:
    """After a rotation, a blob the browser sealed to the previous key still opens."""
    old, new = KeyPair.generate(), KeyPair.generate()
    sealed = sealed_item(signing_key, new.public_key, blob_key=old.public_key)

    assert opened(sealed, signing_key, KeyRing([new, old]))["last_name"] == LAST_NAME


def test_optional_fields_may_be_absent_and_are_written_as_null(
    signing_key: SigningKey, pair: KeyPair
) -> None:
    """A note, phone left out: the booking has the same shape as a relay-sealed one."""
    inner = inner_document()
    del inner["note"], inner["phone"]

    booking = opened(sealed_item(signing_key, pair.public_key, inner), signing_key, KeyRing([pair]))

    assert booking["note"] is None
    assert booking["phone"] is None


# What is rejected ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inner", "envelope", "reason"),
    [
        ({"id": "11111111-1111-4111-8111-111111111111"}, {}, "another booking id"),
        ({"practice": "praxis-andere"}, {}, "another practice"),
        ({"kind": "wish"}, {}, "another kind of booking"),
        ({"slot": "2026-12-08T09:20:00+01:00|Dr. A. Beispiel"}, {}, "another slot"),
        ({"email": "someone@example.org"}, {}, "another e-mail address"),
        ({"start": "2026-12-08T10:00:00+01:00"}, {}, "another start"),
        ({"end": None}, {}, "another end"),
        ({"language": "en"}, {}, "another language"),
        ({"doctor": "Dr. B"}, {}, "another doctor"),
        ({"appointment_type": "Kontrolle"}, {}, "another appointment type"),
        ({}, {"blob_sha256": "0" * 64}, "not the one the relay signed"),
        ({}, {"blob_length": 817}, "not the one the relay signed"),
        ({"first_name": "x" * 101}, {}, "first_name is longer than 100 characters"),
        ({"last_name": "Sauer\u202eampfer"}, {}, "last_name holds a character it may not hold"),
        ({"note": "line\r\nbreak"}, {}, "note holds a character it may not hold (U+000D)"),
        ({"birth_date": "1980-02-30"}, {}, "birth_date is not a real date"),
        ({"birth_date": "2026-11-24"}, {}, "birth_date is not in the past"),
        ({"birth_date": "1890-01-01"}, {}, "birth_date is more than 130 years ago"),
        ({"birth_date": "02.04.1980"}, {}, "birth_date is not a date"),
        ({"gender": "other"}, {}, "gender is not one of"),
        ({"new_patient": "yes"}, {}, "new_patient is not true or false"),
        ({"consent": False}, {}, "consent is not given"),
        ({"phone": "12345"}, {}, "phone is not a phone number"),
        ({"phone": "+49 30 1234567x"}, {}, "phone is not a phone number"),
        ({"email": "a@b"}, {"email": "a@b"}, None),  # refused in the envelope already
        ({"start": "2026-12-08T09:00:00"}, {}, "start is not a date and time with offset"),
        ({"first_name": None}, {}, "first_name is missing"),
        ({"extra": "Adelgunde"}, {}, "a field the booking rules do not know"),
    ],
)
def test_each_broken_inner_part_is_rejected_with_envelope_data_only(
    signing_key: SigningKey,
    pair: KeyPair,
    inner: dict[str, Any],
    envelope: dict[str, Any],
    reason: str | None,
) -> None:
    """A mismatch, a rule broken, a blob not the signed one: rejected, the reason naming
    what (never a value), the record holding the envelope's fields and no patient name."""
    signed = inner_document()
    sealed = sealed_item(
        signing_key, pair.public_key, signed, sealed_inner={**signed, **inner}, **envelope
    )
    if reason is None:
        with pytest.raises(EnvelopeError):
            opened(sealed, signing_key, KeyRing([pair]))
        return

    failure = rejected(sealed, signing_key, pair)

    assert reason in failure.reason
    assert failure.record["reason"] == failure.reason
    assert failure.record["status"] == "rejected"
    assert failure.record["sealed_by"] == "browser"
    assert {k: failure.record[k] for k in REJECTED_FIELDS} == {
        k: sealed.envelope[k] for k in REJECTED_FIELDS
    }
    shown = json.dumps(failure.record, ensure_ascii=False)
    assert FIRST_NAME not in shown
    assert LAST_NAME not in shown
    assert "1980-04-02" not in shown


def test_a_blob_sealed_to_a_key_we_do_not_hold_is_rejected(
    signing_key: SigningKey, pair: KeyPair
) -> None:
    """The envelope opens, the browser's part does not: rejected, not refused."""
    sealed = sealed_item(signing_key, pair.public_key, blob_key=KeyPair.generate().public_key)

    failure = rejected(sealed, signing_key, pair)

    assert failure.reason == "the sealed part does not open with any of this practice's keys"


def test_a_missing_blob_and_a_lying_length_prefix_are_rejected(
    signing_key: SigningKey, pair: KeyPair
) -> None:
    """No blob beside the envelope; a blob whose length prefix exceeds it."""
    ring = KeyRing([pair])
    sealed = sealed_item(signing_key, pair.public_key)
    envelope = open_item(
        sealed.id, sealed.item["sealed"], keys=ring, relay_key=bytes(signing_key.verify_key),
        practice=SLUG, boxed=True,
    )  # fmt: skip
    with pytest.raises(SealedPartRejected, match="without its sealed part"):
        open_sealed_part(envelope, None, ring)

    lying = SealedBox(PublicKey(pair.public_key)).encrypt(b"\x00\x00\x40\x00" + bytes(764))
    sealed = sealed_item(signing_key, pair.public_key, blob=lying)
    assert "length prefix" in rejected(sealed, signing_key, pair).reason


def test_a_blob_that_is_not_a_json_object_is_rejected(
    signing_key: SigningKey, pair: KeyPair
) -> None:
    """JSON nested past the client's limit, or not an object: rejected."""
    box = SealedBox(PublicKey(pair.public_key))
    for message, reason in ((b"[" * 40 + b"]" * 40, "limits"), (b"[1, 2]", "not a JSON object")):
        sealed = sealed_item(signing_key, pair.public_key, blob=box.encrypt(pad(message)))
        assert reason in rejected(sealed, signing_key, pair).reason


# The envelope ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"protocol": 3}, "unknown protocol"),
        ({"protocol": True}, "unknown protocol"),
        ({"kind": "other"}, "unknown kind"),
        ({"slot": None}, "slot"),
        ({"start": "tomorrow"}, "start"),
        ({"doctor": "Dr.\nForged"}, "doctor"),
        ({"language": "de\n"}, "language"),
        ({"email": "not an address"}, "email"),
        ({"consent": False}, "consent"),
        ({"submitted_at": "2026-11-22"}, "submitted_at"),
        ({"key_id": "XYZ"}, "key_id"),
        ({"blob_sha256": "ab"}, "blob_sha256"),
        ({"blob_length": 100_000}, "blob_length"),
    ],
)
def test_a_malformed_envelope_is_refused_not_rejected(
    signing_key: SigningKey, pair: KeyPair, changes: dict[str, Any], reason: str
) -> None:
    """What the relay signed must have the envelope's shape before any of it is written:
    otherwise the item is refused like any item that does not verify."""
    sealed = sealed_item(signing_key, pair.public_key, **changes)

    with pytest.raises(EnvelopeError, match=reason):
        opened(sealed, signing_key, KeyRing([pair]))


def test_an_envelope_from_another_relay_key_is_refused(pair: KeyPair) -> None:
    """Forged envelopes are refused as forged bookings are."""
    sealed = sealed_item(SigningKey.generate(), pair.public_key)

    with pytest.raises(EnvelopeError, match="signature"):
        opened(sealed, SigningKey.generate(), KeyRing([pair]))


# The rule file ------------------------------------------------------------------------------


def test_the_shipped_rule_file_loads_with_every_field_kind_known() -> None:
    """booking_rules.json (generated, never hand-edited) is version 1 with known kinds."""
    rules = load_rules()

    assert {rule.kind for rule in rules.fields} <= KINDS
    assert set(rules.sealed_only) <= rules.names
    assert rules.field("note").multiline


def test_a_rule_file_of_another_version_or_kind_is_refused() -> None:
    """A rule file this client cannot apply fully is refused, not half applied."""
    shipped = json.loads(json.dumps(_shipped()))
    with pytest.raises(RulesFileError, match="version"):
        parse_rules({**shipped, "version": 2})
    shipped["fields"]["first_name"]["kind"] = "hologram"
    with pytest.raises(RulesFileError, match="unknown kind"):
        parse_rules(shipped)


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("a@example.org", True),
        ("a.b+c@sub.example.co", True),
        ("a@b.xn--p1ai", True),
        ("ä@example.org", False),  # the pattern is ASCII, as in JavaScript
        ("a b@example.org", False),
        ("x@localhost", False),
        (" a@example.org", False),  # the whole value must match
        ("a" * 65 + "@example.org", False),  # local part over 64
        ("a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 61 + ".org", False),
    ],
)
def test_the_email_rule(address: str, valid: bool) -> None:
    """Full ASCII match of the pattern, at most 254 characters, a local part of at most 64."""
    rules = load_rules()
    if valid:
        assert rules.email_problem("email", address) == address
    else:
        with pytest.raises(RuleBroken, match="email"):
            rules.email_problem("email", address)


def test_a_birth_date_is_judged_by_the_latest_and_earliest_date_of_the_submission() -> None:
    """Submitted at 23:30 UTC, it is already the 23rd in Berlin: born on the 22nd is in the
    past there and not refused, born on the 23rd is; 130 years are counted from the
    earliest date anywhere."""
    rules = load_rules()
    late = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    document = inner_document(birth_date="2026-11-22")
    assert rules.checked(document, submitted=late)["birth_date"] == "2026-11-22"
    document = inner_document(birth_date="2026-11-23")
    with pytest.raises(RuleBroken, match="not in the past"):
        rules.checked(document, submitted=late)
    document = inner_document(birth_date="1896-11-22")
    assert rules.checked(document, submitted=SUBMITTED)["birth_date"] == "1896-11-22"


def test_text_is_stripped_and_empty_optional_text_is_null() -> None:
    """As the relay normalises what it seals: surrounding spaces go, an empty note is null."""
    fields = load_rules().checked(
        inner_document(first_name="  Adelgunde ", note="   ", doctor=""), submitted=SUBMITTED
    )

    assert fields["first_name"] == "Adelgunde"
    assert fields["note"] is None
    assert fields["doctor"] is None


def test_the_zero_width_joiner_is_text_and_a_line_feed_only_in_the_note() -> None:
    """ZWJ (Persian, emoji) is allowed; a line feed in a name is not, in the note it is."""
    rules = load_rules()
    fields = rules.checked(
        inner_document(first_name="Mehr\u200dnaz", note="a\nb"), submitted=SUBMITTED
    )
    assert fields["note"] == "a\nb"
    with pytest.raises(RuleBroken, match="U\\+000A"):
        rules.checked(inner_document(first_name="a\nb"), submitted=SUBMITTED)


def _shipped() -> dict[str, Any]:
    text = resources.files("practice_client.relay").joinpath("booking_rules.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def test_the_blob_is_hashed_as_raw_bytes_not_base64(signing_key: SigningKey, pair: KeyPair) -> None:
    """blob_sha256 and blob_length are of the sealed box's bytes (816 for a typical one)."""
    sealed = sealed_item(signing_key, pair.public_key)

    assert sealed.envelope["blob_length"] == len(base64.b64decode(sealed.item["blob"])) == 816
    assert opened(sealed, signing_key, KeyRing([pair]))["id"] == sealed.id


def _relay_accepts(value: str, *, max_length: int, multiline: bool = False) -> bool:
    try:
        clean_text(value, max_length=max_length, required=True, multiline=multiline)
    except InvalidValueError:
        return False
    return True


def _client_accepts(**field: str) -> bool:
    try:
        load_rules().checked(inner_document(**field), submitted=SUBMITTED)
    except RuleBroken:
        return False
    return True


# The rule file's ranges come from the Unicode tables of the Python that wrote it; a newer
# Python knows format characters the file's version had not assigned yet.
same_unicode = pytest.mark.skipif(
    json.loads(RULES_FILE.read_text(encoding="utf-8"))["text"]["unicode_version"]
    != unicodedata.unidata_version,
    reason="the rule file was written with another Unicode version than this Python's",
)


@same_unicode
@settings(max_examples=300, deadline=None)
@given(name=st.text(max_size=110))
def test_a_name_is_judged_as_the_relays_validator_judges_it(name: str) -> None:
    """The rule file's code point ranges and bound mean what relay/rules/ means."""
    assert _client_accepts(first_name=name) == _relay_accepts(name, max_length=100)


# The relay makes CR LF, CR, NEL and the Unicode separators "\n" before it checks a note;
# the form's script sends a textarea's value, which browsers give with "\n" only.
_NORMALISED = "\r\x85\u2028\u2029"


@same_unicode
@settings(max_examples=300, deadline=None)
@given(note=st.text(st.characters(blacklist_characters=_NORMALISED), max_size=40))
def test_a_note_is_judged_as_the_relays_validator_judges_it(note: str) -> None:
    """Multi-line text: the line feed allowed, every other control refused, as the relay."""
    relay = _relay_accepts(note, max_length=1000, multiline=True) or not note.strip()
    assert _client_accepts(note=note) == relay
