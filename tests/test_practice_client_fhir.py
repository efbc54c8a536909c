"""Bookings as FHIR R4 transaction Bundles (practice_client/handover/fhir.py), validated with the
`fhir.resources` models.

fhir.resources 8 ships R5 as default and R4B (4.3.0); its exact-R4 (4.0.1) release (6.x)
needs pydantic 1, which this environment cannot install beside pydantic 2. Bundle, Patient,
Appointment and Practitioner are the same in R4 and R4B for every element written here, so
the R4B models validate structure and types; the R4 value sets of the codes written are
checked separately below, since the models do not check codes.
"""

from __future__ import annotations

import itertools
import json
import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.patient import Patient

from practice_client.calendar.received import received_bookings
from practice_client.handover import fhir
from practice_client.handover.sink import BookingSink, parse_formats
from practice_client.relay.retry import RetryPolicy
from practice_client.runner import RunConfig, run
from tests.test_practice_client_e2e import client_log, confirmed_booking
from tests.test_practice_client_sink import NOW, booking

if TYPE_CHECKING:
    from tests.conftest import PracticeHandle, RunningRelay, SmtpSink

# R4 (4.0.1) required value sets of the coded elements written.
APPOINTMENT_STATUS = {
    "proposed",
    "pending",
    "booked",
    "arrived",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
    "checked-in",
    "waitlist",
}
PARTICIPATION_STATUS = {"accepted", "declined", "tentative", "needs-action"}
PARTICIPANT_REQUIRED = {"required", "optional", "information-only"}
ADMINISTRATIVE_GENDER = {"male", "female", "other", "unknown"}
CONTACT_POINT_SYSTEM = {"phone", "fax", "email", "pager", "url", "sms", "other"}
CONTACT_POINT_USE = {"home", "work", "temp", "old", "mobile"}
IDENTIFIER_USE = {"usual", "official", "temp", "secondary", "old"}
HTTP_VERB = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"}
NAME_USE = {"usual", "official", "temp", "nickname", "anonymous", "old", "maiden"}
ISIK_CANCELLATION = {"pat", "prov", "maint", "meds-inc", "other"}


def validated(document: dict[str, Any]) -> Bundle:
    """The Bundle parsed by the R4B models, after checking every code against R4."""
    parsed = Bundle.model_validate(document)
    assert document["type"] == "transaction"
    for entry in document["entry"]:
        assert entry["request"]["method"] in HTTP_VERB
        resource = entry["resource"]
        if resource["resourceType"] == "Patient":
            assert resource.get("gender", "unknown") in ADMINISTRATIVE_GENDER
            for point in resource.get("telecom", []):
                assert point["system"] in CONTACT_POINT_SYSTEM
                assert point["use"] in CONTACT_POINT_USE
            assert {name["use"] for name in resource["name"]} <= NAME_USE
        else:
            assert resource["status"] in APPOINTMENT_STATUS
            for participant in resource["participant"]:
                assert participant["status"] in PARTICIPATION_STATUS
                assert participant["required"] in PARTICIPANT_REQUIRED
            for code in resource.get("cancelationReason", {}).get("coding", []):
                assert code["code"] in ISIK_CANCELLATION
        for identifier in resource["identifier"]:
            assert identifier["use"] in IDENTIFIER_USE
    return parsed


