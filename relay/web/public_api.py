"""The public JSON API: a practice's profile and booking submission."""

from __future__ import annotations

import base64
import json

from aiohttp import web

from relay.appkeys import SERVICE
from relay.errors import ValidationFailed
from relay.service import utc_iso
from relay.web.language import request_language
from relay.web.middleware import CLIENT_NETWORK

routes = web.RouteTableDef()


async def read_json(request: web.Request) -> object:
    """The body as JSON; 415 unless it says it is JSON, 413 past the size cap."""
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(reason="Body must be application/json")
    try:
        return json.loads(await request.read())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise web.HTTPBadRequest(reason="Body is not valid JSON") from None


@routes.get("/api/v1/practices/{practice}")
async def practice_profile(request: web.Request) -> web.Response:
    public = await request.app[SERVICE].profile(request.match_info["practice"])
    return web.json_response(public.to_json())


@routes.post("/api/v1/practices/{practice}/bookings")
async def submit_booking(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    slug = request.match_info["practice"]
    await service.store.practice(slug)  # 404 before judging the body
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ValidationFailed({"": "invalid"})
    submitted = await service.submit(
        slug, data, client_network=request[CLIENT_NETWORK], lang=request_language(request)
    )
    return web.json_response(
        {"status": "pending", "expires_at": utc_iso(submitted.expires_at)}, status=202
    )


@routes.get("/api/v1/relay-key")
async def relay_key(request: web.Request) -> web.Response:
    verify_key = request.app[SERVICE].signing_key.verify_key
    return web.json_response(
        {"public_key": base64.b64encode(bytes(verify_key)).decode(), "algorithm": "ed25519"}
    )
