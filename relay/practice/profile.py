"""A practice's public profile (doctors, appointment types, free slots): validation and ids.

A profile holds no personal data of patients; it is what the practice publishes.
"""

from __future__ import annotations

import functools
import hashlib
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from relay.errors import ValidationFailed
from relay.i18n.languages import DEFAULT_LANGUAGE, LANGUAGES
from relay.practice.details import (
    NO_DETAILS,
    PracticeDetails,
    details_from_json,
    details_to_json,
    parse_details,
)
from relay.practice.insurance import (
    EVERY_INSURANCE,
    fits,
    parse_slot_insurance,
    slot_insurance_json,
    stored_slot_insurance,
)
from relay.practice.localized import ByLanguage, Localized, in_language, parse_by_language
from relay.rules.values import (
    ErrorCode,
    InvalidValueError,
    check,
    clean_text,
    parse_aware_datetime,
    require_aware,
    require_bool,
    require_text,
    utc_iso,
)

DEFAULT_TIME_ZONE = "Europe/Berlin"
MAX_NAME_LENGTH = 200
MAX_ENTRY_NAME_LENGTH = 100
MAX_DOCTORS = 50
MAX_APPOINTMENT_TYPES = 50
# A real calendar: 6 weeks x 5 doctors is about 3,000 slots. At about 136 bytes a slot,
# RELAY_MAX_PROFILE_BYTES' default (1 MiB) holds about 7,700. Translations take room too:
# every type's name and note and the opening hours at their longest in all seven languages
# are about 350 KB of UTF-8 (in Cyrillic or Arabic), which leaves room for 4,500 slots
# (tests/test_large_profile.py); real translations are a few KB.
MAX_SLOTS = 7500
MAX_FRAME_ANCESTORS = 10
MIN_MINUTES = 5
MAX_MINUTES = 480
MAX_SLOT_LENGTH = timedelta(hours=8)

_PROFILE_KEYS = frozenset(
    {
        "name",
        "language",
        "time_zone",
        "doctors",
        "appointment_types",
        "slots",
        "accept_wishes",
        "frame_ancestors",
        "details",
        "sealing",
        "confirmation",
        "answer_within_hours",
        "legal_basis",
        "reminder_days",
    }
)
# Whether confirming a published slot books it ("direct") or asks the practice, which
# accepts, declines or proposes another time ("by_practice"); a wish always asks.
Confirmation = Literal["direct", "by_practice"]
CONFIRMATIONS: tuple[Confirmation, ...] = ("direct", "by_practice")
# How long a by_practice request holds its slot for the practice's answer (and a time the
# practice proposes, for the patient's): by default two days, at most two weeks.
DEFAULT_ANSWER_WITHIN_HOURS = 48
MAX_ANSWER_WITHIN_HOURS = 336
# Who may seal a practice's bookings (docs/protocol.md, "Sealed in the browser"): "relay"
# (absent: clients before protocol 2 cannot open browser-sealed items), "either" (the
# browser where JavaScript runs, the relay otherwise), "browser" (never the relay).
Sealing = Literal["relay", "either", "browser"]
SEALINGS: tuple[Sealing, ...] = ("relay", "either", "browser")
# What a booking's processing rests on (docs/privacy.md). "contract" follows the
# Datenschutzkonferenz's paper on online booking (16 June 2025): Art. 6(1)(b) and 9(2)(h)
# GDPR with § 22 BDSG, no consent needed, the form's box an acknowledgement of the
# privacy notice. "consent": Art. 6(1)(a) and 9(2)(a) GDPR, for a practice that wants it.
LegalBasis = Literal["contract", "consent"]
LEGAL_BASES: tuple[LegalBasis, ...] = ("contract", "consent")
DEFAULT_LEGAL_BASIS: LegalBasis = "contract"
# Days before the appointment a reminder mail goes out, at most two (Doctolib's 7 and 1);
# none: the practice sends no reminders and the form offers none.
MAX_REMINDERS = 2
MAX_REMINDER_DAYS = 7
_TYPE_KEYS = frozenset({"name", "minutes", "note", "names", "notes"})
# A type's note to patients ("Bitte Versichertenkarte und Überweisung mitbringen").
MAX_TYPE_NOTE_LENGTH = 300
_SLOT_KEYS = frozenset({"start", "end", "doctor", "appointment_type", "insurance"})


