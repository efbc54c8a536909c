"""The booking's field rules, and the check of a browser-sealed inner document with them.

`booking_rules.json` beside this module is generated from the relay's field list by
scripts/gen-rules (relay/booking/rules_file.py) and never edited by hand: the relay, the
form's script and this client read the same rules, and tests/test_rules_file.py fails when
the copy here is stale. The client does not import the relay, so this module reads the
file and applies its rules as the relay's validator would (relay/booking/submission.py).

A problem is one `RuleBroken` naming the field and the rule, never the value: its message
goes into `{id}.rejected.json` and a log line.
"""

from __future__ import annotations

import bisect
import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources

from practice_client.handover.moments import aware_time

SUPPORTED_VERSION = 1
# Every field kind the version above uses; a rule file with another one is refused at
# load time rather than half applied.
KINDS = frozenset({"text", "textarea", "choice", "bool", "date", "datetime", "email", "tel"})

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
# RFC 3339 with its offset, as relay/rules/values.py reads it (seconds optional).
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)
_MAX_DATETIME_LENGTH = len("2026-12-08T09:00:00.000000+01:00")
# The years relay/rules/values.py accepts; outside them converting to UTC can overflow.
_EARLIEST_YEAR, _LATEST_YEAR = 1900, 9000
# The submission's date differs around the world by up to a day: the birth date is checked
# against the latest date anywhere (UTC+14) for "in the past" and the earliest (UTC-12)
# for the age, so a patient is never refused for where midnight happened to be.
_LATEST_OFFSET, _EARLIEST_OFFSET = timedelta(hours=14), timedelta(hours=-12)


class RulesFileError(ValueError):
    """booking_rules.json is not a rule file this client understands (a packaging bug)."""


class RuleBroken(ValueError):
    """A value breaks a rule; the message names the field and the rule, never the value."""


class CodePoints:
    """A set of code points given as sorted [first, last] ranges."""

    def __init__(self, ranges: Sequence[Sequence[int]]) -> None:
        pairs = sorted((int(first), int(last)) for first, last in ranges)
        self._firsts = [first for first, _ in pairs]
        self._lasts = [last for _, last in pairs]

    def first_in(self, text: str) -> str | None:
        """The first character of `text` in the set, or None."""
        for char in text:
            index = bisect.bisect_right(self._firsts, ord(char)) - 1
            if index >= 0 and ord(char) <= self._lasts[index]:
                return char
        return None


@dataclass(frozen=True)
class FieldRule:
    name: str
    kind: str
    required: bool
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    multiline: bool = False


@dataclass(frozen=True)
class BookingRules:
    fields: tuple[FieldRule, ...]
    sealed_only: tuple[str, ...]
    clear: tuple[str, ...]
    forbidden: CodePoints
    forbidden_multiline: CodePoints
    email_pattern: re.Pattern[str]
    email_max_length: int
    email_max_local_part: int
    phone_pattern: re.Pattern[str]
    phone_min_digits: int
    phone_max_digits: int
    max_age_years: int

    @property
    def names(self) -> frozenset[str]:
        return frozenset(rule.name for rule in self.fields)

    def field(self, name: str) -> FieldRule:
        for rule in self.fields:
            if rule.name == name:
                return rule
        raise KeyError(name)

    def checked(self, document: Mapping[str, object], *, submitted: datetime) -> dict[str, object]:
        """Every field of the rules from `document`, checked and normalised (text
        stripped, an empty optional value None); RuleBroken for the first field that
        breaks a rule. `submitted` (aware) is when the booking was made, for the birth date.
        """
        return {
            rule.name: self._value(rule, document.get(rule.name), submitted) for rule in self.fields
        }

    def text_problem(self, name: str, value: str, *, multiline: bool = False) -> None:
        """RuleBroken if `value` holds a character text may not hold."""
        forbidden = self.forbidden_multiline if multiline else self.forbidden
        char = forbidden.first_in(value)
        if char is not None:
            raise RuleBroken(f"{name} holds a character it may not hold (U+{ord(char):04X})")

    def email_problem(self, name: str, value: object) -> str:
        """The address, or RuleBroken: at most max_length, the pattern (ASCII, whole value)
        and a local part of at most max_local_part characters."""
        if not isinstance(value, str):
            raise RuleBroken(f"{name} is missing" if value is None else f"{name} is not text")
        if len(value) > self.email_max_length:
            raise RuleBroken(f"{name} is longer than {self.email_max_length} characters")
        if (
            self.email_pattern.fullmatch(value) is None
            or len(value.rpartition("@")[0]) > self.email_max_local_part
        ):
            raise RuleBroken(f"{name} is not an e-mail address")
        return value

    def _value(self, rule: FieldRule, value: object, submitted: datetime) -> object:
        if rule.kind == "email":
            return self.email_problem(rule.name, value)
        if rule.kind == "bool":
            return _boolean(rule, value)
        if rule.kind == "date":
            return self._birth_date(rule, value, submitted)
        if rule.kind == "datetime":
            if value is None and not rule.required:
                return None
            if strict_datetime(value) is None:
                raise RuleBroken(
                    _missing(rule, value) or f"{rule.name} is not a date and time with offset"
                )
            return value
        text = self._text(rule, value)
        if text is None:
            return None
        if rule.choices and text not in rule.choices:
            raise RuleBroken(f"{rule.name} is not one of {', '.join(rule.choices)}")
        if rule.kind == "tel":
            self._phone(rule, text)
        return text

    def _text(self, rule: FieldRule, value: object) -> str | None:
        """Stripped text within the rule's length and characters; None if optional and empty.

        The length counts the value as sent, surrounding white space included, as the relay
        counts it."""
        if value is None or (isinstance(value, str) and not value.strip()):
            if rule.required:
                raise RuleBroken(f"{rule.name} is missing")
            return None
        if not isinstance(value, str):
            raise RuleBroken(f"{rule.name} is not text")
        if rule.max_length is not None and len(value) > rule.max_length:
            raise RuleBroken(f"{rule.name} is longer than {rule.max_length} characters")
        text = value.strip()
        self.text_problem(rule.name, text, multiline=rule.multiline)
        return text

    def _phone(self, rule: FieldRule, number: str) -> None:
        digits = sum(char.isdigit() for char in number)
        if self.phone_pattern.fullmatch(number) is None or not (
            self.phone_min_digits <= digits <= self.phone_max_digits
        ):
            raise RuleBroken(f"{rule.name} is not a phone number")

    def _birth_date(self, rule: FieldRule, value: object, submitted: datetime) -> str | None:
        if value is None and not rule.required:
            return None
        if not isinstance(value, str) or not _DATE.fullmatch(value):
            raise RuleBroken(_missing(rule, value) or f"{rule.name} is not a date (YYYY-MM-DD)")
        try:
            born = date.fromisoformat(value)
        except ValueError:
            raise RuleBroken(f"{rule.name} is not a real date") from None
        moment = submitted.astimezone(UTC)
        if born >= (moment + _LATEST_OFFSET).date():
            raise RuleBroken(f"{rule.name} is not in the past")
        today = (moment + _EARLIEST_OFFSET).date()
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        if age > self.max_age_years:
            raise RuleBroken(f"{rule.name} is more than {self.max_age_years} years ago")
        return value


