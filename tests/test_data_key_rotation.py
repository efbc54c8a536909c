"""Rotating RELAY_DATA_KEYS: the old key still opens queued jobs, the new one encrypts."""

from __future__ import annotations

import secrets

import aiohttp
from redis.asyncio import Redis

from relay.crypto.sealing import DataCipher
from relay.mail.jobs import mail_job_context
from relay.settings import SmtpSettings
from relay.storage.store import unpack_booking
from tests.conftest import RelayFactory, SmtpSink, free_port, link_in
from tests.helpers import submit, wish_booking_json


async def test_rotated_relay_sends_jobs_queued_under_the_old_key(
    relay_factory: RelayFactory, smtp_sink: SmtpSink
) -> None:
    """A job queued under key 1 is sent by a relay configured with (key 2, key 1)."""
    old_key, new_key = secrets.token_bytes(32), secrets.token_bytes(32)
    signing_key = secrets.token_bytes(32)

    # Given a job queued by a relay with the old key while mail was down
    nowhere = SmtpSettings(host="127.0.0.1", port=free_port())
    before = await relay_factory(
        data_keys=(old_key,), signing_key=signing_key, smtp=nowhere, mail_retry_base=60
    )
    practice = await before.add_practice()
    booking = wish_booking_json()
    async with aiohttp.ClientSession() as http:
        assert (await submit(http, before.url, practice.slug, booking)).status == 202
    (job_key,) = [key async for key in before.store.redis.scan_iter("tr:{*}:m:*")]
    booking_id = job_key.decode().rsplit(":", 1)[1]
    # One string: attempts, format, then the job's ciphertext (relay/storage/store.py).
    old_job = (await before.store.redis.get(job_key))[2:]
    assert old_job[:4] == DataCipher.key_id(old_key)
    await before.stop()
    # Make the queued job due now: the retry would otherwise wait a minute
    client = Redis.from_url(before.settings.redis_url)
    await client.zadd(f"tr:{{{practice.slug}}}:mq", {booking_id: 0})
    await client.aclose()

    # When the relay restarts with the new key first and the old one kept
    after = await relay_factory(
        data_keys=(new_key, old_key), signing_key=signing_key, port=before.settings.port
    )

    # Then the old job is sent and its link works
    (message,) = await smtp_sink.wait_for(1)
    async with aiohttp.ClientSession() as http, http.get(link_in(message)) as page:
        assert page.status == 200

    # And a new booking's job and summary are encrypted under the new key
    second = wish_booking_json()
    async with aiohttp.ClientSession() as http:
        assert (await submit(http, after.url, practice.slug, second)).status == 202
    summaries = [
        unpack_booking(await after.store.redis.get(key)).summary
        async for key in after.store.redis.scan_iter(f"tr:{{{practice.slug}}}:b:*")
    ]
    assert {summary[:4] for summary in summaries} == {
        DataCipher.key_id(old_key),
        DataCipher.key_id(new_key),
    }
    assert (
        DataCipher([old_key]).decrypt_json(
            old_job, context=mail_job_context(practice.slug, booking_id)
        )["to"]
        == booking["email"]
    )
