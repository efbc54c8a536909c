"""Cancellation by the patient, end to end: a real relay over HTTP, real Redis, the real
practice client writing and then marking the booking's files cancelled."""

from __future__ import annotations

import base64
import html
import json
import re
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from icalendar import Calendar
from nacl.signing import SigningKey

from practice_client.handover.hooks import Hook
from practice_client.relay.envelope import EnvelopeError, open_item
from practice_client.relay.keys import load_key_ring
from practice_client.runner import RunConfig, run
from relay.crypto.sealing import seal_booking
from relay.crypto.tokens import token_hash
from relay.practice.profile import profile_from_json
from relay.storage.store import cancel_key, inbox_key
from tests.conftest import PracticeHandle, RedisServer, RunningRelay, SmtpSink, link_in
from tests.helpers import (
    booking_json,
    profile_json,
    put_profile,
    slot_times,
    submit,
    wait_until_async,
    wish_booking_json,
)
from tests.test_practice_client_hooks import calls, recorder

CANCEL_LINK = re.compile(r'href="(/x/[A-Za-z0-9._~-]+)\?lang=(?:de|en)"')
CALENDAR_LINK = re.compile(r'href="(/calendar/[A-Za-z0-9_-]+\.ics)"')
FORMATS = ("json", "ics", "fhir")


@dataclass(frozen=True)
class Confirmed:
    booking: dict[str, Any]
    page: str
    cancel_url: str
    calendar_url: str | None


async def book_and_confirm(
    http: aiohttp.ClientSession,
    relay: RunningRelay,
    practice: PracticeHandle,
    sink: SmtpSink,
    booking: dict[str, Any] | None = None,
) -> Confirmed:
    """Submits through the JSON API, confirms through the mailed link's page."""
    booking = booking or booking_json()
    assert (await submit(http, relay.url, practice.slug, booking)).status == 202
    link = link_in(await mail_to(sink, booking["email"], "/c/"))
    async with http.post(link, data={"action": "confirm"}) as confirmed:
        assert confirmed.status == 200
        page = await confirmed.text()
    cancel = CANCEL_LINK.search(page)
    assert cancel, "no cancel link on the result page"
    calendar = CALENDAR_LINK.search(page)
    return Confirmed(
        booking,
        page,
        relay.url + cancel.group(1),
        html.unescape(calendar.group(1)) if calendar else None,
    )


async def mail_to(sink: SmtpSink, address: str, holding: str) -> EmailMessage:
    """The first mail to `address` whose text holds `holding` (mails of other bookings,
    and the two mails of one booking, may arrive in any order)."""

    async def found() -> EmailMessage | None:
        for message in list(sink.messages):
            body = message.get_body(preferencelist=("plain",))
            if message["To"] == address and body is not None and holding in body.get_content():
                return message
        return None

    return await wait_until_async(found, f"a mail to {address} holding {holding!r}")


async def drain(relay: RunningRelay, practice: PracticeHandle, out_dir: Path) -> int:
    """`practice-client run --once` with every format, in process."""
    config = RunConfig(
        relay.url, practice.token, practice.key_file, out_dir, wait=0, formats=FORMATS
    )
    return await run(config, once=True)


def the_booking(out_dir: Path) -> tuple[dict[str, Any], Calendar, dict[str, Any]]:
    """The one booking in `out_dir`: its JSON, its calendar, its FHIR Appointment."""
    (json_file,) = [p for p in out_dir.glob("*.json") if p.name.count(".") == 1]
    document = json.loads(json_file.read_text())
    calendar = Calendar.from_ical(json_file.with_suffix(".ics").read_bytes())
    bundle = json.loads((out_dir / f"{json_file.stem}.fhir.json").read_text())
    (appointment,) = [
        entry["resource"]
        for entry in bundle["entry"]
        if entry["resource"]["resourceType"] == "Appointment"
    ]
    return document, calendar, appointment


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


async def offered(http: aiohttp.ClientSession, relay: RunningRelay, slug: str) -> list[str]:
    async with http.get(f"{relay.url}/api/v1/practices/{slug}") as response:
        return [slot["start"] for slot in (await response.json())["slots"]]


