"""Backpressure: past its Redis pool, the relay makes requests wait in line, never fail.

The relay runs with a deliberately small pool so that 1,000 concurrent clients must queue;
every one of them gets its proper answer, and health and readiness keep answering.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections import Counter
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from tests.conftest import PracticeHandle, RelayFactory, RunningRelay
from tests.helpers import wish_booking_json

POOL = 10
SUBMITS, PAGES, CONFIRMS, LONG_POLLS = 250, 125, 125, 500
CLIENTS = SUBMITS + PAGES + CONFIRMS + LONG_POLLS


@pytest.fixture
def enough_file_descriptors() -> None:
    """Client and relay share this process: two sockets per client, plus some spare."""
    needed = 2 * CLIENTS + 512
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.fail(f"RLIMIT_NOFILE hard limit {hard} is below the {needed} this test needs")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


async def pending_tokens(relay: RunningRelay, slug: str, count: int) -> list[tuple[str, str]]:
    """(booking id, token) of `count` bookings waiting for confirmation."""
    made = []
    for _ in range(count):
        submitted = await relay.service.submit(
            slug, wish_booking_json(), client_network="setup", lang="de"
        )
        made.append((submitted.booking_id, submitted.token))
    return made


async def peak_clients(redis_url: str, done: asyncio.Event) -> int:
    """The most clients Redis saw connected while the burst ran (sampled)."""
    sampler = Redis.from_url(redis_url)
    peak = 0
    try:
        while not done.is_set():
            peak = max(peak, int((await sampler.info("clients"))["connected_clients"]))
            await asyncio.sleep(0.05)
    finally:
        await sampler.aclose()
    return peak


@pytest.mark.slow  # scale, not an interpreter feature: on the main Python only
@pytest.mark.usefixtures("enough_file_descriptors")
async def test_thousand_concurrent_clients_queue_for_a_small_pool(
    relay_factory: RelayFactory, redis_url: str
) -> None:
    """1,000 concurrent mixed clients against a 10-connection pool: every request gets its
    proper answer (no 5xx), Redis never sees more connections than the pool allows, and
    /healthz and /readyz answer 200 throughout."""
    # Given a relay whose request pool holds 10 Redis connections, and a minute of patience
    relay = await relay_factory(
        redis_max_connections=POOL, redis_pool_timeout=60, submit_limit=100_000
    )
    practice: PracticeHandle = await relay.add_practice()
    to_view = await pending_tokens(relay, practice.slug, PAGES)
    to_confirm = await pending_tokens(relay, practice.slug, CONFIRMS)
    same_origin = {"Origin": relay.url, "Sec-Fetch-Site": "same-origin"}
    answers: Counter[str] = Counter()
    delivered: list[str] = []
    probes: Counter[str] = Counter()
    done = asyncio.Event()

    async def call(kind: str, method: str, path: str, **kwargs: Any) -> Any:
        async with http.request(method, relay.url + path, **kwargs) as response:
            answers[f"{kind} {response.status}"] += 1
            if kind == "poll" and response.status == 200:
                return await response.json()
            return await response.read()

    async def long_poll() -> None:
        body = await call("poll", "GET", "/api/v1/inbox?wait=5&limit=100", headers=practice.auth)
        if isinstance(body, dict):
            delivered.extend(item["id"] for item in body["items"])

    async def probe() -> None:
        async with aiohttp.ClientSession() as own:
            while not done.is_set():
                for path in ("/healthz", "/readyz"):
                    async with own.get(relay.url + path) as response:
                        probes[f"{path} {response.status}"] += 1
                await asyncio.sleep(0.1)

    # When all of them arrive at once
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=100)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        sampler = asyncio.create_task(peak_clients(redis_url, done))
        prober = asyncio.create_task(probe())
        await asyncio.gather(
            *(long_poll() for _ in range(LONG_POLLS)),
            *(
                call(
                    "submit",
                    "POST",
                    f"/api/v1/practices/{practice.slug}/bookings",
                    json=wish_booking_json(),
                )
                for _ in range(SUBMITS)
            ),
            *(call("page", "GET", f"/c/{token}") for _, token in to_view),
            *(
                call(
                    "confirm",
                    "POST",
                    f"/c/{token}",
                    data={"action": "confirm"},
                    headers=same_origin,
                )
                for _, token in to_confirm
            ),
        )
        done.set()
        peak = await sampler
        await prober

    # Then each got its proper answer
    assert answers == {
        "submit 202": SUBMITS,
        "page 200": PAGES,
        "confirm 200": CONFIRMS,
        "poll 200": LONG_POLLS,
    }
    # and the pool held: the relay's 10 plus readiness (2), wake-ups (1) and the sampler (1)
    assert peak <= POOL + 4, f"Redis saw {peak} clients"
    assert probes["/healthz 200"] > 0
    assert probes["/readyz 200"] > 0
    assert set(probes) == {"/healthz 200", "/readyz 200"}, probes
    # and each confirmed booking is in the inbox, handed to at most one long poll
    assert len(delivered) == len(set(delivered))
    everything = await relay.store.fetch_inbox(
        practice.slug, now_ms=2**50, visibility_ms=0, limit=CONFIRMS + 1
    )
    inbox = {item.booking_id for item in everything.items}
    assert inbox == {booking_id for booking_id, _ in to_confirm}
    assert set(delivered) <= inbox


async def test_pool_wait_running_out_is_a_clean_503(
    relay_factory: RelayFactory, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """When no connection frees up within RELAY_REDIS_POOL_TIMEOUT, the request gets 503
    with Retry-After, in JSON for the API and as a page for browsers, and no traceback."""
    # Given a relay with 2 connections and 1 s of patience, and a practice
    relay = await relay_factory(redis_max_connections=2, redis_pool_timeout=1)
    practice = await relay.add_practice()
    ((_, token),) = await pending_tokens(relay, practice.slug, 1)
    pauser = Redis.from_url(redis_url)
    statuses: Counter[int] = Counter()
    caplog.set_level(logging.WARNING)
    try:
        # When Redis stops answering for 3 s, so both connections stay busy
        await pauser.execute_command("CLIENT", "PAUSE", "3000", "ALL")
        async with aiohttp.ClientSession() as http:

            async def page() -> None:
                async with http.get(f"{relay.url}/c/{token}") as response:
                    statuses[response.status] += 1
                    if response.status == 503:
                        assert response.headers["Retry-After"] == "5"
                        assert "text/html" in response.headers["Content-Type"]

            async def profile() -> None:
                async with http.get(f"{relay.url}/api/v1/practices/{practice.slug}") as response:
                    statuses[response.status] += 1
                    if response.status == 503:
                        assert response.headers["Retry-After"] == "5"
                        assert await response.json() == {"error": "temporarily unavailable"}

            await asyncio.gather(*(page() for _ in range(4)), *(profile() for _ in range(4)))
    finally:
        await pauser.aclose()

    # Then the ones that found no connection in time got 503, the rest their answer
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[503] >= 1, statuses
    answered = [record for record in caplog.records if record.name == "relay.http"]
    assert not [record for record in answered if record.exc_info], "a traceback was logged"
    assert any(record.getMessage() == "redis unavailable" for record in answered)
