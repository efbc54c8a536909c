"""Practice profiles: validation of PUT /api/v1/profile, slot ids, storage
(relay/practice/profile.py)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from relay.errors import ValidationFailed
from relay.practice.profile import (
    MAX_SLOTS,
    AppointmentType,
    Profile,
    Slot,
    default_profile,
    free_slots,
    parse_profile,
    profile_from_json,
    profile_to_json,
)

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
DOCTOR_A = "Dr. A. Beispiel"
DOCTOR_B = "Dr. B. Muster"


def spec_example() -> dict[str, object]:
    """The profile of the SPEC's PUT /api/v1/profile example."""
    return {
        "name": "Praxis Dr. Beispiel",
        "time_zone": "Europe/Berlin",
        "doctors": [DOCTOR_A],
        "appointment_types": [{"name": "Erstgespräch", "minutes": 20}],
        "slots": [
            {
                "start": "2026-12-01T09:00:00+01:00",
                "end": "2026-12-01T09:20:00+01:00",
                "doctor": DOCTOR_A,
                "appointment_type": "Erstgespräch",
            }
        ],
        "accept_wishes": True,
    }


def two_doctors(**changes: object) -> dict[str, object]:
    """A profile with two doctors and two types, changed by `changes`."""
    data: dict[str, object] = {
        "name": "Gemeinschaftspraxis",
        "doctors": [DOCTOR_A, DOCTOR_B],
        "appointment_types": [
            {"name": "Erstgespräch", "minutes": 20},
            {"name": "Kontrolle", "minutes": 10},
        ],
        "slots": [],
    }
    data.update(changes)
    return data


def slot(start: str, end: str, **extra: object) -> dict[str, object]:
    """A published slot."""
    return {"start": start, "end": end, **extra}


def errors_of(data: object) -> dict[str, str]:
    """The errors parse_profile reports for `data`."""
    with pytest.raises(ValidationFailed) as failure:
        parse_profile(data, now=NOW)
    return failure.value.errors


# Valid profiles -----------------------------------------------------------------------------


def test_spec_example_parses() -> None:
    """The SPEC's example profile is valid and read into typed values."""
    profile = parse_profile(spec_example(), now=NOW)
    assert profile == Profile(
        name="Praxis Dr. Beispiel",
        time_zone="Europe/Berlin",
        doctors=(DOCTOR_A,),
        appointment_types=(AppointmentType("Erstgespräch", 20),),
        slots=(
            Slot(
                start=datetime(2026, 12, 1, 9, 0, tzinfo=BERLIN),
                end=datetime(2026, 12, 1, 9, 20, tzinfo=BERLIN),
                doctor=DOCTOR_A,
                appointment_type="Erstgespräch",
            ),
        ),
        accept_wishes=True,
        frame_ancestors=(),
    )


def test_minimal_profile_gets_defaults() -> None:
    """Only the name is required; the rest defaults to Berlin, nothing listed, wishes on."""
    assert parse_profile({"name": "Praxis"}, now=NOW) == default_profile("Praxis")


def test_null_means_default() -> None:
    """JSON null for an optional key is taken like an absent key."""
    data = {"name": "Praxis", "time_zone": None, "doctors": None, "accept_wishes": None}
    assert parse_profile(data, now=NOW) == default_profile("Praxis")


def test_names_are_stripped() -> None:
    """Whitespace around the practice, doctor and type names is removed."""
    data = two_doctors(
        name=" Praxis ", doctors=[" Dr. X "], appointment_types=[{"name": " A ", "minutes": 5}]
    )
    profile = parse_profile(data, now=NOW)
    assert (profile.name, profile.doctors, profile.appointment_types[0].name) == (
        "Praxis",
        ("Dr. X",),
        "A",
    )


def test_slot_times_are_kept_in_the_practice_zone() -> None:
    """Slots given in UTC are stored as the same instant in the practice's time zone."""
    data = {
        "name": "Praxis",
        "slots": [slot("2026-12-01T08:00:00Z", "2026-12-01T08:20:00Z")],
    }
    (stored,) = parse_profile(data, now=NOW).slots
    assert stored.start.isoformat() == "2026-12-01T09:00:00+01:00"
    assert stored.end.isoformat() == "2026-12-01T09:20:00+01:00"


