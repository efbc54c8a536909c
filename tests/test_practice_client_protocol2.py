"""The practice client delivering browser-sealed bookings (protocol 2) end to end: the real
client, over HTTP, against a stand-in relay serving items made as docs/protocol.md says
(tests/browser_sealed.py), until the relay's half lands."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar

from practice_client.__main__ import main
from practice_client.handover.fhir import render_bundle
from practice_client.handover.hooks import Hook
from practice_client.handover.ics import render_calendar
from practice_client.relay.keys import KeyPair, create_key_file
from practice_client.relay.retry import RetryPolicy
from practice_client.runner import ExitCode, RunConfig, run
from relay.crypto.sealing import seal_booking
from tests.browser_sealed import (
    CONFIRMED_AT,
    FIRST_NAME,
    LAST_NAME,
    SLUG,
    SUBMITTED_AT,
    TOKEN,
    StandInRelay,
    inner_document,
    stand_in_relay,
    wish_document,
)
from tests.test_practice_client_hooks import calls, recorder

QUICK_RETRIES = RetryPolicy(start=0.01, cap=0.05, attempts=3)
# What {id}.rejected.json takes from the signed envelope, and nothing else of it.
ENVELOPE_FIELDS = (
    *("id", "practice", "kind", "slot", "start", "end", "doctor", "appointment_type"),
    *("language", "email", "submitted_at", "consent_at"),
)
PATIENT_VALUES = (FIRST_NAME, LAST_NAME, "1980-04-02", "+49 30 1234567", "Bitte vormittags")


@pytest.fixture
async def stand_in(tmp_path: Path) -> AsyncIterator[StandInRelay]:
    ring = create_key_file(tmp_path / "practice.key", KeyPair.generate())
    async with stand_in_relay(ring.current.public_key) as serving:
        yield serving


def config(stand_in: StandInRelay, tmp_path: Path, **changes: Any) -> RunConfig:
    return RunConfig(
        stand_in.url,
        TOKEN,
        tmp_path / "practice.key",
        tmp_path / "out",
        wait=0,
        retry=QUICK_RETRIES,
        formats=("json", "ics", "fhir"),
        **changes,
    )


def client_log(caplog: pytest.LogCaptureFixture, level: int = logging.DEBUG) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("practice_client") and record.levelno >= level
    ]


def read(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


async def test_a_browser_sealed_booking_is_written_with_sealed_by_browser(
    stand_in: StandInRelay, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its inner fields, the envelope's times, `sealed_by: browser`, in json, ics and FHIR;
    acknowledged; exit 0; no patient value in the log."""
    caplog.set_level(logging.DEBUG)
    sealed = stand_in.item()
    stand_in.add(sealed)

    code = await run(config(stand_in, tmp_path), once=True)

    assert code == ExitCode.OK
    assert stand_in.acknowledged == [sealed.id]
    out = tmp_path / "out"
    booking = read(out / f"{sealed.id}.json")
    expected = {k: v for k, v in sealed.inner.items() if k != "slot"}
    expected.update(
        submitted_at=SUBMITTED_AT,
        consent_at=SUBMITTED_AT,
        confirmed_at=CONFIRMED_AT,
        sealed_by="browser",
        # An envelope of a relay before legal bases: its form asked for consent; a blob
        # before reminders asked for none.
        legal_basis="consent",
        reminder=False,
        reminder_consent_at=None,
        # The envelope signs no status (a relay before it): a slot is booked, a wish not.
        status="proposed" if sealed.inner["kind"] == "wish" else "booked",
        sequence=0,
    )
    assert booking == expected
    (event,) = Calendar.from_ical((out / f"{sealed.id}.ics").read_bytes()).walk("VEVENT")
    assert "Verschlüsselt: im Browser des Patienten" in str(event["DESCRIPTION"])
    assert str(event["SUMMARY"]) == f"Vorsorge: {FIRST_NAME} {LAST_NAME}"
    fhir = read(out / f"{sealed.id}.fhir.json")
    assert fhir["resourceType"] == "Bundle"
    assert not list(out.glob("*.rejected.json"))
    log_text = "\n".join(client_log(caplog))
    assert f"booking {sealed.id} written (json, ics, fhir): 2026-12-08 09:00-09:20" in log_text
    for value in PATIENT_VALUES:
        assert value not in log_text


