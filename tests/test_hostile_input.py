"""Hostile bytes against a real `relay serve` over loopback: never a 5xx, always a clear 4xx.

A fixed regression case for each input that once crashed the relay with a 500, and a
Hypothesis fuzz of raw HTTP requests (request lines, headers, content types, JSON, form
and multipart bodies, broken chunking) that asserts no answer is a 5xx and every error
answer is well formed: JSON for the API, a page for the browser, a fixed text for
requests that do not parse as HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import RedisServer, SmtpSink
from tests.helpers import booking_json, profile_json
from tests.raw_http import SLUG, RawResponse, ServedRelay, http_request, served_relay

# Its own database: the relay serves the whole module, while other tests flush theirs.
HOSTILE_DB = 9
METRICS_TOKEN = "metrics-token-for-the-hostile-tests"
# Bounded so the fuzz takes well under a minute on two shared cores.
FUZZ_EXAMPLES = 1500

JSON = b"application/json"
FORM = b"application/x-www-form-urlencoded"
BOOKINGS = f"/api/v1/practices/{SLUG}/bookings".encode()
FORM_PAGE = f"/p/{SLUG}".encode()
CONFIRM = f"/c/{SLUG}.{'a' * 40}".encode()


@pytest.fixture(scope="module")
def relay(
    redis_server: RedisServer, smtp_server: SmtpSink, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedRelay]:
    """One `relay serve` for the module, with a practice that published slots."""
    client = redis_server.client(HOSTILE_DB)
    client.flushdb()
    client.close()
    folder: Path = tmp_path_factory.mktemp("hostile")
    with served_relay(
        redis_server.url(HOSTILE_DB), smtp_server, folder, RELAY_METRICS_TOKEN=METRICS_TOKEN
    ) as running:
        yield running


def assert_well_formed(request: bytes, response: RawResponse) -> None:
    """No 5xx; a 4xx explains itself in the form its endpoint speaks."""
    assert 0 < response.status < 500, (request[:300], response.status, response.body[:300])
    if response.status < 400 or request.startswith(b"HEAD "):  # HEAD answers have no body
        return
    if response.content_type == "application/json":
        body = json.loads(response.body)
        assert isinstance(body, dict)
        assert body.get("error") or body.get("errors"), body
    elif response.content_type == "text/html":
        assert response.body.startswith(b"<!DOCTYPE html>"), response.body[:200]
    else:
        # Requests that do not parse as HTTP get a fixed text, never their bytes back
        # (and /metrics, a text endpoint, says in one line that it wants its token).
        assert response.content_type == "text/plain", response.headers
        assert response.body.isascii(), response.body
        assert 0 < len(response.body) < 100, response.body


@dataclass(frozen=True)
class Case:
    """A request that once got a 500, and the answer it must get now."""

    name: str
    build: Callable[[str], bytes]  # practice token -> request
    status: int
    content_type: str


def _bearer(token: str, extra: bytes = b"") -> bytes:
    return b"Authorization: Bearer " + token.encode() + extra


def _json_post(body: bytes, path: bytes = BOOKINGS) -> Callable[[str], bytes]:
    return lambda token: http_request(b"POST", path, body=body, content_type=JSON)


def _form_post(body: bytes, content_type: bytes, path: bytes = FORM_PAGE) -> Callable[[str], bytes]:
    return lambda token: http_request(b"POST", path, body=body, content_type=content_type)


def _multipart(*parts: bytes) -> bytes:
    return b"".join(b"--b\r\n" + part + b"\r\n" for part in parts) + b"--b--\r\n"


def _edge_profile() -> bytes:
    profile = profile_json()
    profile["slots"] = [{"start": "9999-12-31T23:00:00-14:00", "end": "9999-12-31T23:20:00-14:00"}]
    return json.dumps(profile).encode()


CASES = [
    Case(
        "bearer token with bytes that are not UTF-8",
        lambda token: http_request(
            b"GET", b"/api/v1/inbox?wait=0", headers=[_bearer(token, b"\xff")]
        ),
        401,
        "application/json",
    ),
    Case(
        "metrics token with bytes that are not UTF-8",
        lambda token: http_request(
            b"GET", b"/metrics", headers=[b"Authorization: Bearer \xff\xfe"]
        ),
        401,
        "text/plain",
    ),
    Case(
        "lone surrogate in an acknowledged id",
        lambda token: http_request(
            b"POST",
            b"/api/v1/inbox/ack",
            headers=[_bearer(token)],
            body=b'{"ids": ["\\ud800"]}',
            content_type=JSON,
        ),
        400,
        "application/json",
    ),
    Case("JSON nested 5,000 deep", _json_post(b"[" * 5000 + b"]" * 5000), 400, "application/json"),
    Case(
        "JSON integer of 5,000 digits",
        _json_post(b'{"new_patient": ' + b"9" * 5000 + b"}"),
        400,
        "application/json",
    ),
    Case(
        "JSON that is not UTF-8",
        _json_post(b'{"first_name": "\xff\xfe"}'),
        400,
        "application/json",
    ),
    Case(
        "JSON with an odd charset",
        lambda token: http_request(
            b"POST", BOOKINGS, body=b"{}", content_type=b"application/json; charset=latin-9"
        ),
        415,
        "application/json",
    ),
    Case(
        "slot at the end of the calendar",
        lambda token: http_request(
            b"PUT",
            b"/api/v1/profile",
            headers=[_bearer(token)],
            body=_edge_profile(),
            content_type=JSON,
        ),
        422,
        "application/json",
    ),
    Case(
        "wish at the end of the calendar",
        _json_post(json.dumps({**booking_json(), "start": "9999-12-31T23:59:00+00:00"}).encode()),
        422,
        "application/json",
    ),
    Case(
        "form with an unknown charset",
        _form_post(b"first_name=a", FORM + b"; charset=xyz"),
        415,
        "text/html",
    ),
    Case("form with %ff", _form_post(b"first_name=%ff", FORM), 400, "text/html"),
    Case("form with raw bytes", _form_post(b"first_name=\xff\xfe", FORM), 400, "text/html"),
    Case("form with an encoded surrogate", _form_post(b"note=%ED%A0%80", FORM), 400, "text/html"),
    Case("multipart without boundary", _form_post(b"x", b"multipart/form-data"), 400, "text/html"),
    Case(
        "multipart without parts",
        _form_post(b"--b\r\ngarbage\r\n", b"multipart/form-data; boundary=b"),
        400,
        "text/html",
    ),
    Case(
        "multipart field without a name",
        _form_post(
            _multipart(b"Content-Disposition: form-data\r\n\r\nx"),
            b"multipart/form-data; boundary=b",
            CONFIRM,
        ),
        400,
        "text/html",
    ),
    Case(
        "multipart field that is not UTF-8",
        _form_post(
            _multipart(b'Content-Disposition: form-data; name="first_name"\r\n\r\n\xff\xfe'),
            b"multipart/form-data; boundary=b",
        ),
        400,
        "text/html",
    ),
    Case(
        "multipart field with an unknown charset",
        _form_post(
            _multipart(
                b'Content-Disposition: form-data; name="first_name"\r\n'
                b"Content-Type: text/plain; charset=xyz\r\n\r\nx"
            ),
            b"multipart/form-data; boundary=b",
        ),
        415,
        "text/html",
    ),
    Case(
        "body claiming gzip",
        lambda token: http_request(
            b"POST", BOOKINGS, headers=[b"Content-Encoding: gzip"], body=b"{}", content_type=JSON
        ),
        415,
        "application/json",
    ),
    Case(
        "static file name past the file system's limit",
        lambda token: http_request(b"GET", b"/static/" + b"a" * 3000),
        404,
        "text/html",
    ),
    Case(
        "Expect header that is not UTF-8",
        lambda token: http_request(
            b"POST", FORM_PAGE, headers=[b"Expect: \xff"], body=b"a=b", content_type=FORM
        ),
        417,
        "text/plain",
    ),
    Case(
        "inbox wait of 5,000 digits",
        lambda token: http_request(
            b"GET", b"/api/v1/inbox?wait=" + b"9" * 3000, headers=[_bearer(token)]
        ),
        422,
        "application/json",
    ),
    Case(
        "inbox limit out of range",
        lambda token: http_request(
            b"GET", b"/api/v1/inbox?wait=0&limit=-1", headers=[_bearer(token)]
        ),
        422,
        "application/json",
    ),
    Case(
        "request line past the limit",
        lambda token: http_request(b"GET", b"/privacy?lang=" + b"x" * 5000),
        400,
        "text/plain",
    ),
    Case(
        "broken chunked body",
        lambda token: (
            b"POST " + BOOKINGS + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"
        ),
        400,
        "text/plain",
    ),
    Case(
        "confirmation with an unknown action",
        _form_post(b"action=%C3%A4", FORM, CONFIRM),
        400,
        "text/html",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_known_cause_gets_a_clear_4xx(relay: ServedRelay, case: Case) -> None:
    """Each input that once crashed the relay now gets its 4xx, in its endpoint's format."""
    request = case.build(relay.practice_token)

    response = relay.send(request)

    assert (response.status, response.content_type) == (case.status, case.content_type), (
        response.body[:300]
    )
    assert_well_formed(request, response)