def test_same_time_for_two_doctors_is_fine() -> None:
    """Two doctors may each publish a slot at the same time."""
    data = two_doctors(
        slots=[
            slot("2026-12-01T09:00:00+01:00", "2026-12-01T09:20:00+01:00", doctor=DOCTOR_A),
            slot("2026-12-01T09:00:00+01:00", "2026-12-01T09:10:00+01:00", doctor=DOCTOR_B),
        ]
    )
    assert len(parse_profile(data, now=NOW).slots) == 2


def test_single_doctor_is_filled_into_slots() -> None:
    """With one doctor listed, a slot without a doctor is that doctor's."""
    data = spec_example()
    data["slots"] = [slot("2026-12-01T09:00:00+01:00", "2026-12-01T09:20:00+01:00")]
    (stored,) = parse_profile(data, now=NOW).slots
    assert stored.doctor == DOCTOR_A


def test_slot_without_type_is_allowed() -> None:
    """A slot need not name an appointment type."""
    data = two_doctors(
        slots=[slot("2026-12-01T09:00:00+01:00", "2026-12-01T09:20:00+01:00", doctor=DOCTOR_A)]
    )
    assert parse_profile(data, now=NOW).slots[0].appointment_type is None


def test_eight_hour_slot_is_allowed() -> None:
    """A slot of exactly eight hours is the longest allowed."""
    data = {"name": "Praxis", "slots": [slot("2026-12-01T08:00:00Z", "2026-12-01T16:00:00Z")]}
    assert len(parse_profile(data, now=NOW).slots) == 1


@pytest.mark.parametrize("minutes", [5, 480])
def test_minutes_bounds_are_inclusive(minutes: int) -> None:
    """5 and 480 minutes are both allowed."""
    data = {"name": "Praxis", "appointment_types": [{"name": "A", "minutes": minutes}]}
    assert parse_profile(data, now=NOW).appointment_types[0].minutes == minutes


def test_past_slots_are_dropped() -> None:
    """Slots that began before now, or begin exactly now, are dropped without an error."""
    data = {
        "name": "Praxis",
        "slots": [
            slot("2026-11-19T09:00:00+01:00", "2026-11-19T09:20:00+01:00"),
            slot("2026-11-20T08:00:00Z", "2026-11-20T08:20:00Z"),
            slot("2026-11-20T08:00:01Z", "2026-11-20T08:20:00Z"),
        ],
    }
    starts = [s.start for s in parse_profile(data, now=NOW).slots]
    assert starts == [datetime(2026, 11, 20, 8, 0, 1, tzinfo=UTC)]


def test_frame_ancestors_are_accepted_and_lowercased() -> None:
    """https origins, with port or leading wildcard, are kept (lower case)."""
    data = {
        "name": "Praxis",
        "frame_ancestors": [
            "https://Praxis-Beispiel.de",
            "https://*.praxis-beispiel.de",
            "https://termine.example.com:8443",
        ],
    }
    assert parse_profile(data, now=NOW).frame_ancestors == (
        "https://praxis-beispiel.de",
        "https://*.praxis-beispiel.de",
        "https://termine.example.com:8443",
    )


def test_naive_now_is_refused() -> None:
    """A naive `now` is a caller's bug and raises instead of comparing wrongly."""
    with pytest.raises(ValueError, match="aware"):
        parse_profile({"name": "Praxis"}, now=NOW.replace(tzinfo=None))


# Invalid profiles ---------------------------------------------------------------------------


def test_not_an_object() -> None:
    """A JSON list or string instead of an object is refused as a whole."""
    assert errors_of([]) == {"profile": "not_object"}
    assert errors_of("Praxis") == {"profile": "not_object"}


SLOT = ("2026-12-01T09:00:00+01:00", "2026-12-01T09:20:00+01:00")


