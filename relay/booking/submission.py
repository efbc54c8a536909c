"""Validation of a booking submission against the field list and the practice's profile."""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from relay.booking.fields import FIELD_NAMES, FIELDS, Field, field
from relay.errors import ValidationFailed
from relay.practice.profile import (
    MAX_ENTRY_NAME_LENGTH,
    MAX_SLOT_LENGTH,
    LegalBasis,
    Profile,
    Slot,
)
from relay.rules.contact import email_problem, phone_problem
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

MAX_AGE_YEARS = 130
# Practices plan about a year ahead; a wish beyond that is a typo in the year.
MAX_WISH_AHEAD = timedelta(days=365)

# Sent by the booking form but not booking data ("nav": a slot picker button).
_FORM_ONLY = frozenset({"lang", "csrf", "nav"})
# A browser posts nothing at all for an unticked checkbox.
_CHECKBOXES = frozenset({"consent", "reminder"})
_FORM_TRUE = frozenset({"true", "on", "yes", "1"})
_FORM_FALSE = frozenset({"false", "off", "no", "0"})

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)

BookingKind = Literal["slot", "wish"]


@dataclass(frozen=True)
class BookingRequest:
    """A valid submission, normalized; start and end in the practice's time zone."""

    first_name: str
    last_name: str
    birth_date: date
    gender: str
    insurance: str
    note: str | None
    new_patient: bool
    doctor: str | None
    appointment_type: str | None
    start: datetime
    end: datetime | None
    email: str
    phone: str | None
    consent: bool
    # The published slot this booking takes; None for a wish.
    slot: Slot | None
    # The patient asked for reminder mails: a consent of its own, given at submission.
    reminder: bool = False

    @property
    def kind(self) -> BookingKind:
        """`slot` for a published slot, `wish` for a time the patient suggested."""
        return "wish" if self.slot is None else "slot"

    def document(
        self,
        *,
        booking_id: str,
        practice: str,
        submitted_at: datetime,
        consent_at: datetime,
        language: str,
        legal_basis: LegalBasis,
    ) -> dict[str, object]:
        """The booking as the practice receives it (JSON-ready).

        `language` is the one the patient used (one of relay.i18n.languages.LANGUAGES), so
        the practice can answer in it; `legal_basis` the practice's profile's, which the
        form and the notice stated.
        """
        return {
            "id": booking_id,
            "practice": practice,
            "kind": self.kind,
            "language": language,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "birth_date": self.birth_date.isoformat(),
            "gender": self.gender,
            "insurance": self.insurance,
            "note": self.note,
            "new_patient": self.new_patient,
            "doctor": self.doctor,
            "appointment_type": self.appointment_type,
            "start": self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "email": self.email,
            "phone": self.phone,
            "consent": self.consent,
            "submitted_at": utc_iso(submitted_at),
            "consent_at": utc_iso(consent_at),
            "legal_basis": legal_basis,
            "reminder": self.reminder,
            "reminder_consent_at": utc_iso(submitted_at) if self.reminder else None,
        }


