"""Request bodies read defensively: JSON and form posts become data or a 4xx, never a crash.

Every limit here answers a way a body once crashed the relay with a 500: undecodable
bytes, unknown charsets, compressed bodies that did not decompress, JSON nested past
Python's recursion limit, integers past Python's int-string limit, lone surrogates that
could not be encoded later, and multipart bodies aiohttp's reader could not parse. Each
is refused here with a fixed reason that never repeats the offending bytes.
"""

from __future__ import annotations

import email.message
import email.parser
import json
import re
import zlib
from urllib.parse import parse_qsl

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

# A profile, the deepest document the relay takes, nests 3 levels (object, slots list,
# slot). Python's json parser recurses once per level and raises RecursionError near 1000.
MAX_JSON_DEPTH = 16
# Counts and minutes need a few digits; a 5,000-digit integer makes Python's int() raise
# ValueError (its int-string limit), and anything past int64 means nothing to Redis.
MAX_INT_DIGITS = 18
# The booking form posts 15 fields; a few more leave room for fields added later.
MAX_FORM_FIELDS = 64
_UTF8 = frozenset({"utf-8", "utf8"})
_CHUNK = 64 * 1024
_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"
_STRUCTURE = re.compile(r'["\\\[\]{}]')
_SURROGATE = re.compile("[\ud800-\udfff]")


class _NumberTooLong(ValueError):
    pass


class _NotJson(ValueError):
    pass


