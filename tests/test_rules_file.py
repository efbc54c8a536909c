"""booking-rules.json: generated from the field list, the same in both places it ships."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest

from relay.booking.rules_file import SEALED_ONLY, build
from relay.booking.submission import validate_booking
from relay.errors import ValidationFailed
from relay.rules.contact import email_problem, phone_problem
from relay.rules.text import single_line_problem
from tests.test_booking import NOW, PROFILE

ROOT = Path(__file__).resolve().parent.parent
COPIES = ("relay/web/static/booking-rules.json", "practice_client/relay/booking_rules.json")


@pytest.fixture(scope="module")
def rules() -> dict[str, object]:
    return build()


@pytest.mark.parametrize("path", COPIES)
def test_committed_copies_are_what_the_field_list_builds(
    path: str, rules: dict[str, object]
) -> None:
    """Exactly, on a Python of the Unicode version the file was written with (the text
    rule's ranges follow Python's Unicode tables); everything but the ranges on others."""
    committed = json.loads((ROOT / path).read_text(encoding="utf-8"))
    if committed["text"]["unicode_version"] != unicodedata.unidata_version:
        committed = {**committed, "text": None}
        rules = {**rules, "text": None}
    assert committed == rules, f"{path} is stale: run scripts/gen-rules and commit it"


def test_both_copies_are_one_file() -> None:
    first, second = ((ROOT / path).read_bytes() for path in COPIES)
    assert first == second


def test_forbidden_ranges_agree_with_the_text_rule(rules: dict[str, object]) -> None:
    ranges = rules["text"]["forbidden"]  # type: ignore[index]
    inside = {chr(first) for first, _ in ranges} | {chr(last) for _, last in ranges}
    assert all(single_line_problem(char) is not None for char in inside)
    # Just outside every range, a character is allowed (or starts the next range).
    for first, last in ranges:
        for neighbour in (first - 1, last + 1):
            if 0 <= neighbour <= 0x10FFFF and not any(a <= neighbour <= b for a, b in ranges):
                assert single_line_problem(chr(neighbour)) is None
    assert "\u200d" not in inside
    assert "\u202e" in inside


@pytest.mark.parametrize(
    "address", ["a@example.org", "a b@example.org", "x@localhost", "ä@example.org", "a@b.xn--p1ai"]
)
def test_email_pattern_as_text_means_the_rule(address: str, rules: dict[str, object]) -> None:
    pattern = rules["email"]["pattern"]  # type: ignore[index]
    matches = re.fullmatch(pattern, address, re.ASCII) is not None
    assert matches == (email_problem(address) is None)


@pytest.mark.parametrize("number", ["+49 30 1234567", "030/123 45-67", "12345", "+49 (30) x"])
def test_phone_pattern_as_text_means_the_rule(number: str, rules: dict[str, object]) -> None:
    phone = rules["phone"]
    digits = sum(c.isdigit() for c in number)
    matches = re.fullmatch(phone["pattern"], number, re.ASCII) is not None  # type: ignore[index]
    within = phone["min_digits"] <= digits <= phone["max_digits"]  # type: ignore[index]
    assert (matches and within) == (phone_problem(number) is None)


def test_sealed_only_fields_are_booking_fields(rules: dict[str, object]) -> None:
    fields = rules["fields"]
    assert set(SEALED_ONLY) <= set(fields)  # type: ignore[arg-type]
    assert set(SEALED_ONLY).isdisjoint(rules["clear"])  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["first_name", "last_name", "note", "email", "phone"])
def test_length_limits_are_the_validators(name: str, rules: dict[str, object]) -> None:
    """The rule file's bound for a field is the one the relay enforces."""
    limit = rules["fields"][name]["max_length"]  # type: ignore[index]
    with pytest.raises(ValidationFailed) as failed:
        validate_booking({name: "1" * (limit + 1)}, PROFILE, now=NOW)
    assert failed.value.errors[name] == "too_long"
