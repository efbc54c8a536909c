"""The booking's .ics (practice_client/handover/ics.py): byte for byte what icalendar writes, and
valid RFC 5545 that icalendar parses back, cancelled or not."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar, Event

from practice_client.handover import ics
from practice_client.handover.ics import render_calendar
from practice_client.handover.status import (
    ICS_STATUS,
    STATUSES,
    event_times,
    sequence_of,
    status_of,
)
from tests.test_practice_client_sink import NOW, booking

# The relay's seven languages and their German names in the files for the practice.
LANGUAGES = {
    "de": "Deutsch",
    "en": "Englisch",
    "tr": "Türkisch",
    "ar": "Arabisch",
    "ru": "Russisch",
    "uk": "Ukrainisch",
    "pl": "Polnisch",
}


def icalendar_rendering(document: Mapping[str, object], now: datetime) -> bytes:
    """The calendar as the icalendar library builds it (the client's former renderer)."""
    calendar = Calendar()
    calendar.add("prodid", ics.PRODID)
    calendar.add("version", "2.0")
    event = Event()
    event.add("uid", f"{document['id']}@terminrelay")
    event.add("dtstamp", now.astimezone(UTC))
    for name, value in zip(("dtstart", "dtend"), event_times(document), strict=True):
        moment = ics._moment(value)
        if moment is not None:
            event.add(name, moment)
    status = status_of(document)
    event.add("summary", ics.SUMMARY_PREFIX.get(status, "") + ics._summary(document))
    event.add("description", ics._description(document))
    event.add("status", ICS_STATUS[status])
    event.add("sequence", sequence_of(document))
    for field, name in (("kind", "X-TERMINRELAY-KIND"), ("language", "X-TERMINRELAY-LANGUAGE")):
        if isinstance(document.get(field), str):
            event.add(name, document[field])
    calendar.add_component(event)
    return bytes(calendar.to_ical())


def parsed_event(data: bytes) -> Any:
    calendar = Calendar.from_ical(data)
    assert calendar["VERSION"] == "2.0"
    (event,) = calendar.walk("VEVENT")
    return event


# Text that exercises escaping and folding: separators, backslashes (also `\N`), line
# breaks of every kind, multi-byte characters at fold boundaries.
awkward_text = st.lists(
    st.sampled_from([*"ab ;,:\\N^\r\n\tüß€😀\"'", "\\n", "\r\n", "x" * 30]), max_size=40
).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    first_name=awkward_text,
    note=awkward_text,
    doctor=st.one_of(st.none(), awkward_text),
    kind=st.sampled_from(["slot", "wish", "future-kind"]),
    language=st.sampled_from([*LANGUAGES, "xx"]),
    status=st.sampled_from([None, *STATUSES]),
    start=st.sampled_from(
        ["2026-12-01T09:00:00+01:00", "2026-12-01T09:00:00", "bald bitte", "2026-12-01"]
    ),
    extra=st.dictionaries(st.sampled_from(["zeta", "neu,feld"]), awkward_text, max_size=2),
)
def test_the_calendar_is_byte_identical_to_icalendar(
    first_name: str,
    note: str,
    doctor: str | None,
    kind: str,
    language: str,
    status: str | None,
    start: str,
    extra: dict[str, str],
) -> None:
    """Any booking text, in any status: the same bytes icalendar's Calendar.to_ical gives."""
    document = booking(
        first_name=first_name, note=note, doctor=doctor, kind=kind, language=language, start=start
    )
    document.update(extra)
    if status is not None:
        document.update(status=status, sequence=2)
    if status == "cancelled":
        document.update(cancelled_at="2026-11-23T10:00:00Z")
    if status == "pending":
        document["answer"] = {
            "answer": "propose",
            "reason": "doctor_unavailable",
            "answered_at": "2026-11-23T10:00:00Z",
            "start": "2026-12-02T10:00:00+01:00",
            "end": "2026-12-02T10:20:00+01:00",
        }
    now = datetime(2026, 11, 22, 9, 15, 7, 123456, tzinfo=UTC)

    assert render_calendar(document, now=now) == icalendar_rendering(document, now)


