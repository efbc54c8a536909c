"""The practice's answers on the client side: the status table in every file, the
`answer` command against a real relay (exit codes, one-line errors, the patient's mail),
and the patient's reply notice arriving in the inbox."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from icalendar import Calendar

from practice_client.__main__ import main
from practice_client.handover.changes import with_answer
from practice_client.handover.sink import BookingSink
from practice_client.runner import RunConfig, run
from tests.conftest import PracticeHandle, RunningRelay, SmtpSink, link_in
from tests.helpers import booking_json, profile_json, put_profile, slot_times
from tests.test_cancellation import mail_to
from tests.test_practice_client_hooks import calls, recorder
from tests.test_practice_client_sink import booking

FORMATS = ("json", "ics", "fhir")
NOW = datetime(2026, 11, 22, 9, 15, tzinfo=UTC)


def files_of(out_dir: Path, booking_id: str) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """The booking's JSON, its .ics event and its FHIR Appointment."""
    document = json.loads((out_dir / f"{booking_id}.json").read_text())
    (event,) = Calendar.from_ical((out_dir / f"{booking_id}.ics").read_bytes()).walk("VEVENT")
    bundle = json.loads((out_dir / f"{booking_id}.fhir.json").read_text())
    return document, event, bundle["entry"][1]["resource"]


# --- the status table, file by file ------------------------------------------------------


def test_every_status_shows_in_json_ics_and_fhir_with_sequence_counting(tmp_path: Path) -> None:
    """Given a request (proposed); when the practice proposes another time and the patient
    accepts it, then each version's JSON, STATUS, SEQUENCE, times and FHIR status follow
    the table, and the last cancellation ends it."""
    sink = BookingSink(tmp_path, formats=FORMATS, clock=lambda: NOW)
    request = booking(status="proposed", kind="slot")
    sink.write(request)
    document, event, appointment = files_of(tmp_path, request["id"])
    assert (document["status"], str(event["STATUS"]), int(event["SEQUENCE"])) == (
        "proposed",
        "TENTATIVE",
        0,
    )
    assert appointment["status"] == "proposed"

    proposal = {
        "answer": "propose",
        "reason": "doctor_unavailable",
        "answered_at": "2026-11-23T08:00:00Z",
        "start": "2026-12-02T09:00:00Z",
        "end": "2026-12-02T09:20:00Z",
        "held": True,
    }
    sink.rewrite(with_answer(document, "pending", proposal))
    document, event, appointment = files_of(tmp_path, request["id"])
    assert (document["status"], str(event["STATUS"]), int(event["SEQUENCE"])) == (
        "pending",
        "TENTATIVE",
        1,
    )
    assert event.decoded("DTSTART") == datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # proposed
    assert document["start"] == request["start"]  # the request itself is unchanged
    assert appointment["status"] == "pending"
    assert appointment["start"] == "2026-12-02T09:00:00Z"

    reply = {
        "type": "reply",
        "id": "r1",
        "booking_id": request["id"],
        "reply": "accept",
        "start": "2026-12-02T09:00:00Z",
        "end": "2026-12-02T09:20:00Z",
        "replied_at": "2026-11-23T09:00:00Z",
    }
    assert sink.apply(reply) == "applied"
    assert sink.apply(reply) == "applied_before"
    document, event, appointment = files_of(tmp_path, request["id"])
    assert (document["status"], str(event["STATUS"]), int(event["SEQUENCE"])) == (
        "booked",
        "CONFIRMED",
        2,
    )
    assert document["start"] == "2026-12-02T09:00:00Z"
    assert document["reply"]["reply"] == "accept"
    assert appointment["status"] == "booked"

    cancellation = {
        "type": "cancellation",
        "id": "c1",
        "booking_id": request["id"],
        "cancelled_at": "2026-11-24T09:00:00Z",
    }
    assert sink.apply(cancellation) == "applied"
    document, event, appointment = files_of(tmp_path, request["id"])
    assert (document["status"], str(event["STATUS"]), int(event["SEQUENCE"])) == (
        "cancelled",
        "CANCELLED",
        3,
    )
    assert appointment["cancelationReason"]["coding"][0]["code"] == "pat"


