"""A booking as an RFC 5545 calendar with one tentative event, for the practice calendar.

Labels are German: the calendar is read by practice staff. The .json file beside it is the
machine-readable form.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime

from icalendar import Calendar, Event

PRODID = "-//Terminrelay//practice-client//EN"

_GENDERS = {
    "female": "weiblich",
    "male": "männlich",
    "diverse": "divers",
    "unspecified": "keine Angabe",
}
_INSURANCES = {"statutory": "gesetzlich", "private": "privat", "self_pay": "Selbstzahler"}

# (field, label) in the order staff read them; SUMMARY already holds type and name.
_DETAILS = (
    ("doctor", "Behandler"),
    ("birth_date", "Geburtsdatum"),
    ("gender", "Geschlecht"),
    ("insurance", "Versicherung"),
    ("new_patient", "Neupatient"),
    ("phone", "Telefon"),
    ("email", "E-Mail"),
    ("note", "Anmerkung"),
    ("id", "Buchungs-ID"),
    ("submitted_at", "Angefragt"),
    ("confirmed_at", "Bestätigt"),
    ("consent_at", "Einwilligung"),
)
_NOT_IN_DESCRIPTION = frozenset(
    {"first_name", "last_name", "appointment_type", "start", "end", "consent", "practice"}
)


def render_calendar(booking: Mapping[str, object], *, now: datetime) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add_component(_event(booking, now))
    return bytes(calendar.to_ical())


def _event(booking: Mapping[str, object], now: datetime) -> Event:
    event = Event()
    event.add("uid", f"{booking['id']}@terminrelay")
    event.add("dtstamp", now.astimezone(UTC))
    start = _moment(booking.get("start"))
    if start is not None:
        event.add("dtstart", start)
    end = _moment(booking.get("end"))
    if end is not None:
        event.add("dtend", end)
    event.add("summary", _summary(booking))
    event.add("description", _description(booking))
    event.add("status", "TENTATIVE")
    return event


def _moment(value: object) -> datetime | None:
    """UTC, so the calendar needs no VTIMEZONE; a time without offset stays floating."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is None else moment.astimezone(UTC)


def _summary(booking: Mapping[str, object]) -> str:
    name = " ".join(str(booking[part]) for part in ("first_name", "last_name") if booking.get(part))
    kind = booking.get("appointment_type") or "Terminanfrage"
    return f"{kind}: {name}" if name else str(kind)


def _description(booking: Mapping[str, object]) -> str:
    lines = [
        f"{label}: {_shown(field, booking[field])}"
        for field, label in _DETAILS
        if booking.get(field) not in (None, "")
    ]
    known = {field for field, _ in _DETAILS} | _NOT_IN_DESCRIPTION
    # Fields a newer relay adds still reach the practice rather than vanish.
    lines += [
        f"{field}: {_shown(field, value)}"
        for field, value in sorted(booking.items())
        if field not in known and value not in (None, "")
    ]
    if isinstance(booking.get("start"), str) and _moment(booking["start"]) is None:
        lines.append(f"Wunschtermin: {booking['start']}")
    return "\n".join(lines)


def _shown(field: str, value: object) -> str:
    if isinstance(value, bool):
        return "ja" if value else "nein"
    text = str(value)
    if field == "gender":
        return _GENDERS.get(text, text)
    if field == "insurance":
        return _INSURANCES.get(text, text)
    if field == "birth_date":
        try:
            return date.fromisoformat(text).strftime("%d.%m.%Y")
        except ValueError:
            return text
    return text
