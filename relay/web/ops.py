"""Health, readiness and metrics for operators."""

from __future__ import annotations

import asyncio
import hmac

from aiohttp import web

from relay.appkeys import METRICS, SETTINGS, STORE

routes = web.RouteTableDef()

READY_TIMEOUT = 2.0


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    try:
        await asyncio.wait_for(request.app[STORE].ping(), READY_TIMEOUT)
    except Exception:  # any failure of the round trip means not ready
        return web.json_response({"status": "unavailable", "redis": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "redis": "ok"})


async def metrics(request: web.Request) -> web.Response:
    token = request.app[SETTINGS].metrics_token
    if token is not None:
        offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(offered.encode(), token.encode()):
            return web.Response(status=401, text="metrics token required\n")
    body, content_type = request.app[METRICS].render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response