@dataclass(frozen=True)
class AppointmentType:
    """A kind of appointment the practice offers and how long it usually takes."""

    # The type's identity: slots and bookings name it. In the profile's language.
    name: str
    minutes: int
    # Shown to patients who choose this type: what to bring, how to prepare.
    note: str | None = None
    # The name and note as patients read them in other languages; display only.
    names: ByLanguage[str] = ()
    notes: ByLanguage[str] = ()

    def display_name(self, lang: str, *, own_language: str) -> Localized:
        """The name for a page in `lang`: its translation, else `name` in the profile's
        language (`own_language`)."""
        text, text_lang = in_language(self.name, self.names, lang, own_language)
        return Localized(text, text_lang)

    def display_note(self, lang: str, *, own_language: str) -> Localized | None:
        """The note for a page in `lang`, as `display_name` chooses; None without one."""
        text, text_lang = in_language(self.note, self.notes, lang, own_language)
        return None if text is None else Localized(text, text_lang)


@dataclass(frozen=True)
class Slot:
    """A free appointment the practice published."""

    start: datetime
    end: datetime
    doctor: str | None
    appointment_type: str | None
    # The insurance types the slot is kept for (relay/practice/insurance.py); () for all.
    insurance: tuple[str, ...] = EVERY_INSURANCE

    def fits(self, insurance: str) -> bool:
        """Whether a patient insured so may book this slot."""
        return fits(self.insurance, insurance)

    @functools.cached_property
    def id(self) -> str:
        """Stable id from start and doctor: the same slot keeps its id across re-publishing.

        Computed once per slot object (a SHA-256): profiles are cached per version, so a
        slot's id is hashed once per publication, not once per request.

        Built from public profile data only, so it is safe in Redis key names and logs.
        """
        key = f"{utc_iso(self.start)}|{self.doctor or ''}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Profile:
    """What a practice offers; replaced as a whole by `PUT /api/v1/profile`."""

    name: str
    time_zone: str
    doctors: tuple[str, ...]
    appointment_types: tuple[AppointmentType, ...]
    slots: tuple[Slot, ...]
    accept_wishes: bool
    # Origins allowed to embed the booking form (CSP frame-ancestors).
    frame_ancestors: tuple[str, ...]
    # Address, contact, opening hours, data protection contacts (relay/practice/details.py).
    details: PracticeDetails = NO_DETAILS
    sealing: Sealing = "relay"
    # The language the practice's own texts are written in (its name, the types' names
    # and notes, the details); translations of some of them sit beside them.
    language: str = DEFAULT_LANGUAGE
    confirmation: Confirmation = "direct"
    answer_within_hours: int = DEFAULT_ANSWER_WITHIN_HOURS
    legal_basis: LegalBasis = DEFAULT_LEGAL_BASIS
    # Distinct, largest first ((7, 1)); () when the practice sends no reminders.
    reminder_days: tuple[int, ...] = ()

    @property
    def offers_reminders(self) -> bool:
        """Whether the form offers the reminder box (a consent of its own)."""
        return bool(self.reminder_days)

    @property
    def browser_sealing(self) -> bool:
        """Whether the browser may seal (and so the form page offers it)."""
        return self.sealing != "relay"

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The practice's time zone."""
        return zoneinfo.ZoneInfo(self.time_zone)

    @functools.cached_property
    def slots_by_start(self) -> Mapping[datetime, tuple[Slot, ...]]:
        """The slots starting at each time, built once per profile object: a submission
        finds its slot without walking the calendar."""
        by_start: dict[datetime, list[Slot]] = {}
        for slot in self.slots:
            by_start.setdefault(slot.start, []).append(slot)
        return {start: tuple(slots) for start, slots in by_start.items()}

    @functools.cached_property
    def limits_insurance(self) -> bool:
        """Whether some slot is kept for some insurance types: then the form asks for the
        insurance before it shows times. Once per profile object."""
        return any(slot.insurance for slot in self.slots)

    def appointment_type(self, name: str) -> AppointmentType | None:
        """The offered appointment type called `name`, if any."""
        return next((kind for kind in self.appointment_types if kind.name == name), None)