def test_bad_input_changes_nothing(relay: ServedRelay, redis_server: RedisServer) -> None:
    """Given the practice's profile, when every regression case is sent, then the profile
    is unchanged and no booking was stored."""
    profile_request = http_request(b"GET", f"/api/v1/practices/{SLUG}".encode())
    before = relay.send(profile_request)

    for case in CASES:
        relay.send(case.build(relay.practice_token))

    assert relay.send(profile_request).body == before.body
    client = redis_server.client(HOSTILE_DB)
    try:
        assert client.keys(f"tr:{{{SLUG}}}:b:*") == []
    finally:
        client.close()


# The fuzz ------------------------------------------------------------------------------

TARGETS = [
    b"/",
    FORM_PAGE,
    BOOKINGS,
    f"/api/v1/practices/{SLUG}".encode(),
    b"/api/v1/inbox",
    b"/api/v1/inbox/ack",
    b"/api/v1/profile",
    b"/api/v1/key",
    b"/api/v1/relay-key",
    b"/api/v1/openapi.json",
    CONFIRM,
    b"/privacy",
    b"/static/site.css",
    b"/healthz",
    b"/readyz",
    b"/metrics",
]
# Content-Length and Transfer-Encoding are set by the test, so every request is complete.
HEADER_NAMES = [
    b"Authorization",
    b"Accept-Language",
    b"Expect",
    b"X-Forwarded-For",
    b"Origin",
    b"Sec-Fetch-Site",
    b"Content-Encoding",
    b"Cookie",
    b"Range",
    b"If-None-Match",
    b"Host",
]
CONTENT_TYPES = [
    JSON,
    JSON + b"; charset=utf-8",
    JSON + b"; charset=utf-16",
    FORM,
    FORM + b"; charset=iso-8859-1",
    FORM + b"; charset=nonsense",
    b"multipart/form-data; boundary=b",
    b"multipart/form-data",
    b"multipart/mixed; boundary=b",
    b"text/plain",
    b"application/octet-stream",
]

