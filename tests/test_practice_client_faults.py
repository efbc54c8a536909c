"""kill -9 of the real practice client mid-drain: every booking arrives exactly once.

Real processes throughout: the relay (over HTTP on loopback), redis-server, the SMTP sink
that carries the confirmation links, and `python -m practice_client run` as a subprocess
that is killed with SIGKILL while it writes and acknowledges, then started again.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from icalendar import Calendar

from practice_client.handover.files import is_temp_name
from tests.conftest import link_in, subprocess_env
from tests.helpers import slot_times, wish_booking_json

if TYPE_CHECKING:
    from tests.conftest import PracticeHandle, RelayFactory, RunningRelay, SmtpSink

pytestmark = [
    pytest.mark.slow,
    # SIGSTOP, SIGKILL, inotify and /proc: the kills land where they must however fast the
    # client writes (see kill_when)
    pytest.mark.skipif(sys.platform != "linux", reason="inotify and /proc are Linux"),
]

REPO = Path(__file__).resolve().parent.parent
BOOKINGS = 200
# The bookings are confirmed in portions, so the inbox never holds more than the client
# may write before the next kill: however fast it drains, every kill lands mid-drain.
# When each kill -9 lands: (confirmed by then; bookings written, .json present, at least;
# whether a temp file must exist). The client makes a batch durable at once (all temp
# files written and fsynced, then renamed, .json last), so these are: while the first
# batch's temp files are written, once that batch is complete (before or after its
# acknowledgement: the inbox has no more), and while a later batch's temp files are
# written. The last portion is confirmed after the kills.
KILL_POINTS = ((100, 0, True), (100, 100, False), (160, 100, True))
# Generous: the suite shares two cores with other jobs.
DEADLINE = 60.0
POLL = 0.005
# inotify(7): a file was created in the watched folder.
IN_CREATE = 0x100


async def submit_all(
    relay: RunningRelay, practice: PracticeHandle, smtp: SmtpSink, count: int
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Submit `count` bookings: the bookings and, by e-mail, their mailed confirmation links."""
    first = slot_times()[0][0]
    bookings = [wish_booking_json(start=first + timedelta(minutes=20 * n)) for n in range(count)]
    limit = asyncio.Semaphore(8)
    async with aiohttp.ClientSession() as http:

        async def submit(booking: dict[str, Any]) -> None:
            url = f"{relay.url}/api/v1/practices/{practice.slug}/bookings"
            async with limit, http.post(url, json=booking) as response:
                assert response.status == 202, await response.text()

        await asyncio.gather(*(submit(booking) for booking in bookings))
    links = {str(m["To"]): link_in(m) for m in await smtp.wait_for(count, seconds=DEADLINE)}
    assert set(links) == {b["email"] for b in bookings}
    return bookings, links


async def confirm_all(bookings: list[dict[str, Any]], links: dict[str, str]) -> list[str]:
    """Confirm each booking through its link; the e-mails of those that answered 200."""
    limit = asyncio.Semaphore(8)
    async with aiohttp.ClientSession() as http:

        async def confirm(booking: dict[str, Any]) -> bool:
            async with limit, http.post(links[booking["email"]], data={"action": "confirm"}) as r:
                await r.read()
                return r.status == 200

        answered = await asyncio.gather(*(confirm(booking) for booking in bookings))
    return [b["email"] for b, ok in zip(bookings, answered, strict=True) if ok]


class Client:
    """One run of `python -m practice_client run`, its stderr kept in a file."""

    def __init__(self, relay: RunningRelay, practice: PracticeHandle, out: Path, log: Path):
        self.relay, self.practice, self.out, self.log = relay, practice, out, log

    async def start(self, *options: str) -> asyncio.subprocess.Process:
        env = subprocess_env(PRACTICE_TOKEN=self.practice.token)
        with self.log.open("ab") as stderr:
            return await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "practice_client", "run", "--relay", self.relay.url),
                *("--key-file", str(self.practice.key_file), "--out", str(self.out), *options),
                cwd=REPO, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip

    def written(self) -> int:
        return sum(1 for name in os.listdir(self.out) if name.endswith(".json"))

    def temps(self) -> list[str]:
        return [name for name in os.listdir(self.out) if is_temp_name(name)]


@contextlib.contextmanager
def creations_in(folder: Path) -> Iterator[int]:
    """An inotify descriptor that turns readable whenever a file is created in `folder`."""
    libc = ctypes.CDLL(None, use_errno=True)
    descriptor = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    if descriptor < 0:
        raise OSError(ctypes.get_errno(), "inotify_init1 failed")
    try:
        if libc.inotify_add_watch(descriptor, os.fsencode(folder), IN_CREATE) < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch failed for {folder}")
        yield descriptor
    finally:
        os.close(descriptor)


async def kill_when(
    process: asyncio.subprocess.Process,
    ready: Callable[[], bool],
    what: str,
    creations: int,
) -> None:
    """SIGKILL `process` once `ready()` holds; fail saying what was awaited if it never does.

    `ready()` is only asked while the process is stopped (SIGSTOP, every thread seen
    stopped), so the state it sees is the state the crash leaves. Besides every POLL, the
    process is stopped the moment it creates a file (`creations`, inotify): a batch's
    temp files exist for a few milliseconds only, and the client may be faster than any
    poll; stopped at its first temp file, it is stopped long before it could have written,
    fsynced and renamed the rest of the batch.
    """
    loop = asyncio.get_running_loop()
    created = asyncio.Event()

    def on_creation() -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(creations, 64 * 1024):
                pass
        if process.returncode is None:
            process.send_signal(signal.SIGSTOP)
        created.set()

    loop.add_reader(creations, on_creation)
    try:
        deadline = time.monotonic() + DEADLINE
        while True:
            assert process.returncode is None, (
                f"the client exited ({process.returncode}) before {what}"
            )
            process.send_signal(signal.SIGSTOP)
            await wait_stopped(process, what, deadline)
            if _ready(ready):
                break
            assert time.monotonic() < deadline, f"gave up after {DEADLINE:.0f} s waiting for {what}"
            created.clear()
            process.send_signal(signal.SIGCONT)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(created.wait(), POLL)
    finally:
        loop.remove_reader(creations)
    process.send_signal(signal.SIGKILL)
    assert await asyncio.wait_for(process.wait(), DEADLINE) == -signal.SIGKILL


