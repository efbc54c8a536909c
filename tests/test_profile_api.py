"""The profile API's encodings: gzip for clients that accept it, compressed once per
profile version and set of held slots, the identity body for the rest, and an ETag that
answers an unchanged profile with 304."""

from __future__ import annotations

import gzip
import json
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from tests.conftest import PracticeHandle, RunningRelay
from tests.helpers import booking_json, profile_json, put_profile, slot_times, submit

COUNT = 12


async def fetch(
    http: aiohttp.ClientSession, relay: RunningRelay, slug: str, **headers: str
) -> tuple[int, CIMultiDictProxy[str], bytes]:
    """Status, headers and the raw (not decompressed) body of GET /api/v1/practices/{slug}."""
    async with http.get(f"{relay.url}/api/v1/practices/{slug}", headers=headers) as response:
        return response.status, response.headers, await response.read()


async def published(relay: RunningRelay, practice: PracticeHandle) -> aiohttp.ClientSession:
    """A session that neither sends its own Accept-Encoding nor decompresses, after the
    practice published COUNT slots."""
    http = aiohttp.ClientSession(auto_decompress=False, skip_auto_headers=["Accept-Encoding"])
    await put_profile(http, relay.url, practice.token, profile_json(count=COUNT))
    return http


def slots_of(body: bytes) -> list[str]:
    profile: dict[str, Any] = json.loads(body)
    return [slot["start"] for slot in profile["slots"]]


async def test_gzip_client_gets_the_identity_body_compressed(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """With Accept-Encoding: gzip the body is gzip and decompresses to the identity body
    byte for byte; without it, or with gzip;q=0, the body is the plain JSON."""
    async with await published(relay, practice) as http:
        status, plain_headers, plain = await fetch(http, relay, practice.slug)
        assert status == 200
        assert "Content-Encoding" not in plain_headers
        assert len(slots_of(plain)) == COUNT
        status, headers, packed = await fetch(
            http, relay, practice.slug, **{"Accept-Encoding": "br, gzip;q=0.8"}
        )
        assert status == 200
        assert headers["Content-Encoding"] == "gzip"
        assert headers["Content-Type"] == "application/json; charset=utf-8"
        assert int(headers["Content-Length"]) == len(packed)
        assert gzip.decompress(packed) == plain
        # Both bodies vary with Accept-Encoding (their CORS headers with Origin, for embed
        # mode: relay/web/cors.py) and are the same profile: the same tag.
        assert headers["Vary"] == plain_headers["Vary"] == "Accept-Encoding, Origin"
        assert headers["ETag"] == plain_headers["ETag"]
        for refusing in ("gzip;q=0", "identity", "*;q=0", "deflate"):
            status, headers, body = await fetch(
                http, relay, practice.slug, **{"Accept-Encoding": refusing}
            )
            assert status == 200, refusing
            assert "Content-Encoding" not in headers, refusing
            assert body == plain, refusing
        status, headers, body = await fetch(http, relay, practice.slug, **{"Accept-Encoding": "*"})
        assert headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(body) == plain


async def test_gzip_body_is_made_once_and_changes_when_a_slot_is_held(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """Repeated requests get the same cached body; a booking that holds a slot yields a
    new gzip body (and ETag) without that slot, the same as the new identity body."""
    gzip_only = {"Accept-Encoding": "gzip"}
    async with await published(relay, practice) as http:
        _, before_headers, before = await fetch(http, relay, practice.slug, **gzip_only)
        _, _, again = await fetch(http, relay, practice.slug, **gzip_only)
        assert again == before
        cached = await relay.service.profile_json(practice.slug)
        assert await relay.service.profile_json(practice.slug) is cached
        assert cached.gzipped is cached.gzipped

        held_start = slot_times(count=COUNT)[4][0]
        held = held_start.isoformat()
        assert held in slots_of(gzip.decompress(before))
        async with aiohttp.ClientSession() as plain_http:
            answer = await submit(plain_http, relay.url, practice.slug, booking_json(held_start))
            assert answer.status == 202

        status, headers, after = await fetch(http, relay, practice.slug, **gzip_only)
        assert status == 200
        assert headers["Content-Encoding"] == "gzip"
        assert after != before
        assert headers["ETag"] != before_headers["ETag"]
        offered = slots_of(gzip.decompress(after))
        assert held not in offered
        assert len(offered) == COUNT - 1
        _, _, plain = await fetch(http, relay, practice.slug)
        assert gzip.decompress(after) == plain


async def test_unchanged_profile_answers_304_to_its_etag(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """If-None-Match with the current ETag (weak or strong form, in a list) answers 304
    without a body; once a slot is held the old tag gets the full new profile."""
    async with await published(relay, practice) as http:
        status, headers, _ = await fetch(http, relay, practice.slug, **{"Accept-Encoding": "gzip"})
        assert status == 200
        etag = headers["ETag"]
        assert etag.startswith('W/"')
        assert headers["Cache-Control"] == "no-cache"
        for condition in (etag, etag.removeprefix("W/"), f'"other", {etag}', "*"):
            status, headers, body = await fetch(
                http, relay, practice.slug, **{"If-None-Match": condition}
            )
            assert status == 304, condition
            assert body == b""
            assert headers["ETag"] == etag
            assert headers["Vary"] == "Accept-Encoding, Origin"
        status, _, body = await fetch(http, relay, practice.slug, **{"If-None-Match": '"other"'})
        assert status == 200
        assert len(slots_of(body)) == COUNT

        async with aiohttp.ClientSession() as plain_http:
            held = slot_times(count=COUNT)[0][0]
            answer = await submit(plain_http, relay.url, practice.slug, booking_json(held))
            assert answer.status == 202
        status, headers, body = await fetch(http, relay, practice.slug, **{"If-None-Match": etag})
        assert status == 200
        assert headers["ETag"] != etag
        assert len(slots_of(body)) == COUNT - 1