async def test_relay_sealed_and_browser_sealed_bookings_say_who_sealed_them(
    stand_in: StandInRelay, tmp_path: Path
) -> None:
    """A protocol-1 booking gets `sealed_by: relay`, whatever its signed document claims;
    a browser-sealed wish `sealed_by: browser`."""
    document = {
        "id": "5b1e0000-0000-4000-8000-000000000001",
        "practice": SLUG,
        "kind": "wish",
        "first_name": FIRST_NAME,
        "start": "2026-12-01T09:00:00+01:00",
        "submitted_at": SUBMITTED_AT,
        "consent_at": SUBMITTED_AT,
        "sealed_by": "browser",  # a relay's claim, signed or not, decides nothing
    }
    sealed = seal_booking(
        document, signing_key=stand_in.signing_key, practice_key=stand_in.practice_key
    )
    stand_in.items.append(
        {"id": document["id"], "sealed": base64.b64encode(sealed).decode(), "confirmed_at": None}
    )
    wish = stand_in.item(wish_document())
    stand_in.add(wish)

    assert await run(config(stand_in, tmp_path), once=True) == ExitCode.OK

    out = tmp_path / "out"
    assert read(out / f"{document['id']}.json")["sealed_by"] == "relay"
    written = read(out / f"{wish.id}.json")
    assert written["sealed_by"] == "browser"
    assert (written["kind"], written["end"]) == ("wish", None)


async def test_the_reminder_consent_and_the_legal_basis_reach_the_written_booking(
    stand_in: StandInRelay, tmp_path: Path
) -> None:
    """Given a blob with `reminder: true` and an envelope signing `legal_basis`, {id}.json
    has both, the reminder consent timed at the signed submission; a protocol-1 document
    of an old relay without them reads as consent, no reminder."""
    reminded = stand_in.item(inner_document(reminder=True), legal_basis="contract")
    stand_in.add(reminded)
    unticked = stand_in.item(wish_document(reminder=False), legal_basis="contract")
    stand_in.add(unticked)
    old = {
        "id": "5b1e0000-0000-4000-8000-000000000002",
        "practice": SLUG,
        "kind": "wish",
        "first_name": FIRST_NAME,
        "start": "2026-12-01T09:00:00+01:00",
        "submitted_at": SUBMITTED_AT,
        "consent_at": SUBMITTED_AT,
    }
    sealed = seal_booking(old, signing_key=stand_in.signing_key, practice_key=stand_in.practice_key)
    stand_in.items.append(
        {"id": old["id"], "sealed": base64.b64encode(sealed).decode(), "confirmed_at": None}
    )

    assert await run(config(stand_in, tmp_path), once=True) == ExitCode.OK

    out = tmp_path / "out"
    written = read(out / f"{reminded.id}.json")
    assert (written["legal_basis"], written["reminder"]) == ("contract", True)
    assert written["reminder_consent_at"] == SUBMITTED_AT
    (event,) = Calendar.from_ical((out / f"{reminded.id}.ics").read_bytes()).walk("VEVENT")
    assert "Erinnerung per E-Mail: ja" in str(event["DESCRIPTION"])
    assert "Rechtsgrundlage: Behandlungsvertrag" in str(event["DESCRIPTION"])
    no = read(out / f"{unticked.id}.json")
    assert (no["legal_basis"], no["reminder"], no["reminder_consent_at"]) == (
        "contract",
        False,
        None,
    )
    legacy = read(out / f"{old['id']}.json")
    assert (legacy["legal_basis"], legacy["reminder"], legacy["reminder_consent_at"]) == (
        "consent",
        False,
        None,
    )


