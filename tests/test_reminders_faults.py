"""A reminder survives kill -9 and is sent exactly once: `relay serve` and a separate
`relay mail-worker` (real processes, real Redis, real SMTP server) killed around the
reminder's due time, the practice's request repeated as a client does after a lost
answer."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from tests.conftest import SmtpSink, link_in
from tests.helpers import booking_json, profile_json, put_profile, slot_times, wait_until_async
from tests.servers import RelayProcess, ServerProcess, server_port
from tests.test_cancellation import mail_to
from tests.test_faults import register_practice, relay_env

pytestmark = pytest.mark.slow


def mail_worker(log_file: Path, env: dict[str, str]) -> ServerProcess:
    return ServerProcess(
        "relay mail-worker", [sys.executable, "-m", "relay", "mail-worker"], log_file, env
    )


def reminders_to(sink: SmtpSink, address: str) -> int:
    return sum(
        message["To"] == address and str(message["Subject"]).startswith("Erinnerung")
        for message in sink.messages
    )


async def queued_jobs(redis_url: str, slug: str) -> list[str]:
    """The practice's mail jobs and queue entries left in Redis."""
    client = aioredis.from_url(redis_url)
    try:
        jobs = [key.decode() async for key in client.scan_iter(f"tr:{{{slug}}}:m:*")]
        entries = [entry.decode() for entry in await client.zrange(f"tr:{{{slug}}}:mq", 0, -1)]
        return jobs + entries
    finally:
        await client.aclose()


async def test_a_reminder_is_sent_once_though_relay_and_mail_worker_are_killed(
    redis_url: str, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    practice = await register_practice(redis_url, tmp_path)
    port = server_port()
    env = {**relay_env(redis_url, smtp_sink.port, port), "RELAY_MAIL_WORKER": "off"}
    relay = RelayProcess.create(tmp_path / "relay.log", port, env)
    worker = mail_worker(tmp_path / "worker.log", env)
    relay.start()
    worker.start()
    try:
        await relay.wait_ready()
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as http:
            await put_profile(http, relay.url, practice.token, profile_json())
            booking = booking_json(start=slot_times()[0][0])
            async with http.post(
                f"{relay.url}/api/v1/practices/{practice.slug}/bookings", json=booking
            ) as submitted:
                assert submitted.status == 202
            link = link_in(await mail_to(smtp_sink, booking["email"], "/c/"))
            async with http.post(link, data={"action": "confirm"}) as confirmed:
                assert confirmed.status == 200
            async with http.get(
                f"{relay.url}/api/v1/inbox", params={"wait": "0"}, headers=_auth(practice.token)
            ) as inbox:
                (item,) = (await inbox.json())["items"]
            await wait_until_async(
                lambda: _settled(redis_url, practice.slug), "the first two mails sent"
            )

            # Given the mail worker killed just before the reminder comes due
            worker.kill()
            start, end = slot_times()[0]
            body = {"email": booking["email"], "start": start.isoformat(), "end": end.isoformat()}
            # When the practice's client asks, and the relay is killed right after its
            # answer, restarted, and asked again (the client never saw the answer)
            assert await _remind(http, relay.url, practice.token, item["id"], body) == "queued"
            relay.kill()
            relay.start()
            await relay.wait_ready()
            assert await _remind(http, relay.url, practice.token, item["id"], body) == "already"
            # Then the reminder waits, queued once, for a mail worker
            assert await queued_jobs(redis_url, practice.slug) == [
                f"tr:{{{practice.slug}}}:m:{item['id']}.r1",
                f"{item['id']}.r1",
            ]
            assert reminders_to(smtp_sink, booking["email"]) == 0
            # And the restarted worker sends it, exactly once
            worker.start()
            await wait_until_async(
                lambda: _settled(redis_url, practice.slug), "the reminder sent and settled"
            )
            assert reminders_to(smtp_sink, booking["email"]) == 1
            # And a worker killed after sending and started again finds nothing to send
            worker.kill()
            worker.start()
            assert await _remind(http, relay.url, practice.token, item["id"], body) == "already"
            assert await queued_jobs(redis_url, practice.slug) == []
            assert reminders_to(smtp_sink, booking["email"]) == 1
        relay.check_running()
        worker.check_running()
    finally:
        worker.stop()
        relay.stop()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _settled(redis_url: str, slug: str) -> bool:
    return not await queued_jobs(redis_url, slug)


async def _remind(
    http: aiohttp.ClientSession, url: str, token: str, booking_id: str, body: dict[str, Any]
) -> str:
    async with http.post(
        f"{url}/api/v1/bookings/{booking_id}/remind", json=body, headers=_auth(token)
    ) as response:
        assert response.status == 200, await response.text()
        return str((await response.json())["status"])