def validate_booking(
    data: Mapping[str, object], profile: Profile, *, now: datetime
) -> BookingRequest:
    """Check a submission (typed JSON values) against the rules and `profile`.

    Raises ValidationFailed with one code per bad field. Whether a slot is still free
    is not checked here: the store decides that atomically when it holds the slot.
    """
    require_aware(now)
    zone = profile.zone
    today = now.astimezone(zone).date()
    errors: dict[str, ErrorCode] = {}
    for key in data:
        if key not in FIELD_NAMES:
            errors[key] = "unknown_field"

    first_name = check(errors, "first_name", _text_of("first_name"), data.get("first_name"))
    last_name = check(errors, "last_name", _text_of("last_name"), data.get("last_name"))
    birth_date = check(
        errors, "birth_date", functools.partial(_birth_date, today=today), data.get("birth_date")
    )
    gender = check(
        errors, "gender", functools.partial(_choice, of=field("gender")), data.get("gender")
    )
    insurance = check(
        errors,
        "insurance",
        functools.partial(_choice, of=field("insurance")),
        data.get("insurance"),
    )
    note = check(errors, "note", _note, data.get("note"))
    new_patient = check(errors, "new_patient", require_bool, data.get("new_patient"))
    email = check(errors, "email", email_address, data.get("email"))
    phone = check(errors, "phone", _phone, data.get("phone"))
    consent = check(errors, "consent", consent_given, data.get("consent"))
    reminder = check(
        errors,
        "reminder",
        functools.partial(reminder_wanted, profile=profile),
        data.get("reminder"),
    )
    doctor = check(
        errors, "doctor", functools.partial(_offered, offered=profile.doctors), data.get("doctor")
    )
    type_names = tuple(kind.name for kind in profile.appointment_types)
    appointment_type = check(
        errors,
        "appointment_type",
        functools.partial(_offered, offered=type_names),
        data.get("appointment_type"),
    )
    start = check(errors, "start", parse_aware_datetime, data.get("start"))
    end = check(errors, "end", optional_datetime, data.get("end"))

    slot: Slot | None = None
    is_wish = False
    if start is not None:
        slot, is_wish = _find_slot(errors, profile, start, doctor)
        if slot is not None:
            if end is not None and end != slot.end:
                errors.setdefault("end", "slot_mismatch")
            if (
                appointment_type is not None
                and slot.appointment_type is not None
                and appointment_type != slot.appointment_type
            ):
                errors.setdefault("appointment_type", "slot_mismatch")
            end = slot.end
            doctor = doctor or slot.doctor
            appointment_type = appointment_type or slot.appointment_type
            if start <= now:
                errors.setdefault("start", "not_in_future")
            if insurance is not None and not slot.fits(insurance):
                errors.setdefault("insurance", "insurance_mismatch")
        elif is_wish:
            end = wish_end(
                errors, profile, now=now, start=start, end=end, appointment_type=appointment_type
            )

    # While the time is unusable the slot is unknown: ask only for what no slot could
    # fill in, so a patient is not told to pick a doctor the slot would have named.
    undecided = slot is None and not is_wish
    if (
        profile.doctors
        and doctor is None
        and not (undecided and any(s.doctor for s in profile.slots))
    ):
        errors.setdefault("doctor", "required")
    if (
        profile.appointment_types
        and appointment_type is None
        and not (undecided and any(s.appointment_type for s in profile.slots))
    ):
        errors.setdefault("appointment_type", "required")

    if (
        errors
        or first_name is None
        or last_name is None
        or birth_date is None
        or gender is None
        or insurance is None
        or new_patient is None
        or email is None
        or consent is None
        or start is None
    ):
        raise ValidationFailed(errors)
    return BookingRequest(
        first_name=first_name,
        last_name=last_name,
        birth_date=birth_date,
        gender=gender,
        insurance=insurance,
        note=note,
        new_patient=new_patient,
        doctor=doctor,
        appointment_type=appointment_type,
        start=start.astimezone(zone),
        end=None if end is None else end.astimezone(zone),
        email=email,
        phone=phone,
        consent=consent,
        slot=slot,
        reminder=reminder is True,
    )


def _find_slot(
    errors: dict[str, ErrorCode], profile: Profile, start: datetime, doctor: str | None
) -> tuple[Slot | None, bool]:
    """The published slot the booking names, and whether it is a wish instead.

    (None, False) means neither: the failure is recorded in `errors`.
    """
    at_start = profile.slots_by_start.get(start, ())
    matching = [slot for slot in at_start if doctor is None or slot.doctor == doctor]
    if len(matching) == 1:
        return matching[0], False
    if matching:
        # Several doctors offer this time; only the doctor can tell which slot is meant.
        errors.setdefault("doctor", "required")
    elif profile.accept_wishes:
        return None, True
    elif at_start:
        errors.setdefault("doctor", "slot_mismatch")
    else:
        errors.setdefault("start", "not_a_slot")
    return None, False


def wish_end(
    errors: dict[str, ErrorCode],
    profile: Profile,
    *,
    now: datetime,
    start: datetime,
    end: datetime | None,
    appointment_type: str | None,
) -> datetime | None:
    """Check a wished time; its end, computed from the type's length when not given."""
    if start <= now:
        errors.setdefault("start", "not_in_future")
    elif start - now > MAX_WISH_AHEAD:
        errors.setdefault("start", "too_far_ahead")
    if end is not None:
        if end <= start:
            errors.setdefault("end", "end_before_start")
        elif end - start > MAX_SLOT_LENGTH:
            errors.setdefault("end", "duration_too_long")
        return end
    kind = None if appointment_type is None else profile.appointment_type(appointment_type)
    if kind is None:
        return None
    # In UTC, so a wish across a daylight saving change still lasts the type's minutes.
    return start.astimezone(UTC) + timedelta(minutes=kind.minutes)


def _text_of(name: str) -> Callable[[object], str]:
    """The check of a required text field, bounded by the field list."""
    return functools.partial(require_text, max_length=_max_length(name))


def _birth_date(value: object, *, today: date) -> date:
    if value is None or value == "":
        raise InvalidValueError("required")
    if not isinstance(value, str):
        raise InvalidValueError("not_string")
    text = value.strip()
    if not _DATE.fullmatch(text):
        raise InvalidValueError("invalid_date")
    try:
        born = date.fromisoformat(text)
    except ValueError:
        raise InvalidValueError("invalid_date") from None
    if born >= today:
        raise InvalidValueError("not_in_past")
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if age > MAX_AGE_YEARS:
        raise InvalidValueError("too_old")
    return born


def _choice(value: object, *, of: Field) -> str:
    choice = require_text(value, max_length=MAX_ENTRY_NAME_LENGTH)
    if choice not in of.choices:
        raise InvalidValueError("invalid_choice")
    return choice


