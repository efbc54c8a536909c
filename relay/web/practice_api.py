"""The practice API: long-poll inbox, acknowledgement, profile and key rotation, and the
practice's answer to a booking (relay/booking/answers.py)."""

from __future__ import annotations

import base64
import re

from aiohttp import web

from relay.booking.answers import parse_answer
from relay.booking.reminders import parse_reminder
from relay.booking.service import MAX_LIMIT, MAX_WAIT
from relay.errors import Unauthorized, ValidationFailed
from relay.rules.values import utc_iso
from relay.storage.store import InboxItem
from relay.web.appkeys import SERVICE, SETTINGS
from relay.web.bodies import read_json, read_large_json
from relay.web.middleware import CLIENT_NETWORK, REQUEST_ID

routes = web.RouteTableDef()


# A practice token is ASCII (token68, RFC 7235); aiohttp hands over other header bytes
# as lone surrogates, which could not even be hashed.
_CREDENTIALS = re.compile(r"[\x21-\x7e ]{1,512}", re.ASCII)
# Inbox item ids the relay hands out are UUIDs; anything ASCII and short may be acked
# (unknown ids count as acknowledged nothing), nothing that cannot become a Redis key.
_ITEM_ID = re.compile(r"[\x21-\x7e]{1,64}", re.ASCII)
# Plain decimal digits: int() alone would also take "+5", " 5 ", "1_0" and other scripts'
# digits, and a 5,000-digit value would make it raise.
_DIGITS = re.compile(r"[0-9]{1,6}", re.ASCII)


async def _practice(request: web.Request) -> str:
    service = request.app[SERVICE]
    try:
        return await service.authenticate(_authorization(request))
    except Unauthorized:
        # Only failures count, per client network; a valid token is never refused, so
        # practices sharing a network with a guesser go on working (relay/abuse/limits.py).
        await service.limits.guess_failed("practice", request[CLIENT_NETWORK], request[REQUEST_ID])
        raise


def _authorization(request: web.Request) -> str | None:
    authorization = request.headers.get("Authorization")
    if authorization is not None and not _CREDENTIALS.fullmatch(authorization):
        raise Unauthorized
    return authorization


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw):
        raise ValidationFailed({name: "invalid"})
    value = int(raw)
    if not low <= value <= high:
        raise ValidationFailed({name: "out_of_range"})
    return value


@routes.get("/api/v1/inbox")
async def inbox(request: web.Request) -> web.Response:
    slug = await _practice(request)
    # Longer waits are cut to the maximum rather than refused: a client asking for more
    # still gets a correct answer, only sooner.
    wait = min(_int_param(request, "wait", 30, 0, 3600), MAX_WAIT)
    limit = _int_param(request, "limit", 20, 1, MAX_LIMIT)
    batch = await request.app[SERVICE].fetch_inbox(slug, wait=wait, limit=limit)
    return web.json_response(
        {
            "items": [_item(item) for item in batch.items],
            "in_flight": batch.in_flight,
        }
    )


def _item(item: InboxItem) -> dict[str, str]:
    body = {
        "id": item.booking_id,
        "sealed": base64.b64encode(item.sealed).decode(),
        "confirmed_at": item.confirmed_at,
    }
    if item.blob:
        # Protocol 2: the browser's sealed box beside the relay's envelope.
        body["blob"] = base64.b64encode(item.blob).decode()
    return body


@routes.post("/api/v1/inbox/ack")
async def ack(request: web.Request) -> web.Response:
    slug = await _practice(request)
    body = await read_json(request)
    ids = body.get("ids") if isinstance(body, dict) else None
    if (
        not isinstance(ids, list)
        or len(ids) > MAX_LIMIT
        or not all(isinstance(i, str) and _ITEM_ID.fullmatch(i) for i in ids)
    ):
        raise ValidationFailed({"ids": "invalid"})
    acknowledged = await request.app[SERVICE].ack(slug, ids)
    return web.json_response({"acknowledged": acknowledged})


@routes.post("/api/v1/bookings/{booking_id}/answer")
async def answer(request: web.Request) -> web.Response:
    slug = await _practice(request)
    booking_id = request.match_info["booking_id"]
    if not _ITEM_ID.fullmatch(booking_id):
        raise ValidationFailed({"booking_id": "invalid"})
    answered = await request.app[SERVICE].answers.answer(
        slug, booking_id, parse_answer(await read_json(request))
    )
    body: dict[str, object] = {
        "booking_id": answered.booking_id,
        "status": answered.status,
        "changed": answered.changed,
    }
    if answered.start is not None and answered.end is not None:
        body.update(held=answered.held, start=utc_iso(answered.start), end=utc_iso(answered.end))
    return web.json_response(body)


@routes.post("/api/v1/bookings/{booking_id}/remind")
async def remind(request: web.Request) -> web.Response:
    """The practice's client asks for a reminder mail (relay/booking/reminders.py)."""
    slug = await _practice(request)
    booking_id = request.match_info["booking_id"]
    if not _ITEM_ID.fullmatch(booking_id):
        raise ValidationFailed({"booking_id": "invalid"})
    status = await request.app[SERVICE].reminders.remind(
        slug, booking_id, parse_reminder(await read_json(request))
    )
    return web.json_response({"booking_id": booking_id, "status": status})


@routes.put("/api/v1/profile")
async def put_profile(request: web.Request) -> web.Response:
    slug = await _practice(request)
    # Its own limit (RELAY_MAX_PROFILE_BYTES), plain or gzip: a real calendar is far
    # larger than any other body the relay takes.
    body = await read_large_json(request, max_bytes=request.app[SETTINGS].max_profile_bytes)
    published = await request.app[SERVICE].put_profile(slug, body)
    # A summary, not the profile: echoing thousands of slots back costs both sides.
    profile = published.profile
    starts = [slot.start for slot in profile.slots]
    return web.json_response(
        {
            "version": published.version,
            "name": profile.name,
            "time_zone": profile.time_zone,
            "doctors": len(profile.doctors),
            "appointment_types": len(profile.appointment_types),
            "slots": len(profile.slots),
            "first_slot": min(starts).isoformat() if starts else None,
            "last_slot": max(starts).isoformat() if starts else None,
            "accept_wishes": profile.accept_wishes,
            "confirmation": profile.confirmation,
        }
    )


@routes.put("/api/v1/key")
async def put_key(request: web.Request) -> web.Response:
    slug = await _practice(request)
    body = await read_json(request)
    await request.app[SERVICE].put_key(
        slug, body.get("public_key") if isinstance(body, dict) else None
    )
    return web.json_response({"status": "ok"})