@pytest.mark.parametrize(
    ("changes", "path", "code"),
    [
        ({"name": None}, "name", "required"),
        ({"name": "  "}, "name", "required"),
        ({"name": "x" * 201}, "name", "too_long"),
        ({"name": 5}, "name", "not_string"),
        ({"name": "Praxis\x1b[31m"}, "name", "control_character"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "unknown_time_zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone", "unknown_time_zone"),
        ({"time_zone": "europe/berlin"}, "time_zone", "unknown_time_zone"),
        ({"time_zone": "localtime"}, "time_zone", "unknown_time_zone"),
        ({"time_zone": "Europe"}, "time_zone", "unknown_time_zone"),
        ({"time_zone": 1}, "time_zone", "not_string"),
        ({"accept_wishes": "yes"}, "accept_wishes", "not_boolean"),
        ({"accept_wishes": 1}, "accept_wishes", "not_boolean"),
        ({"website": "https://x.de"}, "website", "unknown_field"),
        ({"doctors": DOCTOR_A}, "doctors", "not_list"),
        ({"doctors": [f"Dr. {i}" for i in range(51)]}, "doctors", "too_many"),
        ({"doctors": [DOCTOR_A, ""]}, "doctors[1]", "required"),
        ({"doctors": [DOCTOR_A, 7]}, "doctors[1]", "not_string"),
        ({"doctors": [DOCTOR_A, "x" * 101]}, "doctors[1]", "too_long"),
        ({"doctors": [DOCTOR_A, f" {DOCTOR_A}"]}, "doctors[1]", "duplicate"),
        ({"appointment_types": {"A": 20}}, "appointment_types", "not_list"),
        (
            {"appointment_types": [{"name": f"T{i}", "minutes": 10} for i in range(51)]},
            "appointment_types",
            "too_many",
        ),
        ({"appointment_types": ["Erstgespräch"]}, "appointment_types[0]", "not_object"),
        ({"appointment_types": [{"minutes": 20}]}, "appointment_types[0].name", "required"),
        (
            {"appointment_types": [{"name": "x" * 101, "minutes": 20}]},
            "appointment_types[0].name",
            "too_long",
        ),
        ({"appointment_types": [{"name": "A"}]}, "appointment_types[0].minutes", "required"),
        (
            {"appointment_types": [{"name": "A", "minutes": 4}]},
            "appointment_types[0].minutes",
            "out_of_range",
        ),
        (
            {"appointment_types": [{"name": "A", "minutes": 481}]},
            "appointment_types[0].minutes",
            "out_of_range",
        ),
        (
            {"appointment_types": [{"name": "A", "minutes": "20"}]},
            "appointment_types[0].minutes",
            "not_integer",
        ),
        (
            {"appointment_types": [{"name": "A", "minutes": 20.5}]},
            "appointment_types[0].minutes",
            "not_integer",
        ),
        (
            {"appointment_types": [{"name": "A", "minutes": True}]},
            "appointment_types[0].minutes",
            "not_integer",
        ),
        (
            {"appointment_types": [{"name": "A", "minutes": 20, "color": "red"}]},
            "appointment_types[0].color",
            "unknown_field",
        ),
        (
            {"appointment_types": [{"name": "A", "minutes": 20}, {"name": "A", "minutes": 30}]},
            "appointment_types[1].name",
            "duplicate",
        ),
        ({"frame_ancestors": "https://x.de"}, "frame_ancestors", "not_list"),
        (
            {"frame_ancestors": [f"https://p{i}.de" for i in range(11)]},
            "frame_ancestors",
            "too_many",
        ),
        ({"frame_ancestors": [42]}, "frame_ancestors[0]", "not_string"),
        (
            {"frame_ancestors": ["https://x.de", "https://X.de"]},
            "frame_ancestors[1]",
            "duplicate",
        ),
    ],
)
def test_profile_errors(changes: dict[str, object], path: str, code: str) -> None:
    """Each broken rule is reported with its path and code, and nothing else."""
    data: dict[str, object] = {"name": "Praxis", **changes}
    if changes.get("name", "") is None:
        del data["name"]
    assert errors_of(data) == {path: code}


@pytest.mark.parametrize(
    "origin",
    [
        "http://praxis.de",
        "https://praxis.de/",
        "https://praxis.de/termine",
        "https://praxis.de; script-src *",
        "https://praxis.de https://evil.de",
        "https://praxis.de,https://evil.de",
        "*",
        "https://*",
        "https://*.de",
        "https://a.*.praxis.de",
        "https://praxis.de:0",
        "https://praxis.de:99999",
        "https://user@praxis.de",
        "https://praxis.de?x=1",
        "https://-praxis.de",
        "'self'",
        "",
    ],
)
def test_frame_ancestors_refuse_anything_but_an_origin(origin: str) -> None:
    """Only https://host[:port] (with an optional leading *.) can reach the CSP header."""
    assert errors_of({"name": "Praxis", "frame_ancestors": [origin]}) == {
        "frame_ancestors[0]": "invalid"
    }


