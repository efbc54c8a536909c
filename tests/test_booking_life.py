"""The whole life of a booking through real Redis, SMTP, relay and practice client."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import aiohttp
import pytest
import redis

from practice_client.runner import RunConfig, run
from tests.conftest import PracticeHandle, RedisServer, RunningRelay, SmtpSink, link_in
from tests.helpers import booking_json, profile_json, put_profile, submit, wait_until_async


def redis_snapshot(client: redis.Redis) -> dict[bytes, object]:
    """Every key of the test database with its full value."""
    snapshot: dict[bytes, object] = {}
    for key in client.scan_iter():
        kind = client.type(key)
        if kind == b"string":
            snapshot[key] = client.get(key)
        elif kind == b"hash":
            snapshot[key] = client.hgetall(key)
        elif kind == b"zset":
            snapshot[key] = client.zrange(key, 0, -1, withscores=True)
        elif kind == b"set":
            snapshot[key] = client.smembers(key)
        else:
            snapshot[key] = client.dump(key)
    return snapshot


def persistence_bytes(redis_server: RedisServer) -> bytes:
    """The AOF and RDB files as on disk, after Redis flushed them."""
    client = redis_server.client()
    client.save()
    client.close()
    files = [p for p in redis_server.data_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".rdb" for p in files)
    assert any(".aof" in p.name for p in files)
    return b"".join(p.read_bytes() for p in files)


def sensitive_values(booking: dict[str, object]) -> list[bytes]:
    """Every value a patient typed that must never appear outside the sealed box."""
    return [
        str(booking[name]).encode()
        for name in ("first_name", "last_name", "note", "email", "phone")
    ] + [b"1984-03-05"]


async def test_whole_life_of_a_booking_leaves_no_readable_trace(
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    redis_server: RedisServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Submit, mail, view, confirm, deliver, acknowledge: then nothing of it is readable."""
    caplog.set_level(logging.DEBUG)
    out_dir = tmp_path / "bookings"
    booking = booking_json()
    async with aiohttp.ClientSession() as http:
        # Given a practice that published slots
        await put_profile(http, relay.url, practice.token, profile_json())

        # When a patient submits a booking for the first slot
        response = await submit(http, relay.url, practice.slug, booking)
        assert response.status == 202
        answer = json.loads(await response.text())
        assert answer["status"] == "pending"
        assert answer["expires_at"].endswith("Z")

        # Then a confirmation mail names the practice, carries the link, and nothing else
        (message,) = await smtp_sink.wait_for(1)
        assert message["To"] == booking["email"]
        assert "Praxis Dr. Beispiel" in message["Subject"]
        link = link_in(message)
        assert link.startswith(f"{relay.url}/c/{practice.slug}.")
        mail_text = message.as_string()
        for value in sensitive_values(booking):
            if value != booking["email"].encode():
                assert value.decode() not in mail_text

        # And the slot is no longer offered
        async with http.get(f"{relay.url}/api/v1/practices/{practice.slug}") as profile:
            offered = [slot["start"] for slot in (await profile.json())["slots"]]
        assert booking["start"] not in offered

        # When the patient opens the link (GET and HEAD change nothing)
        client = redis_server.client()
        before = redis_snapshot(client)
        async with http.get(link) as page:
            assert page.status == 200
            html = await page.text()
            assert "Praxis Dr. Beispiel" in html
            assert "Erstgespräch" in html
            assert page.headers["Cache-Control"] == "no-store"
            assert page.headers["Referrer-Policy"] == "no-referrer"
        async with http.head(link) as head:
            assert head.status == 200
        assert redis_snapshot(client) == before

        # And confirms
        async with http.post(link, data={"action": "confirm"}) as confirmed:
            assert confirmed.status == 200
        async with http.post(link, data={"action": "confirm"}) as again:
            assert again.status == 200
            assert "bereits bestätigt" in (await again.text()).lower()

    # Then the practice client receives, opens and writes it, and acknowledges
    code = await run(
        RunConfig(relay.url, practice.token, practice.key_file, out_dir, wait=0), once=True
    )
    assert code == 0
    (written,) = out_dir.glob("*.json")
    document = json.loads(written.read_text())
    for name, value in booking.items():
        assert document[name] == value, name
    assert document["practice"] == practice.slug
    assert (out_dir / f"{document['id']}.ics").read_text().startswith("BEGIN:VCALENDAR")

    # And no key of the booking is left in Redis: only the practice's own records, the
    # "confirmed" marker for a second click, the "taken" mark of the slot and the counter,
    # and the cancel record (booking id and slot id until the appointment starts), once
    # the mail after confirming has gone (its encrypted job is keyed by the booking id)
    async def mail_jobs_gone() -> bool:
        return not [key for key in client.scan_iter("tr:{*") if b":m:" in key]

    await wait_until_async(mail_jobs_gone, "the mail after confirming to be sent, its job deleted")
    keys = {key.decode(): value for key, value in redis_snapshot(client).items()}
    booking_id = document["id"].encode()
    cancel_records = [value for key, value in keys.items() if ":x:" in key]
    assert [bytes(value).split(b":")[0] for value in cancel_records] == [booking_id]
    keys = {key: value for key, value in keys.items() if ":x:" not in key}
    assert all(booking_id not in key.encode() for key in keys)
    assert not any(booking_id in repr(value).encode() for value in keys.values())
    # The abuse limits' logs (tr:{limits}:…) hold keyed hashes and random ids, no booking.
    leftovers = {
        key.split(":", 2)[-1].split(":")[0]
        for key in keys
        if key.startswith("tr:{") and not key.startswith("tr:{limits}:")
    }
    # `held` mirrors the taken slot (slot id -> until), public profile data.
    assert leftovers == {"practice", "profile", "t", "h", "held"}
    markers = [v for k, v in keys.items() if ":t:" in k or ":h:" in k]
    assert sorted(markers) == [b"confirmed", b"taken"]

    # And no value the patient typed occurs in Redis, its files on disk, or the logs
    everything_in_redis = repr(redis_snapshot(client)).encode()
    on_disk = persistence_bytes(redis_server)
    # The relay's and the client's own log records (the test's SMTP sink logs mail bodies).
    log_text = "\n".join(
        f"{record.getMessage()} {record.__dict__}"
        for record in caplog.records
        if record.name.split(".")[0] in ("relay", "practice_client", "aiohttp", "redis")
    ).encode()
    assert "relay.http" in {record.name for record in caplog.records}
    for value in sensitive_values(booking):
        assert value not in everything_in_redis
        assert value not in on_disk
        assert value not in log_text
    assert practice.token.encode() not in log_text
    assert link.rsplit("/", 1)[-1].encode() not in log_text
    client.close()
