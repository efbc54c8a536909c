"""Reminders on the practice client's side: when each is due (handover/reminders.py, no
clock: `now` is given), what `{id}.reminders.json` records, and `run --once` asking a real
relay for the one due."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from practice_client.handover.files import FileAccess
from practice_client.handover.reminders import (
    Due,
    ReminderState,
    checked_days,
    due_now,
    next_due,
    read_state,
    state_path,
    write_state,
)
from practice_client.relay.api import RelayClient
from practice_client.relay.reminding import Reminders
from practice_client.runner import RunConfig, run
from tests.conftest import PracticeHandle, RunningRelay, SmtpSink
from tests.helpers import profile_json, put_profile
from tests.test_practice_client_answers import book_confirm_and_drain
from tests.test_practice_client_sink import booking

START = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
BOOKED_AT = "2026-11-20T08:00:00Z"


def wanting(**changes: Any) -> dict[str, Any]:
    """A booked slot whose patient asked for reminders, booked three weeks ahead."""
    document = booking(
        kind="slot",
        status="booked",
        reminder=True,
        reminder_consent_at=BOOKED_AT,
        submitted_at=BOOKED_AT,
        confirmed_at=BOOKED_AT,
        start=START.isoformat(),
        end=(START + timedelta(minutes=20)).isoformat(),
    )
    document.update(changes)
    return document


def at(days: float = 0, hours: float = 0) -> datetime:
    """A moment relative to the appointment's start."""
    return START - timedelta(days=days, hours=hours)


def test_reminder_days_are_zero_to_two_distinct_days_of_one_to_seven() -> None:
    """The practice's days as the rules and the profile give them, checked."""
    assert checked_days([1]) == (1,)
    assert checked_days([7, 1]) == (7, 1)
    assert checked_days([]) == ()
    for bad in ([0], [8], [1, 1], [7, 3, 1], [True], ["1"], 1, None):
        assert checked_days(bad) is None


def test_each_reminder_falls_due_at_its_days_before_the_start() -> None:
    """With [7, 1]: nothing before a week ahead, number 1 from then, number 2 from a day
    ahead; the next due time is the one after now."""
    state, days, document = ReminderState(), (7, 1), wanting()
    assert due_now(document, days, state, now=at(days=8)) is None
    assert next_due(document, days, state, now=at(days=8)) == at(days=7)
    due = due_now(document, days, state, now=at(days=7))
    assert due is not None
    assert (due.number, due.start) == (1, document["start"])
    state.record(Due(1, document["start"]), "queued", at=at(days=7))
    assert due_now(document, days, state, now=at(days=6)) is None
    assert next_due(document, days, state, now=at(days=6)) == at(days=1)
    due = due_now(document, days, state, now=at(days=1))
    assert due is not None
    assert due.number == 2
    state.record(Due(2, document["start"]), "queued", at=at(days=1))
    assert due_now(document, days, state, now=at(hours=5)) is None
    assert next_due(document, days, state, now=at(hours=5)) is None


def test_a_late_client_sends_only_the_latest_due_and_never_close_to_the_start() -> None:
    """A client down for both due times sends number 2 alone; after it, number 1 never;
    within two hours of the start nothing is sent."""
    state, days, document = ReminderState(), (7, 1), wanting()
    due = due_now(document, days, state, now=at(hours=10))
    assert due is not None
    assert due.number == 2
    state.record(Due(2, document["start"]), "queued", at=at(hours=10))
    assert due_now(document, days, state, now=at(hours=9)) is None
    assert due_now(document, days, ReminderState(), now=at(hours=2)) is None
    assert due_now(document, days, ReminderState(), now=at(hours=1)) is None