def resources(document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Patient, Appointment) of a bundle."""
    patient, appointment = (entry["resource"] for entry in document["entry"])
    assert patient["resourceType"] == "Patient"
    assert appointment["resourceType"] == "Appointment"
    return patient, appointment


VARIANTS = list(
    itertools.product(
        ("female", "male", "diverse", "unspecified"),
        ("statutory", "private", "self_pay"),
        (True, False),  # a slot with doctor, type and end, or a bare wish
        ("proposed", "booked", "pending", "cancelled"),
    )
)


@pytest.mark.parametrize(("gender", "insurance", "slot", "status"), VARIANTS)
def test_every_variant_is_a_valid_r4_transaction_bundle(
    gender: str, insurance: str, slot: bool, status: fhir.Status
) -> None:
    """Each gender, insurance type, slot or wish, in each status validates."""
    changes: dict[str, Any] = {"gender": gender, "insurance": insurance}
    if not slot:
        changes.update(doctor=None, appointment_type=None, end=None, note="", phone=None)
    document = fhir.bundle(booking(**changes), status=status)

    parsed = validated(document)

    appointment = parsed.entry[1].resource
    assert isinstance(appointment, Appointment)
    assert appointment.status == status
    assert isinstance(parsed.entry[0].resource, Patient)


def test_the_appointment_follows_isik_termin() -> None:
    """Profile, source tag, identifier, status, times, serviceType, participants, comment."""
    document = booking(status="proposed")
    _, appointment = resources(fhir.bundle(document))

    assert appointment["meta"]["profile"] == [fhir.ISIK_TERMIN]
    assert appointment["meta"]["tag"] == [{"system": fhir.META_TAG_SYSTEM, "code": "external"}]
    assert appointment["identifier"] == [
        {"use": "official", "system": "urn:terminrelay:booking", "value": document["id"]}
    ]
    assert appointment["status"] == "proposed"
    assert appointment["start"] == "2026-12-01T09:00:00+01:00"
    assert appointment["end"] == "2026-12-01T09:20:00+01:00"
    assert appointment["created"] == "2026-11-22T09:00:00Z"
    assert appointment["serviceType"] == [
        {
            "coding": [
                {
                    "system": fhir.APPOINTMENT_TYPE_SYSTEM,
                    "code": "Erstgespräch",
                    "display": "Erstgespräch",
                }
            ],
            "text": "Erstgespräch",
        }
    ]
    assert appointment["comment"] == "Rückenschmerzen; bitte früh"
    patient_actor, doctor_actor = (p["actor"] for p in appointment["participant"])
    assert patient_actor["display"] == "Erika Mustermann"
    assert doctor_actor == {
        "reference": "#doctor",
        "type": "Practitioner",
        "display": "Dr. A. Beispiel",
    }
    (practitioner,) = appointment["contained"]
    assert practitioner == {
        "resourceType": "Practitioner",
        "id": "doctor",
        "name": [{"text": "Dr. A. Beispiel"}],
    }
    # The description is for appointment lists: no name, nothing of the note.
    assert (
        appointment["description"] == "Erstgespräch, Online-Anfrage, privat versichert, Neupatient"
    )
    assert "Erika" not in appointment["description"]


def test_the_patient_carries_name_birth_date_gender_and_contacts() -> None:
    """Name parts, birth date, e-mail and phone as telecom, and a temporary identifier."""
    document = booking()
    patient, _ = resources(fhir.bundle(document))

    assert patient["name"] == [
        {"use": "official", "text": "Erika Mustermann", "family": "Mustermann", "given": ["Erika"]}
    ]
    assert patient["birthDate"] == "1980-02-29"
    assert patient["gender"] == "female"
    assert {(t["system"], t["value"]) for t in patient["telecom"]} == {
        ("email", "erika@example.org"),
        ("phone", "+49301234567"),
    }
    assert patient["identifier"] == [
        {"use": "temp", "system": "urn:terminrelay:patient", "value": document["id"]}
    ]
    assert "meta" not in patient  # no ISiKPatient claim: the practice's PID is missing


@pytest.mark.parametrize(
    ("gender", "fhir_gender", "german_code"),
    [
        ("female", "female", None),
        ("male", "male", None),
        ("diverse", "other", "D"),
        ("unspecified", "unknown", None),
    ],
)
def test_gender_maps_as_isik_patient_asks(
    gender: str, fhir_gender: str, german_code: str | None
) -> None:
    """diverse is `other` with gender-amtlich-de D (isik-pat-1); unspecified is `unknown`."""
    patient, _ = resources(fhir.bundle(booking(gender=gender)))

    assert patient["gender"] == fhir_gender
    extensions = patient.get("_gender", {}).get("extension", [])
    if german_code is None:
        assert extensions == []
    else:
        (extension,) = extensions
        assert extension["url"] == "http://fhir.de/StructureDefinition/gender-amtlich-de"
        assert extension["valueCoding"]["code"] == german_code


@pytest.mark.parametrize(
    ("insurance", "code"), [("statutory", "GKV"), ("private", "PKV"), ("self_pay", "SEL")]
)
def test_the_insurance_type_is_a_versicherungsart_coding(insurance: str, code: str) -> None:
    """No Coverage (no insurer known); the type as a versicherungsart-de-basis coding."""
    _, appointment = resources(fhir.bundle(booking(insurance=insurance, new_patient=False)))

    by_url = {extension["url"]: extension for extension in appointment["extension"]}
    coding = by_url[fhir.INSURANCE_EXTENSION]["valueCoding"]
    assert (coding["system"], coding["code"]) == (fhir.INSURANCE_SYSTEM, code)
    assert by_url[fhir.NEW_PATIENT_EXTENSION]["valueBoolean"] is False


def test_a_wish_without_end_has_a_requested_period_instead_of_times() -> None:
    """FHIR wants start and end together; a wish names only a start, so it is requested."""
    _, appointment = resources(
        fhir.bundle(booking(end=None, doctor=None, appointment_type=None, note=""))
    )

    assert "start" not in appointment
    assert "end" not in appointment
    assert appointment["requestedPeriod"] == [{"start": "2026-12-01T09:00:00+01:00"}]
    assert appointment["serviceType"] == [{"text": "Terminanfrage"}]
    assert "contained" not in appointment
    assert "comment" not in appointment
    assert len(appointment["participant"]) == 1


def test_entries_are_conditional_creates_linked_by_urn_uuids() -> None:
    """fullUrls are urn:uuids, the appointment points at the patient's, both ifNoneExist."""
    document = booking()
    bundle = fhir.bundle(document)
    patient_entry, appointment_entry = bundle["entry"]

    for entry in bundle["entry"]:
        assert entry["fullUrl"].startswith("urn:uuid:")
        uuid.UUID(entry["fullUrl"].removeprefix("urn:uuid:"))
        assert entry["request"]["method"] == "POST"
    assert patient_entry["request"] == {
        "method": "POST",
        "url": "Patient",
        "ifNoneExist": f"identifier=urn:terminrelay:patient|{document['id']}",
    }
    assert appointment_entry["request"]["ifNoneExist"] == (
        f"identifier=urn:terminrelay:booking|{document['id']}"
    )
    patient_reference = appointment_entry["resource"]["participant"][0]["actor"]["reference"]
    assert patient_reference == patient_entry["fullUrl"]