async def test_a_sealed_part_with_a_reminder_that_is_not_a_boolean_is_rejected(
    stand_in: StandInRelay, tmp_path: Path
) -> None:
    """`reminder` is a booking rule's field: only true or false passes."""
    bad = stand_in.item(inner_document(reminder="ja"))
    stand_in.add(bad)
    await run(config(stand_in, tmp_path), once=True)
    record = read(tmp_path / "out" / f"{bad.id}.rejected.json")
    assert "reminder is not true or false" in str(record["reason"])


OTHER_KEY = KeyPair.generate().public_key
REJECTIONS = {
    "id": ({"id": "11111111-1111-4111-8111-111111111111"}, {}, "another booking id"),
    "practice": ({"practice": "praxis-andere"}, {}, "another practice"),
    "kind": ({"kind": "wish"}, {}, "another kind of booking"),
    "slot": ({"slot": "2026-12-08T09:20:00+01:00|Dr. A. Beispiel"}, {}, "another slot"),
    "email": ({"email": "jemand@example.org"}, {}, "another e-mail address"),
    "start": ({"start": "2026-12-08T09:20:00+01:00"}, {}, "another start"),
    "language": ({"language": "en"}, {}, "another language"),
    "slot doctor": ({"doctor": "Dr. Z. Anders"}, {}, "another doctor"),
    "blob hash": ({}, {"blob_sha256": "ab" * 32}, "is not the one the relay signed"),
    "other key": ({}, {"blob_key": OTHER_KEY}, "does not open with any of this practice's keys"),
    "name too long": ({"last_name": "S" * 101}, {}, "last_name is longer than 100 characters"),
    "bidi control": ({"first_name": "Adel\u202egunde"}, {}, "first_name holds a character"),
    "birth date": ({"birth_date": "2027-01-01"}, {}, "birth_date is not in the past"),
    "unknown key": ({"diagnosis": "…"}, {}, "a field the booking rules do not know"),
}


@pytest.mark.parametrize("case", list(REJECTIONS))
async def test_a_broken_sealed_part_is_written_as_rejected_acknowledged_and_exits_3(
    stand_in: StandInRelay, tmp_path: Path, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    """Given an envelope that verifies beside a sealed part that fails a check, when the
    client drains the inbox, then {id}.rejected.json holds the envelope's data only (no
    patient name), the item is acknowledged, one error line names the id and why, and
    --once exits 3; a good booking beside it is written as usual."""
    caplog.set_level(logging.INFO)
    inner_changes, item_changes, reason = REJECTIONS[case]
    signed = inner_document()
    blob_key = item_changes.pop("blob_key", None)
    bad = stand_in.item(
        signed, sealed_inner={**signed, **inner_changes}, blob_key=blob_key, **item_changes
    )
    good = stand_in.item()
    stand_in.add(bad)
    stand_in.add(good)

    code = await run(config(stand_in, tmp_path), once=True)

    assert code == ExitCode.REJECTED == 3
    assert sorted(stand_in.acknowledged) == sorted([bad.id, good.id])
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir() if bad.id in p.name) == [f"{bad.id}.rejected.json"]
    record = read(out / f"{bad.id}.rejected.json")
    envelope = bad.envelope
    assert record == {
        **{name: envelope[name] for name in ENVELOPE_FIELDS},
        "confirmed_at": CONFIRMED_AT,
        "sealed_by": "browser",
        "status": "rejected",
        "reason": record["reason"],
    }
    assert reason in record["reason"]
    text = (out / f"{bad.id}.rejected.json").read_text(encoding="utf-8")
    for value in PATIENT_VALUES:
        assert value not in text
    assert read(out / f"{good.id}.json")["sealed_by"] == "browser"
    errors = client_log(caplog, logging.ERROR)
    (line,) = [line for line in errors if line.startswith("REJECTED booking")]
    assert line.startswith(f"REJECTED booking {bad.id}: {record['reason']}; ")
    assert errors[-1].startswith("REJECTED 1 browser-sealed booking(s)")
    log_text = "\n".join(client_log(caplog))
    for value in PATIENT_VALUES:
        assert value not in log_text
    assert "1 rejected" in log_text


