"""Validation of booking submissions and form posts (relay/booking/submission.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from relay.booking.fields import FIELD_NAMES, field
from relay.booking.submission import BookingRequest, form_to_data, validate_booking
from relay.errors import ValidationFailed
from relay.practice.profile import Profile, parse_profile
from relay.rules import contact

# 10:00 in Berlin on Monday, 1 June 2026.
NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
DOCTOR_A = "Dr. A. Beispiel"
DOCTOR_B = "Dr. B. Muster"
# A slot only Dr. B offers, of type "Kontrolle".
SLOT_START = "2026-06-03T11:00:00+02:00"
SLOT_END = "2026-06-03T11:10:00+02:00"
# Both doctors offer 09:00 on 2 June; Dr. A's slot is an "Erstgespräch", Dr. B's untyped.
SHARED_START = "2026-06-02T09:00:00+02:00"
ABSENT = object()


def profile_data(**changes: object) -> dict[str, object]:
    """A practice with two doctors, two types and three slots, changed by `changes`."""
    data: dict[str, object] = {
        "name": "Gemeinschaftspraxis Beispiel",
        "time_zone": "Europe/Berlin",
        "doctors": [DOCTOR_A, DOCTOR_B],
        "appointment_types": [
            {"name": "Erstgespräch", "minutes": 20},
            {"name": "Kontrolle", "minutes": 10},
        ],
        "slots": [
            {
                "start": SHARED_START,
                "end": "2026-06-02T09:20:00+02:00",
                "doctor": DOCTOR_A,
                "appointment_type": "Erstgespräch",
            },
            {"start": SHARED_START, "end": "2026-06-02T09:10:00+02:00", "doctor": DOCTOR_B},
            {
                "start": SLOT_START,
                "end": SLOT_END,
                "doctor": DOCTOR_B,
                "appointment_type": "Kontrolle",
            },
        ],
        "accept_wishes": False,
    }
    data.update(changes)
    return data


def make_profile(**changes: object) -> Profile:
    """The test practice's profile, changed by `changes`."""
    return parse_profile(profile_data(**changes), now=NOW)


PROFILE = make_profile()
WISHES = make_profile(accept_wishes=True)
# A practice that lists nothing and takes wishes: the default for a new practice.
PLAIN = make_profile(doctors=[], appointment_types=[], slots=[], accept_wishes=True)


def booking(**changes: object) -> dict[str, object]:
    """A valid booking of the Dr. B slot, changed by `changes` (ABSENT removes a key)."""
    data: dict[str, object] = {
        "first_name": "Erika",
        "last_name": "Mustermann",
        "birth_date": "1964-08-12",
        "gender": "female",
        "insurance": "statutory",
        "new_patient": True,
        "start": SLOT_START,
        "email": "erika.mustermann@example.de",
        "consent": True,
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not ABSENT}


def errors_of(data: dict[str, object], profile: Profile = PROFILE) -> dict[str, str]:
    """The errors validate_booking reports for `data`."""
    with pytest.raises(ValidationFailed) as failure:
        validate_booking(data, profile, now=NOW)
    return failure.value.errors


def valid(data: dict[str, object], profile: Profile = PROFILE) -> BookingRequest:
    """The request validate_booking makes of `data`."""
    return validate_booking(data, profile, now=NOW)


def code_for(name: str, value: object) -> str | None:
    """The error code the booking gets for field `name` = `value`, None if it passes."""
    try:
        valid(booking(**{name: value}))
    except ValidationFailed as failure:
        return failure.errors[name]
    return None


# A valid booking ----------------------------------------------------------------------------


def test_valid_slot_booking() -> None:
    """A complete booking of a published slot passes, filled in from the slot."""
    request = valid(booking(note="Bitte vormittags.", phone="+49 30 1234567"))
    assert request == BookingRequest(
        first_name="Erika",
        last_name="Mustermann",
        birth_date=date(1964, 8, 12),
        gender="female",
        insurance="statutory",
        note="Bitte vormittags.",
        new_patient=True,
        doctor=DOCTOR_B,
        appointment_type="Kontrolle",
        start=datetime(2026, 6, 3, 11, 0, tzinfo=BERLIN),
        end=datetime(2026, 6, 3, 11, 10, tzinfo=BERLIN),
        email="erika.mustermann@example.de",
        phone="+49 30 1234567",
        consent=True,
        slot=PROFILE.slots[2],
    )


