"""Health, readiness and metrics for operators."""

from __future__ import annotations

import asyncio
import hmac

from aiohttp import web

from relay.web.appkeys import METRICS, REDIS_PROBE, SETTINGS

routes = web.RouteTableDef()

# Readiness asks Redis on its own two connections without retries (PROBE_LIMITS in
# relay/storage/connect.py): requests queueing for the main pool must not delay it, and an
# outage must show at once. A PING takes well under a millisecond; the 2 s allow for the
# event loop being busy with a burst, so a loaded but healthy relay is not reported down.
READY_TIMEOUT = 2.0


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    try:
        await asyncio.wait_for(request.app[REDIS_PROBE].ping(), READY_TIMEOUT)
    except Exception:  # any failure of the round trip means not ready
        return web.json_response({"status": "unavailable", "redis": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "redis": "ok"})


async def metrics(request: web.Request) -> web.Response:
    token = request.app[SETTINGS].metrics_token
    if token is not None:
        offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        # surrogateescape: header bytes that are not UTF-8 arrive as lone surrogates.
        if not hmac.compare_digest(offered.encode(errors="surrogateescape"), token.encode()):
            return web.Response(status=401, text="metrics token required\n")
    body, content_type = request.app[METRICS].render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response
