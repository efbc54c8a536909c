"""The HTTP server around the app: parser limits, and fixed answers to requests that do
not parse.

aiohttp answers a request it cannot parse by itself, before any middleware runs: its
400 body quotes the offending bytes (a request line, a header), and it logs the parse
error, whose text holds those bytes too. A request line can hold a confirmation token, a
header a practice's bearer secret. `RelayRunner` serves the app with a protocol handler
that answers such requests with a fixed text and logs only the error's type.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from aiohttp import hdrs, web
from aiohttp.http_exceptions import BadHttpMethod

from relay.ops.logs import truncate_ip

log = logging.getLogger("relay.http")

# Longest request line (method, path, query, version). The relay's longest URL is a
# confirmation link, about 100 bytes; 4 KiB leaves room for tracking parameters a mail
# client may append, and refuses the megabyte URLs scanners probe with.
MAX_LINE_SIZE = 4096
# Longest single header line: aiohttp's default. Browsers send cookies of other sites on
# the same host name; 8 KiB is what nginx allows by default, too.
MAX_FIELD_SIZE = 8190
# Browsers send about 15 headers, a proxy adds a few.
MAX_HEADERS = 64

# Passed to every protocol handler as Application(handler_args=...), so every runner,
# tests' included, parses with the same limits. The body limit is the app's
# client_max_size (Settings.max_body_bytes, 64 KiB: a booking is about 2 KiB). Bodies are
# not decompressed: no client of the relay compresses, and a compressed body could be a
# decompression bomb (relay/web/bodies.py answers 415).
HANDLER_ARGS: dict[str, Any] = {
    "max_line_size": MAX_LINE_SIZE,
    "max_field_size": MAX_FIELD_SIZE,
    "max_headers": MAX_HEADERS,
    "auto_decompress": False,
}

_EXPECT_CONTINUE = "100-continue"


class _RequestHandler(web.RequestHandler):
    """aiohttp's protocol handler, with fixed error answers and type-only error logs."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # `message` (and str(exc)) quote the request's bytes: neither is logged nor sent.
        level = logging.DEBUG if isinstance(exc, BadHttpMethod) else logging.INFO
        if status >= 500:
            level = logging.ERROR
        log.log(
            level,
            "request not handled",
            extra={
                "status": status,
                "error": type(exc).__name__ if exc is not None else None,
                "client": truncate_ip(request.remote or ""),
            },
        )
        if request.writer.output_size > 0:
            raise ConnectionError("response already started, no error answer possible")
        return fixed_response(status)

    def log_exception(self, *args: Any, **kw: Any) -> None:
        exc = kw.get("exc_info")
        error = type(exc).__name__ if isinstance(exc, BaseException) else None
        log.error("connection error", extra={"error": error})

    def log_debug(self, *args: Any, **kw: Any) -> None:
        # aiohttp's debug messages are fixed texts, but exc_info may carry request bytes.
        if args and isinstance(args[0], str) and log.isEnabledFor(logging.DEBUG):
            log.debug("aiohttp: %s", args[0].split("%", 1)[0].strip())


def fixed_response(status: int) -> web.Response:
    """`{status} {phrase}` as plain text, the same for every request."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    response = web.Response(
        status=status,
        text=f"{status} {phrase}\n",
        content_type="text/plain",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
    )
    response.force_close()
    return response


class _Server(web.Server):
    """aiohttp's Server, building our protocol handler."""

    def __call__(self) -> web.RequestHandler:
        return _RequestHandler(self, loop=self._loop, **self._kwargs)


class RelayRunner(web.AppRunner):
    """web.AppRunner with the protocol handler above and an Expect check."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # aiohttp builds its Server itself; only the factory method differs, so the
        # object is kept and given the subclass (tests/test_log_hygiene.py proves it).
        server.__class__ = _Server
        server.request_handler = _expect_checked(server.request_handler)
        return server


def _expect_checked(handler: Any) -> Any:
    """aiohttp's own Expect handling runs before the middlewares and echoes the header
    (with a 500 when it is not UTF-8): anything but 100-continue gets a fixed 417 here."""

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        expect = request.headers.get(hdrs.EXPECT)
        if expect is not None and expect.strip().lower() != _EXPECT_CONTINUE:
            return fixed_response(417)
        response: web.StreamResponse = await handler(request)
        return response

    return handle