@pytest.mark.parametrize(
    ("entry", "path", "code"),
    [
        ("not a slot", "slots[0]", "not_object"),
        ({"start": SLOT[0], "doctor": DOCTOR_A}, "slots[0].end", "required"),
        ({"end": SLOT[1], "doctor": DOCTOR_A}, "slots[0].start", "required"),
        (
            {"start": "2026-12-01T09:00:00", "end": SLOT[1], "doctor": DOCTOR_A},
            "slots[0].start",
            "missing_offset",
        ),
        (
            {"start": "1.12.2026 9:00", "end": SLOT[1], "doctor": DOCTOR_A},
            "slots[0].start",
            "invalid_datetime",
        ),
        (
            {"start": SLOT[0], "end": 1764577200, "doctor": DOCTOR_A},
            "slots[0].end",
            "not_string",
        ),
        (
            {"start": SLOT[1], "end": SLOT[0], "doctor": DOCTOR_A},
            "slots[0].end",
            "end_before_start",
        ),
        (
            {"start": SLOT[0], "end": SLOT[0], "doctor": DOCTOR_A},
            "slots[0].end",
            "end_before_start",
        ),
        (
            {"start": "2026-12-01T08:00:00Z", "end": "2026-12-01T16:00:01Z", "doctor": DOCTOR_A},
            "slots[0].end",
            "duration_too_long",
        ),
        (
            {"start": SLOT[0], "end": SLOT[1], "doctor": DOCTOR_A, "room": "2"},
            "slots[0].room",
            "unknown_field",
        ),
        ({"start": SLOT[0], "end": SLOT[1]}, "slots[0].doctor", "required"),
        (
            {"start": SLOT[0], "end": SLOT[1], "doctor": "Dr. Nobody"},
            "slots[0].doctor",
            "invalid_choice",
        ),
        ({"start": SLOT[0], "end": SLOT[1], "doctor": 3}, "slots[0].doctor", "not_string"),
        (
            {"start": SLOT[0], "end": SLOT[1], "doctor": DOCTOR_A, "appointment_type": "Massage"},
            "slots[0].appointment_type",
            "invalid_choice",
        ),
    ],
)
def test_slot_errors(entry: object, path: str, code: str) -> None:
    """Each broken slot rule is reported under the slot's path."""
    assert errors_of(two_doctors(slots=[entry])) == {path: code}


def test_slots_must_be_a_list() -> None:
    """slots given as an object is refused."""
    assert errors_of({"name": "Praxis", "slots": {"start": SLOT[0]}}) == {"slots": "not_list"}


def test_too_many_slots() -> None:
    """More than MAX_SLOTS slots are refused as a whole."""
    start = datetime(2027, 1, 1, 8, 0, tzinfo=UTC)
    slots = [
        slot(
            (start + timedelta(minutes=i)).isoformat(),
            (start + timedelta(minutes=i + 1)).isoformat(),
        )
        for i in range(MAX_SLOTS + 1)
    ]
    assert errors_of({"name": "Praxis", "slots": slots}) == {"slots": "too_many"}


def test_two_thousand_slots_are_allowed() -> None:
    """Exactly 2000 slots are accepted."""
    start = datetime(2027, 1, 1, 8, 0, tzinfo=UTC)
    slots = [
        slot(
            (start + timedelta(minutes=i)).isoformat(),
            (start + timedelta(minutes=i + 1)).isoformat(),
        )
        for i in range(2000)
    ]
    assert len(parse_profile({"name": "Praxis", "slots": slots}, now=NOW).slots) == 2000


def test_slot_doctor_without_listed_doctors() -> None:
    """A slot may not name a doctor when the profile lists none."""
    data = {"name": "Praxis", "slots": [slot(*SLOT, doctor=DOCTOR_A)]}
    assert errors_of(data) == {"slots[0].doctor": "not_offered"}


def test_slot_type_without_listed_types() -> None:
    """A slot may not name an appointment type when the profile lists none."""
    data = {"name": "Praxis", "slots": [slot(*SLOT, appointment_type="Kontrolle")]}
    assert errors_of(data) == {"slots[0].appointment_type": "not_offered"}


