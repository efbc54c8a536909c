"""Protocol-2 inbox items made in Python as a patient's browser and the relay make them
(docs/protocol.md, "Sealed in the browser"), and a stand-in relay serving them over HTTP.

The relay's half of protocol 2 is built beside the client; until it lands, items are sealed
here exactly as the protocol says: the inner document padded and sealed to the practice
key (the browser's part), the envelope signed, padded and boxed by relay.crypto.sealing's
EnvelopeSealer with a test relay key (the relay's part). The stand-in relay is a small
aiohttp server on 127.0.0.1 that hands them out and serves a booking form page; the client
under test is the real one.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from nacl.public import PublicKey, SealedBox
from nacl.signing import SigningKey

from practice_client.relay.keys import key_id
from relay.crypto.sealing import EnvelopeSealer, canonical_json, pad
from relay.dev import free_port

SLUG = "praxis-test"
TOKEN = f"{SLUG}.{'A' * 43}"
# Searched for in files and logs that may hold envelope data only: never the patient's name.
FIRST_NAME, LAST_NAME = "Adelgunde", "Sauerampfer"
SUBMITTED_AT = "2026-11-22T09:00:00Z"
CONFIRMED_AT = "2026-11-22T09:10:00Z"
START, END = "2026-12-08T09:00:00+01:00", "2026-12-08T09:20:00+01:00"
DOCTOR, TYPE = "Dr. A. Beispiel", "Vorsorge"
STATIC = Path(__file__).resolve().parent.parent / "relay" / "web" / "static"


def inner_document(**changes: Any) -> dict[str, Any]:
    """A valid inner document for a published slot, as the form's script seals it."""
    document: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "practice": SLUG,
        "kind": "slot",
        "slot": f"{START}|{DOCTOR}",
        "language": "de",
        "first_name": FIRST_NAME,
        "last_name": LAST_NAME,
        "birth_date": "1980-04-02",
        "gender": "female",
        "insurance": "statutory",
        "note": "Bitte vormittags.",
        "new_patient": False,
        "doctor": DOCTOR,
        "appointment_type": TYPE,
        "start": START,
        "end": END,
        "email": "adelgunde@example.org",
        "phone": "+49 30 1234567",
        "consent": True,
    }
    document.update(changes)
    return document


def wish_document(**changes: Any) -> dict[str, Any]:
    """A valid inner document of a wish: no slot, a time the patient chose, no end."""
    wish: dict[str, Any] = {
        "kind": "wish", "slot": None, "doctor": None, "appointment_type": None, "end": None
    }  # fmt: skip
    return inner_document(**{**wish, **changes})


def seal_blob(inner: dict[str, Any], practice_key: bytes) -> bytes:
    """What the form's script sends as `sealed`: canonical JSON, padded, sealed box."""
    return SealedBox(PublicKey(practice_key)).encrypt(pad(canonical_json(inner)))


def envelope_of(inner: dict[str, Any], blob: bytes, **changes: Any) -> dict[str, Any]:
    """The envelope the relay signs around `blob`, naming what `inner` names."""
    envelope: dict[str, Any] = {
        "type": "envelope",
        "protocol": 2,
        "id": inner["id"],
        "practice": inner["practice"],
        "kind": inner["kind"],
        "slot": inner["slot"],
        "start": inner["start"],
        "end": inner["end"],
        "doctor": inner["doctor"] if inner["kind"] == "slot" else None,
        "appointment_type": inner["appointment_type"] if inner["kind"] == "slot" else None,
        "language": inner["language"],
        "email": inner["email"],
        "consent": True,
        "submitted_at": SUBMITTED_AT,
        "consent_at": SUBMITTED_AT,
        "key_id": "0123456789abcdef",
        "blob_sha256": hashlib.sha256(blob).hexdigest(),
        "blob_length": len(blob),
    }
    envelope.update(changes)
    return envelope


@dataclass(frozen=True)
class SealedItem:
    inner: dict[str, Any]
    envelope: dict[str, Any]
    item: dict[str, Any]  # as the inbox answer carries it

    @property
    def id(self) -> str:
        return str(self.item["id"])


def sealed_item(
    signing_key: SigningKey,
    practice_key: bytes,
    inner: dict[str, Any] | None = None,
    *,
    sealed_inner: dict[str, Any] | None = None,
    blob_key: bytes | None = None,
    blob: bytes | None = None,
    **envelope_changes: Any,
) -> SealedItem:
    """An inbox item of protocol 2: an envelope naming what `inner` names, signed with
    `signing_key` and sealed to the practice key, beside a blob: `sealed_inner` (default
    `inner`) sealed to `blob_key` (default the practice key), or `blob` as given.
    `envelope_changes` change what the envelope names."""
    inner = inner or inner_document()
    in_blob = sealed_inner if sealed_inner is not None else inner
    raw = blob if blob is not None else seal_blob(in_blob, blob_key or practice_key)
    envelope = envelope_of(inner, raw, **{"key_id": key_id(practice_key), **envelope_changes})
    sealed = EnvelopeSealer(time.monotonic).seal(
        envelope, signing_key=signing_key, practice_key=practice_key
    )
    item = {
        "id": envelope["id"],
        "sealed": base64.b64encode(sealed).decode(),
        "blob": base64.b64encode(raw).decode(),
        "confirmed_at": CONFIRMED_AT,
    }
    return SealedItem(in_blob, envelope, item)