def test_values_are_stripped() -> None:
    """Whitespace around strings is removed."""
    request = valid(booking(first_name="  Erika ", email=" erika@example.de ", gender=" male"))
    assert (request.first_name, request.email, request.gender) == (
        "Erika",
        "erika@example.de",
        "male",
    )


def test_optional_fields_may_be_absent_null_or_empty() -> None:
    """note, phone and end may be missing, null or empty."""
    for value in (ABSENT, None, "", "  "):
        request = valid(booking(note=value, phone=value, end=value))
        assert (request.note, request.phone) == (None, None)


def test_note_keeps_line_breaks() -> None:
    """A note keeps its line breaks (CRLF from browsers made LF)."""
    assert valid(booking(note="Zeile 1\r\nZeile 2")).note == "Zeile 1\nZeile 2"


@pytest.mark.parametrize(
    "phone", ["+49 30 1234567", "030 1234567", "+49 (30) 123-45/67", "0301234", "1" * 20]
)
def test_valid_phone_numbers(phone: str) -> None:
    """Usual ways of writing a phone number are accepted as typed."""
    assert valid(booking(phone=phone)).phone == phone


@pytest.mark.parametrize(
    "email",
    [
        "erika@example.de",
        "erika.mustermann+termin@mail.example.co.uk",
        "e_m-1@sub-domain.example.museum",
        "erika@xn--mller-kva.de",
    ],
)
def test_valid_email_addresses(email: str) -> None:
    """Ordinary addresses pass unchanged."""
    assert valid(booking(email=email)).email == email


def test_booking_contact_fields_use_the_one_contact_rule() -> None:
    """E-mail and phone bounds of the form equal relay/rules/contact.py's, whose rule decides."""
    assert field("email").max_length == contact.MAX_EMAIL_LENGTH
    assert field("phone").max_length == contact.MAX_PHONE_LENGTH
    for email in ("erika@example.de", "erika@example", "x" * 65 + "@example.de"):
        assert contact.email_problem(email) == code_for("email", email)
    for phone in ("+49 30 1234567", "12345", "+49 30 12345 ext 7"):
        assert contact.phone_problem(phone) == code_for("phone", phone)


def test_every_choice_is_accepted() -> None:
    """Every gender and insurance value of the SPEC passes."""
    for gender in ("female", "male", "diverse", "unspecified"):
        assert valid(booking(gender=gender)).gender == gender
    for insurance in ("statutory", "private", "self_pay"):
        assert valid(booking(insurance=insurance)).insurance == insurance


def test_birth_date_limits() -> None:
    """Born yesterday passes, and so does an age of 130 (131 tomorrow)."""
    assert valid(booking(birth_date="2026-05-31")).birth_date == date(2026, 5, 31)
    assert valid(booking(birth_date="1895-06-02")).birth_date == date(1895, 6, 2)


def test_today_is_the_practice_s_today() -> None:
    """'In the past' is judged by the date in the practice's zone, not in UTC."""
    late_evening_utc = datetime(2026, 5, 31, 22, 30, tzinfo=UTC)  # 1 June in Berlin
    with pytest.raises(ValidationFailed) as failure:
        validate_booking(booking(birth_date="2026-06-01"), PROFILE, now=late_evening_utc)
    assert failure.value.errors == {"birth_date": "not_in_past"}
    request = validate_booking(booking(birth_date="2026-05-31"), PROFILE, now=late_evening_utc)
    assert request.birth_date == date(2026, 5, 31)


def test_new_patient_false_is_an_answer() -> None:
    """new_patient false is valid, not missing."""
    assert valid(booking(new_patient=False)).new_patient is False


