"""A booking as an RFC 5545 calendar with one event, for the practice calendar.

STATUS follows the booking's status (status.py: TENTATIVE while proposed or pending,
CONFIRMED when booked, CANCELLED when declined or cancelled) and SEQUENCE its revision:
every change the client writes keeps the UID and counts SEQUENCE up, so a calendar that
imported the booking updates that event instead of adding one. While the practice's
proposal waits for the patient, the event stands at the proposed time.

Labels are German: the calendar is read by practice staff. The .json file beside it is the
machine-readable form.

The text is built here directly, not through the icalendar library: one booking is a
fixed set of a dozen properties, and building them with icalendar's component objects
cost more than all other work of the client on a booking but the fsyncs. The output is
byte for byte what icalendar 7 writes for the same event (its property order, TEXT
escaping and line folding; tests/test_practice_client_ics.py compares the two), so
calendars see no change.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime

from practice_client.handover.languages import german_name
from practice_client.handover.moments import iso_time
from practice_client.handover.status import ICS_STATUS, event_times, sequence_of, status_of

PRODID = "-//Terminrelay//practice-client//EN"
# RFC 5545 3.1: content lines SHOULD NOT exceed 75 octets; icalendar folds a line once it
# would reach this many, so its first part holds at most 74 and each continuation, with
# its leading space, at most 75.
_FOLD_AT = 75

_GENDERS = {
    "female": "weiblich",
    "male": "männlich",
    "diverse": "divers",
    "unspecified": "keine Angabe",
}
_INSURANCES = {"statutory": "gesetzlich", "private": "privat", "self_pay": "Selbstzahler"}
_KINDS = {"slot": "freier Termin aus dem Kalender", "wish": "Wunschtermin des Patienten"}
# Who sealed the booking: the patient's browser (protocol 2) or the relay.
_SEALED_BY = {"browser": "im Browser des Patienten", "relay": "vom Relay"}
_LEGAL_BASES = {
    "contract": "Behandlungsvertrag (Art. 6 Abs. 1 lit. b, Art. 9 Abs. 2 lit. h DSGVO, § 22 BDSG)",
    "consent": "Einwilligung (Art. 6 Abs. 1 lit. a, Art. 9 Abs. 2 lit. a DSGVO)",
}

# (field, label) in the order staff read them; SUMMARY already holds type and name.
_DETAILS = (
    ("kind", "Art"),
    ("language", "Sprache der Patientin / des Patienten"),
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
    ("legal_basis", "Rechtsgrundlage"),
    ("reminder", "Erinnerung per E-Mail"),
    ("reminder_consent_at", "Einwilligung in die Erinnerung"),
    ("cancelled_at", "Abgesagt"),
    ("sealed_by", "Verschlüsselt"),
)
_NOT_IN_DESCRIPTION = frozenset(
    {
        "first_name",
        "last_name",
        "appointment_type",
        "start",
        "end",
        "consent",
        "practice",
        "status",
        "sequence",
        "answer",
        "reply",
        "rescheduled_at",
        "previous_start",
        "previous_end",
        "reschedule_id",
    }
)
# Before the summary, so a list of events tells at once what no longer stands.
SUMMARY_PREFIX = {
    "pending": "Vorgeschlagen: ",
    "declined": "Abgelehnt: ",
    "cancelled": "Abgesagt: ",
}
_STATUS_WORDS = {
    "proposed": "angefragt, wartet auf die Antwort der Praxis",
    "booked": "gebucht",
    "pending": "andere Zeit vorgeschlagen, wartet auf die Antwort des Patienten",
    "declined": "abgelehnt",
    "cancelled": "abgesagt",
}
_ANSWERS = {
    "accept": "angenommen",
    "decline": "abgelehnt",
    "propose": "andere Zeit vorgeschlagen",
    "cancel": "abgesagt",
}
_REASONS = {
    "no_free_time": "keine freie Zeit",
    "doctor_unavailable": "Behandler verhindert",
    "please_call": "bitte anrufen",
    "referral_needed": "Überweisung nötig",
}
_REPLIES = {"accept": "Vorschlag angenommen", "decline": "Vorschlag abgelehnt"}


def render_calendar(booking: Mapping[str, object], *, now: datetime) -> bytes:
    """The booking as a VCALENDAR with one VEVENT, CRLF line ends, UTF-8."""
    status = status_of(booking)
    summary = SUMMARY_PREFIX.get(status, "") + _summary(booking)
    # icalendar's order: its canonical list for the event (SUMMARY, DTSTART, DTEND,
    # DTSTAMP, UID, SEQUENCE), then the other properties sorted by name.
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:" + _text(PRODID),
        "BEGIN:VEVENT",
        "SUMMARY:" + _text(summary),
    ]
    for name, value in zip(("DTSTART", "DTEND"), event_times(booking), strict=True):
        moment = _moment(value)
        if moment is not None:
            lines.append(f"{name}:{_date_time(moment)}")
    lines.append("DTSTAMP:" + _date_time(now.astimezone(UTC)))
    lines.append("UID:" + _text(f"{booking['id']}@terminrelay"))
    lines.append(f"SEQUENCE:{sequence_of(booking)}")
    lines.append("DESCRIPTION:" + _text(_description(booking)))
    lines.append("STATUS:" + ICS_STATUS[status])
    # Machine-readable too, for practice software that sorts wishes from slot bookings.
    for field, name in (("kind", "X-TERMINRELAY-KIND"), ("language", "X-TERMINRELAY-LANGUAGE")):
        value = booking.get(field)
        if isinstance(value, str):
            lines.append(f"{name}:{_text(value)}")
    lines += ("END:VEVENT", "END:VCALENDAR")
    return b"".join(_folded(line) + b"\r\n" for line in lines)


def _text(value: str) -> str:
    """An RFC 5545 TEXT value (3.3.11), escaped as icalendar escapes it: backslash,
    semicolon and comma get a backslash; every line break (and `\\N`) becomes `\\n`."""
    return (
        value.replace("\\N", "\n")
        .replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def _date_time(moment: datetime) -> str:
    """DATE-TIME form (3.3.5): UTC with Z, a time without offset floating (no Z)."""
    text = (
        f"{moment.year:04}{moment.month:02}{moment.day:02}"
        f"T{moment.hour:02}{moment.minute:02}{moment.second:02}"
    )
    return text + "Z" if moment.tzinfo is not None else text


def _folded(line: str) -> bytes:
    """The line in UTF-8, folded (3.1) as icalendar folds it: each part the most whole
    characters that fit in 74 octets, and a backslash or caret that would end a part moved
    to the next one, so an escape such as `\\n` is never split."""
    data = line.encode()
    if len(data) < _FOLD_AT:
        return data  # almost every line: nothing to fold
    parts = []
    start = 0
    while len(data) - start >= _FOLD_AT:
        end = start + _FOLD_AT - 1
        while data[end] & 0xC0 == 0x80:  # inside a multi-byte character: not there
            end -= 1
        if end - start > 1 and data[end - 1] in b"\\^":
            end -= 1
        parts.append(data[start:end])
        start = end
    parts.append(data[start:])
    return b"\r\n ".join(parts)


def _moment(value: object) -> datetime | None:
    """UTC, so the calendar needs no VTIMEZONE; a time without offset stays floating."""
    moment = iso_time(value)
    return moment if moment is None or moment.tzinfo is None else moment.astimezone(UTC)


def _summary(booking: Mapping[str, object]) -> str:
    name = " ".join(str(booking[part]) for part in ("first_name", "last_name") if booking.get(part))
    kind = booking.get("appointment_type") or "Terminanfrage"
    return f"{kind}: {name}" if name else str(kind)


def _description(booking: Mapping[str, object]) -> str:
    lines = [f"Status: {_STATUS_WORDS[status_of(booking)]}"]
    lines += [
        f"{label}: {_shown(field, booking[field])}"
        for field, label in _DETAILS
        if booking.get(field) not in (None, "")
    ]
    lines += _changes(booking)
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


def _changes(booking: Mapping[str, object]) -> list[str]:
    """The practice's answer, the patient's reply and move, for staff."""
    lines = []
    answer = booking.get("answer")
    if isinstance(answer, Mapping):
        given = str(answer.get("answer"))
        text = f"Antwort der Praxis: {_ANSWERS.get(given, given)}"
        reason = answer.get("reason")
        if isinstance(reason, str):
            text += f" (Grund: {_REASONS.get(reason, reason)})"
        if answer.get("answered_at"):
            text += f", {answer['answered_at']}"
        lines.append(text)
        if given == "propose" and answer.get("start"):
            lines.append(f"Vorgeschlagen: {answer['start']} bis {answer.get('end')}")
    reply = booking.get("reply")
    if isinstance(reply, Mapping):
        given = str(reply.get("reply"))
        lines.append(
            f"Antwort der Patientin / des Patienten: {_REPLIES.get(given, given)}, "
            f"{reply.get('replied_at')}"
        )
    if booking.get("rescheduled_at"):
        lines.append(
            f"Verlegt von der Patientin / vom Patienten: von {booking.get('previous_start')} "
            f"auf {booking.get('start')}, {booking['rescheduled_at']}"
        )
    return lines


def _shown(field: str, value: object) -> str:
    if isinstance(value, bool):
        return "ja" if value else "nein"
    text = str(value)
    if field == "gender":
        return _GENDERS.get(text, text)
    if field == "insurance":
        return _INSURANCES.get(text, text)
    if field == "kind":
        return _KINDS.get(text, text)
    if field == "language":
        return german_name(text)
    if field == "sealed_by":
        return _SEALED_BY.get(text, text)
    if field == "legal_basis":
        return _LEGAL_BASES.get(text, text)
    if field == "birth_date":
        try:
            return date.fromisoformat(text).strftime("%d.%m.%Y")
        except ValueError:
            return text
    return text


def describe(booking: Mapping[str, object]) -> str:
    """The event's description: every field for staff, labelled in German."""
    return _description(booking)