def default_profile(name: str) -> Profile:
    """The profile of a practice that has published nothing yet: wishes only."""
    return Profile(
        name=name,
        time_zone=DEFAULT_TIME_ZONE,
        doctors=(),
        appointment_types=(),
        slots=(),
        accept_wishes=True,
        frame_ancestors=(),
    )


def free_slots(profile: Profile, unavailable_ids: AbstractSet[str], now: datetime) -> list[Slot]:
    """Slots still bookable at `now`, by start, without the held or taken ones."""
    require_aware(now)
    return sorted(
        (slot for slot in profile.slots if slot.start > now and slot.id not in unavailable_ids),
        key=lambda slot: slot.start,
    )


# Validation of PUT /api/v1/profile ------------------------------------------------------


def parse_profile(data: object, *, now: datetime) -> Profile:
    """Validate a published profile; slots already begun at `now` are dropped silently.

    Raises ValidationFailed with paths such as "doctors[1]" or "slots[3].end".
    """
    require_aware(now)
    if not isinstance(data, Mapping):
        raise ValidationFailed({"profile": "not_object"})
    errors: dict[str, ErrorCode] = {}
    for key in data:
        if key not in _PROFILE_KEYS:
            errors[str(key)] = "unknown_field"

    name = check(errors, "name", _profile_name, data.get("name"))
    language = check(errors, "language", _language, _or_default(data, "language", DEFAULT_LANGUAGE))
    time_zone = check(
        errors, "time_zone", _time_zone, _or_default(data, "time_zone", DEFAULT_TIME_ZONE)
    )
    accept_wishes = check(
        errors, "accept_wishes", require_bool, _or_default(data, "accept_wishes", True)
    )
    doctors = _doctors(errors, _or_default(data, "doctors", []))
    types = _appointment_types(errors, _or_default(data, "appointment_types", []))
    frame_ancestors = _frame_ancestors(errors, _or_default(data, "frame_ancestors", []))
    details = parse_details(errors, data.get("details"))
    sealing = check(errors, "sealing", _sealing, _or_default(data, "sealing", "relay"))
    confirmation = check(
        errors, "confirmation", _confirmation, _or_default(data, "confirmation", "direct")
    )
    answer_within_hours = check(
        errors,
        "answer_within_hours",
        _answer_within_hours,
        _or_default(data, "answer_within_hours", DEFAULT_ANSWER_WITHIN_HOURS),
    )
    legal_basis = check(
        errors,
        "legal_basis",
        _legal_basis,
        _or_default(data, "legal_basis", DEFAULT_LEGAL_BASIS),
    )
    reminder_days = _reminder_days(errors, _or_default(data, "reminder_days", []))
    slots = _slots(
        errors,
        _or_default(data, "slots", []),
        # A broken doctor or type list would make every slot naming it fail too.
        doctors=None if _has_errors(errors, "doctors") else doctors,
        types=None if _has_errors(errors, "appointment_types") else types,
        zone=zoneinfo.ZoneInfo(time_zone or DEFAULT_TIME_ZONE),
    )
    if (
        errors
        or name is None
        or language is None
        or time_zone is None
        or accept_wishes is None
        or sealing is None
        or confirmation is None
        or answer_within_hours is None
        or legal_basis is None
    ):
        raise ValidationFailed(errors)
    return Profile(
        name=name,
        time_zone=time_zone,
        doctors=doctors,
        appointment_types=types,
        # Practice software publishes its calendar blindly; slots already begun are noise.
        slots=tuple(slot for slot in slots if slot.start > now),
        accept_wishes=accept_wishes,
        frame_ancestors=frame_ancestors,
        details=details,
        sealing=sealing,
        language=language,
        confirmation=confirmation,
        answer_within_hours=answer_within_hours,
        legal_basis=legal_basis,
        reminder_days=reminder_days,
    )