# One bad field, one code --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"first_name": ABSENT}, "required"),
        ({"first_name": None}, "required"),
        ({"first_name": "   "}, "required"),
        ({"first_name": "x" * 101}, "too_long"),
        ({"first_name": 42}, "not_string"),
        ({"first_name": ["Erika"]}, "not_string"),
        ({"first_name": "Eri\x00ka"}, "control_character"),
        ({"last_name": "Muster\nmann"}, "line_break"),
        ({"last_name": "x" * 101}, "too_long"),
        ({"last_name": ABSENT}, "required"),
        ({"birth_date": ABSENT}, "required"),
        ({"birth_date": ""}, "required"),
        ({"birth_date": 19640812}, "not_string"),
        ({"birth_date": "12.08.1964"}, "invalid_date"),
        ({"birth_date": "1964-8-12"}, "invalid_date"),
        ({"birth_date": "1964-02-30"}, "invalid_date"),
        ({"birth_date": "1964-08-12T00:00:00"}, "invalid_date"),
        ({"birth_date": "2026-06-01"}, "not_in_past"),
        ({"birth_date": "2030-01-01"}, "not_in_past"),
        ({"birth_date": "1895-06-01"}, "too_old"),
        ({"birth_date": "0001-01-01"}, "too_old"),
        ({"gender": ABSENT}, "required"),
        ({"gender": "woman"}, "invalid_choice"),
        ({"gender": "Female"}, "invalid_choice"),
        ({"gender": 1}, "not_string"),
        ({"insurance": ABSENT}, "required"),
        ({"insurance": "gkv"}, "invalid_choice"),
        ({"note": "x" * 1001}, "too_long"),
        ({"note": "Bitte\x07klingeln"}, "control_character"),
        ({"note": "Spalte\tSpalte"}, "control_character"),
        ({"note": 5}, "not_string"),
        ({"new_patient": ABSENT}, "required"),
        ({"new_patient": None}, "required"),
        ({"new_patient": "yes"}, "not_boolean"),
        ({"new_patient": "true"}, "not_boolean"),
        ({"new_patient": 1}, "not_boolean"),
        ({"email": ABSENT}, "required"),
        ({"email": "   "}, "required"),
        ({"email": 1}, "not_string"),
        ({"email": "x" * 244 + "@example.de"}, "too_long"),
        ({"email": "erika"}, "invalid_email"),
        ({"email": "erika@example"}, "invalid_email"),
        ({"email": "erika @example.de"}, "invalid_email"),
        ({"email": "erika@exam ple.de"}, "invalid_email"),
        ({"email": "erika@@example.de"}, "invalid_email"),
        ({"email": ".erika@example.de"}, "invalid_email"),
        ({"email": "erika..m@example.de"}, "invalid_email"),
        ({"email": "erika@-example.de"}, "invalid_email"),
        ({"email": "erika@example.d"}, "invalid_email"),
        ({"email": "erika@example.de, max@example.de"}, "invalid_email"),
        ({"email": "erika@example.de\r\nBcc: all@example.de"}, "invalid_email"),
        ({"email": "x" * 65 + "@example.de"}, "invalid_email"),
        ({"email": "erika@müller.de"}, "invalid_email"),
        ({"phone": "abc"}, "invalid_phone"),
        ({"phone": "12345"}, "invalid_phone"),
        ({"phone": "1" * 21}, "invalid_phone"),
        ({"phone": "030 1234567 ext 5"}, "invalid_phone"),
        ({"phone": "030+1234567"}, "invalid_phone"),
        ({"phone": "x" * 31}, "too_long"),
        ({"phone": 301234567}, "not_string"),
        ({"consent": False}, "must_accept"),
        ({"consent": ABSENT}, "must_accept"),
        ({"consent": None}, "must_accept"),
        ({"consent": "true"}, "not_boolean"),
        ({"consent": 1}, "not_boolean"),
        ({"start": ABSENT}, "required"),
        ({"start": 1780473600}, "not_string"),
        ({"start": "2026-06-03T11:00:00"}, "missing_offset"),
        ({"start": "2026-06-03"}, "invalid_datetime"),
        ({"start": "next Wednesday"}, "invalid_datetime"),
        ({"start": "2026-06-31T11:00:00+02:00"}, "invalid_datetime"),
        ({"end": "2026-06-03T11:10:00"}, "missing_offset"),
        ({"end": "soon"}, "invalid_datetime"),
        ({"end": "2026-06-03T11:30:00+02:00"}, "slot_mismatch"),
        ({"doctor": "Dr. Nobody"}, "invalid_choice"),
        ({"doctor": 7}, "not_string"),
        ({"appointment_type": "Massage"}, "invalid_choice"),
        ({"appointment_type": "Erstgespräch"}, "slot_mismatch"),
        ({"insurance_number": "A123456789"}, "unknown_field"),
    ],
)
def test_one_bad_field_gives_exactly_its_code(changes: dict[str, object], code: str) -> None:
    """Each broken rule is reported for its field, and nothing else is."""
    (name,) = changes
    assert errors_of(booking(**changes)) == {name: code}


