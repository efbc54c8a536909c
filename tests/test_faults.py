"""Fault injection against real processes: kill -9 of `relay serve` and of redis-server (AOF
`always`) in the middle of a stream of confirms.

Given a practice with many pending bookings, patients confirm them concurrently (as a
browser would post the confirmation page's button); a process is killed with SIGKILL part
way through and started again. Then every booking whose confirm answered 200 arrives
exactly once as {id}.json and {id}.ics through the real practice client, no booking that
was never confirmed arrives, and nothing else (no temp file) is left in the output folder.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis

from practice_client.relay.keys import KeyPair, create_key_file
from relay.practice import registry
from relay.storage.store import Store
from tests.conftest import SmtpSink, link_in, subprocess_env
from tests.helpers import (
    READY_SECONDS,
    assert_booking_files,
    drain_inbox,
    submit,
    wish_booking_json,
)
from tests.servers import (
    RedisProcess,
    RelayProcess,
    crowd_limits,
    launch_redis,
    server_port,
)

pytestmark = pytest.mark.slow

BOOKINGS = 100
UNCONFIRMED = 10  # left pending: they must not arrive
CONFIRMERS = 4  # patients confirming at the same time
KILL_AFTER = 30  # confirms answered 200 before the kill
OUTAGE_PATIENTS = 5  # confirms sent while redis-server is down
MAX_OUTAGE_SECONDS = 5.0


@dataclass
class Practice:
    slug: str
    token: str
    key_file: Path


@dataclass
class Attempt:
    email: str
    started: float
    status: int | None  # None: no HTTP answer at all (connection refused or reset)


@dataclass
class ConfirmStream:
    """Patients confirming their bookings, CONFIRMERS at a time.

    A patient whose confirm fails (an error page or no answer) tries again once the service
    is back; the others keep going. `ok_count` reaching KILL_AFTER sets `kill_now`.
    """

    http: aiohttp.ClientSession
    links: dict[str, str]  # patient e-mail -> confirmation link
    origin: str
    queue: list[str] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    kill_now: asyncio.Event = field(default_factory=asyncio.Event)
    back: asyncio.Event = field(default_factory=asyncio.Event)
    back_at: float = float("inf")
    killed_at: float = float("inf")

    @property
    def ok_count(self) -> int:
        return sum(attempt.status == 200 for attempt in self.attempts)

    def answered(self, emails: list[str]) -> bool:
        return set(emails) <= {attempt.email for attempt in self.attempts}

    def mark_killed(self) -> None:
        self.killed_at = time.monotonic()

    def mark_back(self) -> None:
        self.back_at = time.monotonic()
        self.back.set()

    def take(self, count: int) -> list[str]:
        taken, self.queue[:count] = self.queue[:count], []
        return taken

    async def confirm(self, email: str) -> int | None:
        # The headers a browser sends when the relay's own page posts its button.
        headers = {"Origin": self.origin, "Sec-Fetch-Site": "same-origin"}
        started = time.monotonic()
        try:
            async with self.http.post(
                self.links[email], data={"action": "confirm"}, headers=headers
            ) as answer:
                await answer.read()
                status: int | None = answer.status
        except (aiohttp.ClientError, TimeoutError):
            status = None
        self.attempts.append(Attempt(email, started, status))
        if self.ok_count >= KILL_AFTER:
            self.kill_now.set()
        return status

    async def patient(self, email: str) -> None:
        """Confirms; after an error, once more when the service is back."""
        if await self.confirm(email) != 200:
            await self.back.wait()
            await self.confirm(email)

    async def run(self) -> None:
        async def patient_after_patient() -> None:
            while self.queue:
                await self.patient(self.take(1)[0])

        await asyncio.gather(*(patient_after_patient() for _ in range(CONFIRMERS)))


def relay_env(redis_url: str, smtp_port: int, port: int) -> dict[str, str]:
    """RELAY_* for `relay serve`: fresh keys, kept across the restart of the relay."""
    return subprocess_env(
        RELAY_REDIS_URL=redis_url,
        RELAY_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
        RELAY_MAIL_FROM="termine@relay.test",
        RELAY_SIGNING_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
        RELAY_DATA_KEYS=base64.b64encode(secrets.token_bytes(32)).decode(),
        RELAY_PUBLIC_URL=f"http://127.0.0.1:{port}",
        RELAY_LOG_LEVEL="INFO",
        # All patients share 127.0.0.1's network and submit within seconds
        **crowd_limits(BOOKINGS),
    )


async def register_practice(redis_url: str, tmp_path: Path) -> Practice:
    key_file = tmp_path / "practice.key"
    public_key = create_key_file(key_file, KeyPair.generate()).current.public_key
    client = Redis.from_url(redis_url)
    try:
        token = await registry.add_practice(
            Store(client), "praxis-fault", name="Praxis Fault", public_key=public_key
        )
    finally:
        await client.aclose()
    return Practice("praxis-fault", token, key_file)


async def book_many(
    http: aiohttp.ClientSession, relay_url: str, slug: str, smtp_sink: SmtpSink
) -> dict[str, str]:
    """Submits BOOKINGS bookings; patient e-mail -> confirmation link from the mail."""
    limit = asyncio.Semaphore(8)

    async def one() -> str:
        booking = wish_booking_json()
        async with limit:
            response = await submit(http, relay_url, slug, booking)
        assert response.status == 202, f"submit answered {response.status}"
        return str(booking["email"])

    emails = await asyncio.gather(*(one() for _ in range(BOOKINGS)))
    messages = await smtp_sink.wait_for(BOOKINGS)
    links = {
        recipients[0]: link_in(message)
        for message, (_, recipients) in zip(messages, smtp_sink.envelopes, strict=False)
    }
    assert set(emails) <= set(links), "a submitted booking got no confirmation mail"
    return links


async def assert_inbox_empty(http: aiohttp.ClientSession, relay_url: str, token: str) -> None:
    async with http.get(
        f"{relay_url}/api/v1/inbox?wait=0", headers={"Authorization": f"Bearer {token}"}
    ) as inbox:
        assert inbox.status == 200
        assert (await inbox.json())["items"] == [], "acknowledged items are still in the inbox"


@contextlib.asynccontextmanager
async def patients() -> AsyncIterator[aiohttp.ClientSession]:
    # A new connection per request, as many patients' browsers would: a kept-alive
    # connection to the killed relay would fail even after the restart, for the client's
    # reasons, not the relay's.
    connector = aiohttp.TCPConnector(force_close=True)
    timeout = aiohttp.ClientTimeout(total=READY_SECONDS)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        yield http


async def run_stream_with_fault(
    stream: ConfirmStream, emails: list[str], inject: Callable[[], Awaitable[None]]
) -> None:
    """Runs the confirm stream; once KILL_AFTER confirms answered 200, `inject` the fault."""
    stream.queue = list(emails)

    async def fault() -> None:
        await stream.kill_now.wait()
        await inject()

    await asyncio.wait_for(asyncio.gather(stream.run(), fault()), READY_SECONDS)


async def test_relay_killed_during_confirms_loses_no_confirmed_booking(
    redis_url: str, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """kill -9 of the relay mid-stream: every 200-confirmed booking arrives exactly once."""
    # Given a relay process and BOOKINGS pending bookings with their confirmation links
    practice = await register_practice(redis_url, tmp_path)
    port = server_port()
    env = relay_env(redis_url, smtp_sink.port, port)
    relay = RelayProcess.create(tmp_path / "relay.log", port, env)
    relay.start()
    try:
        await relay.wait_ready()
        async with patients() as http:
            links = await book_many(http, relay.url, practice.slug, smtp_sink)
            emails = sorted(links)
            to_confirm = emails[UNCONFIRMED:]

            # When patients confirm and the relay is killed with SIGKILL part way through,
            # then started again on the same port with the same keys
            stream = ConfirmStream(http, links, relay.url)

            async def kill_and_restart() -> None:
                stream.mark_killed()
                relay.kill()
                relay.start()
                await relay.wait_ready()
                stream.mark_back()

            await run_stream_with_fault(stream, to_confirm, kill_and_restart)

            # Then the relay answered 200 or not at all (the killed process), never an error
            statuses = {attempt.status for attempt in stream.attempts}
            assert statuses <= {200, None}, f"statuses seen: {statuses}"
            assert stream.killed_at < float("inf"), "the relay was never killed"
            # And every confirm sent to the restarted relay, first tries and retries, got 200
            after = [a for a in stream.attempts if a.started >= stream.back_at]
            assert after, "no confirm reached the restarted relay"
            assert all(a.status == 200 for a in after), [a for a in after if a.status != 200]

            # And the practice client receives each confirmed booking exactly once
            confirmed = {a.email for a in stream.attempts if a.status == 200}
            assert confirmed == set(to_confirm)
            out_dir = tmp_path / "bookings"
            await drain_inbox(relay.url, practice.token, practice.key_file, out_dir)
            assert_booking_files(out_dir, confirmed)
            await assert_inbox_empty(http, relay.url, practice.token)
        relay.check_running()
    finally:
        relay.stop()


async def test_redis_killed_during_confirms_loses_no_confirmed_booking(
    smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """kill -9 of redis-server (AOF always) mid-stream: 200 or 503 only; confirmed arrive once."""
    # Given a redis-server with every write fsynced to its AOF before it answers
    redis_server: RedisProcess = launch_redis(
        "redis-server (AOF always)",
        tmp_path,
        *("--appendonly", "yes", "--appendfsync", "always", "--maxmemory-policy", "noeviction"),
    )
    port = server_port()
    relay = RelayProcess.create(
        tmp_path / "relay.log", port, relay_env(redis_server.url(), smtp_sink.port, port)
    )
    try:
        practice = await register_practice(redis_server.url(), tmp_path)
        relay.start()
        await relay.wait_ready()
        async with patients() as http:
            links = await book_many(http, relay.url, practice.slug, smtp_sink)
            emails = sorted(links)
            to_confirm = emails[UNCONFIRMED:]

            # When patients confirm and redis-server is killed with SIGKILL part way through,
            # more patients confirm while it is down, and it is started again from its AOF
            # on the same port
            stream = ConfirmStream(http, links, relay.url)

            async def kill_and_restart_redis() -> None:
                stream.mark_killed()
                redis_server.kill()
                arriving = stream.take(OUTAGE_PATIENTS)
                during = [asyncio.create_task(stream.patient(email)) for email in arriving]
                # The outage ends when those have an answer, or after MAX_OUTAGE_SECONDS
                # (a relay may hold them until Redis is back): that is ours to choose.
                deadline = time.monotonic() + MAX_OUTAGE_SECONDS
                while not stream.answered(arriving) and time.monotonic() < deadline:  # noqa: ASYNC110 - no event
                    await asyncio.sleep(0.05)
                redis_server.start()
                await asyncio.to_thread(redis_server.wait_ready)
                stream.mark_back()
                await asyncio.gather(*during)

            await run_stream_with_fault(stream, to_confirm, kill_and_restart_redis)

            # Then every confirm got an HTTP answer: 200, or 503 while Redis was away
            statuses = {attempt.status for attempt in stream.attempts}
            assert statuses <= {200, 503}, f"statuses seen: {statuses}"
            relay.check_running()
            # And every confirm that arrived after Redis was back answered 200
            after = [a for a in stream.attempts if a.started >= stream.back_at]
            assert after, "no confirm was sent after Redis came back"
            failed_after = [(a.email, a.status) for a in after if a.status != 200]
            assert failed_after == [], "confirms after the restart of Redis failed"

            # And the practice client receives each confirmed booking exactly once: what
            # answered 200 before the kill survived in the AOF
            confirmed = {a.email for a in stream.attempts if a.status == 200}
            assert confirmed == set(to_confirm)
            out_dir = tmp_path / "bookings"
            await drain_inbox(relay.url, practice.token, practice.key_file, out_dir)
            assert_booking_files(out_dir, confirmed)
            await assert_inbox_empty(http, relay.url, practice.token)
        relay.check_running()
    finally:
        relay.stop()
        redis_server.stop()