def test_duplicate_slot() -> None:
    """The same start for the same doctor twice is refused, whatever offset names it."""
    data = two_doctors(
        slots=[
            slot(*SLOT, doctor=DOCTOR_A),
            slot("2026-12-01T08:00:00Z", "2026-12-01T08:30:00Z", doctor=DOCTOR_A),
        ]
    )
    assert errors_of(data) == {"slots[1].start": "duplicate"}


def test_bad_doctor_list_does_not_cascade_into_slots() -> None:
    """When the doctor list itself is broken, slots naming doctors get no extra errors."""
    data = two_doctors(doctors=[DOCTOR_A, DOCTOR_B, ""], slots=[slot(*SLOT, doctor=DOCTOR_B)])
    assert errors_of(data) == {"doctors[2]": "required"}


def test_several_errors_are_reported_together() -> None:
    """Every broken rule of one profile is reported, each under its own path."""
    data = two_doctors(
        time_zone="Berlin",
        doctors=[DOCTOR_A, DOCTOR_A],
        appointment_types=[{"name": "A", "minutes": 0}],
        slots=[slot(*SLOT, doctor=DOCTOR_A), slot(SLOT[1], SLOT[0], doctor=DOCTOR_A)],
        frame_ancestors=["https://x.de/"],
        extra=True,
    )
    assert errors_of(data) == {
        "time_zone": "unknown_time_zone",
        "doctors[1]": "duplicate",
        "appointment_types[0].minutes": "out_of_range",
        "slots[1].end": "end_before_start",
        "frame_ancestors[0]": "invalid",
        "extra": "unknown_field",
    }


# Slot ids -----------------------------------------------------------------------------------


def berlin_slot(hour: int, doctor: str | None = DOCTOR_A) -> Slot:
    """A 20 minute slot on 1 December 2026 in Berlin."""
    start = datetime(2026, 12, 1, hour, 0, tzinfo=BERLIN)
    return Slot(
        start=start, end=start + timedelta(minutes=20), doctor=doctor, appointment_type=None
    )


def test_slot_id_is_sixteen_hex_digits_of_sha256() -> None:
    """The id is the first 16 hex digits of SHA-256 over the UTC start and the doctor."""
    expected = hashlib.sha256(f"2026-12-01T08:00:00Z|{DOCTOR_A}".encode()).hexdigest()[:16]
    assert berlin_slot(9).id == expected


def test_slot_id_is_stable_across_offsets_and_details() -> None:
    """The same start (in any offset) and doctor give the same id, whatever the end or type."""
    original = berlin_slot(9)
    same = Slot(
        start=original.start.astimezone(UTC),
        end=original.start + timedelta(hours=1),
        doctor=DOCTOR_A,
        appointment_type="Kontrolle",
    )
    assert same.id == original.id


def test_slot_id_differs_by_doctor_and_start() -> None:
    """Another doctor, no doctor, or another start give another id."""
    ids = {
        berlin_slot(9).id,
        berlin_slot(9, DOCTOR_B).id,
        berlin_slot(9, None).id,
        berlin_slot(10).id,
    }
    assert len(ids) == 4


def test_slot_id_holds_no_names() -> None:
    """The id reveals neither doctor nor time."""
    assert all(char in "0123456789abcdef" for char in berlin_slot(9).id)


# Defaults, storage, free slots --------------------------------------------------------------


def test_default_profile() -> None:
    """A new practice offers wishes only, in Berlin time."""
    assert default_profile("Praxis Neu") == Profile(
        name="Praxis Neu",
        time_zone="Europe/Berlin",
        doctors=(),
        appointment_types=(),
        slots=(),
        accept_wishes=True,
        frame_ancestors=(),
    )


def test_storage_round_trip() -> None:
    """profile_from_json(profile_to_json(p)) through JSON text gives p back."""
    data = spec_example()
    data["frame_ancestors"] = ["https://praxis-beispiel.de"]
    profile = parse_profile(data, now=NOW)
    assert profile_from_json(json.loads(json.dumps(profile_to_json(profile)))) == profile


def test_stored_times_carry_offsets() -> None:
    """Stored slot times are ISO 8601 with their offset."""
    stored = profile_to_json(parse_profile(spec_example(), now=NOW))
    assert stored["slots"] == [
        {
            "start": "2026-12-01T09:00:00+01:00",
            "end": "2026-12-01T09:20:00+01:00",
            "doctor": DOCTOR_A,
            "appointment_type": "Erstgespräch",
        }
    ]