# The booking form page -----------------------------------------------------------------

STRICT_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SENSITIVE = ("first_name", "last_name", "birth_date", "phone")  # inputs; the note a textarea


def integrity(content: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()


@dataclass
class FormPage:
    """What the stand-in relay serves at /p/{slug}: a page sealing to `public_key` with the
    relay's own form.js and pow.js, each with its integrity attribute."""

    public_key: bytes
    slug: str = SLUG
    policy: str = STRICT_POLICY
    scripts: dict[str, bytes] = field(default_factory=dict)  # file name -> bytes served
    integrity_of: dict[str, str] = field(default_factory=dict)  # file name -> attribute
    unsealed: tuple[str, ...] = ()  # sensitive fields rendered without data-seal
    sealing: bool = True
    extra_head: str = ""

    def __post_init__(self) -> None:
        for name in ("form.js", "pow.js"):
            self.scripts.setdefault(name, (STATIC / name).read_bytes())
            self.integrity_of.setdefault(name, integrity(self.scripts[name]))

    def html(self) -> str:
        config = (
            '<script type="application/json" id="sealing-config">'
            f'{{"practice": "{self.slug}", "public_key": '
            f'"{base64.b64encode(self.public_key).decode()}", '
            f'"key_id": "{key_id(self.public_key)}"}}</script>'
            if self.sealing
            else ""
        )
        scripts = "".join(
            f'<script src="/static/{name}?v=1" integrity="{self.integrity_of[name]}" defer>'
            "</script>"
            for name in self.scripts
        )
        fields = "".join(
            f'<input name="{name}"{"" if name in self.unsealed else " data-seal"}>'
            for name in SENSITIVE
        )
        return (
            f"<!DOCTYPE html><html><head>{config}{scripts}{self.extra_head}</head><body>"
            f'<form method="post"><input name="email" type="email">'
            f'<select name="gender" data-seal><option value="female">w</option></select>'
            f'{fields}<textarea name="note"{"" if "note" in self.unsealed else " data-seal"}>'
            "</textarea>"
            '<input type="checkbox" name="consent"></form></body></html>'
        )


@dataclass
class StandInRelay:
    """Publishes keys like a relay, hands out `items` until acknowledged, serves `page`."""

    url: str
    practice_key: bytes
    signing_key: SigningKey = field(default_factory=SigningKey.generate)
    items: list[dict[str, Any]] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    page: FormPage | None = None
    page_fetches: int = 0
    profiles: list[dict[str, Any]] = field(default_factory=list)  # as published

    def add(self, sealed: SealedItem) -> str:
        self.items.append(sealed.item)
        return sealed.id

    def item(self, inner: dict[str, Any] | None = None, **changes: Any) -> SealedItem:
        """A protocol-2 item signed by this relay and sealed to the practice key."""
        return sealed_item(self.signing_key, self.practice_key, inner, **changes)

    async def relay_key(self, request: web.Request) -> web.Response:
        public = base64.b64encode(bytes(self.signing_key.verify_key)).decode()
        return web.json_response({"public_key": public, "algorithm": "ed25519"})

    async def practice(self, request: web.Request) -> web.Response:
        return web.json_response({"public_key": base64.b64encode(self.practice_key).decode()})

    async def fetch(self, request: web.Request) -> web.Response:
        return web.json_response({"items": self.items, "in_flight": 0})

    async def ack(self, request: web.Request) -> web.Response:
        ids = (await request.json())["ids"]
        self.acknowledged += ids
        self.items = [item for item in self.items if item["id"] not in ids]
        return web.json_response({"acknowledged": len(ids)})

    async def profile(self, request: web.Request) -> web.Response:
        body = await request.json()  # aiohttp takes Content-Encoding: gzip off
        self.profiles.append(body)
        summary = {"version": len(self.profiles), "name": body["name"], "slots": 0}
        return web.json_response({**summary, "time_zone": body["time_zone"], "doctors": 0})

    async def form(self, request: web.Request) -> web.Response:
        self.page_fetches += 1
        if self.page is None:
            raise web.HTTPNotFound
        return web.Response(
            text=self.page.html(),
            content_type="text/html",
            headers={"Content-Security-Policy": self.page.policy},
        )

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if self.page is None or name not in self.page.scripts:
            raise web.HTTPNotFound
        return web.Response(body=self.page.scripts[name], content_type="text/javascript")


@asynccontextmanager
async def stand_in_relay(practice_key: bytes) -> AsyncIterator[StandInRelay]:
    """A StandInRelay listening on 127.0.0.1 until the block ends."""
    port = free_port()
    relay = StandInRelay(f"http://127.0.0.1:{port}", practice_key)
    app = web.Application()
    app.router.add_get("/api/v1/relay-key", relay.relay_key)
    app.router.add_get(f"/api/v1/practices/{SLUG}", relay.practice)
    app.router.add_get("/api/v1/inbox", relay.fetch)
    app.router.add_post("/api/v1/inbox/ack", relay.ack)
    app.router.add_put("/api/v1/profile", relay.profile)
    app.router.add_get(f"/p/{SLUG}", relay.form)
    app.router.add_get("/static/{name}", relay.static)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield relay
    finally:
        await runner.cleanup()
