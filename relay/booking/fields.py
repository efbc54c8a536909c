"""The booking field list: one list for the validator, the HTML form and the privacy page.

Labels, purposes and choice labels are gettext messages (relay/i18n/catalogs.py), read
in a language as `label[lang]`. The vocabulary of validation failures (`ErrorCode`;
relay/web/error_messages.py holds a message for each code) and the value rules the wings
share are in relay/rules/values.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from relay.i18n.catalogs import Message
from relay.practice.insurance import INSURANCES
from relay.practice.profile import LegalBasis

FieldKind = Literal["text", "textarea", "date", "datetime", "email", "tel", "choice", "bool"]


def _no_texts() -> Mapping[str, Message]:
    return MappingProxyType({})


@dataclasses.dataclass(frozen=True)
class Field:
    """One booking field: its rules, its labels and why it is collected."""

    name: str
    kind: FieldKind
    required: bool
    label: Message = dataclasses.field(hash=False)
    purpose: Message = dataclasses.field(hash=False)
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    choice_labels: Mapping[str, Message] = dataclasses.field(default_factory=_no_texts, hash=False)
    autocomplete: str | None = None
    # doctor and appointment_type: required exactly when the practice's profile lists
    # any; their choices come from that profile, not from this list.
    required_when_offered: bool = False
    # The message for "required" where the patient chooses rather than types (radio
    # groups, lists): "Bitte wählen Sie …", naming what to choose.
    choose: Message | None = dataclasses.field(default=None, hash=False)


FIELDS: tuple[Field, ...] = (
    Field(
        name="first_name",
        kind="text",
        required=True,
        max_length=100,
        autocomplete="given-name",
        label=Message("First name"),
        purpose=Message("So the practice knows who is asking for the appointment."),
    ),
    Field(
        name="last_name",
        kind="text",
        required=True,
        max_length=100,
        autocomplete="family-name",
        label=Message("Last name"),
        purpose=Message("So the practice knows who is asking for the appointment."),
    ),
    Field(
        name="birth_date",
        kind="date",
        required=True,
        autocomplete="bday",
        label=Message("Date of birth"),
        purpose=Message(
            "So the practice can tell you apart from people with the same name and find "
            "your patient record."
        ),
    ),
    Field(
        name="gender",
        kind="choice",
        required=True,
        choices=("female", "male", "diverse", "unspecified"),
        choice_labels=MappingProxyType(
            {
                "female": Message("female"),
                "male": Message("male"),
                "diverse": Message("diverse"),
                "unspecified": Message("prefer not to say"),
            }
        ),
        label=Message("Gender"),
        choose=Message("Please choose your gender or “prefer not to say”."),
        purpose=Message(
            "So the practice addresses you correctly and can match your patient record. "
            "You may choose “prefer not to say”."
        ),
    ),
    Field(
        name="insurance",
        kind="choice",
        required=True,
        # The types a published slot may be kept for name the same values.
        choices=INSURANCES,
        choice_labels=MappingProxyType(
            {
                "statutory": Message("statutory"),
                "private": Message("private"),
                "self_pay": Message("self-pay"),
            }
        ),
        label=Message("Insurance"),
        choose=Message("Please choose how you are insured."),
        purpose=Message("So the practice knows how the treatment will be billed."),
    ),
    Field(
        name="note",
        kind="textarea",
        required=False,
        max_length=1000,
        label=Message("Note to the practice"),
        # Optional, as the Datenschutzkonferenz asks of every field about symptoms.
        purpose=Message(
            "Optional: so you can tell the practice what it should know to plan the "
            "appointment, such as the reason for your visit. Please write only what the "
            "practice needs to know in advance."
        ),
    ),
    Field(
        name="new_patient",
        kind="bool",
        required=True,
        label=Message("This is my first visit to this practice"),
        choose=Message("Please choose yes or no: is this your first visit to this practice?"),
        purpose=Message(
            "So the practice can allow enough time for a first visit and tell you which "
            "documents to bring."
        ),
    ),
    Field(
        name="doctor",
        kind="choice",
        required=False,
        required_when_offered=True,
        label=Message("Doctor"),
        choose=Message("Please choose a doctor."),
        purpose=Message("So the appointment is booked with the doctor you chose."),
    ),
    Field(
        name="appointment_type",
        kind="choice",
        required=False,
        required_when_offered=True,
        label=Message("Type of appointment"),
        choose=Message("Please choose a type of appointment."),
        purpose=Message(
            "So the practice knows what the visit is for and can plan the right amount of time."
        ),
    ),
    Field(
        name="start",
        kind="datetime",
        required=True,
        label=Message("Appointment start"),
        choose=Message("Please choose an appointment time."),
        purpose=Message("So the practice knows when you would like to come."),
    ),
    Field(
        name="end",
        kind="datetime",
        required=False,
        label=Message("Appointment end"),
        purpose=Message("So the practice knows how long the appointment lasts."),
    ),
    Field(
        name="email",
        kind="email",
        required=True,
        max_length=254,
        autocomplete="email",
        label=Message("Email address"),
        purpose=Message(
            "So we can send you the link to confirm your request, and the practice can "
            "contact you about the appointment."
        ),
    ),
    Field(
        name="phone",
        kind="tel",
        required=False,
        max_length=30,
        autocomplete="tel",
        label=Message("Phone number"),
        purpose=Message(
            "Optional: so the practice can reach you quickly with questions or changes."
        ),
    ),
    Field(
        name="consent",
        kind="bool",
        required=True,
        label=Message(
            "I consent to my details, including details about my health, being sent "
            "encrypted to the practice to arrange this appointment (Art. 9(2)(a) GDPR). "
            "I can withdraw my consent at any time."
        ),
        purpose=Message(
            "We may process details about your health only with your explicit consent."
        ),
    ),
    # Its own consent, never bundled with the booking's (the Berlin commissioner's 2022
    # report): unticked by default, and only where the practice sends reminders.
    Field(
        name="reminder",
        kind="bool",
        required=False,
        label=Message("Remind me by e-mail before the appointment"),
        purpose=Message(
            "Optional, only where the practice sends reminders: so you get an e-mail "
            "reminder with the practice, the date, the time and the address. This is a "
            "consent of its own (Art. 6(1)(a) and Art. 9(2)(a) GDPR); you can withdraw it "
            "at any time with the link in every reminder."
        ),
    ),
)
# The consent field where the booking rests on the contract (the default, after the
# Datenschutzkonferenz's paper of 16 June 2025): booking needs no consent, so the box
# acknowledges the privacy notice instead. Same name on the wire, for compatibility.
ACKNOWLEDGEMENT_LABEL = Message("I have read the privacy notice.")
ACKNOWLEDGEMENT_PURPOSE = Message(
    "So the practice knows that you were told how your details are processed. Booking "
    "needs no consent: your details are processed to arrange and provide your treatment "
    "(Art. 6(1)(b) and Art. 9(2)(h) GDPR with § 22 BDSG)."
)

FIELD_NAMES: frozenset[str] = frozenset(f.name for f in FIELDS)

_BY_NAME: Mapping[str, Field] = MappingProxyType({f.name: f for f in FIELDS})


def field(name: str) -> Field:
    """The field called `name`; KeyError for a name not in FIELDS."""
    return _BY_NAME[name]


def worded(spec: Field, legal_basis: LegalBasis) -> Field:
    """The field as a practice on `legal_basis` shows it: on the contract, the consent box
    is an acknowledgement of the privacy notice."""
    if spec.name == "consent" and legal_basis == "contract":
        return dataclasses.replace(
            spec, label=ACKNOWLEDGEMENT_LABEL, purpose=ACKNOWLEDGEMENT_PURPOSE
        )
    return spec