def _offered(value: object, *, offered: tuple[str, ...]) -> str | None:
    """A doctor or type the practice lists; None when not given (required is checked later)."""
    name = clean_text(value, max_length=MAX_ENTRY_NAME_LENGTH, required=False)
    if name is None:
        return None
    if not offered:
        raise InvalidValueError("not_offered")
    if name not in offered:
        raise InvalidValueError("invalid_choice")
    return name


def _note(value: object) -> str | None:
    return clean_text(value, max_length=_max_length("note"), required=False, multiline=True)


def optional_datetime(value: object) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_aware_datetime(value)


def email_address(value: object) -> str:
    if value is None:
        raise InvalidValueError("required")
    if not isinstance(value, str):
        raise InvalidValueError("not_string")
    # Counted as sent, like every text bound (relay/booking/fields.py clean_text).
    if len(value) > _max_length("email"):
        raise InvalidValueError("too_long")
    address = value.strip()
    if not address:
        raise InvalidValueError("required")
    # relay/rules/contact.py's pattern admits no space, line break or control character, so
    # an address can never smuggle a header into the confirmation mail.
    problem = email_problem(address)
    if problem is not None:
        raise InvalidValueError(problem)
    return address


def _phone(value: object) -> str | None:
    number = clean_text(value, max_length=_max_length("phone"), required=False)
    if number is None:
        return None
    problem = phone_problem(number)
    if problem is not None:
        raise InvalidValueError(problem)
    return number


def consent_given(value: object) -> bool:
    if value is None or value is False:
        raise InvalidValueError("must_accept")
    if not isinstance(value, bool):
        raise InvalidValueError("not_boolean")
    return value


def reminder_wanted(value: object, *, profile: Profile) -> bool:
    """The reminder box: optional, unticked means no; ticked only where the practice sends
    reminders. (For a wish it applies once the practice fixes the time.)"""
    if value is None or value is False:
        return False
    if not isinstance(value, bool):
        raise InvalidValueError("not_boolean")
    if not profile.offers_reminders:
        raise InvalidValueError("not_offered")
    return True


def _max_length(name: str) -> int:
    limit = field(name).max_length
    if limit is None:  # pragma: no cover - the field list gives every text field a bound
        raise ValueError(f"field {name} has no max_length")
    return limit


# HTML form posts ------------------------------------------------------------------------


def form_to_data(form: Mapping[str, str], *, time_zone: str | None = None) -> dict[str, object]:
    """Turn a form post (all strings) into the typed data `validate_booking` takes.

    The slot picker posts `slot` as "{start}|{doctor}"; it names the start (and doctor)
    and wins over the wish fields. A doctor chosen in the list that differs from the
    slot's is not overridden silently: `form_contradictions` refuses the post. With
    `time_zone`, a start or end without offset (an HTML datetime-local input) is read as
    local time of that zone.
    """
    bool_fields = {f.name for f in FIELDS if f.kind == "bool"}
    data: dict[str, object] = {}
    for name, raw in form.items():
        if name in _FORM_ONLY or name == "slot":
            continue
        if name in FIELD_NAMES and not raw.strip():
            # Blank is unanswered, except for a checkbox, where it can only mean unticked.
            if name in _CHECKBOXES:
                data[name] = False
        elif name in bool_fields:
            data[name] = _form_bool(raw)
        else:
            data[name] = raw
    for name in _CHECKBOXES:
        data.setdefault(name, False)

    start, _, doctor = form.get("slot", "").partition("|")
    if start.strip():
        data["start"] = start.strip()
        if doctor.strip():
            data["doctor"] = doctor.strip()

    if time_zone is not None:
        zone = zoneinfo.ZoneInfo(time_zone)
        for name in ("start", "end"):
            if name in data:
                data[name] = _form_datetime(data[name], zone)
    return data


def form_contradictions(form: Mapping[str, str]) -> dict[str, ErrorCode]:
    """Choices a form post makes twice, differently: the doctor list against the chosen
    slot's doctor. (A type list against the slot's type is the validator's own
    "slot_mismatch", as the API can send both too.)"""
    _, _, slot_doctor = form.get("slot", "").partition("|")
    listed = form.get("doctor", "").strip()
    if listed and slot_doctor.strip() and listed != slot_doctor.strip():
        return {"doctor": "slot_mismatch"}
    return {}


def _form_bool(raw: str) -> object:
    text = raw.strip().lower()
    if text in _FORM_TRUE:
        return True
    if text in _FORM_FALSE:
        return False
    return raw  # the validator answers "not_boolean"


def _form_datetime(raw: object, zone: zoneinfo.ZoneInfo) -> object:
    try:
        return parse_aware_datetime(raw, assume_zone=zone).isoformat()
    except InvalidValueError:
        return raw  # the validator reports it