# Every character, lone surrogates and controls included.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)
# A real booking with some fields replaced, so the validators see hostile values too.
booking_like = st.dictionaries(
    st.sampled_from(sorted(booking_json())) | any_text, json_values, max_size=5
).map(lambda changes: {**booking_json(), **changes})
edge_dates = st.sampled_from(
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-02-30T10:00:00+01:00"]
).map(lambda start: {**booking_json(), "start": start})
json_bodies = st.one_of(
    st.one_of(json_values, booking_like, edge_dates).map(
        lambda value: json.dumps(value, allow_nan=True).encode()
    ),
    st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(min_value=18, max_value=6000).map(lambda n: b'{"minutes": ' + b"7" * n + b"}"),
)
form_pairs = st.lists(st.tuples(st.binary(max_size=12), st.binary(max_size=40)), max_size=6)
form_bodies = form_pairs.map(
    lambda pairs: b"&".join(
        quote_from_bytes(k).encode() + b"=" + quote_from_bytes(v).encode() for k, v in pairs
    )
) | st.binary(max_size=200)
multipart_bodies = st.lists(
    st.tuples(
        st.binary(max_size=12),
        st.sampled_from(
            [
                b"",
                b"Content-Type: text/plain; charset=utf-8\r\n",
                b"Content-Type: text/plain; charset=x\r\n",
            ]
        ),
        st.binary(max_size=40),
    ),
    max_size=4,
).map(
    lambda parts: (
        b"".join(
            b'--b\r\nContent-Disposition: form-data; name="'
            + name
            + b'"\r\n'
            + head
            + b"\r\n"
            + value
            + b"\r\n"
            for name, head, value in parts
        )
        + b"--b--\r\n"
    )
) | st.binary(max_size=200)


