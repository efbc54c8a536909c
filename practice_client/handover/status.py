"""A booking's status and revision, as its files and the practice's calendar show them.

One vocabulary for the relay, the client's JSON, the .ics and FHIR (docs/protocol.md,
"Statuses"): a booking arrives `booked` or `proposed` (the signed `status`; absent from
relays before it, which means `booked` for a slot and `proposed` for a wish), and becomes
`pending`, `declined` or `cancelled` through the practice's answer and the patient's
notices (changes.py).

Every change the client writes counts up the booking's `sequence` (the .ics SEQUENCE), so
a calendar that imported the event replaces it instead of adding one. Files written
before `sequence` existed are revision 0, or 1 when they say `cancelled`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from practice_client.handover.moments import iso_time

Status = Literal["proposed", "booked", "pending", "declined", "cancelled"]
STATUSES: tuple[Status, ...] = ("proposed", "booked", "pending", "declined", "cancelled")
# What the relay may sign into a booking: anything else is refused (relay/envelope.py).
ARRIVING: tuple[Status, ...] = ("booked", "proposed")

ICS_STATUS: Mapping[Status, str] = {
    "proposed": "TENTATIVE",
    "booked": "CONFIRMED",
    "pending": "TENTATIVE",
    "declined": "CANCELLED",
    "cancelled": "CANCELLED",
}
FHIR_STATUS: Mapping[Status, str] = {
    "proposed": "proposed",
    "booked": "booked",
    "pending": "pending",
    "declined": "cancelled",
    "cancelled": "cancelled",
}
# No time stands any more: nothing in a calendar or the slots may be blocked by it.
ENDED: frozenset[Status] = frozenset({"declined", "cancelled"})


def arriving_status(document: Mapping[str, object]) -> Status:
    """The status a booking arrives with: its signed `status`, else by its kind."""
    signed = document.get("status")
    if signed in ARRIVING:
        return "booked" if signed == "booked" else "proposed"
    return "proposed" if document.get("kind") == "wish" else "booked"


def status_of(document: Mapping[str, object]) -> Status:
    """The status a written booking document says it has."""
    value = document.get("status")
    for status in STATUSES:
        if value == status:
            return status
    return arriving_status(document)


def sequence_of(document: Mapping[str, object]) -> int:
    """How many changes the client wrote since the booking (RFC 5545 SEQUENCE)."""
    value = document.get("sequence")
    if type(value) is int and value >= 0:
        return value
    return 1 if document.get("status") == "cancelled" else 0


def event_times(document: Mapping[str, object]) -> tuple[object, object]:
    """(start, end) of the appointment as it now stands: while the practice's proposal
    waits for the patient (`pending`), the proposed time."""
    answer = document.get("answer")
    if status_of(document) == "pending" and isinstance(answer, Mapping):
        return answer.get("start"), answer.get("end")
    return document.get("start"), document.get("end")


def event_start(document: Mapping[str, object]) -> datetime | None:
    return iso_time(event_times(document)[0])