def test_several_bad_fields_give_several_codes() -> None:
    """All broken fields are reported together, one code each."""
    data = booking(
        first_name="",
        birth_date="1964-13-01",
        gender="x",
        email="erika",
        consent=False,
        referrer="ad",
    )
    assert errors_of(data) == {
        "first_name": "required",
        "birth_date": "invalid_date",
        "gender": "invalid_choice",
        "email": "invalid_email",
        "consent": "must_accept",
        "referrer": "unknown_field",
    }


def test_empty_submission_lists_every_required_field() -> None:
    """An empty object is answered with a code for each required field."""
    assert errors_of({}, make_profile(slots=[], accept_wishes=True)) == {
        "first_name": "required",
        "last_name": "required",
        "birth_date": "required",
        "gender": "required",
        "insurance": "required",
        "new_patient": "required",
        "start": "required",
        "doctor": "required",
        "appointment_type": "required",
        "email": "required",
        "consent": "must_accept",
    }


def test_bad_start_does_not_ask_for_what_a_slot_would_fill() -> None:
    """While the start is unusable, doctor and type are not asked for if slots supply them."""
    assert errors_of(booking(start="soon")) == {"start": "invalid_datetime"}


def test_bad_start_asks_for_what_no_slot_supplies() -> None:
    """While the start is unusable, a type no slot supplies is still asked for."""
    untyped = [{"start": SLOT_START, "end": SLOT_END, "doctor": DOCTOR_B}]
    assert errors_of(booking(start="soon"), make_profile(slots=untyped)) == {
        "start": "invalid_datetime",
        "appointment_type": "required",
    }


def test_naive_now_is_refused() -> None:
    """A naive `now` is a caller's bug and raises instead of comparing wrongly."""
    with pytest.raises(ValueError, match="aware"):
        validate_booking(booking(), PROFILE, now=NOW.replace(tzinfo=None))


# Slots --------------------------------------------------------------------------------------


def test_slot_found_by_the_same_instant_in_another_offset() -> None:
    """A start in UTC names the slot at that instant; times come back in the practice zone."""
    request = valid(booking(start="2026-06-03T09:00:00Z"))
    assert request.slot == PROFILE.slots[2]
    assert request.start.isoformat() == "2026-06-03T11:00:00+02:00"


def test_matching_end_is_accepted() -> None:
    """An end equal to the slot's end (in any offset) is fine."""
    assert valid(booking(end="2026-06-03T09:10:00Z")).slot == PROFILE.slots[2]


def test_matching_doctor_and_type_are_accepted() -> None:
    """Doctor and type that agree with the slot are fine."""
    request = valid(booking(doctor=DOCTOR_B, appointment_type="Kontrolle"))
    assert request.slot == PROFILE.slots[2]


def test_doctor_disagreeing_with_the_only_slot_at_that_time() -> None:
    """Without wishes, naming another doctor for a slot's time is a mismatch."""
    assert errors_of(booking(doctor=DOCTOR_A)) == {"doctor": "slot_mismatch"}


