"""A booking as a FHIR R4 transaction Bundle (`{id}.fhir.json`) for practice software.

Plain dicts, no FHIR library at run time (the tests validate every bundle with the
`fhir.resources` models). The Bundle holds a Patient and an Appointment and follows the
gematik ISiK Terminplanung profiles where a booking request can:

- Appointment claims `ISiKTermin` (meta.profile) and carries its Source tag `external`.
  It has status, start and end, serviceType (ISiK: 1..*, free text suffices), a patient
  participant (reference and display) and the doctor as a participant whose reference
  points to a *contained* Practitioner holding only the name: ISiK asks for a reference,
  but the relay knows a doctor by the name the practice published, not by an id in the
  practice software. Deviation: that Practitioner is not an ISiKPersonImGesundheitsberuf
  (no identifier such as the LANR).
- Patient does not claim `ISiKPatient`: that profile requires the practice's own patient
  number (PID), which only the practice software assigns. ISiKTermin allows such
  rudimentary patients ("nur gegen den Kernstandard valide" until completed). Gender
  follows ISiKPatient: `diverse` is `other` with the German `gender-amtlich-de`
  extension (D), `unspecified` ("keine Angabe") is `unknown`.
- Insurance type: no Coverage. Coverage needs the payer (the insurer's IK number) and for
  statutory patients the KVNR, which the form does not collect. The type is carried as an
  extension with a `versicherungsart-de-basis` coding (GKV, PKV, SEL), as is the
  new-patient flag; both are also in Appointment.description for people.
- The language the patient used the form in goes to Patient.communication, coded in
  BCP 47 (`urn:ietf:bcp:47`, the system of FHIR's CommonLanguages value set) with the
  German name as display and text, and `preferred`: the practice may answer in it.
- A wish without an end time (the patient named only a start) has no start/end, which
  FHIR allows for `proposed` appointments; the wished time goes to requestedPeriod.

Import is idempotent: every entry is a conditional create (`ifNoneExist`) keyed by an
identifier holding the booking id, and fullUrls are `urn:uuid:`s derived from the booking
id, so the same booking always yields the same bytes.

Appointment.status follows the booking's status (status.py): `proposed`, `booked`,
`pending` (at the time the practice proposed), `cancelled` (declined or cancelled, with
`cancelationReason` `pat` when the patient ended it, `prov` when the practice did). Every
revision after the first (sequence > 0) sends the Appointment as a conditional update, so
it reaches an appointment imported before and creates one otherwise.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from practice_client.handover.languages import german_name
from practice_client.handover.moments import aware_time
from practice_client.handover.status import FHIR_STATUS, event_times, sequence_of, status_of

Status = Literal["proposed", "booked", "pending", "cancelled"]
_STATUSES: tuple[Status, ...] = ("proposed", "booked", "pending", "cancelled")

BOOKING_SYSTEM = "urn:terminrelay:booking"
PATIENT_SYSTEM = "urn:terminrelay:patient"
APPOINTMENT_TYPE_SYSTEM = "urn:terminrelay:appointment-type"
INSURANCE_EXTENSION = "urn:terminrelay:fhir:insurance-type"
NEW_PATIENT_EXTENSION = "urn:terminrelay:fhir:new-patient"
ISIK_TERMIN = "https://gematik.de/fhir/isik/StructureDefinition/ISiKTermin"
META_TAG_SYSTEM = "http://fhir.de/CodeSystem/common-meta-tag-de"
GENDER_EXTENSION = "http://fhir.de/StructureDefinition/gender-amtlich-de"
GENDER_SYSTEM = "http://fhir.de/CodeSystem/gender-amtlich-de"
INSURANCE_SYSTEM = "http://fhir.de/CodeSystem/versicherungsart-de-basis"
CANCELLATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason"
LANGUAGE_SYSTEM = "urn:ietf:bcp:47"

# Namespace for the urn:uuid fullUrls: a fixed random UUID of this project.
_NAMESPACE = uuid.UUID("5f0c7a52-3f3e-4a57-9d0e-6c1f2b8e4d11")

_GENDERS = {"female": "female", "male": "male", "diverse": "other", "unspecified": "unknown"}
_INSURANCES = {
    "statutory": ("GKV", "gesetzliche Krankenversicherung", "gesetzlich versichert"),
    "private": ("PKV", "private Krankenversicherung", "privat versichert"),
    "self_pay": ("SEL", "Selbstzahler", "Selbstzahler"),
}
_DOCTOR_ID = "doctor"


def render_bundle(booking: Mapping[str, object], *, status: Status | None = None) -> bytes:
    """The Bundle as UTF-8 JSON bytes, keys sorted, ready to write; `status` by default
    the booking's (status.py)."""
    text = json.dumps(bundle(booking, status=status), ensure_ascii=False, sort_keys=True, indent=2)
    return (text + "\n").encode()


