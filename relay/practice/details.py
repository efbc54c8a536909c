"""A practice's public details: contact, address, opening hours, data protection contacts.

The optional `details` object of a profile (`PUT /api/v1/profile`). Every member is
optional; the privacy notice (`/p/{practice}/privacy`) names the practice as controller
with them, and the booking pages may show them to patients. Like the rest of a profile
they are public data the practice publishes, never a patient's.

    "details": {
      "controller": "Dr. med. Anna Beispiel (Praxisinhaberin)",
      "address": ["Musterstraße 1", "10115 Berlin"],
      "phone": "+49 30 1234567",
      "email": "praxis@beispiel.de",
      "website": "https://praxis-beispiel.de",
      "opening_hours": ["Mo–Fr 8–12 Uhr", "Di und Do 15–18 Uhr"],
      "opening_hours_by_language": {"tr": ["Pzt–Cum 8–12", "Salı ve Perşembe 15–18"]},
      "data_protection_officer": {"name": "Datenschutz Nord GmbH",
                                  "email": "dsb@datenschutz-nord.example",
                                  "phone": null, "address": []},
      "supervisory_authority": {"name": "Berliner Beauftragte für Datenschutz und
                                         Informationsfreiheit",
                                "url": "https://www.datenschutz-berlin.de"}
    }

Multi-line values (address, opening hours) are lists of single-line strings, so no value
ever holds a line break (relay/rules/text.py): each line is shown as one line. The
texts are in the profile's `language`; `opening_hours_by_language` gives the opening hours
in others (relay/practice/localized.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from relay.practice.localized import ByLanguage, LocalizedLines, in_language, parse_by_language
from relay.rules.contact import (
    MAX_EMAIL_LENGTH,
    MAX_PHONE_LENGTH,
    MAX_URL_LENGTH,
    email_problem,
    phone_problem,
    web_url_problem,
)
from relay.rules.values import ErrorCode, InvalidValueError, check, clean_text

MAX_TEXT_LENGTH = 200
MAX_LINE_LENGTH = 100
MAX_ADDRESS_LINES = 6
MAX_OPENING_HOURS_LINES = 14

DETAILS_KEYS = frozenset(
    {
        "controller",
        "address",
        "phone",
        "email",
        "website",
        "opening_hours",
        "opening_hours_by_language",
        "data_protection_officer",
        "supervisory_authority",
    }
)
_OFFICER_KEYS = frozenset({"name", "email", "phone", "address"})
_AUTHORITY_KEYS = frozenset({"name", "url"})


@dataclass(frozen=True)
class DataProtectionOfficer:
    """How to reach the practice's data protection officer; at least one way is given."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: tuple[str, ...] = ()


@dataclass(frozen=True)
class SupervisoryAuthority:
    """The data protection authority competent for the practice (its federal state's)."""

    name: str
    url: str | None = None


@dataclass(frozen=True)
class PracticeDetails:
    """What a practice tells patients about itself; every member may be absent."""

    # The controller's legal name when it differs from the practice's display name
    # (the doctor running the practice, a partnership, a company).
    controller: str | None = None
    address: tuple[str, ...] = ()
    phone: str | None = None
    email: str | None = None
    website: str | None = None
    opening_hours: tuple[str, ...] = ()
    data_protection_officer: DataProtectionOfficer | None = None
    supervisory_authority: SupervisoryAuthority | None = None
    # The opening hours as patients read them in other languages.
    opening_hours_by_language: ByLanguage[tuple[str, ...]] = ()

    @property
    def has_contact(self) -> bool:
        """Whether patients learn from these details how to reach the practice."""
        return bool(self.address or self.phone or self.email)

    def opening_hours_in(self, lang: str, *, own_language: str) -> LocalizedLines:
        """The opening hours for a page in `lang`: their translation, else `opening_hours`
        in the profile's language (`own_language`)."""
        lines, lines_lang = in_language(
            self.opening_hours, self.opening_hours_by_language, lang, own_language
        )
        return LocalizedLines(lines, lines_lang)


NO_DETAILS = PracticeDetails()


# Validation of the profile's "details" --------------------------------------------------


def parse_details(errors: dict[str, ErrorCode], value: object) -> PracticeDetails:
    """Valid details from `value` (None: no details); failures go to errors["details…"]."""
    if value is None:
        return NO_DETAILS
    if not isinstance(value, Mapping):
        errors["details"] = "not_object"
        return NO_DETAILS
    _unknown_keys(errors, "details", value, DETAILS_KEYS)
    return PracticeDetails(
        controller=check(errors, "details.controller", _optional_text, value.get("controller")),
        address=_lines(errors, "details.address", value.get("address"), MAX_ADDRESS_LINES),
        phone=check(errors, "details.phone", _optional_phone, value.get("phone")),
        email=check(errors, "details.email", _optional_email, value.get("email")),
        website=check(errors, "details.website", _optional_url, value.get("website")),
        opening_hours=_lines(
            errors, "details.opening_hours", value.get("opening_hours"), MAX_OPENING_HOURS_LINES
        ),
        opening_hours_by_language=parse_by_language(
            errors,
            "details.opening_hours_by_language",
            value.get("opening_hours_by_language"),
            lambda e, p, v: _lines(e, p, v, MAX_OPENING_HOURS_LINES),
        ),
        data_protection_officer=_officer(
            errors, "details.data_protection_officer", value.get("data_protection_officer")
        ),
        supervisory_authority=_authority(
            errors, "details.supervisory_authority", value.get("supervisory_authority")
        ),
    )