async def test_cancelling_marks_the_written_booking_cancelled_in_every_file(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """Given a booking the practice client wrote; when the patient cancels through the
    link, then the next run marks its JSON, ICS and FHIR files cancelled, the slot is
    offered again, and a second cancel says "already cancelled"."""
    out_dir = tmp_path / "out"
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        confirmed = await book_and_confirm(http, relay, practice, smtp_sink)
        assert await drain(relay, practice, out_dir) == 0
        document, calendar, appointment = the_booking(out_dir)
        # A slot of a practice in direct mode: booked, in every file.
        assert document["status"] == "booked"
        assert appointment["status"] == "booked"
        (event,) = calendar.walk("VEVENT")
        assert str(event["STATUS"]) == "CONFIRMED"
        assert int(event["SEQUENCE"]) == 0
        uid = str(event["UID"])
        assert confirmed.booking["start"] not in await offered(http, relay, practice.slug)

        # When the patient cancels
        async with http.post(confirmed.cancel_url, data={"action": "cancel"}) as cancelled:
            assert cancelled.status == 200
            assert "Termin abgesagt" in await cancelled.text()
        code = await drain(relay, practice, out_dir)

        # Then the files say so, and the slot is free again
        assert code == 0
        document, calendar, appointment = the_booking(out_dir)
        assert document["status"] == "cancelled"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", document["cancelled_at"])
        assert document["email"] == confirmed.booking["email"]
        (event,) = calendar.walk("VEVENT")
        assert str(event["STATUS"]) == "CANCELLED"
        assert int(event["SEQUENCE"]) == 1
        assert str(event["UID"]) == uid
        assert appointment["status"] == "cancelled"
        assert confirmed.booking["start"] in await offered(http, relay, practice.slug)

        # And a second cancel changes nothing
        async with http.post(confirmed.cancel_url, data={"action": "cancel"}) as again:
            assert again.status == 200
            assert "Bereits abgesagt" in await again.text()
        async with http.get(confirmed.cancel_url, params={"lang": "en"}) as page:
            assert page.status == 200
            assert "Already cancelled" in await page.text()
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        f"{document['id']}{suffix}" for suffix in (".json", ".ics", ".fhir.json")
    )


async def test_get_shows_the_practice_and_changes_nothing(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink, redis_server: RedisServer
) -> None:
    """Opening the cancel link (as a mail scanner would) cancels nothing and sends nothing."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        confirmed = await book_and_confirm(http, relay, practice, smtp_sink)
        client = redis_server.client()
        before = client.zcard(inbox_key(practice.slug))
        for _ in range(3):
            async with http.get(confirmed.cancel_url) as page:
                assert page.status == 200
                text = await page.text()
            assert "Praxis Dr. Beispiel" in text
            assert 'value="cancel"' in text
        assert client.zcard(inbox_key(practice.slug)) == before == 1
        secret = confirmed.cancel_url.rsplit("/", 1)[1].split(".", 1)[1]
        assert client.get(cancel_key(practice.slug, token_hash(secret))) != b"cancelled"
        client.close()


async def test_relay_keeps_only_token_hash_practice_booking_id_and_expiry(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink, redis_server: RedisServer
) -> None:
    """After confirming, the cancel record is the token's hash in the practice's key, the
    booking id and slot id as its value, expiring when the appointment starts; after the
    practice fetched the booking nothing in Redis names the patient."""
    profile = profile_json()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
        confirmed = await book_and_confirm(http, relay, practice, smtp_sink)
    slot = profile_from_json(profile).slots[0]
    client = redis_server.client()
    secret = confirmed.cancel_url.rsplit("/", 1)[1].split(".", 1)[1]
    key = cancel_key(practice.slug, token_hash(secret))
    (stored,) = client.keys(f"tr:{{{practice.slug}}}:x:*")
    assert stored.decode() == key
    booking_id, slot_id = client.get(key).decode().split(":")
    assert slot_id == slot.id
    assert client.pexpiretime(key) == int(slot.start.timestamp() * 1000)
    assert secret not in key

    # Once the practice has the booking, nothing the patient typed is left in Redis
    assert await drain(relay, practice, relay.tmp / "out") == 0
    assert (relay.tmp / "out" / f"{booking_id}.json").is_file()
    everything = b"".join(
        key_name + _value(client, key_name) for key_name in client.scan_iter("tr:*")
    )
    for typed in ("first_name", "last_name", "email", "phone", "note", "birth_date"):
        assert str(confirmed.booking[typed]).encode() not in everything, typed
    client.close()


def _value(client: Any, key: bytes) -> bytes:
    kind = client.type(key)
    if kind == b"string":
        return bytes(client.get(key))
    if kind == b"hash":
        return b"".join(k + v for k, v in client.hgetall(key).items())
    if kind == b"zset":
        return b"".join(member for member, _ in client.zrange(key, 0, -1, withscores=True))
    if kind == b"set":
        return b"".join(client.smembers(key))
    raise AssertionError(f"unexpected key type {kind!r} of {key!r}")


async def test_expired_and_unknown_cancel_links_answer_410(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink, redis_server: RedisServer
) -> None:
    """A link whose appointment has begun (its record expired) or that was never issued
    answers 410 to GET and POST, and nothing reaches the inbox."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        confirmed = await book_and_confirm(http, relay, practice, smtp_sink)
        client = redis_server.client()
        secret = confirmed.cancel_url.rsplit("/", 1)[1].split(".", 1)[1]
        # The appointment's start arrives: Redis expires the record, as it would then.
        client.pexpire(cancel_key(practice.slug, token_hash(secret)), 1)
        await wait_until_async(
            _record_gone(client, cancel_key(practice.slug, token_hash(secret))),
            "the cancel record to expire",
        )
        unknown = f"{relay.url}/x/{practice.slug}.{'A' * 32}"
        for url in (confirmed.cancel_url, unknown, f"{relay.url}/x/garbage"):
            async with http.get(url) as page:
                assert page.status == 410
                assert "nicht mehr möglich" in await page.text()
            async with http.post(url, data={"action": "cancel"}) as post:
                assert post.status == 410
        assert client.zcard(inbox_key(practice.slug)) == 1  # the booking alone
        client.close()