def bundle(booking: Mapping[str, object], *, status: Status | None = None) -> dict[str, Any]:
    """The transaction Bundle of one booking; `status` by default the booking's."""
    if status is None:
        status = _status(booking)
    if status not in _STATUSES:
        raise ValueError(f"unknown appointment status {status!r}")
    booking_id = str(booking["id"])
    patient_url = _urn("patient", booking_id)
    appointment_url = _urn("appointment", booking_id)
    patient_query = f"identifier={PATIENT_SYSTEM}|{booking_id}"
    appointment_query = f"identifier={BOOKING_SYSTEM}|{booking_id}"
    if status == "cancelled" or sequence_of(booking) > 0:
        appointment_request = {"method": "PUT", "url": f"Appointment?{appointment_query}"}
    else:
        appointment_request = {
            "method": "POST",
            "url": "Appointment",
            "ifNoneExist": appointment_query,
        }
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": patient_url,
                "resource": patient(booking),
                "request": {"method": "POST", "url": "Patient", "ifNoneExist": patient_query},
            },
            {
                "fullUrl": appointment_url,
                "resource": appointment(booking, patient_url, status=status),
                "request": appointment_request,
            },
        ],
    }


def patient(booking: Mapping[str, object]) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        # use "temp": it names the patient of one booking; matching them to a patient
        # already known is the practice's decision, not the importer's.
        "identifier": [{"use": "temp", "system": PATIENT_SYSTEM, "value": str(booking["id"])}],
        "name": [_name(booking)],
    }
    telecom = [
        {"system": system, "value": value, "use": "home" if system == "email" else "mobile"}
        for system, value in (("phone", booking.get("phone")), ("email", booking.get("email")))
        if isinstance(value, str) and value
    ]
    if telecom:
        resource["telecom"] = telecom
    gender = booking.get("gender")
    if isinstance(gender, str) and gender in _GENDERS:
        resource["gender"] = _GENDERS[gender]
        if gender == "diverse":
            resource["_gender"] = {
                "extension": [
                    {
                        "url": GENDER_EXTENSION,
                        "valueCoding": {"system": GENDER_SYSTEM, "code": "D", "display": "divers"},
                    }
                ]
            }
    birth_date = booking.get("birth_date")
    if isinstance(birth_date, str) and birth_date:
        resource["birthDate"] = birth_date
    language = _text(booking.get("language"))
    if language:
        name = german_name(language)
        resource["communication"] = [
            {
                "language": {
                    "coding": [{"system": LANGUAGE_SYSTEM, "code": language, "display": name}],
                    "text": name,
                },
                "preferred": True,
            }
        ]
    return resource


def _status(booking: Mapping[str, object]) -> Status:
    fhir_status = FHIR_STATUS[status_of(booking)]
    for status in _STATUSES:
        if status == fhir_status:
            return status
    raise ValueError(f"unknown appointment status {fhir_status!r}")  # pragma: no cover


def _cancelled_by(booking: Mapping[str, object]) -> tuple[str, str]:
    """The cancellation-reason code: the practice's answer, or the patient (notice, reply)."""
    answer = booking.get("answer")
    reply = booking.get("reply")
    patient_declined = isinstance(reply, Mapping) and reply.get("reply") == "decline"
    by_practice = isinstance(answer, Mapping) and answer.get("answer") in ("decline", "cancel")
    if status_of(booking) == "cancelled" and booking.get("cancelled_at"):
        return "pat", "Patient"
    if by_practice and not patient_declined:
        return "prov", "Provider"
    return "pat", "Patient"


