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

from relay.i18n.catalogs import N_, texts
from relay.practice.details import PracticeDetails

PRODID = "-//Terminrelay//patient calendar//EN"
# A wish without an end still needs a length in a calendar.
_WISH_MINUTES = 30


def render_patient_calendar(
    *,
    uid: str,
    appointment: Mapping[str, object],
    details: PracticeDetails | None,
    cancel_url: str | None,
    now: datetime,
) -> bytes:
    """The calendar file: VCALENDAR with one VEVENT, times in UTC (no VTIMEZONE needed)."""
    t = texts(str(appointment.get("lang") or ""))
    practice = str(appointment.get("practice_name") or "")
    wish = appointment.get("kind") == "wish"
    # A request the practice has yet to answer is tentative; a booked time is confirmed.
    # Links of relays before statuses say nothing: a slot was then taken as booked.
    requested = wish or appointment.get("status") == "proposed"
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
    event.add(
        "summary",
        t.gettext("Requested appointment: %(practice)s", practice=practice)
        if requested
        else t.gettext("Appointment: %(practice)s", practice=practice),
    )
    event.add("status", "TENTATIVE" if requested else "CONFIRMED")
    lines = []
    for field, label in (("doctor", N_("Doctor")), ("appointment_type", N_("Type"))):
        value = appointment.get(field)
        if isinstance(value, str) and value:
            lines.append(f"{t.gettext(label)}: {value}")
    if requested:
        lines.append(
            t.gettext("A requested time: the practice will tell you whether it is possible.")
        )
    # Not inside f-strings: Babel extracts no message from those.
    if details is not None and details.phone:
        lines.append(t.gettext("Practice phone: %(phone)s", phone=details.phone))
    if cancel_url:
        lines.append(t.gettext("Cancel: %(link)s", link=cancel_url))
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