@pytest.mark.parametrize(
    ("how", "code"),
    [("practice", "prov"), ("patient", "pat")],
)
def test_a_declined_booking_is_cancelled_in_every_file_and_says_by_whom(
    tmp_path: Path, how: str, code: str
) -> None:
    """Declined by the practice's answer or by the patient's reply: JSON declined, ICS
    CANCELLED, FHIR cancelled with the reason's code; the slot reader no longer blocks it."""
    from practice_client.calendar.received import received_bookings  # noqa: PLC0415

    sink = BookingSink(tmp_path, formats=FORMATS)
    request = booking(status="proposed")
    sink.write(request)
    written = sink.read_booking(request["id"])
    if how == "practice":
        sink.rewrite(with_answer(written, "declined", {"answer": "decline", "reason": None}))
    else:
        pending = with_answer(written, "pending", {"answer": "propose", "start": None})
        sink.rewrite(pending)
        sink.apply(
            {
                "type": "reply",
                "id": "r2",
                "booking_id": request["id"],
                "reply": "decline",
                "start": "2026-12-02T09:00:00Z",
                "end": "2026-12-02T09:20:00Z",
                "replied_at": "2026-11-23T09:00:00Z",
            }
        )
    document, event, appointment = files_of(tmp_path, request["id"])
    assert document["status"] == "declined"
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["SUMMARY"]).startswith("Abgelehnt: ")
    assert appointment["status"] == "cancelled"
    assert appointment["cancelationReason"]["coding"][0]["code"] == code
    assert received_bookings(tmp_path, since=datetime(2026, 1, 1, tzinfo=UTC)) == []


def test_a_reply_before_its_booking_is_kept_then_applied_with_it(tmp_path: Path) -> None:
    """A reply for a booking not written yet is kept as {id}.reply.json (ids and times
    only) and applied when the booking arrives, which is then written booked at the
    accepted time; the kept file goes."""
    sink = BookingSink(tmp_path, formats=("json", "ics"))
    request = booking(status="proposed")
    reply = {
        "type": "reply",
        "id": "r3",
        "booking_id": request["id"],
        "practice": "praxis-test",
        "reply": "accept",
        "start": "2026-12-03T10:00:00Z",
        "end": "2026-12-03T10:20:00Z",
        "replied_at": "2026-11-23T09:00:00Z",
    }
    assert sink.apply(reply) == "kept"
    kept = json.loads((tmp_path / f"{request['id']}.reply.json").read_text())
    assert kept == {k: v for k, v in reply.items() if k != "practice"}
    assert sink.apply(reply) == "kept_before"

    sink.write(request, kept=sink.kept_notices(request["id"]))

    document = sink.read_booking(request["id"])
    assert (document["status"], document["start"], document["sequence"]) == (
        "booked",
        "2026-12-03T10:00:00Z",
        1,
    )
    assert not (tmp_path / f"{request['id']}.reply.json").exists()


# --- the answer command against a real relay ---------------------------------------------


def by_practice_profile() -> dict[str, Any]:
    return {**profile_json(), "confirmation": "by_practice"}


async def book_confirm_and_drain(
    http: aiohttp.ClientSession,
    relay: RunningRelay,
    practice: PracticeHandle,
    sink: SmtpSink,
    out_dir: Path,
    *,
    lang: str = "en",
    hook: str | None = None,
    **changes: Any,
) -> tuple[dict[str, Any], str]:
    """A patient books the first slot in `lang` (with `changes`) and confirms; the client
    writes it. The booking as written and the patient's link from the confirmation result
    page."""
    request = booking_json(**changes)
    async with http.post(
        f"{relay.url}/api/v1/practices/{practice.slug}/bookings",
        params={"lang": lang},
        json=request,
    ) as response:
        assert response.status == 202, await response.text()
    link = link_in(await mail_to(sink, request["email"], "/c/"))
    async with http.post(link, data={"action": "confirm"}) as confirmed:
        assert confirmed.status == 200
        page = await confirmed.text()
    assert await drain(relay, practice, out_dir, hook=hook) == 0
    return the_written(out_dir), page


