"""Bookings written as {id}.json and {id}.ics (practice_client/handover/sink.py,
practice_client/handover/ics.py)."""

from __future__ import annotations

import json
import logging
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar

from practice_client.__main__ import main
from practice_client.handover.files import FileAccess, parse_file_mode, resolve_group
from practice_client.handover.sink import BookingSink
from practice_client.relay.keys import KeyPair, create_key_file

NOW = datetime(2026, 11, 22, 9, 15, tzinfo=UTC)


def booking(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "practice": "praxis-test",
        "first_name": "Erika",
        "last_name": "Mustermann",
        "birth_date": "1980-02-29",
        "gender": "female",
        "insurance": "private",
        "note": "Rückenschmerzen; bitte früh",
        "new_patient": True,
        "doctor": "Dr. A. Beispiel",
        "appointment_type": "Erstgespräch",
        "start": "2026-12-01T09:00:00+01:00",
        "end": "2026-12-01T09:20:00+01:00",
        "email": "erika@example.org",
        "phone": "+49301234567",
        "consent": True,
        "submitted_at": "2026-11-22T09:00:00Z",
        "consent_at": "2026-11-22T09:00:00Z",
        "confirmed_at": "2026-11-22T09:10:00Z",
    }
    document.update(changes)
    return document


@pytest.fixture
def sink(tmp_path: Path) -> BookingSink:
    made = BookingSink(tmp_path / "out", clock=lambda: NOW)
    made.prepare()
    return made


def event_of(path: Path) -> Any:
    calendar = Calendar.from_ical(path.read_bytes())
    assert calendar["VERSION"] == "2.0"
    assert "PRODID" in calendar
    (event,) = calendar.walk("VEVENT")
    return event


def test_a_booking_is_written_as_json_and_ics(sink: BookingSink) -> None:
    """Both files appear, named by id; the JSON holds the booking, its status (a slot
    without a signed status: booked) and revision 0."""
    document = booking()

    assert sink.write(document) is True

    json_path = sink.out_dir / f"{document['id']}.json"
    written = json.loads(json_path.read_text(encoding="utf-8"))
    assert written == {**document, "status": "booked", "sequence": 0}
    assert (sink.out_dir / f"{document['id']}.ics").is_file()


def test_the_ics_parses_back_with_uid_times_and_status(sink: BookingSink) -> None:
    """The calendar event carries the UID, DTSTART/DTEND in UTC, summary and status."""
    document = booking(status="proposed")
    sink.write(document)

    event = event_of(sink.out_dir / f"{document['id']}.ics")

    assert str(event["UID"]) == f"{document['id']}@terminrelay"
    assert event.decoded("DTSTART") == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2026, 12, 1, 8, 20, tzinfo=UTC)
    assert event.decoded("DTSTAMP") == NOW
    assert str(event["STATUS"]) == "TENTATIVE"
    summary = str(event["SUMMARY"])
    assert "Erstgespräch" in summary
    assert "Erika Mustermann" in summary
    description = str(event["DESCRIPTION"])
    for detail in ("Dr. A. Beispiel", "29.02.1980", "privat", "+49301234567", "bitte früh"):
        assert detail in description


def test_an_open_ended_wish_has_no_dtend(sink: BookingSink) -> None:
    """A booking without end yields an event without DTEND."""
    document = booking(end=None, appointment_type=None, doctor=None)
    sink.write(document)

    event = event_of(sink.out_dir / f"{document['id']}.ics")

    assert "DTEND" not in event
    assert event.decoded("DTSTART") == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert "Erika Mustermann" in str(event["SUMMARY"])


def test_a_second_write_of_the_same_id_changes_nothing(sink: BookingSink) -> None:
    """A redelivered booking is recognised by its .json file and not written again."""
    document = booking()
    sink.write(document)
    json_path = sink.out_dir / f"{document['id']}.json"
    before = json_path.stat().st_mtime_ns, json_path.read_bytes()

    assert sink.write(booking(id=document["id"], first_name="Changed")) is False

    assert (json_path.stat().st_mtime_ns, json_path.read_bytes()) == before