def test_shared_time_is_resolved_by_doctor() -> None:
    """Where two doctors share a time, the doctor picks the slot, its end and its type."""
    request = valid(booking(start=SHARED_START, doctor=DOCTOR_A))
    assert request.slot == PROFILE.slots[0]
    assert request.end == datetime(2026, 6, 2, 9, 20, tzinfo=BERLIN)
    assert request.appointment_type == "Erstgespräch"


def test_shared_time_needs_a_doctor() -> None:
    """Where two doctors share a time, a booking without a doctor is ambiguous."""
    assert errors_of(booking(start=SHARED_START)) == {"doctor": "required"}


def test_untyped_slot_takes_the_patient_s_type() -> None:
    """A slot without a type takes the booking's type; one is required where types are listed."""
    request = valid(booking(start=SHARED_START, doctor=DOCTOR_B, appointment_type="Kontrolle"))
    assert (request.slot, request.appointment_type) == (PROFILE.slots[1], "Kontrolle")
    assert errors_of(booking(start=SHARED_START, doctor=DOCTOR_B)) == {
        "appointment_type": "required"
    }


def test_single_doctor_filled_in_from_the_slot() -> None:
    """With one doctor listed, a slot booking without a doctor gets that doctor."""
    profile = make_profile(
        doctors=[DOCTOR_A],
        slots=[{"start": SLOT_START, "end": SLOT_END, "appointment_type": "Kontrolle"}],
    )
    assert valid(booking(), profile).doctor == DOCTOR_A


def test_not_a_slot_without_wishes() -> None:
    """Without wishes, a start that is no published slot is refused."""
    data = booking(start="2026-06-03T12:00:00+02:00", doctor=DOCTOR_B, appointment_type="Kontrolle")
    assert errors_of(data) == {"start": "not_a_slot"}


def test_slot_that_has_begun() -> None:
    """A stored slot that has begun by now cannot be booked."""
    later = datetime(2026, 6, 3, 9, 0, tzinfo=UTC)
    with pytest.raises(ValidationFailed) as failure:
        validate_booking(booking(), PROFILE, now=later)
    assert failure.value.errors == {"start": "not_in_future"}


def test_held_slots_are_not_checked_here() -> None:
    """Validation does not know about holds: the same slot validates twice."""
    assert valid(booking()).slot == valid(booking()).slot


# Wishes -------------------------------------------------------------------------------------

WISH_START = "2026-06-10T15:00:00+02:00"


def test_wish_with_type_gets_end_from_its_minutes() -> None:
    """A wish without end lasts as long as its appointment type."""
    request = valid(
        booking(start=WISH_START, doctor=DOCTOR_A, appointment_type="Erstgespräch"), WISHES
    )
    assert request.slot is None
    assert request.end == datetime(2026, 6, 10, 15, 20, tzinfo=BERLIN)
    assert request.end.tzinfo == BERLIN


def test_wish_end_across_daylight_saving_change() -> None:
    """A wish's computed end is the type's minutes later in real time, across a DST change."""
    # Clocks in Berlin go back from 03:00 to 02:00 on 25 October 2026.
    request = valid(
        booking(
            start="2026-10-25T02:50:00+02:00", doctor=DOCTOR_A, appointment_type="Erstgespräch"
        ),
        WISHES,
    )
    assert request.end is not None
    assert request.end.astimezone(UTC) - request.start.astimezone(UTC) == timedelta(minutes=20)
    assert request.end.isoformat() == "2026-10-25T02:10:00+01:00"


def test_wish_with_end() -> None:
    """A wish keeps the end it was given."""
    request = valid(
        booking(
            start=WISH_START,
            end="2026-06-10T15:45:00+02:00",
            doctor=DOCTOR_A,
            appointment_type="Kontrolle",
        ),
        WISHES,
    )
    assert request.end == datetime(2026, 6, 10, 15, 45, tzinfo=BERLIN)


def test_wish_without_type_has_no_end() -> None:
    """Where no type and no end is known, a wish has no end."""
    request = valid(booking(start=WISH_START), PLAIN)
    assert (request.end, request.doctor, request.appointment_type) == (None, None, None)


