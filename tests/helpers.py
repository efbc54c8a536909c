"""Shared test data (a practice profile with real slots, a valid booking), readiness waits,
and the practice client's view: drain an inbox, check the booking files."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

import aiohttp
import redis

BERLIN = ZoneInfo("Europe/Berlin")
DOCTORS = ["Dr. A. Beispiel", "Dr. B. Muster"]


def slot_times(days_ahead: int = 2, count: int = 3) -> list[tuple[datetime, datetime]]:
    """`count` 20-minute slots from 09:00 Berlin time, `days_ahead` days from now."""
    day = (datetime.now(BERLIN) + timedelta(days=days_ahead)).date()
    first = datetime(day.year, day.month, day.day, 9, 0, tzinfo=BERLIN)
    return [
        (first + timedelta(minutes=20 * i), first + timedelta(minutes=20 * (i + 1)))
        for i in range(count)
    ]


def profile_json(*, accept_wishes: bool = True, count: int = 3) -> dict[str, Any]:
    return {
        "name": "Praxis Dr. Beispiel",
        "time_zone": "Europe/Berlin",
        "doctors": DOCTORS,
        "appointment_types": [
            {"name": "Erstgespräch", "minutes": 20},
            {"name": "Kontrolle", "minutes": 10},
        ],
        "slots": [
            {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "doctor": DOCTORS[0],
                "appointment_type": "Erstgespräch",
            }
            for start, end in slot_times(count=count)
        ],
        "accept_wishes": accept_wishes,
    }


def booking_json(start: datetime | None = None, **changes: Any) -> dict[str, Any]:
    """A valid booking whose values are unique, so a leak of any of them can be searched."""
    marker = secrets.token_hex(4)
    booking: dict[str, Any] = {
        "first_name": f"Zerlina{marker}",
        "last_name": f"Quastenflosser{marker}",
        "birth_date": "1984-03-05",
        "gender": "female",
        "insurance": "statutory",
        "note": f"Rückenschmerzen seit Tagen {marker}",
        "new_patient": True,
        "doctor": DOCTORS[0],
        "appointment_type": "Erstgespräch",
        "start": (start or slot_times()[0][0]).isoformat(),
        "email": f"patient.{marker}@example.org",
        "phone": f"+49 30 555{int(marker, 16) % 10000:04d}",
        "consent": True,
    }
    booking.update(changes)
    return booking


def wish_booking_json(**changes: Any) -> dict[str, Any]:
    """A valid booking for a practice that lists no doctors or types (the default profile)."""
    booking = booking_json(**changes)
    del booking["doctor"], booking["appointment_type"]
    return booking


async def put_profile(
    http: aiohttp.ClientSession, relay_url: str, token: str, profile: dict[str, Any]
) -> None:
    async with http.put(
        f"{relay_url}/api/v1/profile", json=profile, headers={"Authorization": f"Bearer {token}"}
    ) as response:
        assert response.status == 200, await response.text()


async def submit(
    http: aiohttp.ClientSession, relay_url: str, slug: str, booking: dict[str, Any]
) -> aiohttp.ClientResponse:
    async with http.post(f"{relay_url}/api/v1/practices/{slug}/bookings", json=booking) as response:
        await response.read()
        return response


# Readiness deadline for anything a test starts. CI runs the suite on two shared cores next
# to other jobs: a redis-server or a relay can take many seconds to answer there, so the
# deadline is generous. It is only reached when something is really broken.
READY_SECONDS = 60.0


class NotReady(Exception):
    """Raised by a readiness check to say what it saw instead (shown if the wait gives up)."""


# What "not ready yet" looks like: a refused or reset connection, Redis still loading its
# AOF, an HTTP error, or a check's own NotReady. Anything else is a bug and fails at once.
NOT_YET: tuple[type[Exception], ...] = (NotReady, OSError, redis.RedisError, aiohttp.ClientError)

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A readiness wait gave up; the message says what it waited for and what it last saw."""


class Watched(Protocol):
    """A process a wait watches: if it exits, waiting longer is pointless."""

    def check_running(self) -> None: ...


