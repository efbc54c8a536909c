"""The booking field list, the shared value rules and the error vocabulary
(relay/booking/fields.py, relay/rules/values.py)."""

from __future__ import annotations

import ast
import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import get_args
from zoneinfo import ZoneInfo

import pytest

from relay.booking import fields
from relay.booking.fields import FIELD_NAMES, FIELDS, field
from relay.i18n.catalogs import texts
from relay.i18n.languages import DEFAULT_LANGUAGE, LANGUAGES
from relay.rules.values import (
    ErrorCode,
    InvalidValueError,
    clean_text,
    parse_aware_datetime,
    require_bool,
    utc_iso,
)
from relay.web.error_messages import ERROR_MESSAGES, error_message

RELAY = Path(fields.__file__).parent.parent
SPEC_ORDER = (
    "first_name",
    "last_name",
    "birth_date",
    "gender",
    "insurance",
    "note",
    "new_patient",
    "doctor",
    "appointment_type",
    "start",
    "end",
    "email",
    "phone",
    "consent",
    # Not in the SPEC: the opt-in to reminder mails (issue 19).
    "reminder",
)
KINDS = {"text", "textarea", "date", "datetime", "email", "tel", "choice", "bool"}


# The field list ---------------------------------------------------------------------------


def test_fields_follow_the_spec_order() -> None:
    """FIELDS lists exactly the SPEC's fields, in the SPEC's order."""
    assert tuple(f.name for f in FIELDS) == SPEC_ORDER


def test_field_names_match_the_list() -> None:
    """FIELD_NAMES is the set of names in FIELDS."""
    assert frozenset(SPEC_ORDER) == FIELD_NAMES


def test_field_looks_up_by_name() -> None:
    """field(name) returns the entry of FIELDS with that name."""
    assert field("email") is FIELDS[SPEC_ORDER.index("email")]


def test_field_rejects_an_unknown_name() -> None:
    """field() raises KeyError for a name that is not a booking field."""
    with pytest.raises(KeyError):
        field("insurance_number")


def test_every_kind_is_a_known_kind() -> None:
    """Each field's kind is one the form knows how to render."""
    assert {f.kind for f in FIELDS} <= KINDS


@pytest.mark.parametrize(
    ("name", "kind", "required", "max_length"),
    [
        ("first_name", "text", True, 100),
        ("last_name", "text", True, 100),
        ("birth_date", "date", True, None),
        ("gender", "choice", True, None),
        ("insurance", "choice", True, None),
        ("note", "textarea", False, 1000),
        ("new_patient", "bool", True, None),
        ("start", "datetime", True, None),
        ("end", "datetime", False, None),
        ("email", "email", True, 254),
        ("phone", "tel", False, 30),
        ("consent", "bool", True, None),
    ],
)
def test_field_rules(name: str, kind: str, required: bool, max_length: int | None) -> None:
    """Each field carries the kind, requiredness and length bound of the SPEC table."""
    entry = field(name)
    assert (entry.kind, entry.required, entry.max_length) == (kind, required, max_length)


@pytest.mark.parametrize("name", ["doctor", "appointment_type"])
def test_offered_choices_are_required_only_when_offered(name: str) -> None:
    """doctor and appointment_type are required where the practice lists them, not always."""
    entry = field(name)
    assert (entry.kind, entry.required, entry.required_when_offered) == ("choice", False, True)


def test_only_doctor_and_type_depend_on_the_practice() -> None:
    """No other field is marked as required-when-offered."""
    assert {f.name for f in FIELDS if f.required_when_offered} == {"doctor", "appointment_type"}


@pytest.mark.parametrize(
    ("name", "choices"),
    [
        ("gender", ("female", "male", "diverse", "unspecified")),
        ("insurance", ("statutory", "private", "self_pay")),
    ],
)
def test_choices_are_the_spec_values(name: str, choices: tuple[str, ...]) -> None:
    """gender and insurance offer exactly the SPEC's values, in order."""
    assert field(name).choices == choices


@pytest.mark.parametrize("entry", FIELDS, ids=lambda f: f.name)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_field_has_label_and_purpose_in_every_language(
    entry: fields.Field, lang: str
) -> None:
    """Every field has a label and purpose in each language, translated, not the English
    text (tests/test_catalogs.py checks the catalogs as a whole)."""
    for message in (entry.label, entry.purpose):
        assert message[lang].strip()
        assert lang == "en" or message[lang] != message.msgid