def test_the_same_booking_always_yields_the_same_bytes() -> None:
    """Derived urn:uuids and sorted keys: a rewritten bundle is identical, others differ."""
    document = booking()

    assert fhir.render_bundle(document) == fhir.render_bundle(dict(document))
    assert fhir.render_bundle(document) != fhir.render_bundle(booking())


def test_a_cancellation_is_a_conditional_update_with_a_reason() -> None:
    """Status cancelled, reason `pat`, PUT on the booking identifier (reaches the import)."""
    document = booking()
    _, appointment_entry = fhir.bundle(document, status="cancelled")["entry"]

    assert appointment_entry["request"] == {
        "method": "PUT",
        "url": f"Appointment?identifier=urn:terminrelay:booking|{document['id']}",
    }
    assert appointment_entry["resource"]["status"] == "cancelled"
    (reason,) = appointment_entry["resource"]["cancelationReason"]["coding"]
    assert reason["code"] == "pat"


def test_an_unknown_status_is_refused() -> None:
    """Only FHIR's proposed, booked, pending and cancelled are written."""
    with pytest.raises(ValueError, match="status"):
        fhir.bundle(booking(), status="declined")  # type: ignore[arg-type]


def test_the_sink_writes_the_bundle_when_asked_and_the_slot_reader_skips_it(
    tmp_path: Path,
) -> None:
    """--format json,ics,fhir adds {id}.fhir.json; blocked times come from {id}.json only."""
    sink = BookingSink(tmp_path, formats=parse_formats("fhir,json,ics"), clock=lambda: NOW)
    sink.prepare()
    document = booking()

    assert sink.write(document)

    bundle_path = tmp_path / f"{document['id']}.fhir.json"
    validated(json.loads(bundle_path.read_text(encoding="utf-8")))
    assert sink.files(document["id"]) == [
        tmp_path / f"{document['id']}.json",
        tmp_path / f"{document['id']}.ics",
        bundle_path,
    ]
    assert len(received_bookings(tmp_path, since=NOW)) == 1