def test_wish_for_another_doctor_at_a_slot_time() -> None:
    """With wishes on, another doctor at a slot's time is a wish for that doctor."""
    request = valid(booking(doctor=DOCTOR_A, appointment_type="Kontrolle"), WISHES)
    assert (request.slot, request.doctor) == (None, DOCTOR_A)


def test_slot_still_found_when_wishes_are_on() -> None:
    """With wishes on, a start that is a slot is still a slot booking."""
    assert valid(booking(), WISHES).slot == PROFILE.slots[2]


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"start": "2026-06-01T09:59:00+02:00"}, "start", "not_in_future"),
        ({"start": "2026-06-01T10:00:00+02:00"}, "start", "not_in_future"),
        ({"start": "2027-06-01T10:01:00+02:00"}, "start", "too_far_ahead"),
        ({"end": "2026-06-10T14:00:00+02:00"}, "end", "end_before_start"),
        ({"end": WISH_START}, "end", "end_before_start"),
        ({"end": "2026-06-10T23:01:00+02:00"}, "end", "duration_too_long"),
    ],
)
def test_wish_time_rules(changes: dict[str, object], field: str, code: str) -> None:
    """A wish lies in the next 365 days and ends after it starts, within 8 hours."""
    data = booking(start=WISH_START, doctor=DOCTOR_A, appointment_type="Kontrolle")
    data.update(changes)
    assert errors_of(data, WISHES) == {field: code}


def test_wish_365_days_ahead_is_allowed() -> None:
    """A wish exactly 365 days ahead is still accepted."""
    start = (NOW + timedelta(days=365)).isoformat()
    assert valid(booking(start=start), PLAIN).start == NOW + timedelta(days=365)


# Doctor and type lists ----------------------------------------------------------------------


def test_doctor_and_type_required_where_listed() -> None:
    """A wish must name a doctor and a type when the practice lists them."""
    assert errors_of(booking(start=WISH_START), WISHES) == {
        "doctor": "required",
        "appointment_type": "required",
    }


def test_doctor_and_type_refused_where_not_listed() -> None:
    """A doctor or type may not be named when the practice lists none."""
    data = booking(start=WISH_START, doctor=DOCTOR_A, appointment_type="Kontrolle")
    assert errors_of(data, PLAIN) == {"doctor": "not_offered", "appointment_type": "not_offered"}


def test_empty_doctor_and_type_are_fine_where_not_listed() -> None:
    """Empty doctor and type count as absent when the practice lists none."""
    request = valid(booking(start=WISH_START, doctor="", appointment_type=None), PLAIN)
    assert (request.doctor, request.appointment_type) == (None, None)


# The booking document -----------------------------------------------------------------------


def test_document_holds_every_field_and_the_envelope() -> None:
    """The document has every booking field plus id, practice, kind, language and stamps."""
    document = valid(booking()).document(
        booking_id="b1",
        practice="praxis-beispiel",
        submitted_at=NOW,
        consent_at=NOW,
        language="de",
        legal_basis="contract",
    )
    assert set(document) == FIELD_NAMES | {
        "id",
        "practice",
        "kind",
        "language",
        "submitted_at",
        "consent_at",
        "legal_basis",
        "reminder_consent_at",
    }


def test_document_values() -> None:
    """Dates are ISO strings: birth date plain, times with offset, stamps in UTC with Z."""
    submitted = datetime(2026, 6, 1, 10, 0, 5, 123456, tzinfo=BERLIN)
    document = valid(booking(note="Hallo")).document(
        booking_id="b1",
        practice="praxis-beispiel",
        submitted_at=submitted,
        consent_at=submitted - timedelta(seconds=1),
        language="en",
        legal_basis="consent",
    )
    assert document == {
        "id": "b1",
        "practice": "praxis-beispiel",
        "kind": "slot",
        "language": "en",
        "first_name": "Erika",
        "last_name": "Mustermann",
        "birth_date": "1964-08-12",
        "gender": "female",
        "insurance": "statutory",
        "note": "Hallo",
        "new_patient": True,
        "doctor": DOCTOR_B,
        "appointment_type": "Kontrolle",
        "start": "2026-06-03T11:00:00+02:00",
        "end": "2026-06-03T11:10:00+02:00",
        "email": "erika.mustermann@example.de",
        "phone": None,
        "consent": True,
        "submitted_at": "2026-06-01T08:00:05Z",
        "consent_at": "2026-06-01T08:00:04Z",
        "legal_basis": "consent",
        "reminder": False,
        "reminder_consent_at": None,
    }


