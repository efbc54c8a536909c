"""Concurrency sweep: one `relay serve` process under 100, 500, 1,000 and 2,000 clients.

Starts a real redis-server, an aiosmtpd sink and `python -m relay serve` (configured only by
RELAY_* variables, keys generated here), then runs each level for a fixed time. Clients are
mixed: booking submits, confirmation pages (GET /c/..), confirms (POST /c/..) and, from
1,000 clients on, 500 practice long polls (GET /api/v1/inbox?wait=..). A prober process
asks /healthz and /readyz every 100 ms, each on a fresh connection as a health check does.
Per level it prints the answers per status code, p50/p99 latency and the longest /readyz
and /healthz answer.

    .venv/bin/python -m bench.concurrency_sweep [--levels 100,500,1000,2000] [--seconds 8]

Bounded: every level stops after --seconds (long polls wait at most until then), the whole
run after the levels; the relay, Redis and the sink are stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiosmtpd.controller import Controller
from nacl.public import PrivateKey
from nacl.signing import SigningKey
from redis.asyncio import Redis

from bench.launch import AOF, NOEVICTION, Launcher, server_port
from bench.unlimited import UNLIMITED
from relay.booking.service import RelayService
from relay.crypto.sealing import DataCipher
from relay.dev import free_port
from relay.ops.metrics import Metrics
from relay.practice import registry
from relay.settings import Settings, SmtpSettings
from relay.storage.store import Store
from relay.storage.wakeups import Wakeups

BERLIN = ZoneInfo("Europe/Berlin")
SLUG = "sweep"
ROOT = Path(__file__).resolve().parent.parent
LONG_POLLS = 500
TOKENS = 200
PROBE_EVERY = 0.1


class CountingSink:
    """SMTP sink: the relay sends its confirmation mails here."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.count += 1
        return "250 OK"


@dataclass
class Level:
    clients: int
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    latencies: list[float] = field(default_factory=list)
    readyz_max: float = 0.0
    healthz_max: float = 0.0
    probe_failures: float = 0

    def record(self, kind: str, status: str, seconds: float) -> None:
        self.statuses[f"{kind} {status}"] += 1
        if kind != "poll":  # a long poll's latency is its wait, not the relay's speed
            self.latencies.append(seconds)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def booking(index: int) -> dict[str, object]:
    start = datetime.now(BERLIN).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    return {
        "first_name": "Erika",
        "last_name": f"Mustermann{index}",
        "birth_date": "1980-01-02",
        "gender": "female",
        "insurance": "statutory",
        "new_patient": True,
        "note": "Kontrolle nach Behandlung, bitte vormittags.",
        "start": (start + timedelta(minutes=10 * (index % 50))).isoformat(),
        "email": f"erika{index}@example.org",
        "phone": "+49 30 1234567",
        "consent": True,
    }


async def prepare(url: str, redis_url: str, data_key: bytes) -> tuple[str, list[str]]:
    """Registers the practice (wishes only, no slots to run out of) and makes confirmation
    tokens the page and confirm clients share; a token confirmed twice answers 200
    "already confirmed", which is its proper answer. The tokens come from the relay's own
    service code with the relay's data key, so the sweep does not wait for mails."""
    client = Redis.from_url(redis_url)
    store = Store(client)
    try:
        token = await registry.add_practice(
            store, SLUG, name="Praxis Sweep", public_key=bytes(PrivateKey.generate().public_key)
        )
        settings = Settings(
            redis_url=redis_url,
            smtp=SmtpSettings("127.0.0.1", 25),
            mail_from="sweep@relay.test",
            signing_key=secrets.token_bytes(32),
            data_keys=(data_key,),
            public_url=url,
            submit_limit=1_000_000,
            pow="off",  # measures the relay, not its abuse limits
        )
        service = RelayService(
            settings=settings,
            store=store,
            cipher=DataCipher(settings.data_keys),
            signing_key=SigningKey(settings.signing_key),
            metrics=Metrics(),
            wakeups=Wakeups(),
            mail_queued=lambda slug: None,
        )
        tokens = [
            (await service.submit(SLUG, booking(i), client_network="sweep", lang="de")).token
            for i in range(TOKENS)
        ]
    finally:
        await client.aclose()
    return token, tokens


