"""How fast `practice-client run --once` drains an inbox of confirmed bookings.

    .venv/bin/python -m bench.drain_bench [--items 1000] [--repetitions 3]
                                          [--baseline HEAD] [--format json,ics]

Starts a real redis-server and the relay (in this process, on 127.0.0.1), registers a
practice with a key file, and before each run fills its inbox with `--items` confirmed
bookings through the relay's service layer (validated, signed, padded and sealed as a
submission is, then confirmed). Then it times `python -m practice_client run --once` as a
subprocess writing into a fresh temp folder on the repository's file system, so the
fsyncs are the real ones, and checks that every booking arrived and the inbox is empty.

Two clients run in the same session, interleaved, `--repetitions` times each: the
working tree's, and the one at `--baseline` (a git revision; `git show` copies its
`practice_client/` into a temp folder put first on PYTHONPATH). A figure covers the whole
command, start-up included; the time of `run --once` on an empty inbox is printed beside
it, so the drain alone is the difference. `--client NAME=DIR` adds a variant to try (a
folder holding a changed copy of `practice_client/`), `--py-spy DIR` profiles each drain.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web

from bench.launch import AOF, NOEVICTION, Launcher
from bench.profiles import profile_summary
from practice_client.relay.keys import KeyPair, create_key_file
from relay.app import create_app
from relay.dev import free_port
from relay.practice import registry
from relay.settings import Settings, SmtpSettings
from relay.web.appkeys import SERVICE, STORE
from relay.web.server import RelayRunner

ROOT = Path(__file__).resolve().parent.parent
BERLIN = ZoneInfo("Europe/Berlin")
SLUG = "bench-drain"
# Submissions and confirmations in flight while the inbox is filled.
FILL_CONCURRENCY = 16
RUN_TIMEOUT = 600.0


@dataclass(frozen=True)
class Client:
    """A practice client to time: the folder that holds its `practice_client` package."""

    name: str
    package_root: Path


@dataclass(frozen=True)
class Timing:
    seconds: float  # wall clock of the whole command
    cpu: float  # its user + system CPU seconds: less disturbed by other load on the machine
    items: int

    @property
    def rate(self) -> float:
        return self.items / self.seconds


def booking(index: int) -> dict[str, object]:
    """A wish (the default profile takes wishes), unique per index like a real patient."""
    day = (datetime.now(BERLIN) + timedelta(days=3 + index % 20)).date()
    start = datetime(day.year, day.month, day.day, 8, 0, tzinfo=BERLIN) + timedelta(
        minutes=10 * (index % 60)
    )
    return {
        "first_name": "Erika",
        "last_name": f"Mustermann-{index}",
        "birth_date": "1980-02-29",
        "gender": "female",
        "insurance": "statutory",
        "new_patient": True,
        "note": f"Kontrolle nach Behandlung, bitte vormittags; Rückenschmerzen ({index}).",
        "start": start.isoformat(),
        "email": f"patient{index}.{secrets.token_hex(3)}@example.org",
        "phone": "+49 30 1234567",
        "consent": True,
    }


async def fill_inbox(app: web.Application, count: int) -> None:
    """`count` confirmed bookings in the practice's inbox, sealed as a submission is."""
    service = app[SERVICE]
    numbers = iter(range(count))

    async def worker() -> None:
        for index in numbers:
            submitted = await service.submit(
                SLUG, booking(index), client_network=f"bench-{index}", lang="de"
            )
            assert await service.confirm(submitted.token) == "confirmed"

    await asyncio.gather(*(worker() for _ in range(FILL_CONCURRENCY)))
    stats = (await app[STORE].stats([SLUG]))[SLUG]
    assert stats.inbox == count, f"the inbox holds {stats.inbox} items, not {count}"


