"""Figures for the relay: Redis footprint of a pending booking, submit throughput, and the
latency from a confirm to the practice's waiting long poll.

Runs a real redis-server, an aiosmtpd sink and the relay on 127.0.0.1; prints figures.
    .venv/bin/python bench/relay_bench.py [--bookings 500] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web
from aiosmtpd.controller import Controller
from nacl.public import PrivateKey
from redis.asyncio import Redis

from relay import registry
from relay.app import create_app
from relay.appkeys import STORE
from relay.settings import Settings, SmtpSettings

BERLIN = ZoneInfo("Europe/Berlin")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class CountingSink:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.count += 1
        return "250 OK"


def booking(start: datetime, index: int) -> dict[str, object]:
    return {
        "first_name": "Erika",
        "last_name": f"Mustermann{index}",
        "birth_date": "1980-01-02",
        "gender": "female",
        "insurance": "statutory",
        "new_patient": True,
        "note": "Kontrolle nach Behandlung, bitte vormittags.",
        "start": start.isoformat(),
        "email": f"erika{index}@example.org",
        "phone": "+49 30 1234567",
        "consent": True,
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def main(bookings: int, concurrency: int) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="terminrelay-bench-"))
    redis_port, smtp_port, relay_port = free_port(), free_port(), free_port()
    redis_process = subprocess.Popen(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(redis_port),
            "--dir",
            str(data_dir),
            "--appendonly",
            "yes",
            "--save",
            "",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sink = CountingSink()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    await asyncio.sleep(0.3)
    settings = Settings(
        redis_url=redis_url,
        smtp=SmtpSettings("127.0.0.1", smtp_port),
        mail_from="bench@relay.test",
        signing_key=secrets.token_bytes(32),
        data_keys=(secrets.token_bytes(32),),
        public_url=f"http://127.0.0.1:{relay_port}",
        port=relay_port,
        submit_limit=1_000_000,
        mail_poll_interval=0.2,
    )
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", relay_port).start()
    raw = Redis.from_url(redis_url)
    try:
        await run_figures(app, raw, redis_url, settings, sink, bookings, concurrency)
    finally:
        await raw.aclose()
        await runner.cleanup()
        controller.stop()
        redis_process.terminate()
        redis_process.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


async def run_figures(
    app: web.Application,
    raw: Redis,
    redis_url: str,
    settings: Settings,
    sink: CountingSink,
    bookings: int,
    concurrency: int,
) -> None:
    token = await registry.add_practice(
        app[STORE], "bench", name="Praxis Bench", public_key=bytes(PrivateKey.generate().public_key)
    )
    url = settings.public_url
    first = datetime.now(BERLIN).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    # One slot per submitted booking, and 50 more for the latency runs.
    starts = [first + timedelta(minutes=5 * i) for i in range(bookings + 51)]
    profile = {
        "name": "Praxis Bench",
        "time_zone": "Europe/Berlin",
        "doctors": [],
        "appointment_types": [],
        "slots": [
            {"start": s.isoformat(), "end": (s + timedelta(minutes=5)).isoformat()} for s in starts
        ],
        "accept_wishes": True,
    }
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        async with http.put(f"{url}/api/v1/profile", json=profile, headers=auth) as response:
            assert response.status == 200, await response.text()

        # 1. Footprint of one pending booking
        before = {key async for key in raw.scan_iter()}
        async with http.post(
            f"{url}/api/v1/practices/bench/bookings", json=booking(starts[0], 0)
        ) as response:
            assert response.status == 202
        created = sorted({key async for key in raw.scan_iter()} - before)
        print("Redis keys one pending booking creates (besides the shared queue indexes):")
        total = 0
        for key in created:
            kind = (await raw.type(key)).decode()
            usage = await raw.memory_usage(key) or 0
            payload = await _payload_bytes(raw, key, kind)
            ttl = await raw.ttl(key)
            total += usage
            print(
                f"  {key.decode():58} {kind:6} payload {payload:5d} B, "
                f"MEMORY USAGE {usage:5d} B, TTL {ttl} s"
            )
        print(f"  total MEMORY USAGE {total} B")

        # 2. Submit throughput and latency
        used_before = (await raw.info("memory"))["used_memory"]
        latencies: list[float] = []
        queue = list(enumerate(starts[1 : bookings + 1], start=1))

        async def worker() -> None:
            while queue:
                index, start = queue.pop()
                started = time.perf_counter()
                async with http.post(
                    f"{url}/api/v1/practices/bench/bookings", json=booking(start, index)
                ) as response:
                    assert response.status == 202, await response.text()
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        used_after = (await raw.info("memory"))["used_memory"]
        print(
            f"\nSubmits: {bookings} bookings, {concurrency} concurrent clients, "
            f"{elapsed:.2f} s = {bookings / elapsed:.0f} bookings/s"
        )
        print(
            f"  latency p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
            f"p95 {percentile(latencies, 0.95) * 1000:.1f} ms, "
            f"max {max(latencies) * 1000:.1f} ms"
        )
        print(
            f"  Redis used_memory per pending booking: "
            f"{(used_after - used_before) / bookings:.0f} B"
        )
        deadline = time.monotonic() + 60
        while sink.count < bookings + 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        print(f"  confirmation mails sent: {sink.count} of {bookings + 1}")

        # 3. Confirm -> waiting long poll
        tokens = await _confirmation_tokens(app, 50)
        waits: list[float] = []
        for confirmation in tokens:
            poll = asyncio.create_task(
                http.get(f"{url}/api/v1/inbox?wait=30&limit=1", headers=auth)
            )
            await asyncio.sleep(0.02)
            started = time.perf_counter()
            async with http.post(f"{url}/c/{confirmation}", data={"action": "confirm"}) as r:
                assert r.status == 200
            response = await poll
            items = (await response.json())["items"]
            waits.append(time.perf_counter() - started)
            response.release()
            async with http.post(
                f"{url}/api/v1/inbox/ack", json={"ids": [i["id"] for i in items]}, headers=auth
            ):
                pass
        print(
            f"\nConfirm to long-poll answer ({len(waits)} runs, the POST included): "
            f"p50 {statistics.median(waits) * 1000:.1f} ms, "
            f"p95 {percentile(waits, 0.95) * 1000:.1f} ms"
        )


async def _payload_bytes(raw: Redis, key: bytes, kind: str) -> int:
    if kind == "string":
        return int(await raw.strlen(key))
    if kind == "hash":
        values = await raw.hgetall(key)
        return sum(len(k) + len(v) for k, v in values.items())
    if kind == "zset":
        return sum(len(member) + 8 for member, _ in await raw.zrange(key, 0, -1, withscores=True))
    return 0


async def _confirmation_tokens(app: web.Application, count: int) -> list[str]:
    """Submits `count` more bookings through the service to get their tokens directly."""
    from relay.appkeys import SERVICE

    service = app[SERVICE]
    profile = await service.profile("bench")
    tokens = []
    for index, slot in enumerate(profile.free_slots[:count]):
        submitted = await service.submit(
            "bench", booking(slot.start, 10_000 + index), client_network="bench", lang="de"
        )
        tokens.append(submitted.token)
    return tokens


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bookings", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=20)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.bookings, arguments.concurrency))