def _record_gone(client: Any, key: str) -> Any:
    async def check() -> bool:
        return not client.exists(key)

    return check


async def test_cross_site_cancel_post_is_refused(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink, redis_server: RedisServer
) -> None:
    """A cancel posted from another site's page is refused with 403 and cancels nothing."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        confirmed = await book_and_confirm(http, relay, practice, smtp_sink)
        for headers in (
            {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
            {"Origin": "https://evil.example"},
        ):
            async with http.post(
                confirmed.cancel_url, data={"action": "cancel"}, headers=headers
            ) as post:
                assert post.status == 403
        async with http.post(
            confirmed.cancel_url, data={"action": "cancel"}, headers={"Sec-Fetch-Site": "none"}
        ) as own:
            assert own.status == 200
    client = redis_server.client()
    assert client.zcard(inbox_key(practice.slug)) == 2  # the booking and one cancellation
    client.close()


async def test_a_cancellation_before_its_booking_is_kept_and_applied_when_it_arrives(
    relay_factory: Any, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """Given a booking another client fetched and did not acknowledge (hidden for the
    visibility timeout); when its cancellation arrives first, then the client keeps it, and
    writes the booking cancelled once the booking comes back."""
    relay = await relay_factory(inbox_visibility=1)
    practice = await relay.add_practice()
    out_dir = tmp_path / "out"
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        confirmed = await book_and_confirm(http, relay, practice, smtp_sink)
        async with http.get(
            f"{relay.url}/api/v1/inbox", params={"wait": "0"}, headers=practice.auth
        ) as fetched:
            (booking_item,) = (await fetched.json())["items"]
        async with http.post(confirmed.cancel_url, data={"action": "cancel"}) as cancelled:
            assert cancelled.status == 200
    assert await drain(relay, practice, out_dir) == 0
    booking_id = booking_item["id"]
    assert sorted(p.name for p in out_dir.iterdir()) == [f"{booking_id}.cancellation.json"]

    async def written() -> bool:
        await drain(relay, practice, out_dir)
        return (out_dir / f"{booking_id}.json").exists()

    await wait_until_async(written, "the hidden booking to come back and be written")
    document, calendar, appointment = the_booking(out_dir)
    assert document["status"] == "cancelled"
    assert str(calendar.walk("VEVENT")[0]["STATUS"]) == "CANCELLED"
    assert appointment["status"] == "cancelled"
    assert not (out_dir / f"{booking_id}.cancellation.json").exists()


async def test_a_wish_can_be_cancelled_until_the_set_time(
    relay_factory: Any, smtp_sink: SmtpSink, redis_server: RedisServer
) -> None:
    """A wish has no start the practice agreed to: its link works RELAY_WISH_CANCEL_HOURS."""
    relay = await relay_factory(wish_cancel_hours=5)
    practice = await relay.add_practice()
    wished = slot_times(days_ahead=30)[0][0]
    async with aiohttp.ClientSession() as http:
        confirmed = await book_and_confirm(
            http, relay, practice, smtp_sink, wish_booking_json(start=wished)
        )
    client = redis_server.client()
    secret = confirmed.cancel_url.rsplit("/", 1)[1].split(".", 1)[1]
    key = cancel_key(practice.slug, token_hash(secret))
    _, slot_id = client.get(key).decode().split(":")
    assert slot_id == ""
    left_hours = client.pttl(key) / 3_600_000
    assert 4.9 < left_hours <= 5
    client.close()


async def test_the_exec_hook_runs_for_a_cancellation_with_the_booking_files(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """--exec runs once for the booking and once for its cancellation, with
    TERMINRELAY_EVENT=cancellation and the booking's files, now marked cancelled."""
    command, folder = recorder(tmp_path)
    out_dir = tmp_path / "out"
    config = RunConfig(
        relay.url,
        practice.token,
        practice.key_file,
        out_dir,
        wait=0,
        formats=FORMATS,
        hook=Hook(command, timeout=30),
    )
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        confirmed = await book_and_confirm(http, relay, practice, smtp_sink)
        assert await run(config, once=True) == 0
        async with http.post(confirmed.cancel_url, data={"action": "cancel"}) as cancelled:
            assert cancelled.status == 200
        assert await run(config, once=True) == 0
    booking_call, cancel_call = calls(folder)
    assert booking_call["env"]["TERMINRELAY_EVENT"] == "booking"
    assert cancel_call["env"]["TERMINRELAY_EVENT"] == "cancellation"
    assert (
        cancel_call["env"]["TERMINRELAY_BOOKING_ID"]
        == booking_call["env"]["TERMINRELAY_BOOKING_ID"]
    )
    assert cancel_call["args"] == booking_call["args"]
    assert read_json(cancel_call["args"][0])["status"] == "cancelled"