def wait_until(
    check: Callable[[], T],
    what: str,
    *,
    seconds: float = READY_SECONDS,
    interval: float = 0.1,
    watch: Sequence[Watched] = (),
) -> T:
    """Polls `check` until it returns something truthy, which it returns.

    `check` may raise NotReady or a connection error to say "not yet". Gives up with
    WaitTimeout naming `what` and the last result or error after `seconds`, and at once if
    a watched process exits.
    """
    deadline = time.monotonic() + seconds
    last = "no answer yet"
    while True:
        for process in watch:
            process.check_running()
        try:
            result = check()
        except NOT_YET as error:
            last = _describe(error)
        else:
            if result:
                return result
            last = f"{result!r}"
        if time.monotonic() >= deadline:
            raise WaitTimeout(_gave_up(what, seconds, last))
        time.sleep(interval)


async def wait_until_async(
    check: Callable[[], Awaitable[T]],
    what: str,
    *,
    seconds: float = READY_SECONDS,
    interval: float = 0.1,
    watch: Sequence[Watched] = (),
) -> T:
    """wait_until for an async check, without blocking the event loop."""
    deadline = time.monotonic() + seconds
    last = "no answer yet"
    while True:
        for process in watch:
            process.check_running()
        try:
            result = await check()
        except NOT_YET as error:
            last = _describe(error)
        else:
            if result:
                return result
            last = f"{result!r}"
        if time.monotonic() >= deadline:
            raise WaitTimeout(_gave_up(what, seconds, last))
        await asyncio.sleep(interval)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _gave_up(what: str, seconds: float, last: str) -> str:
    return f"gave up after {seconds:g} s waiting for {what}; last seen: {last}"


# What a practice client may leave in its output folder: {id}.json and {id}.ics, no more.
BOOKING_FILE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]*\.(json|ics)")


async def drain_inbox(relay_url: str, token: str, key_file: Path, out_dir: Path) -> str:
    """`practice-client run --once` as a real process, as a practice runs it; its output.

    Fails unless it exits 0 within READY_SECONDS.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELAY_", "PRACTICE_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "practice_client", "run", "--once", "--relay", relay_url),
        *("--key-file", str(key_file), "--out", str(out_dir)),
        env={**env, "PRACTICE_TOKEN": token},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), READY_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise WaitTimeout(
            f"gave up after {READY_SECONDS:.0f} s waiting for practice-client --once to drain "
            f"{relay_url}"
        ) from None
    text = output.decode(errors="replace")
    assert process.returncode == 0, f"practice-client exited {process.returncode}:\n{text}"
    return text


def assert_booking_files(out_dir: Path, confirmed_emails: set[str]) -> None:
    """Exactly the confirmed bookings arrived, each once as {id}.json with its {id}.ics,
    and nothing else is in the folder (no temp file, complete or not)."""
    leftovers = sorted(p.name for p in out_dir.iterdir() if not BOOKING_FILE.fullmatch(p.name))
    assert leftovers == [], f"files other than bookings (temp files?) left: {leftovers}"
    arrived: dict[str, list[str]] = {}
    for json_file in out_dir.glob("*.json"):
        assert json_file.with_suffix(".ics").is_file(), f"{json_file.name} has no .ics"
        email = json.loads(json_file.read_text())["email"]
        arrived.setdefault(email, []).append(json_file.stem)
    orphans = {p.stem for p in out_dir.glob("*.ics")} - {p.stem for p in out_dir.glob("*.json")}
    assert not orphans, f".ics without .json: {sorted(orphans)}"
    duplicates = {email: ids for email, ids in arrived.items() if len(ids) > 1}
    assert duplicates == {}, f"bookings arrived more than once: {duplicates}"
    missing = confirmed_emails - set(arrived)
    assert not missing, f"{len(missing)} bookings confirmed with 200 did not arrive"
    unexpected = set(arrived) - confirmed_emails
    assert not unexpected, f"{len(unexpected)} bookings arrived that nobody confirmed"
