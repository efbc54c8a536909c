"""The booking form page's encodings: gzip for clients that accept it, compressed once per
kept page (relay/web/form_pages.py), the identity page for the rest; pages that are not
kept, and every page holding a token, are never compressed (BREACH)."""

from __future__ import annotations

import gzip
import re
from datetime import datetime

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from relay.encoded import Encoded
from relay.web.encoding import accepts_gzip
from relay.web.form_pages import FORM_PAGES
from tests.conftest import PracticeHandle, RelayFactory, RunningRelay, SmtpSink, link_in
from tests.helpers import booking_json, profile_json, put_profile, slot_times, submit
from tests.test_cancellation import CANCEL_LINK, mail_to
from tests.test_pages import form_post

COUNT = 12
GZIP = {"Accept-Encoding": "gzip"}
SLOT_VALUE = re.compile(r'name="slot" value="([^"]+)"')


async def fetch(
    http: aiohttp.ClientSession, url: str, **headers: str
) -> tuple[int, CIMultiDictProxy[str], bytes]:
    """Status, headers and the raw (not decompressed) body of GET `url`."""
    async with http.get(url, headers=headers) as response:
        return response.status, response.headers, await response.read()


def raw_session() -> aiohttp.ClientSession:
    """A session that neither sends its own Accept-Encoding nor decompresses."""
    return aiohttp.ClientSession(auto_decompress=False, skip_auto_headers=["Accept-Encoding"])


def offered(page: bytes) -> list[str]:
    return [value for value in SLOT_VALUE.findall(page.decode()) if value]


def kept_pages(relay: RunningRelay) -> list[Encoded]:
    """The pages the relay keeps now (a look inside FormPages, to see what it compressed)."""
    return [entry[2] for entry in relay.app[FORM_PAGES]._pages.values()]


@pytest.mark.parametrize(
    ("accept_encoding", "admitted"),
    [
        (None, False),
        ("", False),
        ("gzip", True),
        ("GZIP", True),
        ("x-gzip", True),
        ("br, gzip;q=0.8", True),
        ("gzip;q=0", False),
        ("gzip; q=0.000", False),
        ("gzip;q=nonsense", False),
        ("identity", False),
        ("deflate, br", False),
        ("*", True),
        ("*;q=0", False),
        ("*, gzip;q=0", False),
        ("gzip;q=0.5, *;q=0", True),
    ],
)
def test_accept_encoding_admits_gzip_as_rfc_9110_says(
    accept_encoding: str | None, admitted: bool
) -> None:
    """gzip is admitted when named (or x-gzip) with q > 0, or by `*` when not named."""
    assert accepts_gzip(accept_encoding) is admitted


def test_gzip_copy_is_made_once_and_decompresses_to_the_body() -> None:
    """The gzip copy is made on first use, kept, and is the body byte for byte."""
    body = Encoded(b"<p>Termin</p>" * 100)
    packed = body.gzipped
    assert body.gzipped is packed
    assert gzip.decompress(packed) == body.identity
    assert len(packed) < len(body.identity)