def the_written(out_dir: Path) -> dict[str, Any]:
    """The one booking's .json in `out_dir`."""
    (written,) = [
        json.loads(p.read_text()) for p in out_dir.glob("*.json") if p.name.count(".") == 1
    ]
    return written


async def drain(
    relay: RunningRelay, practice: PracticeHandle, out_dir: Path, *, hook: str | None = None
) -> int:
    from practice_client.handover.hooks import Hook  # noqa: PLC0415

    config = RunConfig(
        relay.url,
        practice.token,
        practice.key_file,
        out_dir,
        wait=0,
        formats=FORMATS,
        hook=None if hook is None else Hook(hook),
    )
    return await run(config, once=True)


async def answer(relay: RunningRelay, practice: PracticeHandle, *argv: str) -> int:
    """`practice-client answer …` through the real command line, in a thread (it runs its
    own event loop)."""
    return await asyncio.to_thread(
        main, ["answer", *argv, "--relay", relay.url, "--token", practice.token]
    )


async def test_the_practice_accepts_a_request_and_the_patient_is_mailed_in_their_language(
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Given a by_practice request booked in English and written `proposed`; when the
    practice runs `answer … accept`, then the files say booked (CONFIRMED, SEQUENCE 1),
    the hook runs with TERMINRELAY_EVENT=answer, the patient gets an English mail naming
    no doctor or type, and answering again changes nothing and mails nobody."""
    caplog.set_level(logging.INFO)
    out_dir = tmp_path / "out"
    command, hook_dir = recorder(tmp_path)
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, by_practice_profile())
        written, _ = await book_confirm_and_drain(http, relay, practice, smtp_sink, out_dir)
        assert written["status"] == "proposed"
        smtp_sink.clear()

        code = await answer(
            relay, practice, written["id"], "accept", "--out", str(out_dir),
            "--format", "json,ics,fhir", "--exec", command,
        )  # fmt: skip

        assert code == 0, caplog.text
        document, event, appointment = files_of(out_dir, written["id"])
        assert document["status"] == "booked"
        assert document["answer"]["answer"] == "accept"
        assert document["answer"]["answered_at"].endswith("Z")
        assert (str(event["STATUS"]), int(event["SEQUENCE"])) == ("CONFIRMED", 1)
        assert appointment["status"] == "booked"
        (call,) = calls(hook_dir)
        assert call["env"]["TERMINRELAY_EVENT"] == "answer"
        (mail,) = await smtp_sink.wait_for(1)
        assert mail["To"] == written["email"]
        text = mail.get_body(preferencelist=("plain",)).get_content()
        assert "Practice" in text or "practice" in text, text  # English, after the German line
        for secret in (written["doctor"], written["appointment_type"], written["last_name"]):
            assert secret not in text

        # And the same answer again: no second mail, the files unchanged
        smtp_sink.clear()
        assert await answer(relay, practice, written["id"], "accept", "--out", str(out_dir)) == 0
        assert "answered so before" in caplog.text
        assert files_of(out_dir, written["id"])[0] == document
        assert len(calls(hook_dir)) == 1


async def test_answer_errors_are_one_line_with_an_exit_code(
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A booking not in the folder, one the relay does not know for its address (404), an
    answer not fitting its state (409, after the patient cancelled) and a local usage
    mistake each end with exit 1 and one line, no traceback, the files unchanged."""
    out_dir = tmp_path / "out"
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, by_practice_profile())
        written, page = await book_confirm_and_drain(http, relay, practice, smtp_sink, out_dir)
        json_file = out_dir / f"{written['id']}.json"

        caplog.clear()
        missing = "0" * 8 + "-0000-4000-8000-" + "0" * 12
        assert await answer(relay, practice, missing, "decline", "--out", str(out_dir)) == 1
        assert f"booking {missing} is not in {out_dir}" in caplog.text
        assert "Traceback" not in caplog.text

        caplog.clear()
        assert await answer(relay, practice, written["id"], "propose", "--out", str(out_dir)) == 1
        assert "propose needs --start" in caplog.text

        # 404: the address the relay derives the booking from is not the booking's
        original = json_file.read_text()
        json_file.write_text(json.dumps({**written, "email": "someone.else@example.org"}))
        caplog.clear()
        assert await answer(relay, practice, written["id"], "accept", "--out", str(out_dir)) == 1
        assert "the relay knows no booking" in caplog.text
        json_file.write_text(original)

        # 409: the patient cancelled first
        cancel_path = page.split('href="/x/', 1)[1].split("?", 1)[0].split("/", 1)[0]
        async with http.post(f"{relay.url}/x/{cancel_path}", data={"action": "cancel"}) as done:
            assert done.status == 200
        caplog.clear()
        assert await answer(relay, practice, written["id"], "accept", "--out", str(out_dir)) == 1
        assert "the relay refused the answer: the booking is" in caplog.text
        assert json_file.read_text() == original
        assert "Traceback" not in caplog.text


