"""The practice client against a real relay, Redis and SMTP sink (fixtures in conftest.py)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from practice_client.__main__ import main
from practice_client.commands import rotate_key
from practice_client.handover.sink import BookingSink
from practice_client.relay.envelope import EnvelopeError, open_item
from practice_client.relay.keys import (
    KeyPair,
    KeyRing,
    create_key_file,
    load_key_ring,
    pin_relay_key,
    read_pinned_relay_key,
    relay_key_path,
)
from practice_client.relay.retry import RetryPolicy
from practice_client.runner import RunConfig, run
from tests.helpers import READY_SECONDS

if TYPE_CHECKING:
    from tests.conftest import PracticeHandle, RelayFactory, RunningRelay, SmtpSink

REPO = Path(__file__).resolve().parent.parent
BERLIN = ZoneInfo("Europe/Berlin")
LINK = re.compile(r"https?://[^\s\"<>]+/c/[A-Za-z0-9._~-]+")
QUICK_RETRIES = RetryPolicy(start=0.02, cap=0.1, attempts=5)
SENSITIVE_FIELDS = ("first_name", "last_name", "note", "email", "phone")


def new_booking(number: int = 0) -> dict[str, Any]:
    """A valid wish booking (the default profile takes wishes), with searchable values."""
    day = (datetime.now(BERLIN) + timedelta(days=3)).date()
    start = datetime(day.year, day.month, day.day, 10, 0, tzinfo=BERLIN)
    marker = os.urandom(4).hex()
    return {
        "first_name": f"Gwendolin{marker}",
        "last_name": f"Pfefferkorn{marker}",
        "birth_date": "1979-07-14",
        "gender": "diverse",
        "insurance": "private",
        "note": f"Nachsorge {marker}",
        "new_patient": False,
        "start": (start + timedelta(minutes=20 * number)).isoformat(),
        "email": f"patient.{marker}@example.org",
        "phone": f"+49 40 555{number:04d}",
        "consent": True,
    }


def confirmation_link(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    found = LINK.search(body.get_content())
    assert found, "no confirmation link in the mail"
    return found.group(0)


async def _mail_to(smtp: SmtpSink, address: str) -> EmailMessage:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        found = [m for m in list(smtp.messages) if m["To"] == address]
        if found:
            return found[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"gave up waiting for the confirmation mail to {address}")


async def confirmed_booking(
    http: aiohttp.ClientSession, relay: RunningRelay, slug: str, smtp: SmtpSink, number: int = 0
) -> dict[str, Any]:
    """Submit a booking through the JSON API and confirm it through the mailed link."""
    booking = new_booking(number)
    async with http.post(f"{relay.url}/api/v1/practices/{slug}/bookings", json=booking) as response:
        assert response.status == 202, await response.text()
    # Mails of earlier bookings (the one after confirming) may still arrive meanwhile.
    message = await _mail_to(smtp, booking["email"])
    async with http.post(confirmation_link(message), data={"action": "confirm"}) as confirmed:
        assert confirmed.status == 200
    return booking


async def raw_inbox(
    http: aiohttp.ClientSession, relay: RunningRelay, practice: PracticeHandle
) -> list[dict[str, Any]]:
    """What the inbox hands out right now (this makes the items invisible for a while)."""
    async with http.get(
        f"{relay.url}/api/v1/inbox", params={"wait": "0"}, headers=practice.auth
    ) as response:
        assert response.status == 200
        items: list[dict[str, Any]] = (await response.json())["items"]
        return items


async def put_key(
    http: aiohttp.ClientSession, relay: RunningRelay, practice: PracticeHandle, key: bytes
) -> None:
    async with http.put(
        f"{relay.url}/api/v1/key",
        json={"public_key": base64.b64encode(key).decode()},
        headers=practice.auth,
    ) as response:
        assert response.status == 200


async def published_practice_key(
    http: aiohttp.ClientSession, relay: RunningRelay, slug: str
) -> str:
    async with http.get(f"{relay.url}/api/v1/practices/{slug}") as response:
        key: str = (await response.json())["public_key"]
        return key


async def published_relay_key(http: aiohttp.ClientSession, relay: RunningRelay) -> bytes:
    async with http.get(f"{relay.url}/api/v1/relay-key") as response:
        return base64.b64decode((await response.json())["public_key"])


def config(relay_url: str, practice: PracticeHandle, out_dir: Path, **changes: Any) -> RunConfig:
    settings: dict[str, Any] = {"wait": 0, "retry": QUICK_RETRIES, **changes}
    return RunConfig(relay_url, practice.token, practice.key_file, out_dir, **settings)


async def wait_until(condition: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def client_log(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("practice_client")
    )


async def test_once_drains_the_inbox_writes_the_files_and_acknowledges(
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """--once writes every confirmed booking as .json and .ics, acks it, and exits 0."""
    caplog.set_level(logging.DEBUG)
    out_dir = tmp_path / "bookings"
    async with aiohttp.ClientSession() as http:
        # Given three confirmed bookings, more than one poll holds
        bookings = [
            await confirmed_booking(http, relay, practice.slug, smtp_sink, n) for n in range(3)
        ]

        # When the client drains the inbox in batches of two
        code = await run(config(relay.url, practice, out_dir, limit=2), once=True)

        # Then it exits 0 with every booking written, complete, and nothing left behind
        assert code == 0
        written = {
            json.loads(path.read_text(encoding="utf-8"))["email"]: path
            for path in out_dir.glob("*.json")
        }
        assert set(written) == {booking["email"] for booking in bookings}
        for booking in bookings:
            document = json.loads(written[booking["email"]].read_text(encoding="utf-8"))
            for name, value in booking.items():
                assert document[name] == value, name
            assert document["practice"] == practice.slug
            assert document["sealed_by"] == "relay"  # protocol 1: the relay sealed it
            for stamp in ("submitted_at", "consent_at", "confirmed_at"):
                assert document[stamp].endswith("Z"), stamp
            ics = (out_dir / f"{document['id']}.ics").read_text(encoding="utf-8")
            assert f"UID:{document['id']}@terminrelay" in ics
        assert sorted(p.suffix for p in out_dir.iterdir()) == [".ics"] * 3 + [".json"] * 3
        assert await raw_inbox(http, relay, practice) == []

    # And the relay key was pinned on first contact, and no booking value reached the log
    assert read_pinned_relay_key(practice.key_file) is not None
    log_text = client_log(caplog)
    for booking in bookings:
        for name in SENSITIVE_FIELDS:
            assert str(booking[name]) not in log_text
    assert practice.token not in log_text


async def test_redelivery_after_a_lost_acknowledgement_is_deduplicated(
    relay_factory: RelayFactory,
    smtp_sink: SmtpSink,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An item whose files exist (the ack was lost) is acknowledged again, files untouched."""
    caplog.set_level(logging.INFO)
    relay = await relay_factory(inbox_visibility=1)
    practice = await relay.add_practice()
    out_dir = tmp_path / "bookings"
    ring = load_key_ring(practice.key_file)
    async with aiohttp.ClientSession() as http:
        await confirmed_booking(http, relay, practice.slug, smtp_sink)
        relay_key = await published_relay_key(http, relay)

        # Given the client wrote the booking, then lost its acknowledgement
        (item,) = await raw_inbox(http, relay, practice)
        sink = BookingSink(out_dir)
        sink.prepare()
        document = open_item(
            item["id"], item["sealed"], keys=ring, relay_key=relay_key, practice=practice.slug
        )
        assert sink.write({**document, "confirmed_at": item["confirmed_at"]})
        json_path = out_dir / f"{item['id']}.json"
        before = json_path.stat().st_mtime_ns, json_path.read_bytes()
        await asyncio.sleep(1.2)  # the relay's visibility timeout: the item is due again

        # When the client runs and the relay redelivers the item
        code = await run(config(relay.url, practice, out_dir), once=True)

        # Then it is acknowledged, the inbox is empty, and the files are as they were
        assert code == 0
        assert (json_path.stat().st_mtime_ns, json_path.read_bytes()) == before
        await asyncio.sleep(1.2)
        assert await raw_inbox(http, relay, practice) == []
    assert f"booking {item['id']} was written before" in client_log(caplog)