async def test_gzip_client_gets_the_kept_page_compressed(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """With Accept-Encoding admitting gzip the form page is gzip and decompresses to the
    identity page byte for byte, compressed once; without it the page is identity; both
    say Vary: Accept-Encoding."""
    url = f"{relay.url}/p/{practice.slug}"
    async with raw_session() as http:
        await put_profile(http, relay.url, practice.token, profile_json(count=COUNT))
        status, plain_headers, plain = await fetch(http, url)
        assert status == 200
        assert "Content-Encoding" not in plain_headers
        assert plain_headers["Vary"] == "Accept-Encoding"
        assert len(offered(plain)) == COUNT

        status, headers, packed = await fetch(http, url, **{"Accept-Encoding": "br, gzip;q=0.8"})
        assert status == 200
        assert headers["Content-Encoding"] == "gzip"
        assert headers["Vary"] == "Accept-Encoding"
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert int(headers["Content-Length"]) == len(packed)
        assert gzip.decompress(packed) == plain
        assert len(packed) < len(plain) // 2
        # The security headers are the identity page's.
        assert headers["Content-Security-Policy"] == plain_headers["Content-Security-Policy"]

        (page,) = kept_pages(relay)
        kept = page.gzipped
        _, _, again = await fetch(http, url, **GZIP)
        assert again == packed
        assert page.gzipped is kept

        for refusing in ("gzip;q=0", "identity", "*;q=0", "deflate"):
            status, headers, body = await fetch(http, url, **{"Accept-Encoding": refusing})
            assert status == 200, refusing
            assert "Content-Encoding" not in headers, refusing
            assert body == plain, refusing


async def test_gzip_page_changes_when_a_slot_is_held_or_the_profile_republished(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """Given a gzip form page; when a booking holds a slot, then the gzip page no longer
    offers it; when the practice publishes again, then the gzip page shows the new
    calendar; each time it is the new identity page compressed."""
    url = f"{relay.url}/p/{practice.slug}"
    async with raw_session() as http:
        await put_profile(http, relay.url, practice.token, profile_json(count=COUNT))
        _, _, before = await fetch(http, url, **GZIP)
        held_start = slot_times(count=COUNT)[4][0]
        held = [
            slot
            for slot in offered(gzip.decompress(before))
            if slot.startswith(held_start.isoformat())
        ]
        assert len(held) == 1

        async with aiohttp.ClientSession() as plain_http:
            answer = await submit(plain_http, relay.url, practice.slug, booking_json(held_start))
            assert answer.status == 202
        status, headers, after_hold = await fetch(http, url, **GZIP)
        assert status == 200
        assert headers["Content-Encoding"] == "gzip"
        assert after_hold != before
        slots = offered(gzip.decompress(after_hold))
        assert held[0] not in slots
        assert len(slots) == COUNT - 1
        _, _, plain = await fetch(http, url)
        assert gzip.decompress(after_hold) == plain

        await put_profile(http, relay.url, practice.token, profile_json(count=2))
        _, headers, republished = await fetch(http, url, **GZIP)
        assert headers["Content-Encoding"] == "gzip"
        assert len(offered(gzip.decompress(republished))) == 2
        _, _, plain = await fetch(http, url)
        assert gzip.decompress(republished) == plain


async def test_form_page_with_a_challenge_is_not_compressed(
    relay_factory: RelayFactory,
) -> None:
    """A form page carrying a proof-of-work challenge is rendered per request and not
    kept: it goes out uncompressed, whatever the client accepts."""
    relay = await relay_factory(pow="always")
    practice = await relay.add_practice()
    async with raw_session() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        status, headers, body = await fetch(http, f"{relay.url}/p/{practice.slug}", **GZIP)
        assert status == 200
        assert "Content-Encoding" not in headers
        assert b'name="altcha"' in body
        assert kept_pages(relay) == []


async def test_pages_holding_tokens_are_never_compressed(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """The form refilled with errors, the sent page, the confirmation page (/c/...), the
    result page and the cancel page (/x/...) go out uncompressed to a gzip client."""
    url = f"{relay.url}/p/{practice.slug}"
    async with raw_session() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        async with http.post(url, data={"first_name": "Zerlina"}, headers=GZIP) as refilled:
            assert refilled.status == 422
            assert "Content-Encoding" not in refilled.headers
        start = datetime.fromisoformat(profile_json()["slots"][0]["start"])
        booking = booking_json(start)
        async with http.post(url, data=form_post(booking), headers=GZIP) as sent:
            assert sent.status == 200
            assert "Content-Encoding" not in sent.headers
        link = link_in(await mail_to(smtp_sink, booking["email"], "/c/"))
        status, headers, _ = await fetch(http, link, **GZIP)
        assert status == 200
        assert "Content-Encoding" not in headers
        async with http.post(link, data={"action": "confirm"}, headers=GZIP) as result:
            assert result.status == 200
            assert "Content-Encoding" not in result.headers
            cancel = CANCEL_LINK.search((await result.read()).decode())
        assert cancel, "no cancel link on the result page"
        status, headers, _ = await fetch(http, relay.url + cancel.group(1), **GZIP)
        assert status == 200
        assert "Content-Encoding" not in headers
