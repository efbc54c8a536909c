"""Figures for the relay: Redis footprint of a pending booking, submit throughput, and the
latency from a confirm to the practice's waiting long poll.

Runs a real redis-server, an aiosmtpd sink and the relay on 127.0.0.1; prints figures.
    .venv/bin/python -m bench.relay_bench [--bookings 500] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web
from aiosmtpd.controller import Controller
from nacl.public import PrivateKey
from redis.asyncio import Redis

from bench.launch import AOF, Launcher
from relay.app import create_app
from relay.dev import free_port
from relay.practice import registry
from relay.settings import Settings, SmtpSettings
from relay.web.appkeys import SERVICE, STORE

BERLIN = ZoneInfo("Europe/Berlin")
LATENCY_RUNS = 50


class CountingSink:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.count += 1
        return "250 OK"


@dataclass
class Bench:
    app: web.Application
    raw: Redis
    http: aiohttp.ClientSession
    url: str
    auth: dict[str, str]
    sink: CountingSink


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


def main(bookings: int, concurrency: int) -> None:
    with Launcher("terminrelay-bench-") as launch:
        redis_server = launch.redis(*AOF)
        asyncio.run(measure(redis_server.url(), bookings, concurrency))


async def measure(redis_url: str, bookings: int, concurrency: int) -> None:
    smtp_port, relay_port = free_port(), free_port()
    sink = CountingSink()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    settings = Settings(
        redis_url=redis_url,
        smtp=SmtpSettings("127.0.0.1", smtp_port),
        mail_from="bench@relay.test",
        signing_key=secrets.token_bytes(32),
        data_keys=(secrets.token_bytes(32),),
        public_url=f"http://127.0.0.1:{relay_port}",
        port=relay_port,
        submit_limit=1_000_000,
        pow="off",  # measures the relay, not its abuse limits
        mail_poll_interval=0.2,
    )
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", relay_port).start()
    raw = Redis.from_url(redis_url)
    try:
        async with aiohttp.ClientSession() as http:
            bench = await prepare(
                app, raw=raw, http=http, url=settings.public_url, sink=sink, bookings=bookings
            )
            await footprint(bench)
            await throughput(bench, bookings, concurrency)
            await confirm_latency(bench)
    finally:
        await raw.aclose()
        await runner.cleanup()
        controller.stop()


async def prepare(
    app: web.Application,
    *,
    raw: Redis,
    http: aiohttp.ClientSession,
    url: str,
    sink: CountingSink,
    bookings: int,
) -> Bench:
    """A practice with one slot per booking the bench submits (the footprint booking, the
    throughput run and the latency runs)."""
    token = await registry.add_practice(
        app[STORE], "bench", name="Praxis Bench", public_key=bytes(PrivateKey.generate().public_key)
    )
    first = datetime.now(BERLIN).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    starts = [first + timedelta(minutes=5 * i) for i in range(bookings + 1 + LATENCY_RUNS)]
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
    async with http.put(f"{url}/api/v1/profile", json=profile, headers=auth) as response:
        assert response.status == 200, await response.text()
    return Bench(app, raw, http, url, auth, sink)


async def free_starts(bench: Bench) -> list[datetime]:
    return [slot.start for slot in (await bench.app[SERVICE].profile("bench")).free_slots]


async def footprint(bench: Bench) -> None:
    """The keys one pending booking creates, with sizes and TTLs."""
    raw = bench.raw
    before = {key async for key in raw.scan_iter()}
    start = (await free_starts(bench))[0]
    async with bench.http.post(
        f"{bench.url}/api/v1/practices/bench/bookings", json=booking(start, 0)
    ) as response:
        assert response.status == 202
    created = sorted({key async for key in raw.scan_iter()} - before)
    print("Redis keys one pending booking creates:")
    total = 0
    for key in created:
        kind = (await raw.type(key)).decode()
        if kind == "none":  # the mail queue empties as soon as the mail is sent
            continue
        usage = await raw.memory_usage(key) or 0
        total += usage
        print(
            f"  {key.decode()[:60]:60} {kind:6} payload {await payload_bytes(raw, key, kind):5d} B,"
            f" MEMORY USAGE {usage:5d} B, TTL {await raw.ttl(key)} s"
        )
    print(f"  total MEMORY USAGE {total} B")


async def throughput(bench: Bench, bookings: int, concurrency: int) -> None:
    """Submissions per second over HTTP, latency percentiles, Redis memory per booking."""
    used_before = (await bench.raw.info("memory"))["used_memory"]
    queue = list(enumerate((await free_starts(bench))[:bookings], start=1))
    latencies: list[float] = []

    async def client() -> None:
        while queue:
            index, start = queue.pop()
            started = time.perf_counter()
            async with bench.http.post(
                f"{bench.url}/api/v1/practices/bench/bookings", json=booking(start, index)
            ) as response:
                assert response.status == 202, await response.text()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    used_after = (await bench.raw.info("memory"))["used_memory"]
    print(
        f"\nSubmits: {bookings} bookings, {concurrency} concurrent clients, "
        f"{elapsed:.2f} s = {bookings / elapsed:.0f} bookings/s"
    )
    print(
        f"  latency p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
        f"p95 {percentile(latencies, 0.95) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )
    print(f"  Redis used_memory per pending booking: {(used_after - used_before) / bookings:.0f} B")
    deadline = time.monotonic() + 60
    while bench.sink.count < bookings + 1 and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    print(f"  confirmation mails sent: {bench.sink.count} of {bookings + 1}")


async def confirm_latency(bench: Bench) -> None:
    """Time from a patient's confirm POST to the answer of the practice's waiting poll."""
    service = bench.app[SERVICE]
    tokens = [
        (
            await service.submit(
                "bench", booking(start, 10_000 + i), client_network="bench", lang="de"
            )
        ).token
        for i, start in enumerate((await free_starts(bench))[:LATENCY_RUNS])
    ]
    waits: list[float] = []
    for token in tokens:
        poll = asyncio.create_task(
            bench.http.get(f"{bench.url}/api/v1/inbox?wait=30&limit=1", headers=bench.auth)
        )
        await asyncio.sleep(0.02)
        started = time.perf_counter()
        async with bench.http.post(f"{bench.url}/c/{token}", data={"action": "confirm"}) as page:
            assert page.status == 200
        response = await poll
        items = (await response.json())["items"]
        waits.append(time.perf_counter() - started)
        response.release()
        ids = {"ids": [item["id"] for item in items]}
        async with bench.http.post(
            f"{bench.url}/api/v1/inbox/ack", json=ids, headers=bench.auth
        ) as ack:
            assert ack.status == 200
    print(
        f"\nConfirm to long-poll answer ({len(waits)} runs, the confirm POST included): "
        f"p50 {statistics.median(waits) * 1000:.1f} ms, p95 {percentile(waits, 0.95) * 1000:.1f} ms"
    )


async def payload_bytes(raw: Redis, key: bytes, kind: str) -> int:
    if kind == "string":
        return int(await raw.strlen(key))
    if kind == "hash":
        return sum(len(k) + len(v) for k, v in (await raw.hgetall(key)).items())
    if kind == "zset":
        return sum(len(member) + 8 for member, _ in await raw.zrange(key, 0, -1, withscores=True))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bookings", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=20)
    arguments = parser.parse_args()
    main(arguments.bookings, arguments.concurrency)
