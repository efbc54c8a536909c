"""No log line carries request bytes: not the relay's, not aiohttp's, not at DEBUG level.

A real `relay serve` at DEBUG, its stdout and stderr captured, gets malformed requests over
raw sockets that carry a marker text, a real confirmation token and the practice's bearer
secret in every place a request has. None of them, in any encoding, may reach the log.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import aiohttp
import pytest

from relay.ops.logs import configure_logging
from tests.conftest import SmtpSink, link_in
from tests.helpers import booking_json
from tests.raw_http import SLUG, ServedRelay, http_request, served_relay

MARKER = f"Zwiebelkuchen{secrets.token_hex(6)}"


def encodings(secret: str) -> set[str]:
    """`secret` as a log line could spell it: raw, percent-encoded, hex, repr, JSON."""
    raw = secret.encode()
    return {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        quote(secret, safe="").lower(),
        raw.hex(),
        raw.hex().upper(),
        repr(raw)[2:-1],
        json.dumps(secret)[1:-1],
    }


def hostile_requests(marker: str, token: str, bearer: str) -> list[bytes]:
    """Malformed requests carrying the three secrets in the request line, headers and body."""
    m, t, b = marker.encode(), token.encode(), bearer.encode()
    secrets_json = json.dumps({"first_name": marker, "note": token, "phone": bearer}).encode()
    chunked = (
        b"Host: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        b"Authorization: Bearer " + b + b"\r\nConnection: close\r\n\r\n"
    )
    return [
        # Request line
        http_request(b"GET", b"/c/" + t + b"?q=" + m),
        http_request(b"GET", b"/c/" + t + b"\xff" + m),
        http_request(b"GET", b"/c/" + t + b" " + m),
        b"GET /c/" + t + b"?" + m + b" HTTP/9.9\r\nAuthorization: Bearer " + b + b"\r\n\r\n",
        b"GET /c/" + t + b"?" + m + b"\r\n\r\n",
        m + b"\x01 /c/" + t + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET http://[" + m + b"/c/" + t + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        http_request(b"GET", b"/c/" + t + b"?" + m + b"=" + b"x" * 5000),
        # Headers
        http_request(b"GET", b"/api/v1/inbox?wait=0", headers=[b"Authorization: Bearer " + b]),
        http_request(
            b"GET", b"/api/v1/inbox?wait=0", headers=[b"Authorization: Bearer " + b + b"\xff" + m]
        ),
        http_request(b"GET", b"/privacy", headers=[b"X-" + m + b"\x01: " + t]),
        http_request(b"GET", b"/privacy", headers=[b"X-Note: " + m + b"\x00" + t]),
        http_request(b"GET", b"/privacy", headers=[b"X-Long: " + m + t + b + b"a" * 10000]),
        http_request(b"GET", b"/privacy", headers=[b"X-Fold: a\r\n " + m + t]),
        http_request(b"GET", b"/privacy", headers=[b"Host: " + m + b"\xff" + t]),
        http_request(b"GET", b"/privacy", headers=[b"Accept-Language: " + m + b";q=" + t]),
        http_request(b"POST", b"/p/" + SLUG.encode(), headers=[b"Expect: " + m + t], body=b"a=b"),
        http_request(b"GET", b"/metrics", headers=[b"Authorization: Bearer " + b + b"\xfe" + m]),
        http_request(b"GET", b"/privacy", headers=[b"Transfer-Encoding: " + m]),
        # Bodies
        http_request(
            b"POST",
            f"/api/v1/practices/{SLUG}/bookings".encode(),
            body=secrets_json[:-1] + b"\xff}",
            content_type=b"application/json",
        ),
        http_request(
            b"POST",
            f"/api/v1/practices/{SLUG}/bookings".encode(),
            body=b"[" * 3000 + json.dumps(marker + token).encode() + b"]" * 3000,
            content_type=b"application/json",
        ),
        http_request(
            b"POST",
            f"/api/v1/practices/{SLUG}/bookings".encode(),
            body=b'{"' + m + b'": ' + b"9" * 5000 + b', "t": "' + t + b'"}',
            content_type=b"application/json",
        ),
        http_request(
            b"POST",
            b"/api/v1/inbox/ack",
            headers=[b"Authorization: Bearer " + b],
            body=b'{"ids": ["' + m + b'\\ud800", "' + t + b'"]}',
            content_type=b"application/json",
        ),
        http_request(
            b"POST",
            f"/api/v1/practices/{SLUG}/bookings".encode(),
            headers=[b"Content-Encoding: gzip"],
            body=secrets_json,
            content_type=b"application/json",
        ),
        http_request(
            b"POST",
            b"/p/" + SLUG.encode(),
            body=b"first_name=" + m + b"%ff&note=" + t,
            content_type=b"application/x-www-form-urlencoded",
        ),
        http_request(
            b"POST",
            b"/p/" + SLUG.encode(),
            body=b"first_name=" + m,
            content_type=b"application/x-www-form-urlencoded; charset=" + m,
        ),
        http_request(
            b"POST",
            b"/c/" + t,
            body=b'--b\r\nContent-Disposition: form-data; name="' + m + b'\xff"\r\n\r\n' + t,
            content_type=b"multipart/form-data; boundary=b",
        ),
        http_request(
            b"POST",
            b"/c/" + t,
            body=b"action=" + m,
            content_type=b"application/x-www-form-urlencoded",
        ),
        # Chunked encodings
        b"POST /api/v1/practices/"
        + SLUG.encode()
        + b"/bookings HTTP/1.1\r\n"
        + chunked
        + m
        + b"\r\n"
        + t
        + b"\r\n0\r\n\r\n",
        b"POST /api/v1/inbox/ack HTTP/1.1\r\n"
        + chunked
        + b"5;"
        + m
        + b"\r\n"
        + t[:5]
        + b"\r\n0\r\n\r\n",
        b"POST /api/v1/practices/"
        + SLUG.encode()
        + b"/bookings HTTP/1.1\r\n"
        + chunked[:-2]
        + b"Content-Length: 5\r\n\r\n"
        + m,
    ]


@pytest.fixture
def relay(redis_url: str, smtp_sink: SmtpSink, tmp_path: Path) -> Iterator[ServedRelay]:
    """A `relay serve` at DEBUG with a metrics token, its output in one file."""
    with served_relay(redis_url, smtp_sink, tmp_path, RELAY_METRICS_TOKEN=MARKER + "m") as running:
        yield running


async def confirmation_token(
    relay: ServedRelay, smtp_sink: SmtpSink
) -> tuple[str, dict[str, object]]:
    """A real confirmation token, from the mail of a booking submitted with marker text."""
    booking = booking_json(note=f"{MARKER} Rückenschmerzen", first_name=f"{MARKER}a")
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{relay.port}/api/v1/practices/{SLUG}/bookings"
        async with http.post(url, json=booking) as answer:
            assert answer.status == 202, await answer.text()
    [mail] = await smtp_sink.wait_for(1)
    return link_in(mail).rsplit("/c/", 1)[1], booking


async def test_malformed_requests_leave_no_trace_in_the_logs(
    relay: ServedRelay, smtp_sink: SmtpSink
) -> None:
    """Given a relay at DEBUG and a real booking, when malformed requests carry the marker,
    the confirmation token and the bearer secret everywhere, then no log line holds any of
    them and no answer is a 5xx or echoes them."""
    token, booking = await confirmation_token(relay, smtp_sink)
    bearer = relay.practice_token
    requests = hostile_requests(MARKER, token, bearer)

    answers = await asyncio.gather(*(asyncio.to_thread(relay.send, r) for r in requests))
    relay.process.stop()  # flushes everything the relay would still write

    assert [a.status for a in answers if a.status >= 500 or a.status == 0] == []
    log = relay.log_text()
    assert '"route":"/c/{token}"' in log  # the relay did log these requests, safely
    forbidden = {
        "marker": MARKER,
        "confirmation secret": token.split(".", 1)[1],
        "bearer secret": bearer.split(".", 1)[1],
        "booking note": str(booking["note"]),
        "email": str(booking["email"]),
    }
    for what, secret in forbidden.items():
        for spelling in encodings(secret):
            assert spelling not in log, f"{what} reached the log as {spelling!r}"
    # aiohttp's own answers to unparsable requests once quoted the bytes; now a fixed text.
    # (Pages may link to their own URL, which holds the token: that is the patient's link.)
    for request, answer in zip(requests, answers, strict=True):
        if answer.content_type == "text/plain":
            for secret in forbidden.values():
                assert secret.encode() not in answer.body, (request[:120], answer.body[:200])


def fail_with(error: Exception) -> None:
    """Raise `error`, as library code would."""
    raise error


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """configure_logging at DEBUG into a buffer; the root logger restored after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("DEBUG", stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize("name", ["aiohttp.server", "aiohttp.web", "aiohttp.access", "asyncio"])
def test_foreign_records_are_reduced_to_a_fixed_event(captured: io.StringIO, name: str) -> None:
    """Another library's record keeps its logger and level; its text, arguments, extras
    and exception message are withheld."""
    try:
        fail_with(ValueError(f"Invalid header: {MARKER}"))
    except ValueError:
        logging.getLogger(name).exception(
            "Error handling request %s", MARKER, extra={"request_header": {"x": MARKER}}
        )

    [line] = [json.loads(text) for text in captured.getvalue().splitlines()]
    assert MARKER not in captured.getvalue()
    assert (line["logger"], line["level"], line["error"]) == (name, "ERROR", "ValueError")


def test_exceptions_are_logged_without_their_messages(captured: io.StringIO) -> None:
    """The relay's own exception logs keep types and frames, never the exception's text."""
    try:
        try:
            {}[MARKER]
        except KeyError as missing:
            raise RuntimeError(MARKER) from missing
    except RuntimeError:
        logging.getLogger("relay.http").exception("failed")

    [line] = [json.loads(text) for text in captured.getvalue().splitlines()]
    assert MARKER not in captured.getvalue()
    assert "KeyError" in line["exc"]
    assert "RuntimeError" in line["exc"]
    assert "test_log_hygiene.py" in line["exc"]