def test_document_of_a_wish_without_end() -> None:
    """A wish without known end has end null in the document, and kind "wish"."""
    document = valid(booking(start=WISH_START), PLAIN).document(
        booking_id="b1",
        practice="p",
        submitted_at=NOW,
        consent_at=NOW,
        language="de",
        legal_basis="contract",
    )
    assert document["end"] is None
    assert (document["kind"], document["language"]) == ("wish", "de")


def test_document_refuses_naive_stamps() -> None:
    """A naive submitted_at is a caller's bug and raises."""
    with pytest.raises(ValueError, match="aware"):
        valid(booking()).document(
            booking_id="b1",
            practice="p",
            submitted_at=NOW.replace(tzinfo=None),
            consent_at=NOW,
            language="de",
            legal_basis="contract",
        )


REMINDING = make_profile(reminder_days=[1])


def test_document_records_the_reminder_consent_with_its_time() -> None:
    """A ticked reminder box is in the document with the submission time (UTC) as its
    consent's; the legal basis is the one the caller names (the practice's profile)."""
    submitted = datetime(2026, 6, 1, 10, 0, 5, tzinfo=BERLIN)
    document = valid(booking(reminder=True), REMINDING).document(
        booking_id="b1",
        practice="p",
        submitted_at=submitted,
        consent_at=submitted,
        language="de",
        legal_basis="contract",
    )
    assert document["reminder"] is True
    assert document["reminder_consent_at"] == "2026-06-01T08:00:05Z"
    assert document["legal_basis"] == "contract"


@pytest.mark.parametrize(
    ("value", "profile", "code"),
    [
        (True, PROFILE, "not_offered"),
        ("yes", REMINDING, "not_boolean"),
        (1, REMINDING, "not_boolean"),
    ],
)
def test_reminder_refusals(value: object, profile: Profile, code: str) -> None:
    """The reminder box ticked where the practice sends no reminders, or not a boolean."""
    assert errors_of(booking(reminder=value), profile) == {"reminder": code}


@pytest.mark.parametrize("value", [False, None, ABSENT])
def test_reminder_unticked_is_no(value: object) -> None:
    """Unticked, null or absent: no reminder, and the booking is valid."""
    assert valid(booking(reminder=value), REMINDING).reminder is False


def test_form_post_reminder_checkbox() -> None:
    """The form posts "true" for a ticked reminder box and nothing for an unticked one."""
    assert form_to_data(form(reminder="true"))["reminder"] is True
    assert form_to_data(form())["reminder"] is False


# Form posts ---------------------------------------------------------------------------------


def form(**changes: str) -> dict[str, str]:
    """A form post of the valid booking, changed by `changes`."""
    posted = {
        "lang": "de",
        "csrf": "token",
        "first_name": "Erika",
        "last_name": "Mustermann",
        "birth_date": "1964-08-12",
        "gender": "female",
        "insurance": "statutory",
        "note": "",
        "new_patient": "false",
        "slot": f"{SLOT_START}|{DOCTOR_B}",
        "appointment_type": "",
        "email": "erika.mustermann@example.de",
        "phone": "",
        "consent": "on",
    }
    posted.update(changes)
    return posted


def test_form_post_converts_to_typed_data() -> None:
    """A form post becomes typed data: booleans, slot split, empty and form-only fields gone."""
    assert form_to_data(form()) == {
        "first_name": "Erika",
        "last_name": "Mustermann",
        "birth_date": "1964-08-12",
        "gender": "female",
        "insurance": "statutory",
        "new_patient": False,
        "start": SLOT_START,
        "doctor": DOCTOR_B,
        "email": "erika.mustermann@example.de",
        "consent": True,
        "reminder": False,
    }


