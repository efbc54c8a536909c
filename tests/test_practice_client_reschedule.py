"""The patient's move of a booking to another slot, on the practice client's side: a
signed, sealed `reschedule` item put into a real relay's inbox the way the relay does
(its own sealing code, its inbox keys), opened by the real `practice-client run --once`,
and the booking moved in JSON, ICS, FHIR and the CalDAV calendar."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from icalendar import Calendar
from nacl.signing import SigningKey

from practice_client.__main__ import main
from practice_client.handover.sink import BookingSink
from practice_client.relay.envelope import EnvelopeError, open_item
from practice_client.relay.keys import load_key_ring
from relay.crypto.sealing import seal_booking
from relay.rules.values import utc_iso
from relay.storage.store import arrivals_key, inbox_key, item_key
from tests.conftest import PracticeHandle, RunningRelay, SmtpSink
from tests.helpers import profile_json, put_profile, slot_times
from tests.servers import Radicale
from tests.test_cancellation import book_and_confirm
from tests.test_practice_client_caldav_write import event_in, new_calendar
from tests.test_practice_client_hooks import calls, recorder
from tests.test_practice_client_sink import booking

DOCTOR = "Dr. A. Beispiel"


def reschedule_of(
    booking_id: str, practice: str, start: datetime, end: datetime, **changes: Any
) -> dict[str, Any]:
    """The reschedule document the relay signs (docs/protocol.md, "Rescheduling")."""
    document: dict[str, Any] = {
        "type": "reschedule",
        "id": str(uuid.uuid4()),
        "booking_id": booking_id,
        "practice": practice,
        "slot": f"{utc_iso(start)}|{DOCTOR}",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "doctor": DOCTOR,
        "appointment_type": "Erstgespräch",
        "status": "booked",
        "rescheduled_at": utc_iso(datetime.now(UTC)),
    }
    document.update(changes)
    return document


async def put_item(relay: RunningRelay, practice: PracticeHandle, document: dict[str, Any]) -> None:
    """Seal `document` with the relay's signing key to the practice's key and put it into
    the inbox as the relay's scripts do (item hash, inbox and arrivals zsets)."""
    sealed = seal_booking(
        document,
        signing_key=SigningKey(relay.settings.signing_key),
        practice_key=bytes(practice.private_key.public_key),
    )
    redis = relay.store.redis
    now_ms = int(time.time() * 1000)
    item_id = str(document["id"])
    await redis.hset(
        item_key(practice.slug, item_id),
        mapping={"sealed": sealed, "confirmed_at": utc_iso(datetime.now(UTC))},
    )
    await redis.zadd(inbox_key(practice.slug), {item_id: now_ms})
    await redis.zadd(arrivals_key(practice.slug), {item_id: now_ms})


async def run_once(
    relay: RunningRelay, practice: PracticeHandle, out_dir: Path, *extra: str
) -> int:
    """`practice-client run --once` through the real command line, in a thread."""
    argv = [
        "run", "--once", "--relay", relay.url, "--token", practice.token,
        "--key-file", str(practice.key_file), "--out", str(out_dir), *extra,
    ]  # fmt: skip
    return await asyncio.to_thread(main, argv)


