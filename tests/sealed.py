"""Browser-sealed submissions made in Python, as the form's script makes them (protocol 2)."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp

from relay.booking.rules_file import SEALED_ONLY as INNER_ONLY
from tests.browser_sealed import seal_blob
from tests.helpers import booking_json


async def ticket(http: aiohttp.ClientSession, relay_url: str, slug: str) -> dict[str, Any]:
    async with http.post(f"{relay_url}/api/v1/practices/{slug}/tickets") as response:
        assert response.status == 201, await response.text()
        body: dict[str, Any] = await response.json()
        return body


def seal(public_key_b64: str, document: dict[str, Any]) -> str:
    """What TerminrelaySeal.sealDocument returns: canonical JSON, padded, sealed box."""
    return base64.b64encode(seal_blob(document, base64.b64decode(public_key_b64))).decode()


def inner_document(
    issued: dict[str, Any],
    slug: str,
    booking: dict[str, Any],
    *,
    slot: str | None,
    language: str = "de",
) -> dict[str, Any]:
    return {
        "id": issued["booking_id"],
        "practice": slug,
        "kind": "wish" if slot is None else "slot",
        "slot": slot,
        "language": language,
        **{name: booking.get(name) for name in INNER_ONLY},
        "start": booking["start"],
        "end": booking.get("end"),
        "email": booking["email"],
        "consent": True,
    }


async def sealed_body(
    http: aiohttp.ClientSession,
    relay_url: str,
    slug: str,
    *,
    slot: dict[str, Any] | None = None,
    wish: tuple[str, str | None] | None = None,
    **changes: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A ticket, then the JSON body of a browser-sealed submission for a published `slot`
    (as the profile lists it) or a `wish` (start, end); and the inner document sealed."""
    issued = await ticket(http, relay_url, slug)
    if slot is not None:
        booking = booking_json()
        booking.update(
            start=slot["start"],
            end=slot["end"],
            doctor=slot["doctor"],
            appointment_type=slot["appointment_type"],
            **changes,
        )
        slot_value = f"{slot['start']}|{slot['doctor'] or ''}"
    else:
        assert wish is not None
        booking = booking_json()
        booking.update(start=wish[0], end=wish[1], **changes)
        slot_value = None
    inner = inner_document(issued, slug, booking, slot=slot_value)
    body: dict[str, Any] = {
        "sealed": seal(issued["public_key"], inner),
        "key_id": issued["key_id"],
        "ticket": issued["ticket"],
        "email": booking["email"],
        "consent": True,
    }
    if slot_value is not None:
        body["slot"] = slot_value
    else:
        body["start"] = booking["start"]
        if booking.get("end"):
            body["end"] = booking["end"]
    return body, inner
