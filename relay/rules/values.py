"""The vocabulary of validation failures (`ErrorCode`) and the value rules that the
booking, the practice profile, the practice details and the command line share."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Literal, TypeVar

from relay.rules.text import multi_line_problem, normalise_newlines, single_line_problem

ErrorCode = Literal[
    "required",
    "too_long",
    "too_many",
    "invalid",
    "not_string",
    "not_boolean",
    "not_integer",
    "not_list",
    "not_object",
    "out_of_range",
    "duplicate",
    "invalid_date",
    "not_in_past",
    "too_old",
    "invalid_choice",
    "invalid_datetime",
    "missing_offset",
    "not_in_future",
    "too_far_ahead",
    "end_before_start",
    "duration_too_long",
    "not_a_slot",
    "slot_mismatch",
    # The chosen slot is kept for other insurance types (relay/practice/insurance.py).
    "insurance_mismatch",
    "not_offered",
    "invalid_email",
    "invalid_phone",
    "must_accept",
    "unknown_field",
    "unknown_time_zone",
    # Characters a value may not hold (relay/rules/text.py has the rule).
    "line_break",
    "control_character",
    "bidi_control",
    # A browser-sealed submission (docs/protocol.md, "Sealed in the browser").
    "expired",
    "used",
    "unknown_key",
    "invalid_size",
    "replayed",
    "not_in_clear",
    "browser_required",
    "browser_not_accepted",
]


# Shared value rules ---------------------------------------------------------------------

T = TypeVar("T")


class InvalidValueError(ValueError):
    """One value broke a rule; `code` says which. Never leaves the validators.

    `detail` says why in English for operators (the command line), such as "contains a
    line break (U+000A) at character 8"; patients get the translated message of `code`.
    """

    def __init__(self, code: ErrorCode, *, detail: str | None = None) -> None:
        super().__init__(code)
        self.code: ErrorCode = code
        self.detail = detail or code.replace("_", " ")


def check(
    errors: dict[str, ErrorCode], path: str, parse: Callable[[object], T], value: object
) -> T | None:
    """`parse(value)`, or None with the failure recorded under `path` (first one wins)."""
    try:
        return parse(value)
    except InvalidValueError as failure:
        errors.setdefault(path, failure.code)
        return None


def clean_text(
    value: object, *, max_length: int, required: bool, multiline: bool = False
) -> str | None:
    """The stripped string, or None for an absent optional one; raises InvalidValueError.

    Which characters it may hold is relay/rules/text.py's rule: a single-line value no line
    break, control or bidirectional control character; a multi-line one keeps "\\n"
    (other line breaks become "\\n").
    """
    if value is None:
        if required:
            raise InvalidValueError("required", detail="is empty")
        return None
    if not isinstance(value, str):
        raise InvalidValueError("not_string")
    text = normalise_newlines(value) if multiline else value
    # The limit counts what the client sent, surrounding white space included, as the
    # API's published maxLength does; only a CR LF in multi-line text counts once.
    if len(text) > max_length:
        raise InvalidValueError("too_long", detail=f"is longer than {max_length} characters")
    text = text.strip()
    if not text:
        if required:
            raise InvalidValueError("required", detail="is empty")
        return None
    problem = multi_line_problem(text) if multiline else single_line_problem(text)
    if problem is not None:
        raise InvalidValueError(problem.kind, detail=problem.describe())
    return text


def require_text(value: object, *, max_length: int) -> str:
    """A required string, stripped; raises InvalidValueError."""
    text = clean_text(value, max_length=max_length, required=True)
    if text is None:  # pragma: no cover - clean_text raises for a required value
        raise InvalidValueError("required")
    return text


def require_bool(value: object) -> bool:
    """A JSON boolean; raises InvalidValueError for anything else (no "yes", no 1)."""
    if value is None:
        raise InvalidValueError("required")
    if not isinstance(value, bool):
        raise InvalidValueError("not_boolean")
    return value


# RFC 3339 shape; fromisoformat alone would also take dates without a time, week dates
# and the compact basic format.
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
    r"(?P<offset>Z|[+-][0-9]{2}:[0-9]{2})?",
    re.ASCII,
)


EARLIEST_YEAR = 1900
LATEST_YEAR = 9000


def parse_aware_datetime(value: object, *, assume_zone: tzinfo | None = None) -> datetime:
    """An ISO 8601 date and time with offset; raises InvalidValueError.

    With `assume_zone`, a value without offset is taken as local time there (for HTML
    datetime-local inputs, which never carry one).
    """
    if value is None or value == "":
        raise InvalidValueError("required")
    if not isinstance(value, str):
        raise InvalidValueError("not_string")
    text = value.strip().upper()
    shape = _DATETIME.fullmatch(text)
    if shape is None:
        raise InvalidValueError("invalid_datetime")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidValueError("invalid_datetime") from None
    # Year 1 or 9999 parse, but converting them to UTC or adding a slot's length
    # overflows (OverflowError, a 500 once). Nobody books outside these years.
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise InvalidValueError("invalid_datetime")
    if shape["offset"] is None:
        if assume_zone is None:
            raise InvalidValueError("missing_offset")
        return moment.replace(tzinfo=assume_zone)
    return moment


def require_aware(moment: datetime) -> datetime:
    """`moment` itself; ValueError if it has no offset (a bug in the caller, not input)."""
    if moment.utcoffset() is None:
        raise ValueError("a time zone aware datetime is required")
    return moment


def utc_iso(moment: datetime) -> str:
    """`moment` in UTC as ISO 8601 with a `Z`, to the second."""
    text = require_aware(moment).astimezone(UTC).isoformat(timespec="seconds")
    return text.removesuffix("+00:00") + "Z"
