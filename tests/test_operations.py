"""`relay serve` as operators run it: health, metrics, JSON logs, graceful SIGTERM."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from nacl.public import PrivateKey
from redis.asyncio import Redis

from relay.practice import registry
from relay.storage.store import Store
from tests.conftest import RelayFactory, SmtpSink, free_port, subprocess_env
from tests.helpers import submit, wait_until_async, wish_booking_json


@dataclass
class ServedRelay:
    process: subprocess.Popen[str]
    url: str
    metrics_url: str
    metrics_token: str
    practice_token: str


@pytest.fixture
async def served_relay(redis_url: str, smtp_sink: SmtpSink) -> AsyncIterator[ServedRelay]:
    """`python -m relay serve` in its own process, configured only by RELAY_* variables."""
    port, metrics_port = free_port(), free_port()
    metrics_token = secrets.token_urlsafe(16)
    client = Redis.from_url(redis_url)
    practice_token = await registry.add_practice(
        Store(client),
        "praxis-ops",
        name="Praxis Ops",
        public_key=bytes(PrivateKey.generate().public_key),
    )
    await client.aclose()
    env = subprocess_env(
        RELAY_REDIS_URL=redis_url,
        RELAY_SMTP_URL=f"smtp://127.0.0.1:{smtp_sink.port}",
        RELAY_MAIL_FROM="termine@relay.test",
        RELAY_SIGNING_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
        RELAY_DATA_KEYS=base64.b64encode(secrets.token_bytes(32)).decode(),
        RELAY_PORT=str(port),
        RELAY_METRICS_PORT=str(metrics_port),
        RELAY_METRICS_TOKEN=metrics_token,
        RELAY_LOG_LEVEL="INFO",
    )
    process = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "relay", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:

        async def ready() -> bool:
            if process.poll() is not None:
                pytest.fail(f"relay serve exited {process.returncode}: {process.communicate()[1]}")
            async with http.get(f"{url}/readyz") as answer:
                return answer.status == 200

        try:
            await wait_until_async(ready, f"relay serve on {url} to answer /readyz with 200")
        except AssertionError:
            process.kill()
            raise
    yield ServedRelay(
        process, url, f"http://127.0.0.1:{metrics_port}", metrics_token, practice_token
    )
    if process.poll() is None:
        process.kill()
        process.communicate()


async def test_sigterm_answers_long_polls_and_exits_promptly(served_relay: ServedRelay) -> None:
    """On SIGTERM an open long poll gets an empty list at once and the process exits 0."""
    async with aiohttp.ClientSession() as http:
        poll = asyncio.create_task(
            http.get(
                f"{served_relay.url}/api/v1/inbox?wait=30",
                headers={"Authorization": f"Bearer {served_relay.practice_token}"},
            )
        )

        async def poll_open() -> bool:
            async with http.get(
                f"{served_relay.metrics_url}/metrics",
                headers={"Authorization": f"Bearer {served_relay.metrics_token}"},
            ) as metrics:
                return b"terminrelay_inbox_long_polls_open 1.0" in await metrics.read()

        await wait_until_async(poll_open, "the long poll to be held open (its metrics gauge)")
        started = time.monotonic()
        served_relay.process.send_signal(signal.SIGTERM)
        response = await asyncio.wait_for(poll, 5)
        assert response.status == 200
        assert await response.json() == {"items": [], "in_flight": 0}
        response.release()
    stdout, _ = await asyncio.to_thread(served_relay.process.communicate, timeout=10)
    assert served_relay.process.returncode == 0
    assert time.monotonic() - started < 10
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    events = [line["event"] for line in lines]
    assert events[0] == "listening"
    assert events[-1] == "stopped"
    inbox = [line for line in lines if line.get("route") == "/api/v1/inbox"]
    assert inbox
    assert inbox[0]["status"] == 200
    assert inbox[0]["client"] == "127.0.0.0/24"
    assert {"ts", "level", "event", "request_id", "method", "duration_ms"} <= set(inbox[0])
    assert served_relay.practice_token not in stdout


async def test_health_readiness_and_guarded_metrics_port(served_relay: ServedRelay) -> None:
    """healthz and readyz answer on the main port; metrics only on its port, with the token."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{served_relay.url}/healthz") as health:
            assert (health.status, await health.json()) == (200, {"status": "ok"})
        async with http.get(f"{served_relay.url}/readyz") as ready:
            assert ready.status == 200
        async with http.get(f"{served_relay.url}/metrics") as public_metrics:
            assert public_metrics.status == 404
        async with http.get(f"{served_relay.metrics_url}/metrics") as unauthorized:
            assert unauthorized.status == 401
        async with http.get(
            f"{served_relay.metrics_url}/metrics",
            headers={"Authorization": f"Bearer {served_relay.metrics_token}"},
        ) as metrics:
            assert metrics.status == 200
            text = await metrics.text()
    assert "terminrelay_bookings_total" in text
    assert 'route="/readyz"' in text


@pytest.mark.slow  # waits out Redis timeouts: on the main Python only
async def test_readyz_reports_unreachable_redis(relay_factory: RelayFactory) -> None:
    """With Redis unreachable, /readyz answers 503 quickly while /healthz stays 200."""
    relay = await relay_factory(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with aiohttp.ClientSession() as http:
        started = time.monotonic()
        async with http.get(f"{relay.url}/readyz") as ready:
            assert ready.status == 503
        assert time.monotonic() - started < 3
        async with http.get(f"{relay.url}/healthz") as health:
            assert health.status == 200
        async with http.get(f"{relay.url}/api/v1/practices/any") as api:
            assert api.status == 503
            assert api.headers["Retry-After"] == "5"


async def test_sigterm_finishes_the_mail_in_hand(
    served_relay: ServedRelay, smtp_sink: SmtpSink
) -> None:
    """A confirmation mail being sent when SIGTERM arrives is still delivered before exit."""
    smtp_sink.delay = 2.0
    booking = wish_booking_json()
    async with aiohttp.ClientSession() as http:
        response = await submit(http, served_relay.url, "praxis-ops", booking)
        assert response.status == 202

    async def mail_in_hand() -> bool:  # the SMTP server is slow: it takes 2 s per mail
        return smtp_sink.receiving > 0

    await wait_until_async(mail_in_hand, "the mail worker to be sending the mail")
    started = time.monotonic()
    served_relay.process.send_signal(signal.SIGTERM)
    await asyncio.to_thread(served_relay.process.communicate, timeout=10)
    assert served_relay.process.returncode == 0
    assert time.monotonic() - started < 10
    (message,) = await smtp_sink.wait_for(1, seconds=1)
    assert message["To"] == booking["email"]