async def wait_stopped(process: asyncio.subprocess.Process, what: str, deadline: float) -> None:
    """Until every thread of `process` has stopped: one still in a system call (an fsync,
    a rename) finishes it first, and the folder is only still once they all have."""
    while True:
        states = _thread_states(process.pid)
        assert states, f"the client exited before {what}"
        assert not set(states) & {"Z", "X"}, f"the client exited before {what}"
        if all(state in "tT" for state in states):
            return
        assert time.monotonic() < deadline, f"the client's threads did not stop: {states}"
        await asyncio.sleep(0.001)


def _thread_states(pid: int) -> list[str]:
    """The state letter of each thread of `pid` (T: stopped), none once it is reaped."""
    states = []
    with contextlib.suppress(FileNotFoundError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):  # a thread that just ended
                # "tid (name) state ...": the name may hold spaces and parentheses
                states.append(task.joinpath("stat").read_text().rpartition(")")[2].split()[0])
    return states


def _ready(ready: Callable[[], bool]) -> bool:
    try:
        return ready()
    except FileNotFoundError:
        return False  # the client has not created the output folder yet


async def inbox_size(relay: RunningRelay, slug: str) -> int:
    return int((await relay.store.stats([slug]))[slug].inbox)


async def test_kill_9_mid_drain_delivers_every_confirmed_booking_exactly_once(
    relay_factory: RelayFactory, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """SIGKILL at three points of a 200-booking drain; restarts finish it, no temp file left."""
    # Given 200 submitted bookings; items fetched but not acknowledged come back after one
    # second, so a killed client's batch is redelivered quickly
    relay = await relay_factory(inbox_visibility=1, submit_limit=10_000)
    practice = await relay.add_practice()
    bookings, links = await submit_all(relay, practice, smtp_sink, BOOKINGS)
    confirmed: list[str] = []
    out = tmp_path / "out"
    out.mkdir(mode=0o700)
    client = Client(relay, practice, out, tmp_path / "client.log")
    left_after_kill: list[list[str]] = []

    # When they are confirmed portion by portion and the running client is killed with
    # SIGKILL mid-drain, at several points; two kills wait for a moment plaintext temp
    # files exist, the window that matters
    with creations_in(out) as creations:
        for until, point, in_temp_window in KILL_POINTS:
            confirmed += await confirm_all(bookings[len(confirmed) : until], links)
            assert len(confirmed) == until
            process = await client.start("--wait", "1")

            def ready(point: int = point, in_temp_window: bool = in_temp_window) -> bool:
                written = client.written()
                assert written < BOOKINGS, f"all written before the kill at {point}"
                return written >= point and (not in_temp_window or bool(client.temps()))

            what = f"{point} written" + (" and a temp file present" if in_temp_window else "")
            await kill_when(process, ready, what, creations)
            left_after_kill.append(client.temps())
            if in_temp_window:
                # mid-batch: some confirmed bookings are not written yet
                assert client.written() < len(confirmed)

    # And, the last portion confirmed, started again with --once until the relay's inbox
    # is empty (items the killed client fetched stay invisible for a second, so one --once
    # may end before they return)
    confirmed += await confirm_all(bookings[len(confirmed) :], links)
    assert len(confirmed) == BOOKINGS
    runs = 0
    deadline = time.monotonic() + DEADLINE
    while await inbox_size(relay, practice.slug):
        assert time.monotonic() < deadline, "the inbox did not drain"
        process = await client.start("--once")
        assert await asyncio.wait_for(process.wait(), DEADLINE) == 0, client.log.read_text()
        runs += 1
    assert 1 <= runs <= 10

    # Then every confirmed booking is there exactly once, as .json and .ics, and nothing else
    names = sorted(os.listdir(out))
    ids = {name.removesuffix(".json") for name in names if name.endswith(".json")}
    assert names == sorted([f"{i}.json" for i in ids] + [f"{i}.ics" for i in ids])
    assert len(ids) == BOOKINGS
    by_email = {}
    for booking_id in ids:
        document = json.loads((out / f"{booking_id}.json").read_text(encoding="utf-8"))
        assert document["id"] == booking_id
        assert document["practice"] == practice.slug
        assert document["confirmed_at"].endswith("Z")
        by_email[document["email"]] = document
        (event,) = Calendar.from_ical((out / f"{booking_id}.ics").read_bytes()).walk("VEVENT")
        assert str(event["UID"]) == f"{booking_id}@terminrelay"
    assert set(by_email) == set(confirmed)
    for booking in bookings:
        assert {k: by_email[booking["email"]][k] for k in booking} == booking

    # And the kills in the temp-file window did leave plaintext behind, which a restart removed
    assert left_after_kill[0], "the first kill was meant to land while temp files existed"
    assert left_after_kill[-1], "the last kill was meant to land while a temp file existed"
    stderr = client.log.read_text(encoding="utf-8")
    assert "temporary file(s) an interrupted run left" in stderr
    assert "Traceback" not in stderr
    for booking in bookings:
        assert booking["last_name"] not in stderr
