"""The mail worker's kept-open SMTP connections, its concurrency bound, its queue-age gauge
and the separate `relay mail-worker`, against a real aiosmtpd server that counts them."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from relay.__main__ import mail_worker
from relay.settings import SmtpSettings
from relay.web.appkeys import METRICS
from tests.conftest import RelayFactory, RunningRelay, free_port
from tests.helpers import submit, wait_until_async, wish_booking_json

AGE = re.compile(rb"^terminrelay_mail_queue_oldest_age_seconds (\S+)$", re.MULTILINE)


class CountingServer:
    """An SMTP server that counts connections and mails in flight, refuses recipients
    whose address starts with `refuse`, and can close every connection on demand."""

    def __init__(self, *, idle_timeout: float = 300) -> None:
        self.connections_opened = 0
        self.open: set[asyncio.Transport] = set()
        self.delivered: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay = 0.0
        self._lock = threading.Lock()
        self.port = free_port()
        server = self

        class CountingSMTP(SMTP):
            def connection_made(self, transport: Any) -> None:
                with server._lock:
                    server.connections_opened += 1
                    server.open.add(transport)
                super().connection_made(transport)

            def connection_lost(self, error: Exception | None) -> None:
                with server._lock:
                    server.open.discard(self.transport)
                super().connection_lost(error)

        class CountingController(Controller):
            def factory(self) -> SMTP:
                return CountingSMTP(self.handler, timeout=idle_timeout)

        self.controller = CountingController(self, hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self.controller.start()
        # start() proves the server is up with a connection of its own: not the relay's.
        with self._lock:
            self.connections_opened = 0

    @property
    def settings(self) -> SmtpSettings:
        return SmtpSettings(host="127.0.0.1", port=self.port)

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith("refuse"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            with self._lock:
                self.in_flight -= 1
                self.delivered.extend(envelope.rcpt_tos)
        return "250 OK"

    def drop_all(self) -> None:
        """Closes every open connection from the server's side, as a restarting MTA does."""
        loop = self.controller.loop
        with self._lock:
            transports = list(self.open)
        for transport in transports:
            loop.call_soon_threadsafe(transport.close)

    async def delivered_count(self, count: int) -> list[str]:
        async def enough() -> list[str]:
            with self._lock:
                return list(self.delivered) if len(self.delivered) >= count else []

        return await wait_until_async(enough, f"{count} mails at the SMTP server", interval=0.02)


@pytest.fixture
def counting_server() -> Iterator[CountingServer]:
    server = CountingServer()
    server.start()
    yield server
    server.controller.stop()


@pytest.fixture
def idle_closing_server() -> Iterator[CountingServer]:
    """Closes a connection idle for half a second (421), as real servers do after minutes."""
    server = CountingServer(idle_timeout=0.5)
    server.start()
    yield server
    server.controller.stop()


async def submit_many(relay: RunningRelay, slug: str, emails: list[str]) -> None:
    async with aiohttp.ClientSession() as http:
        for address in emails:
            response = await submit(http, relay.url, slug, wish_booking_json(email=address))
            assert response.status == 202


def addresses(count: int, prefix: str = "patient") -> list[str]:
    return [f"{prefix}{index}@example.org" for index in range(count)]


async def mail_count(relay: RunningRelay, outcome: str) -> float:
    body, _ = relay.app[METRICS].render()
    found = re.search(
        rf'^terminrelay_mail_total{{outcome="{outcome}"}} (\S+)$'.encode(), body, re.M
    )
    assert found, f"no mail counter for {outcome}"
    return float(found.group(1))


async def test_many_mails_travel_over_few_connections(
    relay_factory: RelayFactory, counting_server: CountingServer
) -> None:
    """Thirty mails reach the server over at most two connections with concurrency 2."""
    relay = await relay_factory(
        submit_limit=1000, smtp=counting_server.settings, mail_concurrency=2
    )
    practice = await relay.add_practice()

    await submit_many(relay, practice.slug, addresses(30))

    delivered = await counting_server.delivered_count(30)
    assert sorted(delivered) == sorted(addresses(30))
    assert 1 <= counting_server.connections_opened <= 2


