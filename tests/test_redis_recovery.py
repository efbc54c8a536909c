"""Recovery: a Redis restart costs no request that arrives after it, and none in flight
gets a 5xx.

These tests kill their own redis-server (kill -9, AOF `always`) and start it again on the
same port from its AOF, while a real relay keeps its pooled connections to the old one.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis

from relay.dev import free_port, redis_executable
from tests.conftest import PracticeHandle, RelayFactory, RunningRelay
from tests.helpers import wish_booking_json

READY_DEADLINE = 30.0


class OwnRedis:
    """A redis-server of this test alone, restartable on the same port and directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                redis_executable(),
                *("--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.data_dir)),
                *("--appendonly", "yes", "--appendfsync", "always", "--save", ""),
                *("--maxmemory-policy", "noeviction"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + READY_DEADLINE
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"redis-server on port {self.port} exited with {self.process.returncode}"
                )
            with (
                contextlib.suppress(redis.ConnectionError, redis.BusyLoadingError),
                redis.Redis(port=self.port) as probe,
            ):
                if probe.ping():
                    return
            time.sleep(0.05)
        pytest.fail(
            f"redis-server on port {self.port} did not answer PING within {READY_DEADLINE} s"
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    data_dir = Path(tempfile.mkdtemp(prefix="terminrelay-recovery-"))
    server = OwnRedis(data_dir)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.process.terminate()
        server.process.wait(timeout=10)
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


async def tokens(relay: RunningRelay, slug: str, count: int) -> list[str]:
    made = []
    for _ in range(count):
        submitted = await relay.service.submit(
            slug, wish_booking_json(), client_network="setup", lang="de"
        )
        made.append(submitted.token)
    return made


SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


async def mixed_request(
    http: aiohttp.ClientSession,
    relay: RunningRelay,
    practice: PracticeHandle,
    kind: str,
    token: str,
) -> int:
    """One request of `kind`; its status."""
    requests: dict[str, tuple[str, str, dict[str, Any]]] = {
        "submit": (
            "POST",
            f"/api/v1/practices/{practice.slug}/bookings",
            {"json": wish_booking_json()},
        ),
        "profile": ("GET", f"/api/v1/practices/{practice.slug}", {}),
        "page": ("GET", f"/c/{token}", {}),
        "confirm": (
            "POST",
            f"/c/{token}",
            {"data": {"action": "confirm"}, "headers": {"Origin": relay.url, **SAME_ORIGIN}},
        ),
        "poll": ("GET", "/api/v1/inbox?wait=0", {"headers": practice.auth}),
    }
    method, path, kwargs = requests[kind]
    async with http.request(method, relay.url + path, **kwargs) as response:
        await response.read()
        return response.status


PROPER = {"submit": {202}, "profile": {200}, "page": {200}, "confirm": {200}, "poll": {200}}


async def warm_pool(http: aiohttp.ClientSession, relay: RunningRelay, slug: str) -> None:
    """Twenty requests at once, so the pool holds several connections to the old server."""

    async def one() -> None:
        async with http.get(f"{relay.url}/api/v1/practices/{slug}") as response:
            assert response.status == 200

    await asyncio.gather(*(one() for _ in range(20)))


async def test_first_requests_after_a_restart_succeed(
    own_redis: OwnRedis, relay_factory: RelayFactory, http: aiohttp.ClientSession
) -> None:
    """After kill -9 and a restart from the AOF, the very first requests on the stale
    pooled connections get their proper answers, not 503, and pending bookings survived."""
    # Given a relay with a pool full of connections to a Redis that then dies and returns
    relay = await relay_factory(redis_url=own_redis.url, submit_limit=100_000)
    practice = await relay.add_practice()
    before = await tokens(relay, practice.slug, 10)
    await warm_pool(http, relay, practice.slug)
    own_redis.kill()
    own_redis.start()

    # When the first requests arrive, more of them than the stale connections
    kinds = ["submit", "profile", "page", "confirm", "poll"] * 6
    statuses = await asyncio.gather(
        *(
            mixed_request(http, relay, practice, kind, before[index % len(before)])
            for index, kind in enumerate(kinds)
        )
    )

    # Then each got its proper answer
    wrong = [
        (kind, status)
        for kind, status in zip(kinds, statuses, strict=True)
        if status not in PROPER[kind]
    ]
    assert not wrong, wrong


async def test_requests_in_flight_during_a_restart_get_no_5xx(
    own_redis: OwnRedis, relay_factory: RelayFactory, http: aiohttp.ClientSession
) -> None:
    """Requests arriving while Redis is down wait (retries with backoff) and get their
    proper answers once it is back; none gets a 5xx."""
    # Given a relay under a steady stream of mixed requests
    relay = await relay_factory(redis_url=own_redis.url, submit_limit=100_000)
    practice = await relay.add_practice()
    pending = await tokens(relay, practice.slug, 20)
    await warm_pool(http, relay, practice.slug)
    answers: Counter[tuple[str, int]] = Counter()
    stop = asyncio.Event()
    kinds = ["submit", "profile", "page", "confirm", "poll"]

    async def answer(kind: str, token: str) -> None:
        answers[(kind, await mixed_request(http, relay, practice, kind, token))] += 1

    async def worker(number: int) -> None:
        step = number
        while not stop.is_set():
            await answer(kinds[step % len(kinds)], pending[step % 20])
            step += 1

    workers = [asyncio.create_task(worker(n)) for n in range(8)]
    try:
        # When Redis is killed while requests are coming in, and more arrive while it is down
        own_redis.kill()
        late = [
            asyncio.create_task(answer(kinds[step % 5], pending[step % 20])) for step in range(10)
        ]
        # (the relay has seen the outage once its readiness, which never retries, says so)
        deadline = time.monotonic() + READY_DEADLINE
        while True:
            async with http.get(f"{relay.url}/readyz") as ready:
                if ready.status == 503:
                    break
            assert time.monotonic() < deadline, "/readyz never reported the outage"
            await asyncio.sleep(0.05)
        # and Redis starts again from its AOF while those requests are in flight
        own_redis.start()
        await asyncio.wait_for(asyncio.gather(*late), READY_DEADLINE)
        answered_before = sum(answers.values())
        deadline = time.monotonic() + READY_DEADLINE
        while sum(answers.values()) < answered_before + 40 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.gather(*workers)

    # Then every request, including those in flight during the restart, got its answer
    wrong = {key: count for key, count in answers.items() if key[1] not in PROPER[key[0]]}
    assert not wrong, wrong
    assert sum(answers.values()) >= answered_before + 40, "the relay stopped answering"


async def test_redis_gone_longer_than_the_patience_gets_a_clean_503(
    own_redis: OwnRedis, relay_factory: RelayFactory, http: aiohttp.ClientSession
) -> None:
    """With Redis down beyond RELAY_REDIS_POOL_TIMEOUT, requests get 503 with
    Retry-After (never 500), /readyz says 503, and both recover once Redis is back."""
    # Given a relay with one second of patience, whose Redis is gone
    relay = await relay_factory(redis_url=own_redis.url, redis_pool_timeout=1)
    practice = await relay.add_practice()
    own_redis.kill()

    # When a patient and the health check ask
    async with http.get(f"{relay.url}/api/v1/practices/{practice.slug}") as response:
        down_status, retry_after = response.status, response.headers.get("Retry-After")
        body = await response.json()
    async with http.get(f"{relay.url}/readyz") as ready:
        ready_down = ready.status

    # Then they get a clean "try again later"
    assert (down_status, retry_after, body) == (503, "5", {"error": "temporarily unavailable"})
    assert ready_down == 503

    # And once Redis is back, the same requests succeed at once
    own_redis.start()
    async with http.get(f"{relay.url}/api/v1/practices/{practice.slug}") as response:
        assert response.status == 200
    async with http.get(f"{relay.url}/readyz") as ready:
        assert ready.status == 200