def appointment(
    booking: Mapping[str, object], patient_url: str, *, status: Status | None = None
) -> dict[str, Any]:
    if status is None:
        status = _status(booking)
    kind = _text(booking.get("appointment_type"))
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "meta": {
            "profile": [ISIK_TERMIN],
            "tag": [{"system": META_TAG_SYSTEM, "code": "external"}],
        },
        "identifier": [{"use": "official", "system": BOOKING_SYSTEM, "value": str(booking["id"])}],
        "status": status,
        "serviceType": [_service_type(kind)],
        "description": _description(booking, kind),
    }
    extensions = _extensions(booking)
    if extensions:
        resource["extension"] = extensions
    if status == "cancelled":
        code, display = _cancelled_by(booking)
        resource["cancelationReason"] = {
            "coding": [{"system": CANCELLATION_SYSTEM, "code": code, "display": display}]
        }
    shown_start, shown_end = event_times(booking)
    start, end = aware_time(shown_start), aware_time(shown_end)
    if start is not None and end is not None and start < end:
        resource["start"], resource["end"] = _instant(start), _instant(end)
    elif start is not None:
        resource["requestedPeriod"] = [{"start": _instant(start)}]
    created = aware_time(booking.get("submitted_at"))
    if created is not None:
        resource["created"] = _instant(created)
    note = _text(booking.get("note"))
    if note:
        resource["comment"] = note
    participants: list[dict[str, Any]] = [
        {
            "actor": {"reference": patient_url, "type": "Patient", "display": _full_name(booking)},
            # The patient asked for it and confirmed by e-mail; a time the practice
            # proposed instead waits for them.
            "required": "required",
            "status": "needs-action" if status == "pending" else "accepted",
        }
    ]
    doctor = _text(booking.get("doctor"))
    if doctor:
        resource["contained"] = [
            {"resourceType": "Practitioner", "id": _DOCTOR_ID, "name": [{"text": doctor}]}
        ]
        participants.append(
            {
                "actor": {"reference": f"#{_DOCTOR_ID}", "type": "Practitioner", "display": doctor},
                "required": "required",
                # Until the practice answers, it has not looked at the request yet.
                "status": "needs-action" if status == "proposed" else "accepted",
            }
        )
    resource["participant"] = participants
    return resource


def _urn(kind: str, booking_id: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{kind}:{booking_id}')}"


def _name(booking: Mapping[str, object]) -> dict[str, Any]:
    family, given = _text(booking.get("last_name")), _text(booking.get("first_name"))
    name: dict[str, Any] = {"use": "official", "text": _full_name(booking)}
    if family:
        name["family"] = family
    if given:
        name["given"] = [given]
    return name


def _full_name(booking: Mapping[str, object]) -> str:
    parts = (_text(booking.get("first_name")), _text(booking.get("last_name")))
    return " ".join(part for part in parts if part) or "unbekannt"


def _service_type(kind: str) -> dict[str, Any]:
    if not kind:
        return {"text": "Terminanfrage"}
    return {
        "coding": [{"system": APPOINTMENT_TYPE_SYSTEM, "code": kind, "display": kind}],
        "text": kind,
    }


def _description(booking: Mapping[str, object], kind: str) -> str:
    """A subject line for appointment lists: no name, nothing from the free-text note."""
    details = [kind or "Terminanfrage", "Online-Anfrage"]
    insurance = booking.get("insurance")
    if isinstance(insurance, str) and insurance in _INSURANCES:
        details.append(_INSURANCES[insurance][2])
    new_patient = booking.get("new_patient")
    if isinstance(new_patient, bool):
        details.append("Neupatient" if new_patient else "bekannter Patient")
    return ", ".join(details)


def _extensions(booking: Mapping[str, object]) -> list[dict[str, Any]]:
    extensions: list[dict[str, Any]] = []
    insurance = booking.get("insurance")
    if isinstance(insurance, str) and insurance in _INSURANCES:
        code, display, _ = _INSURANCES[insurance]
        extensions.append(
            {
                "url": INSURANCE_EXTENSION,
                "valueCoding": {"system": INSURANCE_SYSTEM, "code": code, "display": display},
            }
        )
    new_patient = booking.get("new_patient")
    if isinstance(new_patient, bool):
        extensions.append({"url": NEW_PATIENT_EXTENSION, "valueBoolean": new_patient})
    return extensions


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _instant(moment: datetime) -> str:
    """FHIR `instant`: seconds and the offset the booking gave (local practice time)."""
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
