"""The booking field list: one list for the validator, the HTML form and the privacy page.

The vocabulary of validation failures (`ErrorCode`; relay/web/i18n.py holds a message in
every language for each code) and the value rules the wings share are in
relay/rules/values.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

FieldKind = Literal["text", "textarea", "date", "datetime", "email", "tel", "choice", "bool"]


def _texts(de: str, en: str) -> Mapping[str, str]:
    """Read-only {"de": ..., "en": ...} so the shared field list cannot be changed at runtime."""
    return MappingProxyType({"de": de, "en": en})


def _no_texts() -> Mapping[str, Mapping[str, str]]:
    return MappingProxyType({})


@dataclasses.dataclass(frozen=True)
class Field:
    """One booking field: its rules, its labels and why it is collected."""

    name: str
    kind: FieldKind
    required: bool
    label: Mapping[str, str] = dataclasses.field(hash=False)
    purpose: Mapping[str, str] = dataclasses.field(hash=False)
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    choice_labels: Mapping[str, Mapping[str, str]] = dataclasses.field(
        default_factory=_no_texts, hash=False
    )
    autocomplete: str | None = None
    # doctor and appointment_type: required exactly when the practice's profile lists
    # any; their choices come from that profile, not from this list.
    required_when_offered: bool = False
    # The message for "required" where the patient chooses rather than types (radio
    # groups, lists): "Bitte wählen Sie …", naming what to choose.
    choose: Mapping[str, str] | None = dataclasses.field(default=None, hash=False)


FIELDS: tuple[Field, ...] = (
    Field(
        name="first_name",
        kind="text",
        required=True,
        max_length=100,
        autocomplete="given-name",
        label=_texts("Vorname", "First name"),
        purpose=_texts(
            "Damit die Praxis weiß, wer den Termin wünscht.",
            "So the practice knows who is asking for the appointment.",
        ),
    ),
    Field(
        name="last_name",
        kind="text",
        required=True,
        max_length=100,
        autocomplete="family-name",
        label=_texts("Nachname", "Last name"),
        purpose=_texts(
            "Damit die Praxis weiß, wer den Termin wünscht.",
            "So the practice knows who is asking for the appointment.",
        ),
    ),
    Field(
        name="birth_date",
        kind="date",
        required=True,
        autocomplete="bday",
        label=_texts("Geburtsdatum", "Date of birth"),
        purpose=_texts(
            "Damit die Praxis Sie sicher von Personen mit gleichem Namen unterscheiden "
            "und Ihre Patientenakte finden kann.",
            "So the practice can tell you apart from people with the same name and find "
            "your patient record.",
        ),
    ),
    Field(
        name="gender",
        kind="choice",
        required=True,
        choices=("female", "male", "diverse", "unspecified"),
        choice_labels=MappingProxyType(
            {
                "female": _texts("weiblich", "female"),
                "male": _texts("männlich", "male"),
                "diverse": _texts("divers", "diverse"),
                "unspecified": _texts("keine Angabe", "prefer not to say"),
            }
        ),
        label=_texts("Geschlecht", "Gender"),
        choose=_texts(
            "Bitte wählen Sie Ihr Geschlecht oder „keine Angabe“.",
            "Please choose your gender or “prefer not to say”.",
        ),
        purpose=_texts(
            "Damit die Praxis Sie richtig anspricht und Ihre Patientenakte zuordnen kann. "
            "Sie können „keine Angabe“ wählen.",
            "So the practice addresses you correctly and can match your patient record. "
            "You may choose “prefer not to say”.",
        ),
    ),
    Field(
        name="insurance",
        kind="choice",
        required=True,
        choices=("statutory", "private", "self_pay"),
        choice_labels=MappingProxyType(
            {
                "statutory": _texts("gesetzlich", "statutory"),
                "private": _texts("privat", "private"),
                "self_pay": _texts("Selbstzahler", "self-pay"),
            }
        ),
        label=_texts("Versicherung", "Insurance"),
        choose=_texts(
            "Bitte wählen Sie, wie Sie versichert sind.",
            "Please choose how you are insured.",
        ),
        purpose=_texts(
            "Damit die Praxis weiß, wie die Behandlung abgerechnet wird.",
            "So the practice knows how the treatment will be billed.",
        ),
    ),
    Field(
        name="note",
        kind="textarea",
        required=False,
        max_length=1000,
        label=_texts("Nachricht an die Praxis", "Note to the practice"),
        purpose=_texts(
            "Damit Sie der Praxis mitteilen können, was sie für die Terminplanung wissen "
            "sollte. Freiwillig; bitte schreiben Sie nur, was die Praxis vorab wissen muss.",
            "So you can tell the practice what it should know to plan the appointment. "
            "Optional; please write only what the practice needs to know in advance.",
        ),
    ),
    Field(
        name="new_patient",
        kind="bool",
        required=True,
        label=_texts(
            "Ich bin zum ersten Mal in dieser Praxis",
            "This is my first visit to this practice",
        ),
        choose=_texts(
            "Bitte wählen Sie Ja oder Nein: Sind Sie zum ersten Mal in dieser Praxis?",
            "Please choose yes or no: is this your first visit to this practice?",
        ),
        purpose=_texts(
            "Damit die Praxis für einen ersten Besuch genug Zeit einplant und Ihnen sagen "
            "kann, welche Unterlagen Sie mitbringen sollen.",
            "So the practice can allow enough time for a first visit and tell you which "
            "documents to bring.",
        ),
    ),
    Field(
        name="doctor",
        kind="choice",
        required=False,
        required_when_offered=True,
        label=_texts("Ärztin oder Arzt", "Doctor"),
        choose=_texts(
            "Bitte wählen Sie eine Ärztin oder einen Arzt.",
            "Please choose a doctor.",
        ),
        purpose=_texts(
            "Damit der Termin bei der Ärztin oder dem Arzt eingeplant wird, die oder den "
            "Sie gewählt haben.",
            "So the appointment is booked with the doctor you chose.",
        ),
    ),
    Field(
        name="appointment_type",
        kind="choice",
        required=False,
        required_when_offered=True,
        label=_texts("Terminart", "Type of appointment"),
        choose=_texts(
            "Bitte wählen Sie eine Terminart.",
            "Please choose a type of appointment.",
        ),
        purpose=_texts(
            "Damit die Praxis weiß, worum es geht, und die passende Zeit einplant.",
            "So the practice knows what the visit is for and can plan the right amount of time.",
        ),
    ),
    Field(
        name="start",
        kind="datetime",
        required=True,
        label=_texts("Terminbeginn", "Appointment start"),
        choose=_texts(
            "Bitte wählen Sie einen Termin.",
            "Please choose an appointment time.",
        ),
        purpose=_texts(
            "Damit die Praxis weiß, wann Sie kommen möchten.",
            "So the practice knows when you would like to come.",
        ),
    ),
    Field(
        name="end",
        kind="datetime",
        required=False,
        label=_texts("Terminende", "Appointment end"),
        purpose=_texts(
            "Damit die Praxis weiß, wie lange der Termin dauert.",
            "So the practice knows how long the appointment lasts.",
        ),
    ),
    Field(
        name="email",
        kind="email",
        required=True,
        max_length=254,
        autocomplete="email",
        label=_texts("E-Mail-Adresse", "Email address"),
        purpose=_texts(
            "Damit wir Ihnen den Link senden können, mit dem Sie die Anfrage bestätigen, "
            "und die Praxis Sie zum Termin erreichen kann.",
            "So we can send you the link to confirm your request, and the practice can "
            "contact you about the appointment.",
        ),
    ),
    Field(
        name="phone",
        kind="tel",
        required=False,
        max_length=30,
        autocomplete="tel",
        label=_texts("Telefonnummer", "Phone number"),
        purpose=_texts(
            "Freiwillig: damit die Praxis Sie bei Rückfragen oder Änderungen schnell "
            "erreichen kann.",
            "Optional: so the practice can reach you quickly with questions or changes.",
        ),
    ),
    Field(
        name="consent",
        kind="bool",
        required=True,
        label=_texts(
            "Ich willige ein, dass meine Angaben, auch Angaben zu meiner Gesundheit, zur "
            "Vereinbarung dieses Termins verschlüsselt an die Praxis übermittelt werden "
            "(Art. 9 Abs. 2 lit. a DSGVO). Ich kann die Einwilligung jederzeit widerrufen.",
            "I consent to my details, including details about my health, being sent "
            "encrypted to the practice to arrange this appointment (Art. 9(2)(a) GDPR). "
            "I can withdraw my consent at any time.",
        ),
        purpose=_texts(
            "Angaben zur Gesundheit dürfen wir nur mit Ihrer ausdrücklichen Einwilligung "
            "verarbeiten.",
            "We may process details about your health only with your explicit consent.",
        ),
    ),
)

FIELD_NAMES: frozenset[str] = frozenset(f.name for f in FIELDS)

_BY_NAME: Mapping[str, Field] = MappingProxyType({f.name: f for f in FIELDS})


def field(name: str) -> Field:
    """The field called `name`; KeyError for a name not in FIELDS."""
    return _BY_NAME[name]
