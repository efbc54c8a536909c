"""A recording reverse proxy on loopback: everything a browser sends the relay, kept.

The browser-sealing tests put it between Chromium and the real relay to show what the
relay process receives (every request line, header and body), byte for byte; the
transparency check's tests let it change what the relay answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from relay.dev import free_port

# Hop-by-hop headers (RFC 9110 7.6.1) and those aiohttp sets itself.
_DROPPED = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "upgrade", "host", "content-length"}
)


@dataclass
class CaptureProxy:
    target: str = ""
    port: int = field(default_factory=free_port)
    received: list[bytes] = field(default_factory=list)
    # Changes an answer's body on its way back (path, body) -> body: a hostile operator's
    # proxy or CDN, for the transparency check's tests.
    tamper: Callable[[str, bytes], bytes] | None = None
    _runner: web.AppRunner | None = None
    _http: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def everything(self) -> bytes:
        return b"\n".join(self.received)

    async def start(self, target: str) -> None:
        self.target = target
        self._http = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._http is not None
        body = await request.read()
        head = f"{request.method} {request.path_qs}\n".encode() + b"".join(
            f"{name}: {value}\n".encode() for name, value in request.headers.items()
        )
        self.received.append(head + b"\n" + body)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROPPED}
        async with self._http.request(
            request.method,
            self.target + request.path_qs,
            headers=headers,
            data=body or None,
            allow_redirects=False,
        ) as answer:
            payload = await answer.read()
            if self.tamper is not None:
                payload = self.tamper(request.path, payload)
            out = {k: v for k, v in answer.headers.items() if k.lower() not in _DROPPED}
            return web.Response(status=answer.status, body=payload, headers=out)
