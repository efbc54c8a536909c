"""The practice's `[details]` and the appointment types' notes in the opening-hours rules.

`[details]` becomes the profile's `details` object (address, phone, website, opening
hours, data protection contacts; SPEC.md and the README show it), a type's `note` the
`note` of that appointment type ("Bitte Versichertenkarte und Überweisung mitbringen").
The practice's words in the patients' languages (`names`, `notes`,
`opening_hours_by_language`) are tables by language code, each value read like the one
it translates.

Checked here is what staff can fix in their file without asking anyone: the shape of
each value, its length, one line per value, and that a web address is http(s). Whether a
phone number or an e-mail address is well formed is the relay's one rule
(relay/rules/contact.py); a value it refuses comes back as a 422 naming the key, and `publish`
shows that with the file's line. The client does not import the relay, so the bounds
below repeat those of relay/practice/details.py, relay/rules/contact.py and
relay/practice/profile.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from practice_client.handover.languages import PATIENT_LANGUAGES

T = TypeVar("T")

MAX_TEXT_LENGTH = 200
MAX_LINE_LENGTH = 100
MAX_ADDRESS_LINES = 6
MAX_OPENING_HOURS_LINES = 14
MAX_EMAIL_LENGTH = 254
MAX_PHONE_LENGTH = 30
MAX_URL_LENGTH = 300
MAX_NOTE_LENGTH = 300

DETAILS_KEYS = (
    "controller",
    "address",
    "phone",
    "email",
    "website",
    "opening_hours",
    "opening_hours_by_language",
    "data_protection_officer",
    "supervisory_authority",
)
OFFICER_KEYS = ("name", "email", "phone", "address")
AUTHORITY_KEYS = ("name", "url")

# What str.splitlines() breaks at: such a value would show as several lines, or forge one.
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


class Problems(Protocol):
    """Where problems go: the rules reader, which adds file and line."""

    def problem(self, key: str, message: str, *, hint: object = None, after: int = 0) -> None: ...

    def table_line(self, name: str) -> int:
        """The 0-based line of the `[name]` header (0 if there is none), to search after."""
        ...


def read_details(value: object, problems: Problems) -> dict[str, object] | None:
    """The profile's `details` from the `[details]` table; None if there is none.

    Only given members are included: absent and empty ones are "not given" to the relay.
    """
    if value is None:
        return None
    after = problems.table_line("details")
    if not isinstance(value, Mapping):
        problems.problem("details", "must be a [details] table", after=after)
        return None
    _unknown_keys(problems, "details", value, DETAILS_KEYS, after)
    details: dict[str, object] = {}
    texts = (
        ("controller", MAX_TEXT_LENGTH),
        ("phone", MAX_PHONE_LENGTH),
        ("email", MAX_EMAIL_LENGTH),
    )
    for name, limit in texts:
        _put(
            details, name, optional_text(problems, f"details.{name}", value.get(name), limit, after)
        )
    _put(details, "website", _url(problems, "details.website", value.get("website"), after))
    _put(
        details,
        "address",
        _lines(problems, "details.address", value.get("address"), MAX_ADDRESS_LINES, after),
    )
    _put(
        details,
        "opening_hours",
        _lines(
            problems,
            "details.opening_hours",
            value.get("opening_hours"),
            MAX_OPENING_HOURS_LINES,
            after,
        ),
    )
    _put(
        details,
        "opening_hours_by_language",
        by_language(
            problems,
            "details.opening_hours_by_language",
            value.get("opening_hours_by_language"),
            lambda key, item: _lines(problems, key, item, MAX_OPENING_HOURS_LINES, after),
            after,
        ),
    )
    _put(
        details, "data_protection_officer", _officer(problems, value.get("data_protection_officer"))
    )
    _put(details, "supervisory_authority", _authority(problems, value.get("supervisory_authority")))
    return details


def optional_text(
    problems: Problems, key: str, value: object, max_length: int, after: int
) -> str | None:
    """One line of text, stripped; None when absent or empty (problems reported)."""
    if value is None:
        return None
    if not isinstance(value, str):
        problems.problem(key, "must be a text in quotes", hint=value, after=after)
        return None
    text = value.strip()
    if len(text) > max_length:
        problems.problem(key, f"is longer than {max_length} characters", hint=text, after=after)
        return None
    if any(char in _LINE_BREAKS for char in text):
        problems.problem(
            key,
            "must be one line: write several lines as a list",
            hint=_first_line(text),
            after=after,
        )
        return None
    return text or None


def _url(problems: Problems, key: str, value: object, after: int) -> str | None:
    url = optional_text(problems, key, value, MAX_URL_LENGTH, after)
    if url is None:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    # Only web addresses: a `javascript:` link on the patient pages would run there.
    if parts is None or parts.scheme.lower() not in ("https", "http") or not parts.hostname:
        problems.problem(
            key, "must be a web address starting with https:// (or http://)", hint=url, after=after
        )
        return None
    return url


def _lines(problems: Problems, key: str, value: object, limit: int, after: int) -> list[str] | None:
    """A list of one-line texts, such as the lines of an address."""
    if value is None:
        return None
    example = '["Musterstraße 1", "10115 Berlin"]'
    if not isinstance(value, list):
        problems.problem(key, f"must be a list of lines such as {example}", hint=value, after=after)
        return None
    if len(value) > limit:
        problems.problem(key, f"at most {limit} lines", after=after)
        return None
    lines: list[str] = []
    for index, item in enumerate(value):
        item_key = f"{key}[{index}]"
        if isinstance(item, str) and not item.strip():
            problems.problem(item_key, "is empty: leave the line out", after=after)
            continue
        line = optional_text(problems, item_key, item, MAX_LINE_LENGTH, after)
        if line is not None:
            lines.append(line)
    return lines if len(lines) == len(value) else None


def _officer(problems: Problems, value: object) -> dict[str, object] | None:
    key = "details.data_protection_officer"
    if value is None:
        return None
    after = _subtable_line(problems, "data_protection_officer")
    if not isinstance(value, Mapping):
        problems.problem(key, "must be a [details.data_protection_officer] table", after=after)
        return None
    _unknown_keys(problems, key, value, OFFICER_KEYS, after)
    officer: dict[str, object] = {}
    _put(
        officer,
        "name",
        optional_text(problems, f"{key}.name", value.get("name"), MAX_TEXT_LENGTH, after),
    )
    _put(
        officer,
        "email",
        optional_text(problems, f"{key}.email", value.get("email"), MAX_EMAIL_LENGTH, after),
    )
    _put(
        officer,
        "phone",
        optional_text(problems, f"{key}.phone", value.get("phone"), MAX_PHONE_LENGTH, after),
    )
    _put(
        officer,
        "address",
        _lines(problems, f"{key}.address", value.get("address"), MAX_ADDRESS_LINES, after),
    )
    # Art. 13(1)(b) GDPR asks for the officer's contact details; a name alone is none.
    if not any(_given(value.get(name)) for name in ("email", "phone", "address")):
        problems.problem(key, "needs at least one of email, phone, address", after=after)
        return None
    return officer


def _authority(problems: Problems, value: object) -> dict[str, object] | None:
    key = "details.supervisory_authority"
    if value is None:
        return None
    after = _subtable_line(problems, "supervisory_authority")
    if not isinstance(value, Mapping):
        problems.problem(key, "must be a [details.supervisory_authority] table", after=after)
        return None
    _unknown_keys(problems, key, value, AUTHORITY_KEYS, after)
    url = _url(problems, f"{key}.url", value.get("url"), after)
    if not _given(value.get("name")):
        # Named at the table: a missing key has no line of its own.
        problems.problem(
            key,
            "needs a name: that of the data protection authority of the practice's federal state",
            after=after,
        )
        return None
    name = optional_text(problems, f"{key}.name", value.get("name"), MAX_TEXT_LENGTH, after)
    if name is None:
        return None
    authority: dict[str, object] = {"name": name}
    _put(authority, "url", url)
    return authority


def read_note(problems: Problems, key: str, value: object, after: int) -> str | None:
    """An appointment type's note to patients: one line of at most MAX_NOTE_LENGTH."""
    return optional_text(problems, key, value, MAX_NOTE_LENGTH, after)