def run_client(
    client: Client,
    *,
    relay_url: str,
    token: str,
    key_file: Path,
    out: Path,
    formats: str,
    profile: Path | None = None,
) -> tuple[float, float]:
    """Wall-clock and CPU seconds of `run --once`; fails with the client's stderr if it
    does not exit 0. One child at a time runs, so the children's CPU time is its own.

    With `profile`, py-spy samples the run (idle time included, so waiting on fsync or the
    network shows too) and writes its collapsed stacks there.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELAY_", "PRACTICE_"))}
    env["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(client.package_root), env.get("PYTHONPATH", "")) if part
    )
    env["PRACTICE_TOKEN"] = token
    env["NO_PROXY"] = "127.0.0.1"
    command = [
        *(sys.executable, "-m", "practice_client", "run", "--once", "--relay", relay_url),
        *("--key-file", str(key_file), "--out", str(out), "--format", formats),
    ]
    if profile is not None:
        spy = [str(Path(sys.executable).with_name("py-spy")), "record", "--idle", "--rate", "250"]
        command = [*spy, "--format", "raw", "--output", str(profile), "--", *command]
    cpu_before = _children_cpu()
    started = time.perf_counter()
    finished = subprocess.run(
        command,
        cwd=client.package_root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    elapsed = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    if finished.returncode != 0:
        raise SystemExit(
            f"{client.name}: run --once exited {finished.returncode}:\n"
            + finished.stderr.decode(errors="replace")[-3000:]
        )
    return elapsed, cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def baseline_client(revision: str, scratch: Path) -> Iterator[Client]:
    """The `practice_client` package as it was at `revision`, in a folder of its own."""
    root = scratch / "baseline"
    package = root / "practice_client"
    package.mkdir(parents=True)
    listing = subprocess.run(
        ["git", "ls-tree", "--name-only", revision, "practice_client/"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        text=True,
    ).stdout.split()
    for path in listing:
        if path.endswith(".py"):
            content = subprocess.run(
                ["git", "show", f"{revision}:{path}"],
                cwd=ROOT,
                capture_output=True,
                check=True,
            ).stdout
            (root / path).write_bytes(content)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", revision],
        cwd=ROOT,
        capture_output=True,
        check=True,
        text=True,
    ).stdout.strip()
    yield Client(f"baseline {commit}", root)


def check_package_root(client: Client) -> None:
    """Make sure the subprocess imports the client from where we think it does."""
    env = {**os.environ, "PYTHONPATH": str(client.package_root)}
    found = subprocess.run(
        [sys.executable, "-c", "import practice_client; print(practice_client.__file__)"],
        cwd=client.package_root,
        env=env,
        capture_output=True,
        check=True,
        text=True,
    ).stdout.strip()
    expected = client.package_root / "practice_client" / "__init__.py"
    assert Path(found).resolve() == expected.resolve(), f"{client.name} imports {found}"


def scratch_folder() -> Path:
    """A temp folder on the repository's file system (fsync costs are per file system)."""
    folder = Path(tempfile.mkdtemp(prefix="terminrelay-drain-"))
    if folder.stat().st_dev != ROOT.stat().st_dev:
        folder.rmdir()
        folder = Path(tempfile.mkdtemp(prefix=".drain-bench-", dir=ROOT))
    return folder


async def measure(arguments: argparse.Namespace, scratch: Path, redis_url: str) -> None:
    port = free_port()
    settings = replace(
        Settings(
            redis_url=redis_url,
            smtp=SmtpSettings("127.0.0.1", free_port()),
            mail_from="bench@relay.test",
            signing_key=secrets.token_bytes(32),
            data_keys=(secrets.token_bytes(32),),
            public_url=f"http://127.0.0.1:{port}",
            port=port,
        ),
        mail_worker="off",  # mails only queue: this measures the practice's side
        pow="off",
        submit_limit=10_000_000,
        submit_hard_limit=10_000_000,
        flood_relay=10_000_000,
        flood_practice=10_000_000,
        log_level="WARNING",
    )
    app = create_app(settings)
    runner = RelayRunner(app, access_log=None, shutdown_timeout=1)
    try:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        key_file = scratch / "practice.key"
        public_key = bytes(create_key_file(key_file, KeyPair.generate()).current.public_key)
        token = await registry.add_practice(
            app[STORE], SLUG, name="Praxis Bench", public_key=public_key
        )
        with baseline_client(arguments.baseline, scratch) as baseline:
            clients = [baseline, Client("working tree", ROOT)]
            clients += [Client(name, Path(root)) for name, root in arguments.client]
            for client in clients:
                check_package_root(client)
            await _interleave(
                arguments,
                app,
                relay_url=settings.public_url,
                token=token,
                key_file=key_file,
                clients=clients,
            )
    finally:
        await runner.cleanup()