def _sealed_item(
    document: dict[str, Any], signing_key: SigningKey, practice: PracticeHandle
) -> str:
    sealed = seal_booking(
        document,
        signing_key=signing_key,
        practice_key=bytes(practice.private_key.public_key),
    )
    return base64.b64encode(sealed).decode()


async def test_the_client_refuses_unknown_types_and_malformed_cancellations(
    practice: PracticeHandle,
) -> None:
    """A document of an unknown type, or a cancellation without a usable booking id or
    time, is refused, never written as a booking."""
    signing_key = SigningKey.generate()
    keys = load_key_ring(practice.key_file)
    base = {"id": str(uuid.uuid4()), "practice": practice.slug}
    refused = [
        {**base, "type": "rescheduling"},
        {
            **base,
            "type": "cancellation",
            "booking_id": "../x",
            "cancelled_at": "2026-01-01T00:00:00Z",
        },
        {**base, "type": "cancellation", "booking_id": str(uuid.uuid4()), "cancelled_at": "soon"},
    ]
    for document in refused:
        with pytest.raises(EnvelopeError):
            open_item(
                str(document["id"]),
                _sealed_item(document, signing_key, practice),
                keys=keys,
                relay_key=bytes(signing_key.verify_key),
                practice=practice.slug,
            )
    good = {
        **base,
        "type": "cancellation",
        "booking_id": str(uuid.uuid4()),
        "cancelled_at": "2026-01-01T01:00:00+01:00",
    }
    opened = open_item(
        str(good["id"]),
        _sealed_item(good, signing_key, practice),
        keys=keys,
        relay_key=bytes(signing_key.verify_key),
        practice=practice.slug,
    )
    assert opened["cancelled_at"] == "2026-01-01T00:00:00Z"