async def test_an_envelope_that_does_not_verify_is_refused_and_stays_in_the_inbox(
    stand_in: StandInRelay, tmp_path: Path
) -> None:
    """A malformed signed envelope is no rejection: nothing written, not acknowledged, 3."""
    broken = stand_in.item(email="not an address")
    stand_in.add(broken)

    code = await run(config(stand_in, tmp_path), once=True)

    assert code == ExitCode.REFUSED
    assert stand_in.acknowledged == []
    assert list((tmp_path / "out").iterdir()) == []


async def test_the_real_command_runs_the_hook_with_event_rejected_and_exits_3(
    stand_in: StandInRelay, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run --once --exec CMD`: CMD gets the {id}.rejected.json path and
    TERMINRELAY_EVENT=rejected; stderr has one REJECTED line by id; exit 3."""
    command, folder = recorder(tmp_path)
    signed = inner_document()
    bad = stand_in.item(signed, sealed_inner={**signed, "last_name": "x" * 200})
    stand_in.add(bad)

    code = await asyncio.to_thread(
        main,
        [
            *("run", "--once", "--relay", stand_in.url, "--token", TOKEN),
            *("--key-file", str(tmp_path / "practice.key"), "--out", str(tmp_path / "out")),
            *("--exec", command),
        ],
    )

    assert code == 3
    (call,) = calls(folder)
    assert call["args"] == [str(tmp_path / "out" / f"{bad.id}.rejected.json")]
    assert call["env"]["TERMINRELAY_EVENT"] == "rejected"
    assert call["env"]["TERMINRELAY_BOOKING_ID"] == bad.id
    assert stand_in.acknowledged == [bad.id]
    err = capsys.readouterr().err
    assert len([line for line in err.splitlines() if "REJECTED booking" in line]) == 1
    assert LAST_NAME not in err


async def test_a_failing_hook_leaves_the_rejection_unacknowledged_until_it_succeeds(
    stand_in: StandInRelay, tmp_path: Path
) -> None:
    """As for bookings: acknowledged only once the hook succeeded; the file written once,
    the hook run again for the redelivered item."""
    command, folder = recorder(tmp_path, exit_code=1)
    signed = inner_document()
    bad = stand_in.item(signed, sealed_inner={**signed, "birth_date": "1800-01-01"})
    stand_in.add(bad)
    hooked = config(stand_in, tmp_path, hook=Hook(command))

    assert await run(hooked, once=True) == ExitCode.REJECTED
    assert stand_in.acknowledged == []
    rejected = tmp_path / "out" / f"{bad.id}.rejected.json"
    before = rejected.read_bytes(), rejected.stat().st_mtime_ns
    failed_calls = len(calls(folder))  # the stand-in hands the item out again at once

    (folder / "exit_code").write_text("0", encoding="utf-8")
    assert await run(hooked, once=True) == ExitCode.REJECTED

    assert stand_in.acknowledged == [bad.id]
    assert (rejected.read_bytes(), rejected.stat().st_mtime_ns) == before
    events = [call["env"]["TERMINRELAY_EVENT"] for call in calls(folder)]
    assert events == ["rejected"] * (failed_calls + 1)


def test_the_writers_take_sealed_by_and_nothing_else_of_the_booking_changes() -> None:
    """FHIR ignores `sealed_by` (the same bundle as without it); the .ics names it in its
    description; a booking written from the inner document has no `slot` to show."""
    booking: dict[str, object] = {k: v for k, v in inner_document().items() if k != "slot"}
    booking.update(submitted_at=SUBMITTED_AT, consent_at=SUBMITTED_AT, confirmed_at=None)
    browser = {**booking, "sealed_by": "browser"}

    assert render_bundle(browser, status="proposed") == render_bundle(booking, status="proposed")
    now = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    (event,) = Calendar.from_ical(render_calendar(browser, now=now)).walk("VEVENT")
    description = str(event["DESCRIPTION"])
    assert "Verschlüsselt: im Browser des Patienten" in description
    assert "slot" not in description
    relay_sealed = render_calendar({**booking, "sealed_by": "relay"}, now=now)
    assert "Verschlüsselt: vom Relay" in str(
        Calendar.from_ical(relay_sealed).walk("VEVENT")[0]["DESCRIPTION"]
    )