def test_machine_readable_fields_are_escaped_text() -> None:
    """An X-TERMINRELAY-KIND with separators and a line break stays one property value.

    icalendar writes X- properties verbatim (it refuses a line break with an
    AssertionError); the relay only sends "slot" or "wish", but nothing it sends may add a
    property to the practice's calendar.
    """
    document = booking(kind="wish;x,y\nSTATUS:CANCELLED", language="de")

    data = render_calendar(document, now=NOW)

    assert b"X-TERMINRELAY-KIND:wish\\;x\\,y\\nSTATUS:CANCELLED\r\n" in data
    assert str(parsed_event(data)["STATUS"]) == "CONFIRMED"  # a booked slot, as the kind says


def test_long_lines_are_folded_within_75_octets_and_unfold_to_the_text() -> None:
    """A note of 500 multi-byte characters: every physical line ≤ 75 octets, text intact."""
    note = "Rückenschmerzen; seit Tagen, bitte früh \\ 😀 " * 12
    data = render_calendar(booking(note=note), now=NOW)

    assert all(len(line) <= 75 for line in data.split(b"\r\n"))
    assert note.strip() in str(parsed_event(data)["DESCRIPTION"])


def test_a_booking_parses_back_tentative_with_its_times() -> None:
    """icalendar reads the event: UID, UTC times, DTSTAMP, TENTATIVE, SEQUENCE 0, X- fields."""
    document = booking(kind="slot", language="en", status="proposed")

    event = parsed_event(render_calendar(document, now=NOW))

    assert str(event["UID"]) == f"{document['id']}@terminrelay"
    assert event.decoded("DTSTART") == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2026, 12, 1, 8, 20, tzinfo=UTC)
    assert event.decoded("DTSTAMP") == NOW
    assert str(event["STATUS"]) == "TENTATIVE"
    assert event.decoded("SEQUENCE") == 0
    assert str(event["X-TERMINRELAY-KIND"]) == "slot"
    assert str(event["X-TERMINRELAY-LANGUAGE"]) == "en"
    assert "Sprache der Patientin / des Patienten: Englisch" in str(event["DESCRIPTION"])


def test_a_cancellation_parses_back_cancelled_with_sequence_one() -> None:
    """STATUS:CANCELLED, SEQUENCE:1, the same UID, and the summary says so."""
    document = booking(status="cancelled", cancelled_at="2026-11-23T10:00:00Z")

    event = parsed_event(render_calendar(document, now=NOW))

    assert str(event["UID"]) == f"{document['id']}@terminrelay"
    assert str(event["STATUS"]) == "CANCELLED"
    assert event.decoded("SEQUENCE") == 1
    assert str(event["SUMMARY"]).startswith("Abgesagt: ")
    assert "Abgesagt: 2026-11-23T10:00:00Z" in str(event["DESCRIPTION"])


def test_a_wish_without_a_parsable_time_has_no_dtstart() -> None:
    """A free-text wish: no DTSTART or DTEND, the wish in the description."""
    document = booking(start="nächste Woche vormittags", end=None)

    event = parsed_event(render_calendar(document, now=NOW))

    assert "DTSTART" not in event
    assert "DTEND" not in event
    assert "Wunschtermin: nächste Woche vormittags" in str(event["DESCRIPTION"])


@pytest.mark.parametrize(("code", "name"), [*LANGUAGES.items(), ("xx", "xx")])
def test_the_description_names_the_patients_language_in_german(code: str, name: str) -> None:
    """Each of the seven languages by its German name (an unknown code as the code), and
    the code itself in X-TERMINRELAY-LANGUAGE, whatever the client's locale."""
    event = parsed_event(render_calendar(booking(language=code), now=NOW))

    assert f"Sprache der Patientin / des Patienten: {name}" in str(event["DESCRIPTION"])
    assert str(event["X-TERMINRELAY-LANGUAGE"]) == code