def test_an_ics_without_its_json_is_completed(sink: BookingSink) -> None:
    """A crash between the two files leaves no .json, so the booking is written again."""
    document = booking()
    (sink.out_dir / f"{document['id']}.ics").write_text("half")

    assert sink.write(document) is True

    assert event_of(sink.out_dir / f"{document['id']}.ics")["UID"]


def test_no_temporary_files_are_left(sink: BookingSink) -> None:
    """After writing, the directory holds the two files and nothing else."""
    documents = [booking() for _ in range(3)]
    for document in documents:
        sink.write(document)

    expected = {f"{d['id']}.{ext}" for d in documents for ext in ("json", "ics")}
    assert {path.name for path in sink.out_dir.iterdir()} == expected


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_booking_files_are_private(sink: BookingSink) -> None:
    """Files with health data are readable by their owner only."""
    document = booking()
    sink.write(document)

    for ext in ("json", "ics"):
        assert (sink.out_dir / f"{document['id']}.{ext}").stat().st_mode & 0o777 == 0o600


def test_a_failed_write_leaves_neither_json_nor_temp_file(
    sink: BookingSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the disk fails mid-write, no .json claims completeness and no temp file remains."""
    document = booking()

    def broken_fsync(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        sink.write(document)

    assert list(sink.out_dir.iterdir()) == []


@pytest.mark.parametrize("bad_id", ["../escape", "a/b", ".hidden", "", "x" * 200])
def test_ids_unfit_for_file_names_are_refused(sink: BookingSink, bad_id: str) -> None:
    """An id that could leave the directory or hide a file is never used as a path."""
    with pytest.raises(ValueError, match="file name"):
        sink.write(booking(id=bad_id))

    assert list(sink.out_dir.iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="file modes and groups are POSIX")
def test_file_mode_and_group_open_bookings_to_the_practice_software(tmp_path: Path) -> None:
    """--file-mode 0640 --group G: files 0640 in G, a new folder 0750 in G, whatever the umask."""
    group = os.getegid()
    access = FileAccess(parse_file_mode("0640"), resolve_group(str(group)))
    sink = BookingSink(tmp_path / "new" / "out", access=access, clock=lambda: NOW)
    previous = os.umask(0o077)
    try:
        sink.prepare()
        document = booking()
        sink.write(document)
    finally:
        os.umask(previous)

    for path in (sink.out_dir / f"{document['id']}.json", sink.out_dir / f"{document['id']}.ics"):
        assert path.stat().st_mode & 0o777 == 0o640, path.name
        assert path.stat().st_gid == group
    assert sink.out_dir.stat().st_mode & 0o777 == 0o750
    assert sink.out_dir.stat().st_gid == group


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0400", "read and write"),
        ("0755", "executable"),
        ("0666", "every local user"),
        ("rw-r", "octal"),
        ("01640", "between"),
    ],
)
def test_unsafe_or_malformed_file_modes_are_refused(text: str, message: str) -> None:
    """Only modes that keep bookings out of strangers' hands and unexecutable."""
    with pytest.raises(ValueError, match=message):
        parse_file_mode(text)


def test_an_output_path_that_is_a_file_ends_run_with_a_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No `[Errno 17] File exists`: the message names the path and what to do; exit 1."""
    client_logger = logging.getLogger("practice_client")  # main() sets its handler: undone
    monkeypatch.setattr(client_logger, "handlers", [])
    monkeypatch.setattr(client_logger, "level", client_logger.level)
    key_file = tmp_path / "practice.key"
    create_key_file(key_file, KeyPair.generate())
    blocker = tmp_path / "termine"
    blocker.write_text("a file where the folder should be")

    code = main(
        [
            *("run", "--once", "--relay", "http://127.0.0.1:9", "--token", "praxis.secret"),
            *("--key-file", str(key_file), "--out", str(blocker)),
        ]
    )

    error = capsys.readouterr().err
    assert code == 1
    assert f"cannot use {blocker}: it (or a folder on its path) is a file, not a folder" in error
    assert "Errno" not in error
