"""The practice API: long-poll inbox, acknowledgement, profile and key rotation."""

from __future__ import annotations

import base64

from aiohttp import web

from relay.appkeys import SERVICE
from relay.errors import ValidationFailed
from relay.profile import profile_to_json
from relay.service import MAX_LIMIT, MAX_WAIT
from relay.web.public_api import read_json

routes = web.RouteTableDef()


async def _practice(request: web.Request) -> str:
    return await request.app[SERVICE].authenticate(request.headers.get("Authorization"))


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed({name: "invalid"}) from None
    if not low <= value <= high:
        raise ValidationFailed({name: "invalid"})
    return value


@routes.get("/api/v1/inbox")
async def inbox(request: web.Request) -> web.Response:
    slug = await _practice(request)
    # Longer waits are cut to the maximum rather than refused: a client asking for more
    # still gets a correct answer, only sooner.
    wait = min(_int_param(request, "wait", 30, 0, 3600), MAX_WAIT)
    limit = _int_param(request, "limit", 20, 1, MAX_LIMIT)
    items = await request.app[SERVICE].fetch_inbox(slug, wait=wait, limit=limit)
    return web.json_response(
        {
            "items": [
                {
                    "id": item.booking_id,
                    "sealed": base64.b64encode(item.sealed).decode(),
                    "confirmed_at": item.confirmed_at,
                }
                for item in items
            ]
        }
    )


@routes.post("/api/v1/inbox/ack")
async def ack(request: web.Request) -> web.Response:
    slug = await _practice(request)
    body = await read_json(request)
    ids = body.get("ids") if isinstance(body, dict) else None
    if (
        not isinstance(ids, list)
        or len(ids) > MAX_LIMIT
        or not all(isinstance(i, str) and 0 < len(i) <= 64 for i in ids)
    ):
        raise ValidationFailed({"ids": "invalid"})
    acknowledged = await request.app[SERVICE].ack(slug, ids)
    return web.json_response({"acknowledged": acknowledged})


@routes.put("/api/v1/profile")
async def put_profile(request: web.Request) -> web.Response:
    slug = await _practice(request)
    profile = await request.app[SERVICE].put_profile(slug, await read_json(request))
    return web.json_response(profile_to_json(profile))


@routes.put("/api/v1/key")
async def put_key(request: web.Request) -> web.Response:
    slug = await _practice(request)
    body = await read_json(request)
    await request.app[SERVICE].put_key(
        slug, body.get("public_key") if isinstance(body, dict) else None
    )
    return web.json_response({"status": "ok"})