def _boolean(rule: FieldRule, value: object) -> bool | None:
    if value is None and not rule.required:
        return None
    if not isinstance(value, bool):
        raise RuleBroken(_missing(rule, value) or f"{rule.name} is not true or false")
    # The rule file says consent is a required boolean; only a given consent is one (the
    # relay refuses a booking without it, relay/booking/submission.py).
    if rule.name == "consent" and value is not True:
        raise RuleBroken("consent is not given")
    return value


def _missing(rule: FieldRule, value: object) -> str | None:
    return f"{rule.name} is missing" if value is None or value == "" else None


def strict_datetime(value: object) -> datetime | None:
    """An ISO 8601 date and time with its offset, as the relay reads one; None otherwise."""
    if (
        not isinstance(value, str)
        or len(value) > _MAX_DATETIME_LENGTH
        or _DATETIME.fullmatch(value) is None
    ):
        return None
    moment = aware_time(value)
    if moment is None or not _EARLIEST_YEAR <= moment.year <= _LATEST_YEAR:
        return None
    return moment


@functools.cache
def load_rules() -> BookingRules:
    """The rules this release ships (booking_rules.json beside this module)."""
    text = (
        resources.files(__package__ or "practice_client.relay")
        .joinpath("booking_rules.json")
        .read_text(encoding="utf-8")
    )
    return parse_rules(json.loads(text))


def parse_rules(data: object) -> BookingRules:
    """A rule file's JSON as BookingRules; RulesFileError if it is not one of version 1."""
    try:
        return _parse(data)
    except (KeyError, TypeError, ValueError, re.error) as error:
        if isinstance(error, RulesFileError):
            raise
        raise RulesFileError(f"booking_rules.json is malformed: {error!r}") from error


def _parse(data: object) -> BookingRules:
    if not isinstance(data, dict) or data.get("version") != SUPPORTED_VERSION:
        raise RulesFileError(f"booking_rules.json is not of version {SUPPORTED_VERSION}")
    fields = []
    for name, rule in data["fields"].items():
        kind = rule["kind"]
        if kind not in KINDS:
            raise RulesFileError(f"booking_rules.json: field {name} has unknown kind {kind!r}")
        fields.append(
            FieldRule(
                name=str(name),
                kind=str(kind),
                required=bool(rule["required"]),
                max_length=None if rule.get("max_length") is None else int(rule["max_length"]),
                choices=tuple(str(choice) for choice in rule.get("choices", ())),
                multiline=bool(rule.get("multiline", False)),
            )
        )
    email, phone = data["email"], data["phone"]
    return BookingRules(
        fields=tuple(fields),
        sealed_only=tuple(str(name) for name in data["sealed_only"]),
        clear=tuple(str(name) for name in data["clear"]),
        forbidden=CodePoints(data["text"]["forbidden"]),
        forbidden_multiline=CodePoints(data["text"]["forbidden_multiline"]),
        # ASCII: the patterns mean what they mean in JavaScript, where \d is ASCII only.
        email_pattern=re.compile(email["pattern"], re.ASCII),
        email_max_length=int(email["max_length"]),
        email_max_local_part=int(email["max_local_part"]),
        phone_pattern=re.compile(phone["pattern"], re.ASCII),
        phone_min_digits=int(phone["min_digits"]),
        phone_max_digits=int(phone["max_digits"]),
        max_age_years=int(data["birth_date"]["max_age_years"]),
    )