def files_of(out_dir: Path, booking_id: str) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    document = json.loads((out_dir / f"{booking_id}.json").read_text())
    (event,) = Calendar.from_ical((out_dir / f"{booking_id}.ics").read_bytes()).walk("VEVENT")
    bundle = json.loads((out_dir / f"{booking_id}.fhir.json").read_text())
    return document, event, bundle["entry"][1]["resource"]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_a_reschedule_moves_the_booking_in_every_file_and_the_calendar(
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    radicale: Radicale,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    """Given a booked slot written with the calendar; when a reschedule to the third slot
    arrives, then JSON, ICS (same UID, SEQUENCE 1), FHIR and the CalDAV event show the new
    time, the JSON keeps the previous one, and the hook runs with `reschedule`; the same
    item again changes nothing."""
    out_dir = tmp_path / "out"
    calendar_url = new_calendar(radicale)
    command, hook_dir = recorder(tmp_path)
    options = (
        "--format", "json,ics,fhir,caldav", "--caldav", calendar_url,
        "--caldav-user", radicale.user, "--caldav-password-file", str(radicale.password_file),
        "--exec", command,
    )  # fmt: skip
    await put_profile(http, relay.url, practice.token, profile_json())
    await book_and_confirm(http, relay, practice, smtp_sink)
    assert await run_once(relay, practice, out_dir, *options) == 0
    (json_file,) = [p for p in out_dir.glob("*.json") if p.name.count(".") == 1]
    booking_id = json_file.stem
    before, _, _ = files_of(out_dir, booking_id)

    # When the patient moves it to the third slot
    start, end = slot_times()[2]
    notice = reschedule_of(booking_id, practice.slug, start, end)
    await put_item(relay, practice, notice)
    assert await run_once(relay, practice, out_dir, *options) == 0

    document, event, appointment = files_of(out_dir, booking_id)
    assert datetime.fromisoformat(document["start"]) == start
    assert datetime.fromisoformat(document["end"]) == end
    assert document["start"].endswith("+01:00") or document["start"].endswith("+02:00")
    assert (document["status"], document["sequence"]) == ("booked", 1)
    assert document["slot"] == notice["slot"]
    assert document["rescheduled_at"] == notice["rescheduled_at"]
    assert document["previous_start"] == before["start"]
    assert document["previous_end"] == before["end"]
    assert document["reschedule_id"] == notice["id"]
    assert document["first_name"] == before["first_name"]  # the booking itself stays
    assert str(event["UID"]) == f"{booking_id}@terminrelay"
    assert (str(event["STATUS"]), int(event["SEQUENCE"])) == ("CONFIRMED", 1)
    assert event.decoded("DTSTART") == start.astimezone(UTC)
    assert event.decoded("DTEND") == end.astimezone(UTC)
    assert datetime.fromisoformat(appointment["start"]) == start
    assert datetime.fromisoformat(appointment["end"]) == end
    assert appointment["status"] == "booked"
    in_calendar = await event_in(radicale, calendar_url, booking_id)
    assert in_calendar is not None
    assert int(in_calendar["SEQUENCE"]) == 1
    assert in_calendar.decoded("DTSTART") == start.astimezone(UTC)
    assert not list(out_dir.glob("*.caldav-pending"))
    events = [call["env"]["TERMINRELAY_EVENT"] for call in calls(hook_dir)]
    assert events == ["booking", "reschedule"]

    # The same item again (delivered at least once): nothing changes
    await put_item(relay, practice, notice)
    assert await run_once(relay, practice, out_dir, *options) == 0
    again, again_event, _ = files_of(out_dir, booking_id)
    assert again["sequence"] == 1
    assert int(again_event["SEQUENCE"]) == 1
    assert again["previous_start"] == before["start"]


async def test_a_reschedule_naming_another_doctor_is_refused_and_stays_in_the_inbox(
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A reschedule whose doctor is not the booking's is refused (one line, exit 3, not
    acknowledged) and the files stay; a proposed one is written TENTATIVE."""
    out_dir = tmp_path / "out"
    await put_profile(http, relay.url, practice.token, profile_json())
    await book_and_confirm(http, relay, practice, smtp_sink)
    assert await run_once(relay, practice, out_dir, "--format", "json,ics,fhir") == 0
    (json_file,) = [p for p in out_dir.glob("*.json") if p.name.count(".") == 1]
    booking_id = json_file.stem
    before = json_file.read_bytes()
    start, end = slot_times()[1]
    capfd.readouterr()

    other = reschedule_of(booking_id, practice.slug, start, end, doctor="Dr. Z. Anders")
    await put_item(relay, practice, other)
    assert await run_once(relay, practice, out_dir, "--format", "json,ics,fhir") == 3
    assert json_file.read_bytes() == before
    err = capfd.readouterr().err
    assert f"REFUSED booking {other['id']}" in err
    assert "another doctor than the booking" in err
    assert await relay.store.redis.zscore(inbox_key(practice.slug), other["id"]) is not None
    await relay.store.redis.zrem(inbox_key(practice.slug), other["id"])

    proposed = reschedule_of(booking_id, practice.slug, start, end, status="proposed")
    await put_item(relay, practice, proposed)
    assert await run_once(relay, practice, out_dir, "--format", "json,ics,fhir") == 0
    document, event, appointment = files_of(out_dir, booking_id)
    assert (document["status"], str(event["STATUS"]), int(event["SEQUENCE"])) == (
        "proposed",
        "TENTATIVE",
        1,
    )
    assert appointment["status"] == "proposed"
    assert event.decoded("DTSTART") == start.astimezone(UTC)


def _notice(booking_id: str, start: str, end: str, at: str, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "type": "reschedule",
        "id": str(uuid.uuid4()),
        "booking_id": booking_id,
        "practice": "praxis-test",
        "slot": f"{start}|{DOCTOR}",
        "start": start,
        "end": end,
        "doctor": DOCTOR,
        "appointment_type": "Erstgespräch",
        "status": "booked",
        "rescheduled_at": at,
    }
    document.update(changes)
    return document


def test_an_early_reschedule_waits_the_latest_kept_and_applied_with_its_booking(
    tmp_path: Path,
) -> None:
    """A reschedule before its booking is kept as {id}.reschedule.json (no patient data);
    a later one replaces it, an older one does not; the booking is written moved."""
    sink = BookingSink(tmp_path, formats=("json", "ics"))
    written = booking()
    first = _notice(
        written["id"], "2026-12-02T09:00:00+01:00", "2026-12-02T09:20:00+01:00",
        "2026-11-23T09:00:00Z",
    )  # fmt: skip
    later = _notice(
        written["id"], "2026-12-03T10:00:00+01:00", "2026-12-03T10:20:00+01:00",
        "2026-11-23T10:00:00Z",
    )  # fmt: skip
    assert sink.apply(first) == "kept"
    assert sink.apply(later) == "kept"
    assert sink.apply(first) == "kept_before"  # older than the kept one
    kept = json.loads((tmp_path / f"{written['id']}.reschedule.json").read_text())
    assert kept["id"] == later["id"]
    assert "practice" not in kept

    sink.write(written, kept=sink.kept_notices(written["id"]))

    document = sink.read_booking(written["id"])
    assert (document["start"], document["status"], document["sequence"]) == (
        "2026-12-03T10:00:00+01:00",
        "booked",
        1,
    )
    assert document["previous_start"] == written["start"]
    assert not (tmp_path / f"{written['id']}.reschedule.json").exists()
    # The older move arriving late moves nothing back
    assert sink.apply(first) == "applied_before"
    assert sink.read_booking(written["id"])["start"] == "2026-12-03T10:00:00+01:00"


def test_a_reschedule_of_a_cancelled_booking_changes_nothing(tmp_path: Path) -> None:
    """Once cancelled, a booking stays where it was: the reschedule is applied before."""
    sink = BookingSink(tmp_path, formats=("json", "ics"))
    written = booking()
    sink.write(written)
    cancellation = {
        "type": "cancellation",
        "id": str(uuid.uuid4()),
        "booking_id": written["id"],
        "cancelled_at": "2026-11-24T09:00:00Z",
    }
    assert sink.apply(cancellation) == "applied"
    before = (tmp_path / f"{written['id']}.json").read_bytes()
    move = _notice(
        written["id"], "2026-12-03T10:00:00+01:00", "2026-12-03T10:20:00+01:00",
        "2026-11-25T10:00:00Z",
    )  # fmt: skip
    assert sink.apply(move) == "applied_before"
    assert (tmp_path / f"{written['id']}.json").read_bytes() == before


@pytest.mark.parametrize(
    "change",
    [
        {"booking_id": "../x"},
        {"slot": None},
        {"start": "2026-12-03T10:00:00"},  # no offset
        {"end": "2026-12-03T09:00:00+01:00"},  # before the start
        {"status": "cancelled"},
        {"rescheduled_at": "soon"},
        {"doctor": "Dr.\u202eX"},
    ],
)
async def test_the_client_refuses_malformed_reschedules(
    practice: PracticeHandle, change: dict[str, Any]
) -> None:
    """A reschedule without a usable booking id, slot, times with offset, arriving status
    or time, or with a forbidden character, is refused when opened."""
    signing_key = SigningKey.generate()
    document = {
        **_notice(
            str(uuid.uuid4()), "2026-12-03T10:00:00+01:00", "2026-12-03T10:20:00+01:00",
            "2026-11-25T10:00:00+01:00",
        ),
        "practice": practice.slug,
    }  # fmt: skip
    good = open_item(
        document["id"],
        _sealed(document, signing_key, practice),
        keys=load_key_ring(practice.key_file),
        relay_key=bytes(signing_key.verify_key),
        practice=practice.slug,
    )
    assert good["rescheduled_at"] == "2026-11-25T09:00:00Z"
    broken = {**document, **change}
    with pytest.raises(EnvelopeError):
        open_item(
            broken["id"],
            _sealed(broken, signing_key, practice),
            keys=load_key_ring(practice.key_file),
            relay_key=bytes(signing_key.verify_key),
            practice=practice.slug,
        )


def _sealed(document: dict[str, Any], signing_key: SigningKey, practice: PracticeHandle) -> str:
    sealed = seal_booking(
        document, signing_key=signing_key, practice_key=bytes(practice.private_key.public_key)
    )
    return base64.b64encode(sealed).decode()