@st.composite
def raw_requests(draw: st.DrawFn, token: str) -> bytes:
    """A request line, headers and a body, each a valid part or a hostile one."""
    method = draw(
        st.sampled_from([b"GET", b"POST", b"PUT", b"HEAD", b"DELETE", b"OPTIONS"])
        | st.binary(min_size=1, max_size=8)
    )
    target = draw(st.sampled_from(TARGETS))
    if draw(st.booleans()):
        target += draw(st.binary(max_size=30).map(lambda tail: quote_from_bytes(tail).encode()))
    # The inbox long-polls (30 s by default): the first wait, the one it reads, is 0.
    query = [(b"wait", b"0")] if target.startswith(b"/api/v1/inbox") else []
    if draw(st.booleans()):
        query += draw(
            st.lists(
                st.tuples(
                    st.sampled_from([b"lang", b"wait", b"limit", b"v"]), st.binary(max_size=20)
                ),
                max_size=3,
            )
        )
    if query:
        target += b"?" + b"&".join(
            name + b"=" + quote_from_bytes(value).encode() for name, value in query
        )
    if draw(st.integers(0, 9)) == 0:
        target += draw(st.binary(min_size=1, max_size=10))  # raw bytes in the request line
    headers = [b"Host: 127.0.0.1", b"Connection: close"]
    if draw(st.booleans()):
        headers.append(b"Authorization: Bearer " + token.encode())
    for name, value in draw(
        st.lists(st.tuples(st.sampled_from(HEADER_NAMES), st.binary(max_size=40)), max_size=3)
    ):
        headers.append(name + b": " + value.replace(b"\r", b"").replace(b"\n", b""))
    body = b""
    if method in (b"POST", b"PUT") or draw(st.integers(0, 4)) == 0:
        content_type = draw(
            st.sampled_from(CONTENT_TYPES)
            | st.binary(max_size=30).map(lambda v: v.replace(b"\r", b"").replace(b"\n", b""))
        )
        headers.append(b"Content-Type: " + content_type)
        body = draw(st.one_of(json_bodies, form_bodies, multipart_bodies))
    if body and draw(st.integers(0, 4)) == 0:
        size = draw(st.integers(1, max(1, len(body))))
        chunks = [body[i : i + size] for i in range(0, len(body), size)]
        framed = (
            b"".join(f"{len(c):x}".encode() + b"\r\n" + c + b"\r\n" for c in chunks) + b"0\r\n\r\n"
        )
        if draw(st.integers(0, 3)) == 0:
            framed = draw(st.binary(min_size=1, max_size=8)) + framed  # a broken chunk size
        headers.append(b"Transfer-Encoding: chunked")
        return (
            method + b" " + target + b" HTTP/1.1\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + framed
        )
    headers.append(b"Content-Length: " + str(len(body)).encode())
    return method + b" " + target + b" HTTP/1.1\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + body


# Fuzzing, not an interpreter feature: on the main Python only (scripts/test).
@pytest.mark.slow
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_fuzzed_requests_never_get_a_5xx(relay: ServedRelay, data: st.DataObject) -> None:
    """Hypothesis-made raw requests all get a 2xx-4xx, each error answer well formed."""
    request = data.draw(raw_requests(relay.practice_token))

    response = relay.send(request)

    assert_well_formed(request, response)