async def _interleave(
    arguments: argparse.Namespace,
    app: web.Application,
    *,
    relay_url: str,
    token: str,
    key_file: Path,
    clients: list[Client],
) -> None:
    timings: dict[str, list[Timing]] = {client.name: [] for client in clients}
    empty: dict[str, list[float]] = {client.name: [] for client in clients}
    loop = asyncio.get_running_loop()
    for repetition in range(1, arguments.repetitions + 1):
        for client in clients:
            await fill_inbox(app, arguments.items)
            out = Path(tempfile.mkdtemp(prefix="out-", dir=key_file.parent))

            profile = (
                arguments.py_spy / f"{client.name.replace(' ', '-')}-{repetition}.txt"
                if arguments.py_spy
                else None
            )

            def timed(
                client: Client = client, out: Path = out, profile: Path | None = None
            ) -> tuple[float, float]:
                return run_client(
                    client,
                    relay_url=relay_url,
                    token=token,
                    key_file=key_file,
                    out=out,
                    formats=arguments.format,
                    profile=profile,
                )

            # In a thread: the relay runs on this event loop and must answer meanwhile.
            seconds, cpu = await loop.run_in_executor(
                None, functools.partial(timed, profile=profile)
            )
            written = sum(1 for name in os.listdir(out) if name.endswith(".json"))
            assert written == arguments.items, f"{client.name} wrote {written} bookings"
            left = (await app[STORE].stats([SLUG]))[SLUG].inbox
            assert left == 0, f"{client.name} left {left} items in the inbox"
            # The same command on the now empty inbox: start-up, checks, one poll.
            idle, _ = await loop.run_in_executor(None, timed)
            shutil.rmtree(out)
            timing = Timing(seconds, cpu, written)
            timings[client.name].append(timing)
            empty[client.name].append(idle)
            print(
                f"  repetition {repetition}, {client.name:>18}: {timing.seconds:6.3f} s, "
                f"{timing.rate:6.0f} items/s, CPU {cpu:5.2f} s (empty inbox {idle:.3f} s)",
                flush=True,
            )
    if arguments.py_spy:
        print("\nWhere the time goes (py-spy):")
        for profile in sorted(arguments.py_spy.glob("*.txt")):
            print(profile_summary(profile))
    print(
        f"\n{arguments.items} items, formats {arguments.format}, medians of "
        f"{arguments.repetitions} (load average now {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores):"
    )
    print(
        f"  {'client':>18} {'whole run':>10} {'items/s':>8} {'vs first':>8} {'CPU':>7} "
        f"{'empty run':>10} {'drain items/s':>14}"
    )
    first = statistics.median(run.seconds for run in timings[clients[0].name])
    for name, runs in timings.items():
        seconds = statistics.median(run.seconds for run in runs)
        cpu = statistics.median(run.cpu for run in runs)
        idle = statistics.median(empty[name])
        print(
            f"  {name:>18} {seconds:9.3f}s {arguments.items / seconds:8.0f} "
            f"{first / seconds:7.2f}x {cpu:6.2f}s {idle:9.3f}s "
            f"{arguments.items / max(seconds - idle, 1e-9):14.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--baseline", default="HEAD", help="git revision of the client to compare")
    parser.add_argument("--format", default="json,ics", help="the client's --format")
    parser.add_argument(
        "--client",
        action="append",
        default=[],
        type=lambda text: tuple(text.split("=", 1)),
        metavar="NAME=DIR",
        help="also time the practice_client package in DIR (a variant being tried)",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="profile each drain with py-spy (.venv) and keep the collapsed stacks in DIR",
    )
    arguments = parser.parse_args()
    if arguments.py_spy:
        arguments.py_spy.mkdir(parents=True, exist_ok=True)
    scratch = scratch_folder()
    try:
        with Launcher(work=scratch) as launch:
            redis_server = launch.redis(*AOF, *NOEVICTION)
            asyncio.run(measure(arguments, scratch, redis_server.url()))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