@pytest.mark.parametrize("entry", [f for f in FIELDS if f.choices], ids=lambda f: f.name)
def test_every_choice_has_a_label(entry: fields.Field) -> None:
    """Each fixed choice has a label, and no label is left over."""
    assert set(entry.choice_labels) == set(entry.choices)
    for lang in LANGUAGES:
        assert all(label[lang].strip() for label in entry.choice_labels.values())


def test_german_labels() -> None:
    """The German texts are the usual German terms."""
    assert field("first_name").label["de"] == "Vorname"
    assert field("last_name").label["de"] == "Nachname"
    assert field("birth_date").label["de"] == "Geburtsdatum"
    assert field("gender").label["de"] == "Geschlecht"
    assert field("insurance").label["de"] == "Versicherung"
    assert {c: t["de"] for c, t in field("gender").choice_labels.items()} == {
        "female": "weiblich",
        "male": "männlich",
        "diverse": "divers",
        "unspecified": "keine Angabe",
    }
    assert {c: t["de"] for c, t in field("insurance").choice_labels.items()} == {
        "statutory": "gesetzlich",
        "private": "privat",
        "self_pay": "Selbstzahler",
    }


def test_autocomplete_tokens() -> None:
    """Personal fields carry their HTML autocomplete token; the others none."""
    tokens = {f.name: f.autocomplete for f in FIELDS if f.autocomplete}
    assert tokens == {
        "first_name": "given-name",
        "last_name": "family-name",
        "birth_date": "bday",
        "email": "email",
        "phone": "tel",
    }


def test_field_list_cannot_be_changed() -> None:
    """Fields are frozen and their texts read-only, so no caller can alter the shared list."""
    entry = field("first_name")
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.max_length = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        entry.label["de"] = "Name"  # type: ignore[index]


def test_fields_are_hashable() -> None:
    """A Field can key a dict or sit in a set despite its mapping attributes."""
    assert len({entry: entry.name for entry in FIELDS}) == len(FIELDS)


# Shared value rules -----------------------------------------------------------------------


def code_of(parse: object, *args: object, **kwargs: object) -> str:
    """The code of the InvalidValueError `parse(*args, **kwargs)` raises."""
    assert callable(parse)
    with pytest.raises(InvalidValueError) as failure:
        parse(*args, **kwargs)
    return failure.value.code


def test_clean_text_strips() -> None:
    """Surrounding whitespace is removed."""
    assert clean_text("  Erika \t", max_length=10, required=True) == "Erika"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (None, "required"),
        ("   ", "required"),
        (7, "not_string"),
        ("x" * 11, "too_long"),
        ("Eri\x00ka", "control_character"),
        ("Eri\nka", "line_break"),
        ("Eri\ud800ka", "invalid"),
    ],
)
def test_clean_text_failures(value: object, code: str) -> None:
    """Absent, non-string, overlong and control-character values get their codes."""
    assert code_of(clean_text, value, max_length=10, required=True) == code


def test_clean_text_length_counts_what_was_sent() -> None:
    """The bound counts the value as sent, as the API's maxLength and a form's maxlength do;
    the stored value is stripped, and a CR LF in multi-line text counts once."""
    assert clean_text(" " + "x" * 9, max_length=10, required=True) == "x" * 9
    with pytest.raises(InvalidValueError):
        clean_text(" " + "x" * 10, max_length=10, required=True)
    note = "x\r\n" * 5
    assert clean_text(note, max_length=10, required=True, multiline=True) == "x\nx\nx\nx\nx"


def test_clean_text_optional_absent_is_none() -> None:
    """An optional value that is absent or blank is None."""
    assert clean_text(None, max_length=10, required=False) is None
    assert clean_text("  ", max_length=10, required=False) is None


def test_clean_text_multiline_keeps_newlines() -> None:
    """Multi-line text keeps its line breaks, with CRLF and CR made LF."""
    assert clean_text("a\r\nb\rc\nd", max_length=10, required=True, multiline=True) == "a\nb\nc\nd"


def test_clean_text_multiline_rejects_other_controls() -> None:
    """Multi-line text still refuses tabs and other control characters."""
    assert (
        code_of(clean_text, "a\tb", max_length=10, required=True, multiline=True)
        == "control_character"
    )