async def test_once_says_how_many_items_another_client_holds(
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Given an item another client fetched and has not acknowledged, `--once` writes
    nothing and says the item is in flight elsewhere instead of "inbox empty"."""
    caplog.set_level(logging.INFO)
    async with aiohttp.ClientSession() as http:
        await confirmed_booking(http, relay, practice.slug, smtp_sink)
        (item,) = await raw_inbox(http, relay, practice)

        code = await run(config(relay.url, practice, tmp_path / "bookings"), once=True)

    assert code == 0
    log = client_log(caplog)
    assert "1 item(s) in flight elsewhere" in log
    assert "summary: 0 written, 0 cancelled, 0 refused, 0 already there, 1 in flight" in log
    assert "inbox empty" not in log
    assert not (tmp_path / "bookings" / f"{item['id']}.json").exists()


async def test_a_refused_item_is_neither_written_nor_acknowledged(
    relay_factory: RelayFactory,
    smtp_sink: SmtpSink,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An item that does not open is logged once by id, stays in the inbox; --once exits 3."""
    caplog.set_level(logging.INFO)
    relay = await relay_factory(inbox_visibility=1)
    practice = await relay.add_practice()
    out_dir = tmp_path / "bookings"
    async with aiohttp.ClientSession() as http:
        # Given one item sealed to a key the client does not hold, and one sealed to ours
        await put_key(http, relay, practice, KeyPair.generate().public_key)
        await confirmed_booking(http, relay, practice.slug, smtp_sink, 0)
        await put_key(http, relay, practice, bytes(practice.private_key.public_key))
        good = await confirmed_booking(http, relay, practice.slug, smtp_sink, 1)

        # When the client drains the inbox (the refused item comes back during the run)
        code = await run(config(relay.url, practice, out_dir), once=True)

        # Then the good booking is written, the other refused loudly and left in the inbox
        assert code == 3
        (written,) = out_dir.glob("*.json")
        assert json.loads(written.read_text(encoding="utf-8"))["email"] == good["email"]
        await asyncio.sleep(1.2)
        (left,) = await raw_inbox(http, relay, practice)
    refusals = [
        r for r in caplog.records if r.levelno == logging.ERROR and "REFUSED" in r.getMessage()
    ]
    assert len(refusals) == 2  # the item once, then the summary
    assert left["id"] in refusals[0].getMessage()
    assert "REFUSED 1 item(s)" in refusals[1].getMessage()
    assert not (out_dir / f"{left['id']}.json").exists()
    assert not (out_dir / f"{left['id']}.ics").exists()


async def test_a_wrong_token_exits_2_with_a_clear_message(
    relay: RunningRelay,
    practice: PracticeHandle,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A token the relay rejects: exit 2 from the command line, in --once and continuous mode."""
    wrong = f"{practice.slug}.{'A' * 43}"
    argv = ["run", "--relay", relay.url, "--token", wrong, "--key-file", str(practice.key_file)]
    argv += ["--out", str(tmp_path / "out")]

    once = await asyncio.to_thread(main, [*argv, "--once"])
    continuous = await asyncio.to_thread(main, [*argv, "--wait", "1"])

    assert (once, continuous) == (2, 2)
    err = capsys.readouterr().err
    assert err.count("the relay rejected the practice token") == 2
    assert "Traceback" not in err
    assert wrong not in err


async def test_a_token_for_an_unknown_practice_exits_2(
    relay: RunningRelay, practice: PracticeHandle, tmp_path: Path
) -> None:
    """A token whose practice part the relay does not know is a wrong token, exit 2."""
    stranger = RunConfig(relay.url, f"praxis-fremd.{'A' * 43}", practice.key_file, tmp_path)

    assert await run(stranger, once=True) == 2


async def test_an_unreachable_relay_exits_4_naming_the_url(
    practice: PracticeHandle, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With nothing listening, --once retries with backoff, then exits 4 naming the URL."""
    url = f"http://127.0.0.1:{free_port()}"

    started = time.monotonic()
    code = await run(config(url, practice, tmp_path / "out"), once=True)

    assert code == 4
    assert time.monotonic() - started < 5
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(url in message and "5 tries" in message for message in failures)
    assert sum("retrying in" in r.getMessage() for r in caplog.records) == 4


@pytest.mark.slow
def test_an_unreachable_relay_ends_the_real_command_with_4_and_no_traceback(
    tmp_path: Path,
) -> None:
    """`python -m practice_client run --once` with the default backoff gives up cleanly."""
    key_file = tmp_path / "practice.key"
    create_key_file(key_file, KeyPair.generate())
    url = f"http://127.0.0.1:{free_port()}"

    result = subprocess.run(
        [
            *(sys.executable, "-m", "practice_client", "run", "--once", "--relay", url),
            *("--key-file", str(key_file), "--out", str(tmp_path / "out")),
        ],
        cwd=REPO,
        env={**os.environ, "PRACTICE_TOKEN": f"praxis-test.{'A' * 43}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 4
    assert url in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr


async def test_a_changed_relay_key_is_refused_with_exit_3(
    relay: RunningRelay,
    practice: PracticeHandle,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A relay signing with another key than the one pinned before is refused (exit 3)."""
    # Given a client that pinned the relay's key on first contact
    assert await run(config(relay.url, practice, tmp_path / "out"), once=True) == 0
    assert read_pinned_relay_key(practice.key_file) is not None

    # When the relay it talks to now signs with another key (here: the pin predates it)
    earlier_relay_key = os.urandom(32)
    pin_relay_key(practice.key_file, earlier_relay_key)
    code = await run(config(relay.url, practice, tmp_path / "out"), once=True)

    # Then the client refuses, says why, and keeps the pinned key
    assert code == 3
    assert "not the pinned" in client_log(caplog)
    assert read_pinned_relay_key(practice.key_file) == earlier_relay_key


async def test_relay_key_given_on_the_command_line_must_match(
    relay: RunningRelay, practice: PracticeHandle, tmp_path: Path
) -> None:
    """--relay-key is used as given: another key is refused (3), the right one works (0)."""
    async with aiohttp.ClientSession() as http:
        right = base64.b64encode(await published_relay_key(http, relay)).decode()
    wrong = base64.b64encode(os.urandom(32)).decode()

    refused = await run(config(relay.url, practice, tmp_path, relay_key=wrong), once=True)
    accepted = await run(config(relay.url, practice, tmp_path, relay_key=right), once=True)

    assert (refused, accepted) == (3, 0)
    assert read_pinned_relay_key(practice.key_file) == base64.b64decode(right)


async def test_a_foreign_practice_key_at_the_relay_is_refused_with_exit_3(
    relay: RunningRelay,
    practice: PracticeHandle,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """If the relay publishes a key for us that is not ours, the client refuses (exit 3)."""
    async with aiohttp.ClientSession() as http:
        await put_key(http, relay, practice, KeyPair.generate().public_key)

    code = await run(config(relay.url, practice, tmp_path / "out"), once=True)

    assert code == 3
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("not ours: bookings would be sealed to someone else" in e for e in errors)


async def test_continuous_mode_also_refuses_a_foreign_practice_key(
    relay: RunningRelay, practice: PracticeHandle, tmp_path: Path
) -> None:
    """The practice key is checked on every poll cycle, not only at start."""
    task = asyncio.create_task(
        run(config(relay.url, practice, tmp_path / "out", wait=1), once=False)
    )
    await wait_until(lambda: relay_key_path(practice.key_file).exists())
    async with aiohttp.ClientSession() as http:
        await put_key(http, relay, practice, KeyPair.generate().public_key)

    assert await asyncio.wait_for(task, timeout=15) == 3


async def test_key_rotation_keeps_old_items_readable_and_seals_new_ones_to_the_new_key(
    relay_factory: RelayFactory,
    smtp_sink: SmtpSink,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """rotate-key: items sealed before open with the old key, items after with the new one."""
    relay = await relay_factory(inbox_visibility=1)
    practice = await relay.add_practice()
    old = load_key_ring(practice.key_file).current
    async with aiohttp.ClientSession() as http:
        # Given a booking sealed to the old key
        before = await confirmed_booking(http, relay, practice.slug, smtp_sink, 0)

        # When the practice rotates its key, and another booking arrives
        argv = ["rotate-key", "--relay", relay.url, "--key-file", str(practice.key_file)]
        code = await asyncio.to_thread(main, [*argv, "--token", practice.token])
        after = await confirmed_booking(http, relay, practice.slug, smtp_sink, 1)

        # Then the key file holds both keys, the new one first, and the relay publishes it
        assert code == 0
        ring = load_key_ring(practice.key_file)
        assert [p.public_key for p in ring.pairs[1:]] == [old.public_key]
        assert capsys.readouterr().out.splitlines()[-1] == ring.current.public_key_b64
        assert await published_practice_key(http, relay, practice.slug) == (
            ring.current.public_key_b64
        )

        # And each item opens with exactly the key it was sealed to
        relay_key = await published_relay_key(http, relay)
        items = await raw_inbox(http, relay, practice)
        opened = {}
        for item in items:
            for pair in ring.pairs:
                try:
                    document = open_item(
                        item["id"],
                        item["sealed"],
                        keys=KeyRing([pair]),
                        relay_key=relay_key,
                        practice=practice.slug,
                    )
                except EnvelopeError:
                    continue
                opened[document["email"]] = pair.public_key
        assert opened == {
            before["email"]: old.public_key,
            after["email"]: ring.current.public_key,
        }

        # And the client writes both
        await asyncio.sleep(1.2)
        assert await run(config(relay.url, practice, tmp_path / "out"), once=True) == 0
        emails = {
            json.loads(p.read_text(encoding="utf-8"))["email"]
            for p in (tmp_path / "out").glob("*.json")
        }
        assert emails == {before["email"], after["email"]}


async def test_an_interrupted_rotation_is_finished_by_running_rotate_key_again(
    relay: RunningRelay,
    practice: PracticeHandle,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """If uploading the new key fails, it stays in the key file; a re-run uploads that key."""
    argv = ["rotate-key", "--relay", relay.url, "--key-file", str(practice.key_file)]
    original = load_key_ring(practice.key_file).current

    # Given a rotation whose upload the relay refused (here: a wrong token)
    failed = await asyncio.to_thread(main, [*argv, "--token", f"{practice.slug}.{'A' * 43}"])
    assert failed == 2
    assert "rotate-key` again" in capsys.readouterr().err
    pending = load_key_ring(practice.key_file)
    assert [p.public_key for p in pending.pairs] == [
        pending.current.public_key,
        original.public_key,
    ]

    # Then the client refuses to run: the relay still seals to an older key
    assert await run(config(relay.url, practice, tmp_path / "out"), once=True) == 3

    # When rotate-key runs again with the right token
    assert await rotate_key(relay.url, practice.token, practice.key_file) == 0

    # Then it uploaded the pending key instead of making a third one, and the client runs
    finished = load_key_ring(practice.key_file)
    assert [p.public_key for p in finished.pairs] == [p.public_key for p in pending.pairs]
    async with aiohttp.ClientSession() as http:
        published = await published_practice_key(http, relay, practice.slug)
    assert published == pending.current.public_key_b64
    assert await run(config(relay.url, practice, tmp_path / "out"), once=True) == 0


async def test_continuous_mode_rides_out_a_relay_restart_and_stops_on_request(
    relay: RunningRelay,
    practice: PracticeHandle,
    relay_factory: RelayFactory,
    smtp_sink: SmtpSink,
    tmp_path: Path,
) -> None:
    """A relay restart is retried with backoff; bookings after it arrive; stop ends with 0."""
    out_dir = tmp_path / "out"
    stop = asyncio.Event()
    task = asyncio.create_task(
        run(config(relay.url, practice, out_dir, wait=2), once=False, stop=stop)
    )
    await wait_until(lambda: relay_key_path(practice.key_file).exists())

    # When the relay goes away for a moment and comes back on the same port
    await relay.stop()
    await asyncio.sleep(0.3)
    restarted = await relay_factory(
        port=relay.settings.port,
        signing_key=relay.settings.signing_key,
        data_keys=relay.settings.data_keys,
    )
    async with aiohttp.ClientSession() as http:
        booking = await confirmed_booking(http, restarted, practice.slug, smtp_sink)

    # Then the running client delivers the booking made after the restart
    await wait_until(lambda: any(out_dir.glob("*.json")))
    (written,) = out_dir.glob("*.json")
    assert json.loads(written.read_text(encoding="utf-8"))["email"] == booking["email"]

    # And stops cleanly when asked, even in the middle of a long poll
    stop.set()
    assert await asyncio.wait_for(task, timeout=5) == 0


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM is POSIX")
async def test_the_real_command_delivers_from_env_settings_and_exits_0_on_sigterm(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """`python -m practice_client run` configured by PRACTICE_* variables; SIGTERM ends it."""
    out_dir = tmp_path / "out"
    env = {
        **os.environ,
        "PRACTICE_RELAY": relay.url,
        "PRACTICE_TOKEN": practice.token,
        "PRACTICE_KEY_FILE": str(practice.key_file),
        "PRACTICE_OUT": str(out_dir),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "practice_client", "run", "--wait", "5",
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        async with aiohttp.ClientSession() as http:
            booking = await confirmed_booking(http, relay, practice.slug, smtp_sink)
        await wait_until(lambda: any(out_dir.glob("*.json")))
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), timeout=10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert process.returncode == 0
    stderr = err.decode()
    assert "Traceback" not in stderr
    assert "stopped" in stderr
    (written,) = out_dir.glob("*.json")
    assert json.loads(written.read_text(encoding="utf-8"))["email"] == booking["email"]
    for name in SENSITIVE_FIELDS:
        assert str(booking[name]) not in stderr


async def test_publish_prints_the_stored_profile_or_each_error(
    relay: RunningRelay,
    practice: PracticeHandle,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """publish PUTs the profile and prints a summary; a 422 prints `path: message` lines."""
    day = (datetime.now(BERLIN) + timedelta(days=2)).date()
    start = datetime(day.year, day.month, day.day, 9, 0, tzinfo=BERLIN)
    profile = {
        "name": "Praxis Dr. Beispiel",
        "time_zone": "Europe/Berlin",
        "doctors": ["Dr. A. Beispiel"],
        "appointment_types": [{"name": "Erstgespräch", "minutes": 20}],
        "slots": [
            {
                "start": start.isoformat(),
                "end": (start + timedelta(minutes=20)).isoformat(),
                "doctor": "Dr. A. Beispiel",
                "appointment_type": "Erstgespräch",
            }
        ],
        "accept_wishes": True,
    }
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(profile), encoding="utf-8")
    profile["slots"][0]["end"] = (start - timedelta(minutes=20)).isoformat()
    bad.write_text(json.dumps(profile), encoding="utf-8")
    argv = ["publish", "--relay", relay.url, "--token", practice.token]
    argv += ["--key-file", str(practice.key_file)]

    published = await asyncio.to_thread(main, [*argv, str(good)])
    published_out = capsys.readouterr().out
    rejected = await asyncio.to_thread(main, [*argv, str(bad)])
    rejected_out = capsys.readouterr().out

    assert published == 0
    assert f"  Dr. A. Beispiel: 1 slot, {start:%a} {day.isoformat()} to" in published_out
    assert rejected == 1
    assert re.search(r"^slots\[0\]\.end: \S+", rejected_out, re.MULTILINE)


async def test_a_running_client_follows_a_rotation_made_beside_it(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """rotate-key while `run` is running: the client reloads the key file and carries on."""
    out_dir = tmp_path / "out"
    stop = asyncio.Event()
    task = asyncio.create_task(
        run(config(relay.url, practice, out_dir, wait=1), once=False, stop=stop)
    )
    await wait_until(lambda: relay_key_path(practice.key_file).exists())

    # When the practice rotates its key and a booking sealed to the new key arrives
    assert await rotate_key(relay.url, practice.token, practice.key_file) == 0
    async with aiohttp.ClientSession() as http:
        booking = await confirmed_booking(http, relay, practice.slug, smtp_sink)

    # Then the running client opens and writes it, and is still running
    await wait_until(lambda: any(out_dir.glob("*.json")))
    (written,) = out_dir.glob("*.json")
    assert json.loads(written.read_text(encoding="utf-8"))["email"] == booking["email"]
    await asyncio.sleep(1.5)  # a few more poll cycles, each checking the published key
    assert not task.done()
    stop.set()
    assert await asyncio.wait_for(task, timeout=5) == 0