def test_stored_profile_keeps_past_slots() -> None:
    """Reading a stored profile trusts it and drops nothing, not even past slots."""
    profile = parse_profile(spec_example(), now=NOW)
    later = profile_from_json(profile_to_json(profile))
    assert later.slots == profile.slots


def test_corrupt_stored_profile_raises() -> None:
    """A stored profile of the wrong shape raises rather than yielding a half profile."""
    stored = profile_to_json(default_profile("Praxis"))
    stored["doctors"] = "Dr. A"
    with pytest.raises(TypeError):
        profile_from_json(stored)


def test_free_slots_sorted_without_unavailable_or_past() -> None:
    """free_slots lists future, not held or taken slots by start."""
    nine, ten, eleven = berlin_slot(9), berlin_slot(10), berlin_slot(11)
    profile = Profile(
        name="Praxis",
        time_zone="Europe/Berlin",
        doctors=(DOCTOR_A,),
        appointment_types=(),
        slots=(eleven, nine, ten),
        accept_wishes=False,
        frame_ancestors=(),
    )
    assert free_slots(profile, set(), NOW) == [nine, ten, eleven]
    assert free_slots(profile, {ten.id}, NOW) == [nine, eleven]
    assert free_slots(profile, set(), nine.start) == [ten, eleven]


def test_appointment_type_lookup() -> None:
    """Profile.appointment_type finds an offered type by name, None otherwise."""
    profile = parse_profile(spec_example(), now=NOW)
    assert profile.appointment_type("Erstgespräch") == AppointmentType("Erstgespräch", 20)
    assert profile.appointment_type("Massage") is None


# The legal basis and the reminders ---------------------------------------------------------


def test_legal_basis_defaults_to_the_contract_and_reminders_to_none() -> None:
    """Without the keys: the DSK's basis (contract) and no reminders, so no reminder box."""
    profile = parse_profile({"name": "Praxis"}, now=NOW)
    assert profile.legal_basis == "contract"
    assert profile.reminder_days == ()
    assert not profile.offers_reminders


def test_legal_basis_and_reminder_days_are_read() -> None:
    """`consent` and two reminder days, kept largest first."""
    data = {"name": "Praxis", "legal_basis": "consent", "reminder_days": [1, 7]}
    profile = parse_profile(data, now=NOW)
    assert (profile.legal_basis, profile.reminder_days) == ("consent", (7, 1))
    assert profile.offers_reminders


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"legal_basis": "legitimate_interest"}, {"legal_basis": "invalid_choice"}),
        ({"legal_basis": 1}, {"legal_basis": "not_string"}),
        ({"reminder_days": 1}, {"reminder_days": "not_list"}),
        ({"reminder_days": [7, 3, 1]}, {"reminder_days": "too_many"}),
        ({"reminder_days": [0]}, {"reminder_days[0]": "out_of_range"}),
        ({"reminder_days": [8]}, {"reminder_days[0]": "out_of_range"}),
        ({"reminder_days": [1, 1]}, {"reminder_days[1]": "duplicate"}),
        ({"reminder_days": [True]}, {"reminder_days[0]": "not_integer"}),
        ({"reminder_days": ["1"]}, {"reminder_days[0]": "not_integer"}),
    ],
)
def test_bad_legal_basis_or_reminder_days_are_refused(
    changes: dict[str, object], expected: dict[str, str]
) -> None:
    """A 4xx per bad member, with its path."""
    assert errors_of({"name": "Praxis", **changes}) == expected


def test_legal_members_survive_storage_and_old_profiles_get_defaults() -> None:
    """The round trip keeps them; a profile stored before them reads as contract, none."""
    data = {"name": "Praxis", "legal_basis": "consent", "reminder_days": [7, 1]}
    profile = parse_profile(data, now=NOW)
    stored = profile_to_json(profile)
    assert (stored["legal_basis"], stored["reminder_days"]) == ("consent", [7, 1])
    assert profile_from_json(json.loads(json.dumps(stored))) == profile
    del stored["legal_basis"], stored["reminder_days"]
    old = profile_from_json(stored)
    assert (old.legal_basis, old.reminder_days) == ("contract", ())