def test_form_post_validates() -> None:
    """A converted form post passes validation as the JSON booking would."""
    request = valid(form_to_data(form()))
    assert (request.slot, request.new_patient, request.consent) == (PROFILE.slots[2], False, True)


@pytest.mark.parametrize(
    ("posted", "expected"),
    [
        ("true", True),
        ("on", True),
        ("yes", True),
        ("1", True),
        ("TRUE", True),
        ("false", False),
        ("off", False),
        ("no", False),
        ("0", False),
    ],
)
def test_form_booleans(posted: str, expected: bool) -> None:
    """Checkbox and radio values become booleans."""
    data = form_to_data(form(new_patient=posted, consent=posted))
    assert (data["new_patient"], data["consent"]) == (expected, expected)


def test_form_blank_boolean() -> None:
    """A blank consent is an unticked box; a blank new_patient is unanswered."""
    data = form_to_data(form(new_patient=" ", consent=""))
    assert (data["consent"], "new_patient" in data) == (False, False)


def test_form_unknown_boolean_is_left_for_the_validator() -> None:
    """A value that is no yes or no stays a string, which the validator refuses."""
    data = form_to_data(form(new_patient="vielleicht"))
    assert data["new_patient"] == "vielleicht"
    assert errors_of(data) == {"new_patient": "not_boolean"}


def test_form_missing_consent_is_false() -> None:
    """An unticked consent checkbox is not posted; it becomes false and must_accept."""
    posted = form()
    del posted["consent"]
    data = form_to_data(posted)
    assert data["consent"] is False
    assert errors_of(data) == {"consent": "must_accept"}


def test_form_missing_new_patient_stays_missing() -> None:
    """An unanswered new_patient radio is missing, so the validator asks for it."""
    posted = form()
    del posted["new_patient"]
    assert errors_of(form_to_data(posted)) == {"new_patient": "required"}


def test_form_slot_without_doctor() -> None:
    """A slot value with an empty doctor part sets only the start."""
    data = form_to_data(form(slot=f"{SLOT_START}|"))
    assert (data["start"], "doctor" in data) == (SLOT_START, False)


def test_form_slot_wins_over_start_and_doctor() -> None:
    """The slot picker's value names the appointment, over separate start and doctor fields."""
    data = form_to_data(form(start="2026-07-01T10:00:00+02:00", doctor=DOCTOR_A))
    assert (data["start"], data["doctor"]) == (SLOT_START, DOCTOR_B)


def test_form_without_slot_uses_start_and_doctor() -> None:
    """An empty slot value leaves start and doctor as posted."""
    data = form_to_data(form(slot="", start=WISH_START, doctor=DOCTOR_A))
    assert (data["start"], data["doctor"]) == (WISH_START, DOCTOR_A)


def test_form_drops_empty_fields_and_keeps_unknown_ones() -> None:
    """Empty fields are dropped; unknown ones are kept so the validator reports them."""
    data = form_to_data(form(note="  ", referrer="ad", empty_extra=""))
    assert "note" not in data
    assert errors_of(data) == {"referrer": "unknown_field", "empty_extra": "unknown_field"}


def test_form_local_times_in_the_practice_zone() -> None:
    """With a time zone, datetime-local values (no offset) are read as practice local time."""
    data = form_to_data(
        form(slot="", start="2026-06-10T15:00", end="2026-06-10T15:30"), time_zone="Europe/Berlin"
    )
    assert (data["start"], data["end"]) == (
        "2026-06-10T15:00:00+02:00",
        "2026-06-10T15:30:00+02:00",
    )


def test_form_without_time_zone_leaves_local_times_alone() -> None:
    """Without a time zone, a local time stays as posted and lacks its offset."""
    data = form_to_data(form(slot="", start="2026-06-10T15:00"))
    assert data["start"] == "2026-06-10T15:00"
    assert errors_of(data, WISHES)["start"] == "missing_offset"


def test_form_garbage_time_is_left_for_the_validator() -> None:
    """An unreadable time stays as posted, for the validator to report."""
    data = form_to_data(form(slot="", start="morgen"), time_zone="Europe/Berlin")
    assert data["start"] == "morgen"