def _legal_basis(value: object) -> LegalBasis:
    if not isinstance(value, str):
        raise InvalidValueError("not_string")
    for basis in LEGAL_BASES:
        if value == basis:
            return basis
    raise InvalidValueError("invalid_choice")


def _reminder_day(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValueError("not_integer")
    if not 1 <= value <= MAX_REMINDER_DAYS:
        raise InvalidValueError("out_of_range")
    return value


def _reminder_days(errors: dict[str, ErrorCode], value: object) -> tuple[int, ...]:
    days: list[int] = []
    for index, item in enumerate(_entries(errors, "reminder_days", value, MAX_REMINDERS)):
        path = f"reminder_days[{index}]"
        day = check(errors, path, _reminder_day, item)
        if day is None:
            continue
        if day in days:
            errors[path] = "duplicate"
            continue
        days.append(day)
    return tuple(sorted(days, reverse=True))


def _confirmation(value: object) -> Confirmation:
    if not isinstance(value, str):
        raise InvalidValueError("not_string")
    for confirmation in CONFIRMATIONS:
        if value == confirmation:
            return confirmation
    raise InvalidValueError("invalid_choice")


def _answer_within_hours(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValueError("not_integer")
    if not 1 <= value <= MAX_ANSWER_WITHIN_HOURS:
        raise InvalidValueError("out_of_range")
    return value


def _language(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidValueError("not_string")
    if value not in LANGUAGES:
        raise InvalidValueError("invalid_choice")
    return value


def _sealing(value: object) -> Sealing:
    for sealing in SEALINGS:
        if value == sealing:
            return sealing
    raise InvalidValueError("invalid_choice" if isinstance(value, str) else "not_string")


def _or_default(data: Mapping[object, object], key: str, default: object = None) -> object:
    """data[key], with JSON null treated like an absent key."""
    value = data.get(key)
    return default if value is None else value


def _has_errors(errors: Mapping[str, str], list_path: str) -> bool:
    return any(path == list_path or path.startswith(f"{list_path}[") for path in errors)


def _profile_name(value: object) -> str:
    return require_text(value, max_length=MAX_NAME_LENGTH)


def _entry_name(value: object) -> str:
    return require_text(value, max_length=MAX_ENTRY_NAME_LENGTH)


@functools.cache
def _known_time_zones() -> frozenset[str]:
    # The IANA list rather than trying ZoneInfo(value): that also opens files such as
    # "posixrules" and fails differently per platform. "localtime" is the host's zone,
    # whatever that is, not a name a practice can mean.
    return frozenset(zoneinfo.available_timezones()) - {"localtime"}


def _time_zone(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidValueError("not_string")
    if value not in _known_time_zones():
        raise InvalidValueError("unknown_time_zone")
    return value


def _entries(
    errors: dict[str, ErrorCode], path: str, value: object, limit: int
) -> Sequence[object]:
    """The items of a JSON list, or none with the failure recorded."""
    if not isinstance(value, list):
        errors[path] = "not_list"
        return ()
    if len(value) > limit:
        errors[path] = "too_many"
        return ()
    return value


def _doctors(errors: dict[str, ErrorCode], value: object) -> tuple[str, ...]:
    doctors: list[str] = []
    for index, item in enumerate(_entries(errors, "doctors", value, MAX_DOCTORS)):
        path = f"doctors[{index}]"
        doctor = check(errors, path, _entry_name, item)
        if doctor is None:
            continue
        if doctor in doctors:
            errors[path] = "duplicate"
            continue
        doctors.append(doctor)
    return tuple(doctors)


def _appointment_types(errors: dict[str, ErrorCode], value: object) -> tuple[AppointmentType, ...]:
    types: list[AppointmentType] = []
    seen: set[str] = set()
    # (language, name a page in it shows) -> the path of the translation that gave it,
    # None for a type's own name.
    shown: dict[tuple[str, str], str | None] = {}
    entries = _entries(errors, "appointment_types", value, MAX_APPOINTMENT_TYPES)
    for index, item in enumerate(entries):
        path = f"appointment_types[{index}]"
        if not isinstance(item, Mapping):
            errors[path] = "not_object"
            continue
        for key in item:
            if key not in _TYPE_KEYS:
                errors[f"{path}.{key}"] = "unknown_field"
        name = check(errors, f"{path}.name", _entry_name, item.get("name"))
        minutes = check(errors, f"{path}.minutes", _minutes, item.get("minutes"))
        note = check(errors, f"{path}.note", _type_note, item.get("note"))
        names = parse_by_language(
            errors, f"{path}.names", item.get("names"), lambda e, p, v: check(e, p, _entry_name, v)
        )
        notes = parse_by_language(
            errors, f"{path}.notes", item.get("notes"), lambda e, p, v: check(e, p, _type_note, v)
        )
        if name is not None and name in seen:
            errors[f"{path}.name"] = "duplicate"
            continue
        if name is not None and minutes is not None:
            seen.add(name)
            kind = AppointmentType(name, minutes, note, names, notes)
            _name_clashes(errors, f"{path}.names", kind, shown)
            types.append(kind)
    return tuple(types)


def _name_clashes(
    errors: dict[str, ErrorCode],
    path: str,
    kind: AppointmentType,
    shown: dict[tuple[str, str], str | None],
) -> None:
    """Records a translation that makes a page show two types under one name: patients
    could not tell them apart."""
    translated = dict(kind.names)
    for code in LANGUAGES:
        text = translated.get(code, kind.name)
        here = f"{path}.{code}" if code in translated else None
        if (code, text) not in shown:
            shown[code, text] = here
            continue
        # Own names are unique, so at least one of the two is a translation.
        culprit = here or shown[code, text]
        if culprit is not None:
            errors[culprit] = "duplicate"


def _type_note(value: object) -> str | None:
    # One line, like every single-line profile value (relay/rules/text.py).
    return clean_text(value, max_length=MAX_TYPE_NOTE_LENGTH, required=False)


def _minutes(value: object) -> int:
    if value is None:
        raise InvalidValueError("required")
    # bool is an int in Python but not a number of minutes in JSON.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidValueError("not_integer")
    if not MIN_MINUTES <= value <= MAX_MINUTES:
        raise InvalidValueError("out_of_range")
    return value


def _slots(
    errors: dict[str, ErrorCode],
    value: object,
    *,
    doctors: tuple[str, ...] | None,
    types: tuple[AppointmentType, ...] | None,
    zone: zoneinfo.ZoneInfo,
) -> tuple[Slot, ...]:
    """Valid slots in the practice's zone; `doctors`/`types` None when they are unknown."""
    slots: list[Slot] = []
    seen: set[tuple[datetime, str | None]] = set()
    for index, item in enumerate(_entries(errors, "slots", value, MAX_SLOTS)):
        path = f"slots[{index}]"
        errors_before = len(errors)
        if not isinstance(item, Mapping):
            errors[path] = "not_object"
            continue
        for key in item:
            if key not in _SLOT_KEYS:
                errors[f"{path}.{key}"] = "unknown_field"
        start = check(errors, f"{path}.start", parse_aware_datetime, item.get("start"))
        end = check(errors, f"{path}.end", parse_aware_datetime, item.get("end"))
        if start is not None and end is not None:
            if end <= start:
                errors[f"{path}.end"] = "end_before_start"
            elif end - start > MAX_SLOT_LENGTH:
                errors[f"{path}.end"] = "duration_too_long"
        doctor = check(
            errors,
            f"{path}.doctor",
            functools.partial(_slot_doctor, doctors=doctors),
            item.get("doctor"),
        )
        kind = check(
            errors,
            f"{path}.appointment_type",
            functools.partial(_slot_appointment_type, types=types),
            item.get("appointment_type"),
        )
        insurance = parse_slot_insurance(errors, f"{path}.insurance", item.get("insurance"))
        # Every path of this slot is new, so any failure above made `errors` grow.
        if len(errors) > errors_before or start is None or end is None:
            continue
        if (start, doctor) in seen:
            errors[f"{path}.start"] = "duplicate"
            continue
        seen.add((start, doctor))
        slots.append(
            Slot(
                start=start.astimezone(zone),
                end=end.astimezone(zone),
                doctor=doctor,
                appointment_type=kind,
                insurance=insurance,
            )
        )
    return tuple(slots)


def _slot_doctor(value: object, doctors: tuple[str, ...] | None) -> str | None:
    doctor = clean_text(value, max_length=MAX_ENTRY_NAME_LENGTH, required=False)
    if doctors is None:
        return doctor
    if doctor is None:
        if len(doctors) > 1:
            raise InvalidValueError("required")
        # With a single doctor every slot is theirs; naming them keeps bookings uniform.
        return doctors[0] if doctors else None
    if not doctors:
        raise InvalidValueError("not_offered")
    if doctor not in doctors:
        raise InvalidValueError("invalid_choice")
    return doctor


def _slot_appointment_type(value: object, types: tuple[AppointmentType, ...] | None) -> str | None:
    name = clean_text(value, max_length=MAX_ENTRY_NAME_LENGTH, required=False)
    if name is None or types is None:
        return name
    if not types:
        raise InvalidValueError("not_offered")
    if all(kind.name != name for kind in types):
        raise InvalidValueError("invalid_choice")
    return name


# CSP source expressions are space- and semicolon-delimited, so anything beyond a plain
# origin could inject further directives into the header.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_ORIGIN = re.compile(
    rf"https://(?P<wildcard>\*\.)?(?P<host>{_LABEL}(?:\.{_LABEL})*)(?::(?P<port>[0-9]{{1,5}}))?",
    re.ASCII,
)


def _frame_ancestor(value: object) -> str:
    if value is None:
        raise InvalidValueError("required")
    if not isinstance(value, str):
        raise InvalidValueError("not_string")
    origin = value.strip().lower()
    match = _ORIGIN.fullmatch(origin)
    if match is None or len(match["host"]) > 253:
        raise InvalidValueError("invalid")
    if match["port"] is not None and not 1 <= int(match["port"]) <= 65535:
        raise InvalidValueError("invalid")
    # "https://*.de" would let every site under a top-level domain embed the form.
    if match["wildcard"] and "." not in match["host"]:
        raise InvalidValueError("invalid")
    return origin


def _frame_ancestors(errors: dict[str, ErrorCode], value: object) -> tuple[str, ...]:
    origins: list[str] = []
    entries = _entries(errors, "frame_ancestors", value, MAX_FRAME_ANCESTORS)
    for index, item in enumerate(entries):
        path = f"frame_ancestors[{index}]"
        origin = check(errors, path, _frame_ancestor, item)
        if origin is None:
            continue
        if origin in origins:
            errors[path] = "duplicate"
            continue
        origins.append(origin)
    return tuple(origins)


# Storage round trip ---------------------------------------------------------------------


def profile_to_json(profile: Profile) -> dict[str, object]:
    """The profile as JSON-ready data, times as ISO 8601 with offset."""
    return {
        "name": profile.name,
        "language": profile.language,
        "time_zone": profile.time_zone,
        "doctors": list(profile.doctors),
        "appointment_types": [
            {
                "name": kind.name,
                "minutes": kind.minutes,
                "note": kind.note,
                "names": dict(kind.names),
                "notes": dict(kind.notes),
            }
            for kind in profile.appointment_types
        ],
        "slots": [
            {
                "start": slot.start.isoformat(),
                "end": slot.end.isoformat(),
                "doctor": slot.doctor,
                "appointment_type": slot.appointment_type,
                **slot_insurance_json(slot.insurance),
            }
            for slot in profile.slots
        ],
        "accept_wishes": profile.accept_wishes,
        "frame_ancestors": list(profile.frame_ancestors),
        "details": details_to_json(profile.details),
        "sealing": profile.sealing,
        "confirmation": profile.confirmation,
        "answer_within_hours": profile.answer_within_hours,
        "legal_basis": profile.legal_basis,
        "reminder_days": list(profile.reminder_days),
    }


def profile_from_json(data: object) -> Profile:
    """A profile stored by `profile_to_json`; trusted, so only its shape is checked.

    Raises TypeError, KeyError or ValueError for data of the wrong shape (a corrupt store).
    """
    stored = _stored_object(data)
    return Profile(
        name=_stored_str(stored["name"]),
        time_zone=_stored_str(stored["time_zone"]),
        doctors=tuple(_stored_str(doctor) for doctor in _stored_list(stored["doctors"])),
        appointment_types=tuple(
            _stored_type(_stored_object(item)) for item in _stored_list(stored["appointment_types"])
        ),
        slots=tuple(_stored_slot(_stored_object(item)) for item in _stored_list(stored["slots"])),
        accept_wishes=stored["accept_wishes"] is True,
        frame_ancestors=tuple(
            _stored_str(origin) for origin in _stored_list(stored.get("frame_ancestors", []))
        ),
        details=details_from_json(stored.get("details")),
        sealing=_sealing(stored.get("sealing", "relay")),
        # Profiles stored before languages existed are German.
        language=_language(stored.get("language", DEFAULT_LANGUAGE)),
        # Profiles stored before confirmation modes existed booked directly.
        confirmation=_confirmation(stored.get("confirmation", "direct")),
        answer_within_hours=_answer_within_hours(
            stored.get("answer_within_hours", DEFAULT_ANSWER_WITHIN_HOURS)
        ),
        # Profiles stored before the legal basis was a choice get the default, which the
        # form and notices state from then on; before reminders, none are sent.
        legal_basis=_legal_basis(stored.get("legal_basis", DEFAULT_LEGAL_BASIS)),
        reminder_days=tuple(
            _reminder_day(day) for day in _stored_list(stored.get("reminder_days", []))
        ),
    )


def _stored_object(value: object) -> Mapping[object, object]:
    if not isinstance(value, Mapping):
        raise TypeError("stored profile: expected an object")
    return value


def _stored_list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise TypeError("stored profile: expected a list")
    return value


def _stored_str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("stored profile: expected a string")
    return value


def _stored_optional_str(value: object) -> str | None:
    return None if value is None else _stored_str(value)


def _stored_type(item: Mapping[object, object]) -> AppointmentType:
    minutes = item["minutes"]
    if not isinstance(minutes, int):
        raise TypeError("stored profile: expected an integer")
    # Profiles stored before notes existed have none.
    note = _stored_optional_str(item.get("note"))
    return AppointmentType(
        name=_stored_str(item["name"]),
        minutes=minutes,
        note=note,
        # Profiles stored before translations existed have none.
        names=_stored_texts(item.get("names")),
        notes=_stored_texts(item.get("notes")),
    )


def _stored_texts(value: object) -> ByLanguage[str]:
    if value is None:
        return ()
    stored = _stored_object(value)
    return tuple((code, _stored_str(stored[code])) for code in LANGUAGES if code in stored)


def _stored_slot(item: Mapping[object, object]) -> Slot:
    return Slot(
        start=require_aware(datetime.fromisoformat(_stored_str(item["start"]))),
        end=require_aware(datetime.fromisoformat(_stored_str(item["end"]))),
        doctor=_stored_optional_str(item.get("doctor")),
        appointment_type=_stored_optional_str(item.get("appointment_type")),
        insurance=stored_slot_insurance(item),
    )
