"""The public JSON API: a practice's profile and booking submission."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

from aiohttp import web

from relay.abuse.pow import MAX_PAYLOAD
from relay.booking.fields import field
from relay.crypto.sealing import key_id
from relay.errors import ProofOfWorkRequired, RateLimited, RecipientLimited, ValidationFailed
from relay.i18n.catalogs import texts
from relay.practice.registry import SLUG
from relay.rules.values import ErrorCode, utc_iso
from relay.web.appkeys import SERVICE
from relay.web.bodies import read_json
from relay.web.encoding import encoded_response
from relay.web.language import request_language
from relay.web.middleware import CLIENT_NETWORK

routes = web.RouteTableDef()

# The header a JSON client sends its solved challenge in: the ALTCHA payload (base64 JSON).
POW_HEADER = "X-Terminrelay-Pow"


@routes.get("/api/v1/practices/{practice}")
async def practice_profile(request: web.Request) -> web.Response:
    # Serialised, hashed and compressed once per profile version and set of held slots
    # (relay/practice/cache.py): a request only picks the bytes.
    body = await request.app[SERVICE].profile_json(request.match_info["practice"])
    headers = {
        "ETag": body.etag,
        "Vary": "Accept-Encoding",
        # Public data that changes with every booking: a client may keep it but asks
        # again each time, and an unchanged profile costs a 304 without a body.
        "Cache-Control": "no-cache",
    }
    if _matches_etag(request.headers.get("If-None-Match"), body.etag):
        return web.Response(status=304, headers=headers)
    # The profile is public: no secret for a compression side channel to reveal.
    return encoded_response(request, body, content_type="application/json", headers=headers)


def _matches_etag(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match's weak comparison (RFC 9110 13.1.2): `*` or any tag with our opaque
    part, W/ or not."""
    if not if_none_match:
        return False
    ours = etag.removeprefix("W/")
    tags = (tag.strip() for tag in if_none_match.split(","))
    return any(tag == "*" or tag.removeprefix("W/") == ours for tag in tags)


@routes.post("/api/v1/practices/{practice}/bookings")
async def submit_booking(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    slug = request.match_info["practice"]
    # 404 before judging the body; from the process's cache, no round trip.
    await service.practice_view(slug)
    proof = request.headers.get(POW_HEADER)
    if proof is not None and len(proof) > MAX_PAYLOAD:
        # No solution is that long; a client sending one has a bug worth telling it about,
        # rather than a silent "no proof" (the document gives the header this maxLength).
        raise web.HTTPBadRequest(reason=f"{POW_HEADER} is longer than {MAX_PAYLOAD} characters")
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ValidationFailed({"": "invalid"})
    lang = request_language(request)
    try:
        submitted = await service.submit(
            slug,
            data,
            client_network=request[CLIENT_NETWORK],
            lang=lang,
            refused=_longer_than_sent(data),
            proof=proof,
        )
    except ProofOfWorkRequired as refusal:
        # What a client needs to get through: where to fetch a challenge, and the header
        # to send its solution in (docs/protocol.md, "Proof of work").
        return _refused(
            {
                "error": "proof of work required",
                "challenge_url": f"/api/v1/challenge?practice={quote(slug)}",
                "header": POW_HEADER,
            },
            refusal,
        )
    except RecipientLimited as refusal:
        message = texts(lang).gettext("Requests are already waiting in your mailbox")
        return _refused({"error": message, "errors": {"email": message}}, refusal)
    accepted: dict[str, object] = {
        "status": "pending",
        "expires_at": utc_iso(submitted.expires_at),
    }
    if submitted.resent:
        # The same address and slot as a pending request: its mail went out again.
        accepted["resent"] = True
    return web.json_response(accepted, status=202)


def _longer_than_sent(data: Mapping[str, object]) -> dict[str, ErrorCode]:
    """The note's bound counted as the JSON client sent it, as the document's maxLength
    says. The shared validator counts a CR LF once, as a browser's textarea maxlength
    does for the form; a JSON client sending 1,001 characters would otherwise pass."""
    note, limit = data.get("note"), field("note").max_length
    if isinstance(note, str) and limit is not None and len(note) > limit:
        return {"note": "too_long"}
    return {}


def _refused(body: Mapping[str, object], refusal: RateLimited) -> web.Response:
    return web.json_response(body, status=429, headers={"Retry-After": str(refusal.retry_after)})


@routes.post("/api/v1/practices/{practice}/tickets")
async def issue_ticket(request: web.Request) -> web.Response:
    """A submit ticket for a booking the browser seals (docs/protocol.md, "Keys and
    tickets"), with the key to seal it to. Stateless: nothing is stored."""
    service = request.app[SERVICE]
    cached = await service.practice_view(request.match_info["practice"])
    # Issued whatever the practice's `sealing`: the submission is what a practice refuses,
    # and the public profile says beforehand which it takes.
    issued = service.issue_ticket(cached)
    public_key = cached.practice.public_key
    return web.json_response(
        {
            "ticket": issued.ticket,
            "booking_id": issued.booking_id,
            "key_id": key_id(public_key),
            "public_key": base64.b64encode(public_key).decode(),
            "expires_at": utc_iso(datetime.fromtimestamp(issued.expires_at, UTC)),
        },
        status=201,
    )


@routes.get("/api/v1/challenge")
async def challenge(request: web.Request) -> web.Response:
    """A proof-of-work challenge (relay/abuse/pow.py) at the difficulty the relay asks for now;
    `practice` names the practice the submission is for (its flood counts too)."""
    practice = request.query.get("practice")
    if practice is not None and not SLUG.fullmatch(practice):
        raise ValidationFailed({"practice": "invalid"})
    issued = await request.app[SERVICE].limits.challenge(practice, request[CLIENT_NETWORK])
    return web.json_response(issued.to_json())


@routes.get("/api/v1/relay-key")
async def relay_key(request: web.Request) -> web.Response:
    verify_key = request.app[SERVICE].signing_key.verify_key
    return web.json_response(
        {"public_key": base64.b64encode(bytes(verify_key)).decode(), "algorithm": "ed25519"}
    )