def by_language(
    problems: Problems,
    key: str,
    value: object,
    read: Callable[[str, object], T | None],
    after: int,
) -> dict[str, T] | None:
    """`{ tr = …, en = … }`: each value read by `read(key, value)`, each key one of the
    patients' languages; None when absent or empty (problems reported)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        example = '{ tr = "…", en = "…" }'
        problems.problem(key, f"must be a table by language such as {example}", after=after)
        return None
    read_values: dict[str, T] = {}
    for code, item in value.items():
        if code not in PATIENT_LANGUAGES:
            problems.problem(
                f"{key}.{code}",
                f"not a language of the relay (known: {', '.join(PATIENT_LANGUAGES)})",
                # The line holding the text, else the code: a table's key has no line of its own.
                hint=item if isinstance(item, str) else code,
                after=after,
            )
            continue
        text = read(f"{key}.{code}", item)
        if text is not None:
            read_values[code] = text
    return read_values or None


def _subtable_line(problems: Problems, name: str) -> int:
    """Search from `[details.name]` if written so, else from `[details]` (an inline table)."""
    return problems.table_line(f"details.{name}") or problems.table_line("details")


def _unknown_keys(
    problems: Problems, key: str, value: Mapping[str, object], known: tuple[str, ...], after: int
) -> None:
    for name in value:
        if name not in known:
            problems.problem(
                f"{key}.{name}", f"unknown key (known: {', '.join(known)})", after=after
            )


def _given(value: object) -> bool:
    """Whether a value is there at all: not absent, not an empty text or list."""
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None and value != []


def _put(target: dict[str, object], name: str, value: object) -> None:
    if value is not None:
        target[name] = value


def _first_line(text: str) -> str:
    for index, char in enumerate(text):
        if char in _LINE_BREAKS:
            return text[:index]
    return text