async def run_level(
    url: str, practice_token: str, tokens: list[str], clients: int, seconds: float
) -> Level:
    level = Level(clients)
    long_polls = LONG_POLLS if clients >= 1000 else clients // 10
    others = clients - long_polls
    deadline = time.monotonic() + seconds
    auth = {"Authorization": f"Bearer {practice_token}"}
    origin = {"Origin": url}
    timeout = aiohttp.ClientTimeout(total=seconds + 70)
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    # A new patient (address) per submission across all levels: the relay mails one
    # address at most RELAY_RECIPIENT_LIMIT times an hour.
    counter = iter(range(clients * 1_000_000, (clients + 1) * 1_000_000))

    async def timed(kind: str, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        started = time.monotonic()
        try:
            async with http.request(method, f"{url}{path}", **kwargs) as response:
                body = await response.json() if kind == "poll" and response.ok else None
                await response.read()
                level.record(kind, str(response.status), time.monotonic() - started)
                return response.status, body
        except (aiohttp.ClientError, TimeoutError) as error:
            level.record(kind, type(error).__name__, time.monotonic() - started)
            return 0, None

    async def patient(role: str) -> None:
        while time.monotonic() < deadline:
            token = secrets.choice(tokens)
            if role == "submit":
                await timed(
                    "submit",
                    "POST",
                    f"/api/v1/practices/{SLUG}/bookings",
                    json=booking(next(counter)),
                )
            elif role == "page":
                await timed("page", "GET", f"/c/{token}")
            else:
                await timed(
                    "confirm", "POST", f"/c/{token}", data={"action": "confirm"}, headers=origin
                )

    async def practice() -> None:
        while (left := deadline - time.monotonic()) > 0.5:
            status, body = await timed(
                "poll", "GET", f"/api/v1/inbox?wait={max(1, int(left))}&limit=10", headers=auth
            )
            ids = [item["id"] for item in (body or {}).get("items", [])]
            if ids:
                await timed("ack", "POST", "/api/v1/inbox/ack", json={"ids": ids}, headers=auth)
            elif status != 200:
                await asyncio.sleep(0.2)

    roles = ["submit", "page", "confirm"]
    # The prober is its own process: in this one, thousands of client tasks would delay
    # its reading of the answer, and the figure would measure the bench, not the relay.
    prober = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bench.concurrency_sweep", "--probe", url, str(seconds)),
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        await asyncio.gather(
            *(practice() for _ in range(long_polls)),
            *(patient(roles[i % 3]) for i in range(others)),
        )
    probed = json.loads((await prober.communicate())[0])
    level.readyz_max, level.healthz_max = probed["/readyz"], probed["/healthz"]
    level.probe_failures = probed["failures"]
    return level


async def probe(url: str, seconds: float) -> dict[str, float]:
    """Asks /readyz and /healthz every PROBE_EVERY seconds; the longest answer of each."""
    longest = {"/readyz": 0.0, "/healthz": 0.0, "failures": 0.0}
    deadline = time.monotonic() + seconds
    # A fresh connection for every probe, as the container's health check makes one.
    fresh = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(
        connector=fresh, timeout=aiohttp.ClientTimeout(total=30)
    ) as own:
        while time.monotonic() < deadline:
            for path in ("/readyz", "/healthz"):
                started = time.monotonic()
                try:
                    async with own.get(f"{url}{path}") as response:
                        await response.read()
                        ok = response.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
                longest[path] = max(longest[path], time.monotonic() - started)
                longest["failures"] += not ok
            await asyncio.sleep(PROBE_EVERY)
    return longest


def print_table(levels: list[Level], seconds: float) -> None:
    print(f"\nEach level ran {seconds:.0f} s; latency over all requests except long polls.")
    print("| clients | answers by status | p50 ms | p99 ms | max /readyz ms | max /healthz ms |")
    print("|---|---|---|---|---|---|")
    for level in levels:
        answers = ", ".join(f"{key}: {count}" for key, count in sorted(level.statuses.items()))
        failures = f" ({level.probe_failures:.0f} probes not 200)" if level.probe_failures else ""
        print(
            f"| {level.clients} | {answers} | {percentile(level.latencies, 0.5) * 1000:.0f} "
            f"| {percentile(level.latencies, 0.99) * 1000:.0f} "
            f"| {level.readyz_max * 1000:.0f}{failures} | {level.healthz_max * 1000:.0f} |"
        )


async def sweep(levels: list[int], seconds: float, extra_env: dict[str, str]) -> None:
    sink = CountingSink()
    data_key = secrets.token_bytes(32)
    smtp_port, port = free_port(), server_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    log_path = Path(tempfile.mkdtemp(prefix="terminrelay-sweep-log-")) / "relay.log"
    try:
        with Launcher("terminrelay-sweep-") as launch:
            redis_server = await asyncio.to_thread(launch.redis, *AOF, *NOEVICTION)
            redis_url = redis_server.url()
            env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
            env.update(
                RELAY_REDIS_URL=redis_url,
                RELAY_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
                RELAY_MAIL_FROM="sweep@relay.test",
                RELAY_SIGNING_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
                RELAY_DATA_KEYS=base64.b64encode(data_key).decode(),
                RELAY_PUBLIC_URL=f"http://127.0.0.1:{port}",
                **UNLIMITED,
                **extra_env,
            )
            relay = await asyncio.to_thread(launch.relay, env, port=port, output=log_path)
            practice_token, tokens = await prepare(relay.url, redis_url, data_key)
            results = []
            for clients in levels:
                print(f"level {clients} clients ...", flush=True)
                results.append(await run_level(relay.url, practice_token, tokens, clients, seconds))
                relay.check_running()
            relay.stop()
        print_table(results, seconds)
        errors = log_path.read_text(errors="replace").count('"level": "ERROR"')
        print(f"\nrelay log: {errors} ERROR lines ({log_path})")
    finally:
        controller.stop()


def raise_file_limit(needed: int) -> None:
    """Each client holds a socket here and one in the relay (a child, inheriting the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--probe"]:
        print(json.dumps(asyncio.run(probe(sys.argv[2], float(sys.argv[3])))))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--levels", default="100,500,1000,2000")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument(
        "--env", action="append", default=[], help="extra RELAY_* setting, NAME=value"
    )
    arguments = parser.parse_args()
    chosen = [int(level) for level in arguments.levels.split(",")]
    raise_file_limit(2 * max(chosen) + 1024)
    asyncio.run(
        sweep(chosen, arguments.seconds, dict(item.split("=", 1) for item in arguments.env))
    )