def test_require_bool() -> None:
    """Only JSON booleans pass; strings and numbers do not."""
    assert require_bool(True) is True
    assert require_bool(False) is False
    assert code_of(require_bool, None) == "required"
    assert code_of(require_bool, "true") == "not_boolean"
    assert code_of(require_bool, 1) == "not_boolean"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01T09:00:00+01:00", datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
        ("2026-12-01T08:00:00Z", datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
        ("2026-12-01t08:00z", datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
        ("2026-12-01 09:00:00.5+01:00", datetime(2026, 12, 1, 8, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_parse_aware_datetime_accepts_rfc3339(text: str, expected: datetime) -> None:
    """Date, time and offset in RFC 3339 form parse to the instant they name."""
    assert parse_aware_datetime(text) == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (None, "required"),
        ("", "required"),
        (1700000000, "not_string"),
        ("2026-12-01T09:00:00", "missing_offset"),
        ("2026-12-01", "invalid_datetime"),
        ("20261201T090000+0100", "invalid_datetime"),
        ("2026-13-01T09:00:00+01:00", "invalid_datetime"),
        ("2026-12-01T09:00:00+25:00", "invalid_datetime"),
        ("tomorrow at nine", "invalid_datetime"),
    ],
)
def test_parse_aware_datetime_failures(value: object, code: str) -> None:
    """Values without an offset or outside the RFC 3339 shape get their codes."""
    assert code_of(parse_aware_datetime, value) == code


def test_parse_aware_datetime_assumes_zone_for_local_times() -> None:
    """With assume_zone, a local time (an HTML datetime-local value) is read in that zone."""
    moment = parse_aware_datetime("2026-12-01T09:00", assume_zone=ZoneInfo("Europe/Berlin"))
    assert moment == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_utc_iso() -> None:
    """utc_iso gives UTC with a Z, to the second."""
    moment = datetime(2026, 12, 1, 9, 0, 30, 123, tzinfo=timezone(timedelta(hours=1)))
    assert utc_iso(moment) == "2026-12-01T08:00:30Z"


def test_utc_iso_refuses_naive_times() -> None:
    """A naive datetime is a caller's bug and raises instead of guessing a zone."""
    with pytest.raises(ValueError, match="aware"):
        utc_iso(datetime(2026, 12, 1, 9, 0))


# Error vocabulary and messages --------------------------------------------------------------


def test_every_error_code_has_a_message() -> None:
    """ERROR_MESSAGES holds exactly the codes of ErrorCode, none missing, none extra."""
    assert set(ERROR_MESSAGES) == set(get_args(ErrorCode))


def codes_in_source(path: Path) -> set[str]:
    """The error codes a validator module can produce, read from its syntax tree.

    Codes appear as InvalidValueError("..."), errors[...] = "...",
    errors.setdefault(..., "...") and ValidationFailed({...: "..."}).
    """
    codes: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        values: list[ast.expr] = []
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "InvalidValueError":
                values += node.args
            if node.func.id == "ValidationFailed" and isinstance(node.args[0], ast.Dict):
                values += node.args[0].values
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "setdefault"
        ):
            values += node.args[1:]
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
            values.append(node.value)
        codes |= {
            v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)
        }
    return codes


@pytest.mark.parametrize(
    "module", ["booking/submission.py", "practice/profile.py", "rules/values.py"]
)
def test_codes_raised_by_validators_have_messages(module: str) -> None:
    """Every code the validators raise has a German and an English message."""
    codes = codes_in_source(RELAY / module)
    assert codes, "the scan found no codes; has the error style changed?"
    assert codes <= set(ERROR_MESSAGES)


def test_error_message_fills_in_the_bound() -> None:
    """{max} is replaced by the field's max_length."""
    assert error_message("too_long", "en", field=field("note")) == (
        "Please enter no more than 1000 characters."
    )
    assert "100 Zeichen" in error_message("too_long", "de", field=field("first_name"))


def test_error_message_without_a_bound() -> None:
    """Without a field to take the bound from, no placeholder is left in the text."""
    assert "%(" not in error_message("too_long", "de")
    assert "%(" not in error_message("too_long", "en", field=field("birth_date"))


def test_error_message_language() -> None:
    """Messages come in the requested language, the default one for an unknown language."""
    assert error_message("required", "en") == texts("en").gettext(ERROR_MESSAGES["required"])
    assert error_message("required", "fr") == texts(DEFAULT_LANGUAGE).gettext(
        ERROR_MESSAGES["required"]
    )
    assert DEFAULT_LANGUAGE == "de"


def test_error_message_for_an_unknown_code() -> None:
    """An unknown code gets the generic message rather than failing the request."""
    assert error_message("no_such_code", "en") == texts("en").gettext(ERROR_MESSAGES["invalid"])
