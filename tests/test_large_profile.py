"""A real calendar: profiles of thousands of slots published plain or gzip-compressed,
refused past RELAY_MAX_PROFILE_BYTES with a clear 413, and the same free slots offered as
the plain definition gives (relay.profile.free_slots) while slots are held, expire and
are taken."""

from __future__ import annotations

import asyncio
import gzip
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from redis.asyncio import Redis

from practice_client.commands import publish
from relay.i18n.languages import LANGUAGES
from relay.practice.details import MAX_LINE_LENGTH, MAX_OPENING_HOURS_LINES
from relay.practice.profile import (
    MAX_APPOINTMENT_TYPES,
    MAX_ENTRY_NAME_LENGTH,
    MAX_TYPE_NOTE_LENGTH,
    free_slots,
    profile_from_json,
)
from relay.storage.store import held_key
from tests.conftest import PracticeHandle, RunningRelay
from tests.helpers import BERLIN, booking_json

DOCTORS = [f"Dr. {letter}. Beispiel" for letter in "ABCDE"]


def calendar(count: int) -> dict[str, Any]:
    """`count` 15-minute slots from tomorrow 08:00 Berlin time, five doctors at each time."""
    day = (datetime.now(BERLIN) + timedelta(days=1)).date()
    first = datetime(day.year, day.month, day.day, 8, 0, tzinfo=BERLIN)
    slots = []
    for index in range(count):
        start = first + timedelta(minutes=15 * (index // len(DOCTORS)))
        slots.append(
            {
                "start": start.isoformat(),
                "end": (start + timedelta(minutes=15)).isoformat(),
                "doctor": DOCTORS[index % len(DOCTORS)],
                "appointment_type": "Kontrolle",
            }
        )
    return {
        "name": "Praxis Dr. Beispiel",
        "time_zone": "Europe/Berlin",
        "doctors": DOCTORS,
        "appointment_types": [{"name": "Kontrolle", "minutes": 15}],
        "slots": slots,
        "accept_wishes": True,
    }


async def put(
    http: aiohttp.ClientSession,
    relay: RunningRelay,
    practice: PracticeHandle,
    body: bytes,
    *,
    gzipped: bool,
) -> tuple[int, dict[str, Any]]:
    headers = {**practice.auth, "Content-Type": "application/json"}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    async with http.put(f"{relay.url}/api/v1/profile", data=body, headers=headers) as response:
        return response.status, await response.json()


async def test_five_thousand_slots_are_accepted_plain_and_gzipped(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """A 5,000-slot profile (about 700 KB) is stored either way; the answer is a summary."""
    plain = json.dumps(calendar(5000)).encode()
    assert len(plain) > 64 * 1024 * 8
    async with aiohttp.ClientSession() as http:
        status, summary = await put(http, relay, practice, plain, gzipped=False)
        assert status == 200, summary
        assert summary["slots"] == 5000
        assert "start" not in json.dumps(summary)  # no slot list echoed back
        status, again = await put(http, relay, practice, gzip.compress(plain), gzipped=True)
        assert status == 200, again
        assert again["slots"] == 5000
        assert again["version"] == summary["version"] + 1
        async with http.get(f"{relay.url}/api/v1/practices/{practice.slug}") as response:
            assert len((await response.json())["slots"]) == 5000


def longest_texts() -> dict[str, Any]:
    """Every type and the opening hours at their longest, in all seven languages, in a
    script of two bytes a character in UTF-8 (Cyrillic)."""
    text = "я" * MAX_TYPE_NOTE_LENGTH

    def name(index: int, lang: str = "") -> str:
        return f"{index:02d}{lang}".ljust(MAX_ENTRY_NAME_LENGTH, "я")

    types = [{"name": "Kontrolle", "minutes": 15}] + [
        {
            "name": name(index),
            "minutes": 15,
            "note": text,
            "names": {lang: name(index, lang) for lang in LANGUAGES},
            "notes": dict.fromkeys(LANGUAGES, text),
        }
        for index in range(1, MAX_APPOINTMENT_TYPES)
    ]
    hours = ["я" * MAX_LINE_LENGTH] * MAX_OPENING_HOURS_LINES
    return {
        "language": "ru",
        "appointment_types": types,
        "details": {
            "opening_hours": hours,
            "opening_hours_by_language": dict.fromkeys(LANGUAGES, hours),
        },
    }


async def test_longest_texts_in_seven_languages_still_fit_a_calendar(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """With every text at its longest in all seven languages (about 350 KB of UTF-8), a
    4,500-slot calendar still fits the default RELAY_MAX_PROFILE_BYTES, as documented,
    and the public profile serves every translation."""
    assert relay.settings.max_profile_bytes == 1024 * 1024
    texts = longest_texts()
    assert len(json.dumps(texts, ensure_ascii=False).encode()) > 340_000
    body = json.dumps({**calendar(4500), **texts}, ensure_ascii=False).encode()
    assert 900_000 < len(body) < relay.settings.max_profile_bytes
    async with aiohttp.ClientSession() as http:
        status, summary = await put(http, relay, practice, body, gzipped=False)
        assert status == 200, summary
        assert summary["slots"] == 4500
        async with http.get(f"{relay.url}/api/v1/practices/{practice.slug}") as response:
            public = await response.json()
    assert public["language"] == "ru"
    assert public["appointment_types"] == [
        {"note": None, "names": {}, "notes": {}, **texts["appointment_types"][0]},
        *texts["appointment_types"][1:],
    ]
    assert (
        public["details"]["opening_hours_by_language"]
        == (texts["details"]["opening_hours_by_language"])
    )


async def test_oversized_profiles_and_gzip_bombs_are_refused_with_413(
    relay_factory: Any,
) -> None:
    """Past RELAY_MAX_PROFILE_BYTES, plain or once decompressed, the answer is 413 naming
    the limit, and the stored profile stays as it was."""
    relay = await relay_factory(max_profile_bytes=100_000)
    practice = await relay.add_practice()
    oversized = json.dumps(calendar(1000)).encode()
    assert len(oversized) > 100_000
    # 50 MB of JSON whitespace in about 50 KB: a decompression bomb.
    bomb = gzip.compress(b"[" + b" " * 50_000_000 + b"]")
    async with aiohttp.ClientSession() as http:
        status, answer = await put(http, relay, practice, oversized, gzipped=False)
        assert status == 413
        assert "100000 bytes" in answer["error"]
        status, answer = await put(http, relay, practice, gzip.compress(oversized), gzipped=True)
        assert status == 413
        assert "decompressed" in answer["error"]
        status, answer = await put(http, relay, practice, bomb, gzipped=True)
        assert status == 413
        assert "100000 bytes decompressed" in answer["error"]
        async with http.get(f"{relay.url}/api/v1/practices/{practice.slug}") as response:
            assert (await response.json())["slots"] == []


async def test_free_slots_of_a_large_calendar_match_the_plain_definition(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """Given 3,000 slots, one held, one taken and one whose hold expired, the API and
    the form's view offer exactly free_slots() of the stored profile; the expired hold
    leaves the held set at the next submit."""
    profile = calendar(3000)
    async with aiohttp.ClientSession() as http:
        status, _ = await put(http, relay, practice, json.dumps(profile).encode(), gzipped=False)
        assert status == 200
        stored = profile_from_json(
            json.loads(await relay.store.redis.get(f"tr:{{{practice.slug}}}:profile"))
        )
        slots = sorted(stored.slots, key=lambda slot: slot.start)
        held, taken, expired, later = slots[10], slots[500], slots[2000], slots[2999]

        def booking(slot: Any) -> dict[str, Any]:
            return booking_json(slot.start, doctor=slot.doctor, appointment_type="Kontrolle")

        submitted = await relay.service.submit(
            practice.slug, booking(held), client_network="192.0.2.0/24", lang="de"
        )
        assert submitted.token
        taking = await relay.service.submit(
            practice.slug, booking(taken), client_network="192.0.2.0/24", lang="de"
        )
        async with http.post(f"{relay.url}/c/{taking.token}", data={"action": "confirm"}) as c:
            assert c.status == 200
        # A hold whose time ran out (its pending booking expired with it).
        raw: Redis = relay.store.redis
        past_ms = int((datetime.now(UTC) - timedelta(seconds=1)).timestamp() * 1000)
        await raw.zadd(held_key(practice.slug), {expired.id: past_ms})

        now = relay.service.now()
        expected = free_slots(stored, {held.id, taken.id}, now)
        async with http.get(f"{relay.url}/api/v1/practices/{practice.slug}") as response:
            offered = (await response.json())["slots"]
        assert [(s["start"], s["doctor"]) for s in offered] == [
            (slot.start.isoformat(), slot.doctor) for slot in expected
        ]
        public = await relay.service.profile(practice.slug)
        assert list(public.free_slots) == expected
        assert expired in public.free_slots
        assert held not in public.free_slots

        # The next submit trims the expired hold from the held set.
        await relay.service.submit(
            practice.slug, booking(later), client_network="192.0.2.0/24", lang="de"
        )
        assert await raw.zscore(held_key(practice.slug), expired.id) is None
        assert await raw.zscore(held_key(practice.slug), held.id) is not None
        async with http.get(f"{relay.url}/p/{practice.slug}") as page:
            assert page.status == 200


async def test_practice_client_publishes_a_large_calendar_compressed(
    relay: RunningRelay, practice: PracticeHandle, capsys: Any
) -> None:
    """practice-client's publish sends the profile gzip-compressed and prints the relay's
    counts, not the profile."""
    code = await publish(relay.url, practice.token, calendar(3000))
    assert code == 0
    printed = capsys.readouterr().out
    assert "3000 slots offered" in printed
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{relay.url}/api/v1/practices/{practice.slug}") as response,
    ):
        assert len((await response.json())["slots"]) == 3000


async def evalsha_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_requests_arriving_together_share_one_load_of_a_large_profile(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """Fifty requests that find a 3,000-slot practice missing from the process's cache
    share one load (one script call and one parse, not fifty) at the version in Redis."""
    async with aiohttp.ClientSession() as http:
        status, _ = await put(
            http, relay, practice, json.dumps(calendar(3000)).encode(), gzipped=False
        )
        assert status == 200
    cache = relay.service.practices
    cache.forget(practice.slug)
    before = await evalsha_calls(relay.store.redis)
    loaded = await asyncio.gather(*(cache.current(practice.slug) for _ in range(50)))
    # The relay's own background work may run a script or two meanwhile; fifty loads
    # would be fifty.
    assert await evalsha_calls(relay.store.redis) - before < 10
    assert all(entry is loaded[0] for entry in loaded)
    version = (await relay.store.load_practice(practice.slug)).practice.profile_version
    assert loaded[0].version == version
    assert len(loaded[0].index) == 3000