async def test_mail_after_the_server_dropped_the_connection_is_sent_on_a_new_one(
    relay_factory: RelayFactory, counting_server: CountingServer
) -> None:
    """Given a kept-open connection the server then closes, the next mail goes out on a
    fresh connection at once, without counting a failed attempt."""
    relay = await relay_factory(
        submit_limit=1000, smtp=counting_server.settings, mail_concurrency=1
    )
    practice = await relay.add_practice()
    await submit_many(relay, practice.slug, ["first@example.org"])
    await counting_server.delivered_count(1)

    counting_server.drop_all()
    await wait_until_async(
        lambda: _async_value(not counting_server.open), "the server to close its connections"
    )
    await submit_many(relay, practice.slug, ["second@example.org"])

    assert await counting_server.delivered_count(2) == ["first@example.org", "second@example.org"]
    assert counting_server.connections_opened == 2
    assert await mail_count(relay, "retried") == 0


async def test_server_closing_idle_connections_is_respected(
    relay_factory: RelayFactory, idle_closing_server: CountingServer
) -> None:
    """A server that times out idle connections (421 and close) costs no mail and no retry."""
    relay = await relay_factory(
        submit_limit=1000, smtp=idle_closing_server.settings, mail_concurrency=1
    )
    practice = await relay.add_practice()
    await submit_many(relay, practice.slug, ["early@example.org"])
    await idle_closing_server.delivered_count(1)
    await wait_until_async(
        lambda: _async_value(not idle_closing_server.open), "the idle timeout to close it"
    )

    await submit_many(relay, practice.slug, ["late@example.org"])

    assert await idle_closing_server.delivered_count(2) == ["early@example.org", "late@example.org"]
    assert await mail_count(relay, "retried") == 0


async def test_mails_in_flight_never_exceed_the_concurrency(
    relay_factory: RelayFactory, counting_server: CountingServer
) -> None:
    """With a slow server and twelve mails queued, exactly three are in flight at most."""
    counting_server.delay = 0.3
    relay = await relay_factory(
        submit_limit=1000, smtp=counting_server.settings, mail_concurrency=3
    )
    practice = await relay.add_practice()

    await submit_many(relay, practice.slug, addresses(12))

    await counting_server.delivered_count(12)
    assert counting_server.max_in_flight == 3
    assert counting_server.connections_opened <= 3


async def test_a_refused_recipient_does_not_hold_up_the_others(
    relay_factory: RelayFactory, counting_server: CountingServer
) -> None:
    """With one connection, a mail refused with 550 goes to retry; the next five are sent
    over the same connection (the envelope reset, not the connection dropped)."""
    relay = await relay_factory(
        submit_limit=1000, smtp=counting_server.settings, mail_concurrency=1, mail_retry_base=600
    )
    practice = await relay.add_practice()

    await submit_many(relay, practice.slug, ["refuse@example.org", *addresses(5)])

    assert sorted(await counting_server.delivered_count(5)) == sorted(addresses(5))
    body = await relay.metrics_show(b'terminrelay_mail_total{outcome="sent"} 5.0')
    assert b'terminrelay_mail_total{outcome="retried"} 1.0' in body
    assert counting_server.connections_opened == 1


async def test_queue_age_gauge_and_a_separate_mail_worker(
    relay_factory: RelayFactory, counting_server: CountingServer
) -> None:
    """Given `relay serve` with RELAY_MAIL_WORKER=off, a queued mail waits and its age shows
    in the gauge; `relay mail-worker` then sends it and the gauge returns to 0."""
    relay = await relay_factory(submit_limit=1000, smtp=counting_server.settings, mail_worker="off")
    practice = await relay.add_practice()
    await submit_many(relay, practice.slug, ["waiting@example.org"])

    async def age() -> float:
        body, _ = relay.app[METRICS].render()
        found = AGE.search(body)
        assert found, "the queue-age gauge is missing"
        return float(found.group(1))

    await wait_until_async(lambda: _positive(age()), "the gauge to show the waiting mail")
    assert counting_server.delivered == []

    stop = asyncio.Event()
    async with _running(mail_worker(relay.settings, stop=stop), stop):
        assert await counting_server.delivered_count(1) == ["waiting@example.org"]
        await wait_until_async(
            lambda: _zero(age()), "the gauge to return to 0 once the mail was sent"
        )


@contextlib.asynccontextmanager
async def _running(work: Any, stop: asyncio.Event) -> AsyncIterator[None]:
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def _async_value(value: bool) -> bool:
    return value


async def _positive(value: Any) -> bool:
    return bool(await value > 0)


async def _zero(value: Any) -> bool:
    return bool(await value == 0)