def _bad_request(reason: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(reason=reason)


def _unsupported(reason: str) -> web.HTTPUnsupportedMediaType:
    return web.HTTPUnsupportedMediaType(reason=reason)


async def read_body(request: web.Request) -> bytes:
    """The raw body within the app's client_max_size (413 past it); 400 if it breaks off."""
    coding = request.headers.get(hdrs.CONTENT_ENCODING, "identity").strip().lower()
    # The server does not decompress (see relay/web/server.py): no compression bombs,
    # and no decoder errors from a body that only claims to be gzip.
    if coding not in ("", "identity"):
        raise _unsupported("Content-Encoding is not supported")
    try:
        return await request.read()
    except HttpProcessingError:
        # A chunked body with bad chunk sizes, or a body shorter than its Content-Length.
        raise _bad_request("Body could not be read") from None
    except ConnectionResetError:
        raise _bad_request("Body ended early") from None


async def read_json(request: web.Request) -> object:
    """The body as JSON (RFC 8259, UTF-8); 415 unless it says it is JSON, 400 if it is not."""
    _require_json(request)
    return parse_json(await read_body(request))


def _require_json(request: web.Request) -> None:
    if request.content_type != "application/json":
        raise _unsupported("Body must be application/json")
    if request.charset is not None and request.charset.lower() not in _UTF8:
        raise _unsupported("JSON must be UTF-8")


def parse_json(body: bytes) -> object:
    """JSON bytes as data, with read_json's rules; 400 for what breaks them."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad_request("Body is not UTF-8") from None
    if _nesting_exceeds(text, MAX_JSON_DEPTH):
        raise _bad_request("JSON is nested too deeply")
    try:
        data = json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant)
    except _NumberTooLong:
        raise _bad_request("JSON number is too long") from None
    except ValueError:  # JSONDecodeError, or NaN/Infinity (not JSON)
        raise _bad_request("Body is not valid JSON") from None
    # "\ud800" is valid JSON syntax, but no UTF-8 text can hold it: Redis keys, mails and
    # pages would fail to encode it later (I-JSON, RFC 7493, forbids it for that reason).
    if _holds_surrogate(data):
        raise _bad_request("JSON holds a lone surrogate")
    return data


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise _NumberTooLong
    return int(digits)


def _no_constant(name: str) -> object:
    raise _NotJson(name)


def _nesting_exceeds(text: str, limit: int) -> bool:
    """Whether arrays and objects nest deeper than `limit`, brackets in strings aside."""
    depth = 0
    in_string = False
    escaped_at = -1
    for match in _STRUCTURE.finditer(text):
        char, at = match.group(), match.start()
        if at == escaped_at:
            continue
        if in_string:
            if char == "\\":
                escaped_at = at + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _holds_surrogate(data: object) -> bool:
    # Recursion is bounded: the nesting was checked before parsing.
    if isinstance(data, str):
        return _SURROGATE.search(data) is not None
    if isinstance(data, list):
        return any(_holds_surrogate(item) for item in data)
    if isinstance(data, dict):
        return any(_holds_surrogate(key) or _holds_surrogate(v) for key, v in data.items())
    return False


async def read_form(request: web.Request) -> dict[str, str]:
    """A form post's text fields, first value of each name; files are ignored.

    Takes application/x-www-form-urlencoded and multipart/form-data in UTF-8 only: 415
    for other types and charsets, 400 for bytes that are not UTF-8 or a broken body.
    """
    content_type = request.content_type
    if content_type not in (_FORM, _MULTIPART):
        raise _unsupported("Form must be application/x-www-form-urlencoded or multipart")
    if content_type == _FORM:
        if request.charset is not None and request.charset.lower() not in _UTF8:
            raise _unsupported("Form must be UTF-8")
        pairs = _urlencoded(await read_body(request))
    else:
        header = request.headers.get(hdrs.CONTENT_TYPE, "")
        pairs = _multipart(header, await read_body(request))
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


def _urlencoded(body: bytes) -> list[tuple[str, str]]:
    try:
        # Percent-encoding leaves only ASCII on the wire; anything else is not this type.
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise _bad_request("Form is not URL-encoded") from None
    if text.count("&") >= MAX_FORM_FIELDS:
        raise _bad_request("Form has too many fields")
    try:
        # errors="strict" refuses %ff and encoded surrogates (%ED%A0%80) alike.
        return parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise _bad_request("Form is not UTF-8") from None


def _multipart(content_type: str, body: bytes) -> list[tuple[str, str]]:
    """Parsed with the standard library's e-mail parser, which records defects instead of
    raising, from the body already read within the size limit."""
    if not content_type.isascii() or "\r" in content_type or "\n" in content_type:
        raise _bad_request("Malformed multipart body")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("ascii")
    message = email.parser.BytesParser().parsebytes(head + body)
    if not message.is_multipart() or message.defects:
        raise _bad_request("Malformed multipart body")
    parts = message.get_payload()
    if not isinstance(parts, list) or len(parts) > MAX_FORM_FIELDS:
        raise _bad_request("Malformed multipart body")
    pairs: list[tuple[str, str]] = []
    for part in parts:
        if not isinstance(part, email.message.Message) or part.defects or part.is_multipart():
            raise _bad_request("Malformed multipart body")
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name or _SURROGATE.search(name):
            raise _bad_request("Multipart field without a usable name")
        if part.get_filename() is not None:
            continue  # a file: the relay takes none
        charset = part.get_content_charset()
        if charset is not None and charset not in _UTF8:
            raise _unsupported("Form must be UTF-8")
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            raise _bad_request("Malformed multipart body")
        try:
            pairs.append((name, payload.decode("utf-8")))
        except UnicodeDecodeError:
            raise _bad_request("Form is not UTF-8") from None
    return pairs


async def read_large_json(request: web.Request, *, max_bytes: int) -> object:
    """A JSON body of up to `max_bytes`, plain or `Content-Encoding: gzip`, for the one
    endpoint that takes large bodies (PUT /api/v1/profile); the app's client_max_size
    does not apply. A compressed body is decompressed into at most `max_bytes` too, so a
    small bomb that would expand to gigabytes is refused after `max_bytes`: 413 either
    way, with the limit in the reason."""
    _require_json(request)
    coding = request.headers.get(hdrs.CONTENT_ENCODING, "identity").strip().lower()
    if coding not in ("", "identity", "gzip"):
        raise _unsupported("Content-Encoding must be gzip or none")
    too_large = web.HTTPRequestEntityTooLarge(
        max_size=max_bytes,
        actual_size=request.content_length or max_bytes + 1,
        reason=f"Body is larger than {max_bytes} bytes"
        + (" decompressed" if coding == "gzip" else ""),
    )
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large
    body = bytearray()
    try:
        async for chunk in request.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > max_bytes:
                raise too_large
    except HttpProcessingError:
        raise _bad_request("Body could not be read") from None
    except ConnectionResetError:
        raise _bad_request("Body ended early") from None
    if coding == "gzip":
        return parse_json(_gunzip(bytes(body), max_bytes, too_large))
    return parse_json(bytes(body))


def _gunzip(body: bytes, max_bytes: int, too_large: web.HTTPException) -> bytes:
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        # Never more than max_bytes + 1 bytes of output, whatever the input claims.
        data = decompressor.decompress(body, max_bytes + 1)
    except zlib.error:
        raise _bad_request("Body is not valid gzip") from None
    if len(data) > max_bytes or decompressor.unconsumed_tail:
        raise too_large
    if not decompressor.eof or decompressor.unused_data:
        raise _bad_request("Body is not valid gzip")
    return data
