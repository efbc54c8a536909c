"""The patient's "add to my calendar" file: one event, built from a calendar link alone.

The link carries the appointment from the booking's encrypted summary
(relay/booking/cancellation.py),
the practice's address and phone come from its public profile. Nothing of the patient is in
it (no name, no address, nothing typed), so it holds no other patient's data either: the
event is this request's appointment, at this practice, and the cancel link.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event

from relay.practice.details import PracticeDetails

PRODID = "-//Terminrelay//patient calendar//EN"
# A wish without an end still needs a length in a calendar.
_WISH_MINUTES = 30

_TEXTS = {
    "de": {
        "appointment": "Termin: {practice}",
        "wish": "Terminwunsch: {practice}",
        "doctor": "Ärztin / Arzt",
        "type": "Terminart",
        "phone": "Telefon der Praxis",
        "wish_note": "Ein Wunschtermin: Die Praxis meldet sich, ob er möglich ist.",
        "cancel": "Absagen",
    },
    "en": {
        "appointment": "Appointment: {practice}",
        "wish": "Requested appointment: {practice}",
        "doctor": "Doctor",
        "type": "Type",
        "phone": "Practice phone",
        "wish_note": "A requested time: the practice will tell you whether it is possible.",
        "cancel": "Cancel",
    },
}


def render_patient_calendar(
    *,
    uid: str,
    appointment: Mapping[str, object],
    details: PracticeDetails | None,
    cancel_url: str | None,
    now: datetime,
) -> bytes:
    """The calendar file: VCALENDAR with one VEVENT, times in UTC (no VTIMEZONE needed)."""
    lang = str(appointment.get("lang") or "de")
    texts = _TEXTS.get(lang, _TEXTS["de"])
    practice = str(appointment.get("practice_name") or "")
    wish = appointment.get("kind") == "wish"
    start = datetime.fromisoformat(str(appointment["start"]))
    end_text = appointment.get("end")
    end = (
        datetime.fromisoformat(str(end_text))
        if end_text
        else start + timedelta(minutes=_WISH_MINUTES)
    )
    event = Event()
    # Stable per booking, so downloading twice updates the event instead of adding one.
    event.add("uid", f"{uid}@terminrelay")
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", start.astimezone(UTC))
    event.add("dtend", end.astimezone(UTC))
    event.add("summary", texts["wish" if wish else "appointment"].replace("{practice}", practice))
    event.add("status", "TENTATIVE" if wish else "CONFIRMED")
    lines = []
    for field, label in (("doctor", "doctor"), ("appointment_type", "type")):
        value = appointment.get(field)
        if isinstance(value, str) and value:
            lines.append(f"{texts[label]}: {value}")
    if wish:
        lines.append(texts["wish_note"])
    if details is not None and details.phone:
        lines.append(f"{texts['phone']}: {details.phone}")
    if cancel_url:
        lines.append(f"{texts['cancel']}: {cancel_url}")
    if lines:
        event.add("description", "\n".join(lines))
    if details is not None and details.address:
        event.add("location", ", ".join([practice, *details.address]))
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add_component(event)
    return bytes(calendar.to_ical())