def test_no_reminder_for_a_time_due_before_the_patient_asked() -> None:
    """Booked five days ahead with [7, 1]: the week's reminder is never sent (it was due
    before the booking), the day's is."""
    document = wanting(
        reminder_consent_at=at(days=5).strftime("%Y-%m-%dT%H:%M:%SZ"),
        confirmed_at=at(days=5).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    assert due_now(document, (7, 1), ReminderState(), now=at(days=4)) is None
    due = due_now(document, (7, 1), ReminderState(), now=at(days=1))
    assert due is not None
    assert due.number == 2


@pytest.mark.parametrize(
    "changes",
    [
        {"reminder": False},
        {"reminder": None},
        {"kind": "wish"},
        {"status": "proposed"},
        {"status": "pending"},
        {"status": "cancelled"},
        {"status": "declined"},
    ],
)
def test_only_booked_slots_whose_patient_asked_get_reminders(changes: dict[str, Any]) -> None:
    """Missing or false consent, a wish, or any status but booked: no reminder ever."""
    document = wanting(**changes)
    if changes.get("reminder") is None and "reminder" in changes:
        del document["reminder"]
    assert due_now(document, (1,), ReminderState(), now=at(days=1)) is None
    assert next_due(document, (1,), ReminderState(), now=at(days=3)) is None


def test_a_moved_booking_gets_its_reminders_anew_but_an_opt_out_stays(tmp_path: Path) -> None:
    """The state is per start: after a move the new time's reminder is due again; once the
    patient opted out, no start gets one. The state file survives a restart."""
    document = wanting()
    state = ReminderState()
    state.record(Due(1, document["start"]), "queued", at=at(days=1))
    path = state_path(tmp_path, document["id"])
    write_state(path, state, FileAccess())
    restored = read_state(path)
    assert due_now(document, (1,), restored, now=at(days=1, hours=-1)) is None

    new_start = START + timedelta(days=2)
    moved = {
        **document,
        "start": new_start.isoformat(),
        "rescheduled_at": at(days=3).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    due = due_now(moved, (1,), restored, now=new_start - timedelta(days=1))
    assert due is not None
    assert due.start == moved["start"]

    restored.record(due, "opted_out", at=at(days=1))
    write_state(path, restored, FileAccess())
    assert json.loads(path.read_text())["stopped"] == "opted_out"
    assert due_now(moved, (1,), read_state(path), now=new_start - timedelta(days=1)) is None


def test_an_unreadable_state_file_is_an_error_not_a_second_reminder(tmp_path: Path) -> None:
    """A state file that is not JSON raises ValueError (the pass skips the booking)."""
    path = tmp_path / "x.reminders.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not readable JSON"):
        read_state(path)
    assert read_state(tmp_path / "missing.reminders.json") == ReminderState()


# --- against a real relay ----------------------------------------------------------------


async def test_run_once_asks_the_relay_for_the_due_reminder_and_records_it(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """Given a booked slot that wants reminders, its reminder due now; when `run --once`
    runs, then the relay is asked (it answers queued or refuses), the outcome lands in
    {id}.reminders.json, and a second run asks nothing again."""
    out_dir = tmp_path / "out"
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, {**profile_json(), "reminder_days": [1]})
        written, _ = await book_confirm_and_drain(
            http, relay, practice, smtp_sink, out_dir, reminder=True
        )
    # The appointment is two days ahead, so with one day before the reminder is due in a
    # day: a clock a day on makes it due now.
    document = json.loads((out_dir / f"{written['id']}.json").read_text())
    assert document["reminder"] is True
    assert document["reminder_consent_at"] == document["submitted_at"]
    start = datetime.fromisoformat(document["start"])
    smtp_sink.clear()
    async with RelayClient(relay.url, practice.token) as client:
        reminders = Reminders(
            client,
            out_dir,
            practice.slug,
            days=(1,),
            clock=lambda: start - timedelta(hours=20),
        )
        await reminders.send_due()
        assert reminders.asked == 1
        state = json.loads(state_path(out_dir, written["id"]).read_text())
        assert state["start"] == document["start"]
        assert state["reminders"]["1"]["outcome"] in ("queued", "already")
        await reminders.send_due()
        assert reminders.asked == 1  # recorded: never asked twice
    (mail,) = await smtp_sink.wait_for(1)
    assert written["email"] in str(mail["To"])

    # The real run --once, with the day's reminder not yet due: nothing asked, nothing new
    config = RunConfig(relay.url, practice.token, practice.key_file, out_dir, wait=0)
    assert await run(config, once=True) == 0
    assert json.loads(state_path(out_dir, written["id"]).read_text()) == state


async def test_run_once_records_the_relays_refusal_of_an_unknown_booking(
    relay: RunningRelay, practice: PracticeHandle, tmp_path: Path
) -> None:
    """Given a booking the relay does not know, wanting a reminder due now (the days from
    the relay's profile); when `run --once` runs, then the relay's
    404 is recorded as not_found, and the next run asks nothing again."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, {**profile_json(), "reminder_days": [1]})
    now = datetime.now(UTC)
    document = wanting(
        practice=practice.slug,
        start=(now + timedelta(hours=10)).isoformat(),
        end=(now + timedelta(hours=10, minutes=20)).isoformat(),
        reminder_consent_at=(now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        submitted_at=(now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        confirmed_at=(now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    (out_dir / f"{document['id']}.json").write_text(json.dumps(document))
    config = RunConfig(relay.url, practice.token, practice.key_file, out_dir, wait=0)

    assert await run(config, once=True) == 0

    path = state_path(out_dir, document["id"])
    state = json.loads(path.read_text())
    assert state["start"] == document["start"]
    assert state["reminders"]["1"]["outcome"] == "not_found"
    assert path.stat().st_mode & 0o777 == 0o600
    assert await run(config, once=True) == 0
    assert json.loads(path.read_text()) == state