def test_the_answer_errors_speak_german_under_a_german_locale(tmp_path: Path) -> None:
    """The same line through the client's German catalog, as a practice's terminal shows
    it (a real process: the language is chosen once per process)."""
    missing = "1" * 8 + "-0000-4000-8000-" + "0" * 12
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELAY_", "PRACTICE_"))}
    ran = subprocess.run(
        [
            sys.executable,
            "-m",
            "practice_client",
            "answer",
            missing,
            "decline",
            "--relay",
            "http://127.0.0.1:9",
            "--token",
            "p.x",
            "--out",
            str(tmp_path),
        ],
        env={**env, "LANG": "de_DE.UTF-8"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 1
    assert f"Buchung {missing} ist nicht in {tmp_path}" in ran.stderr, ran.stderr
    assert "Traceback" not in ran.stderr


async def test_a_proposed_time_accepted_by_the_patient_arrives_as_a_reply(
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Given a request; when the practice proposes the second slot and the patient accepts
    it with one click, then the next run applies the reply notice: booked at the new time,
    SEQUENCE 2, hook event `reply`, the log naming no patient."""
    caplog.set_level(logging.INFO)
    out_dir = tmp_path / "out"
    command, hook_dir = recorder(tmp_path)
    second = slot_times()[1][0].isoformat()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, by_practice_profile())
        written, _ = await book_confirm_and_drain(http, relay, practice, smtp_sink, out_dir)
        smtp_sink.clear()
        code = await answer(
            relay, practice, written["id"], "propose", "--start", second,
            "--reason", "doctor_unavailable", "--out", str(out_dir), "--format", "json,ics,fhir",
        )  # fmt: skip
        assert code == 0, caplog.text
        document, event, _ = files_of(out_dir, written["id"])
        assert document["status"] == "pending"
        assert document["answer"]["held"] is True
        assert str(event["STATUS"]) == "TENTATIVE"
        assert event.decoded("DTSTART") == datetime.fromisoformat(second).astimezone(UTC)

        # When the patient accepts through the link of the mail
        (mail,) = await smtp_sink.wait_for(1)
        text = mail.get_body(preferencelist=("plain",)).get_content()
        found = re.search(r"https?://\S+/x/\S+", text)
        assert found, text
        async with http.post(found.group(0), data={"action": "accept"}) as accepted:
            assert accepted.status == 200, await accepted.text()
        caplog.clear()
        assert await drain(relay, practice, out_dir, hook=command) == 0

    document, event, appointment = files_of(out_dir, written["id"])
    assert document["status"] == "booked"
    assert datetime.fromisoformat(document["start"]) == datetime.fromisoformat(second)
    assert document["reply"]["reply"] == "accept"
    assert (str(event["STATUS"]), int(event["SEQUENCE"])) == ("CONFIRMED", 2)
    assert appointment["status"] == "booked"
    assert [call["env"]["TERMINRELAY_EVENT"] for call in calls(hook_dir)] == ["reply"]
    assert f"booking {written['id']} accepted by the patient" in caplog.text
    assert written["last_name"] not in caplog.text