def _unknown_keys(
    errors: dict[str, ErrorCode], path: str, value: Mapping[object, object], known: frozenset[str]
) -> None:
    for key in value:
        if key not in known:
            errors[f"{path}.{key}"] = "unknown_field"


def _optional_text(value: object) -> str | None:
    return clean_text(value, max_length=MAX_TEXT_LENGTH, required=False)


def _checked(
    problem: Callable[[str], ErrorCode | None], max_length: int
) -> Callable[[object], str | None]:
    def parse(value: object) -> str | None:
        text = clean_text(value, max_length=max_length, required=False)
        if text is None:
            return None
        code = problem(text)
        if code is not None:
            raise InvalidValueError(code)
        return text

    return parse


_optional_email = _checked(email_problem, MAX_EMAIL_LENGTH)
_optional_phone = _checked(phone_problem, MAX_PHONE_LENGTH)
_optional_url = _checked(web_url_problem, MAX_URL_LENGTH)


def _lines(errors: dict[str, ErrorCode], path: str, value: object, limit: int) -> tuple[str, ...]:
    """A list of single-line strings, none of them empty."""
    if value is None:
        return ()
    if not isinstance(value, list):
        errors[path] = "not_list"
        return ()
    if len(value) > limit:
        errors[path] = "too_many"
        return ()
    lines = []
    for index, item in enumerate(value):
        line = check(
            errors,
            f"{path}[{index}]",
            lambda v: clean_text(v, max_length=MAX_LINE_LENGTH, required=True),
            item,
        )
        if line is not None:
            lines.append(line)
    return tuple(lines)


def _officer(
    errors: dict[str, ErrorCode], path: str, value: object
) -> DataProtectionOfficer | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        errors[path] = "not_object"
        return None
    _unknown_keys(errors, path, value, _OFFICER_KEYS)
    before = len(errors)
    officer = DataProtectionOfficer(
        name=check(errors, f"{path}.name", _optional_text, value.get("name")),
        email=check(errors, f"{path}.email", _optional_email, value.get("email")),
        phone=check(errors, f"{path}.phone", _optional_phone, value.get("phone")),
        address=_lines(errors, f"{path}.address", value.get("address"), MAX_ADDRESS_LINES),
    )
    if len(errors) > before:
        return None
    # Art. 13(1)(b) GDPR asks for the officer's contact details; a name alone is none.
    if not (officer.email or officer.phone or officer.address):
        errors[path] = "required"
        return None
    return officer


def _authority(
    errors: dict[str, ErrorCode], path: str, value: object
) -> SupervisoryAuthority | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        errors[path] = "not_object"
        return None
    _unknown_keys(errors, path, value, _AUTHORITY_KEYS)
    name = check(
        errors,
        f"{path}.name",
        lambda v: clean_text(v, max_length=MAX_TEXT_LENGTH, required=True),
        value.get("name"),
    )
    url = check(errors, f"{path}.url", _optional_url, value.get("url"))
    return None if name is None else SupervisoryAuthority(name=name, url=url)


# Storage round trip ---------------------------------------------------------------------


def details_to_json(details: PracticeDetails) -> dict[str, object]:
    """Every member, absent ones as null or []: the shape `parse_details` takes back."""
    officer = details.data_protection_officer
    authority = details.supervisory_authority
    stored: dict[str, object] = {
        "controller": details.controller,
        "address": list(details.address),
        "phone": details.phone,
        "email": details.email,
        "website": details.website,
        "opening_hours": list(details.opening_hours),
        "data_protection_officer": None
        if officer is None
        else {
            "name": officer.name,
            "email": officer.email,
            "phone": officer.phone,
            "address": list(officer.address),
        },
        "supervisory_authority": None
        if authority is None
        else {"name": authority.name, "url": authority.url},
    }
    # Only when given: a relay of the release before, sharing Redis during a rolling
    # upgrade, refuses details with a key it does not know.
    if details.opening_hours_by_language:
        stored["opening_hours_by_language"] = {
            lang: list(lines) for lang, lines in details.opening_hours_by_language
        }
    return stored


def details_from_json(value: object) -> PracticeDetails:
    """Details stored by `details_to_json` (None for profiles stored before they existed).

    Stored data was validated when it was published, so it is parsed again rather than
    trusted field by field; a failure means a corrupt store (ValueError).
    """
    errors: dict[str, ErrorCode] = {}
    details = parse_details(errors, value)
    if errors:
        raise ValueError(f"stored profile: invalid details {sorted(errors)}")
    return details