@pytest.mark.parametrize(
    ("text", "message"), [("ics,fhir", "include json"), ("json,pdf", "unknown format")]
)
def test_formats_must_be_known_and_include_json(text: str, message: str) -> None:
    """json marks completeness and de-duplicates, so it cannot be left out."""
    with pytest.raises(ValueError, match=message):
        parse_formats(text)


async def test_a_relayed_booking_arrives_as_a_valid_bundle(
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Real relay and client: the bundle matches the booking the patient submitted."""
    caplog.set_level(logging.INFO)
    out_dir = tmp_path / "bookings"
    async with aiohttp.ClientSession() as http:
        # Given a confirmed booking
        submitted = await confirmed_booking(http, relay, practice.slug, smtp_sink)

        # When the client drains the inbox writing all three formats
        config = RunConfig(
            relay.url,
            practice.token,
            practice.key_file,
            out_dir,
            wait=0,
            retry=RetryPolicy(start=0.02, cap=0.1, attempts=5),
            formats=("json", "ics", "fhir"),
        )
        assert await run(config, once=True) == 0

    # Then the bundle validates and carries the booking
    (json_path,) = [p for p in out_dir.glob("*.json") if not p.name.endswith(".fhir.json")]
    booking_id = json_path.stem
    document = json.loads((out_dir / f"{booking_id}.fhir.json").read_text(encoding="utf-8"))
    validated(document)
    patient, appointment = resources(document)
    assert patient["name"][0]["family"] == submitted["last_name"]
    assert patient["gender"] == "other"  # the e2e booking is `diverse`
    assert appointment["identifier"][0]["value"] == booking_id
    assert appointment["comment"] == submitted["note"]
    assert appointment["requestedPeriod"][0]["start"] == submitted["start"]
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        f"{booking_id}{suffix}" for suffix in (".json", ".ics", ".fhir.json")
    )

    # And the log has one line for it (id and time, no name) and the summary
    log = client_log(caplog)
    assert f"booking {booking_id} written (json, ics, fhir): " in log
    assert "summary: 1 written, 0 cancelled, 0 refused, 0 already there" in log
    for value in (submitted["first_name"], submitted["last_name"], submitted["email"]):
        assert value not in log


LANGUAGES = {
    "de": "Deutsch",
    "en": "Englisch",
    "tr": "Türkisch",
    "ar": "Arabisch",
    "ru": "Russisch",
    "uk": "Ukrainisch",
    "pl": "Polnisch",
}


@pytest.mark.parametrize(("code", "name"), [*LANGUAGES.items(), ("xx", "xx")])
def test_the_patients_language_is_a_preferred_bcp47_communication(code: str, name: str) -> None:
    """Patient.communication: the BCP 47 code, its German name, preferred; valid R4(B)."""
    document = booking(language=code)
    parsed = validated(fhir.bundle(document))
    patient, _ = resources(fhir.bundle(document))

    assert patient["communication"] == [
        {
            "language": {
                "coding": [{"system": "urn:ietf:bcp:47", "code": code, "display": name}],
                "text": name,
            },
            "preferred": True,
        }
    ]
    assert isinstance(parsed.entry[0].resource, Patient)


def test_a_booking_without_language_has_no_communication() -> None:
    """No language, no Patient.communication."""
    document = booking()
    document.pop("language", None)
    patient, _ = resources(fhir.bundle(document))
    assert "communication" not in patient
