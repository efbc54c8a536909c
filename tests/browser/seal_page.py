"""A page that loads relay/web/static/seal.js under the relay's script policy, for
tests/browser/test_seal_script.py and bench/seal_browser.py.

The page comes from a tiny aiohttp server on 127.0.0.1 (a secure context, so WebCrypto is
there, as on the relay's HTTPS pages) with `script-src 'self'` and nothing else allowed:
a script that used eval or WebAssembly, or loaded anything, would fail as on the relay.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web
from playwright.async_api import Browser, Page

SEAL_SCRIPT = Path(__file__).resolve().parents[2] / "relay" / "web" / "static" / "seal.js"
CSP = "default-src 'none'; script-src 'self'"
_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>seal.js</title>"
    "<script src=/seal.js></script></html>"
)
# Runs before any script of the page: what the CSP refused, for the tests to look at.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


@asynccontextmanager
async def seal_page_server(script: Path = SEAL_SCRIPT) -> AsyncIterator[str]:
    """Serves the page at / and `script` at /seal.js on 127.0.0.1; yields the page's URL."""
    body = await asyncio.to_thread(script.read_bytes)
    headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-store"}

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=_PAGE, content_type="text/html", headers=headers)

    async def seal_js(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/javascript", headers=headers)

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/seal.js", seal_js)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    # Port 0: the kernel picks a free one and the server holds it from then on.
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}/"
    finally:
        await runner.cleanup()


async def open_seal_page(browser: Browser, url: str, *, init_script: str = "") -> Page:
    """A fresh context's page at `url` once window.TerminrelaySeal is defined (or, with an
    `init_script` that breaks the page, once it has loaded)."""
    context = await browser.new_context(service_workers="block")
    page = await context.new_page()
    await page.add_init_script(RECORD_VIOLATIONS + init_script)
    await page.goto(url, wait_until="load")
    return page


def inner_document(**changes: Any) -> dict[str, Any]:
    """The inner document of a protocol 2 booking (docs/protocol.md), about 650 bytes as
    canonical JSON: full names, e-mail address and phone, a short note."""
    marker = secrets.token_hex(4)
    document: dict[str, Any] = {
        "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "practice": "praxis-beispiel",
        "kind": "slot",
        "slot": "2026-12-08T09:00:00+01:00|Dr. Annegret Beispiel-Mustermann",
        "language": "de",
        "first_name": f"Zerlina{marker}",
        "last_name": f"Quastenflosser-Wiesengrund{marker}",
        "birth_date": "1984-03-05",
        "gender": "female",
        "insurance": "statutory",
        "note": f"Rückenschmerzen seit Tagen, bitte möglichst früh am Morgen {marker}",
        "new_patient": True,
        "doctor": "Dr. Annegret Beispiel-Mustermann",
        "appointment_type": "Erstgespräch",
        "start": "2026-12-08T09:00:00+01:00",
        "end": "2026-12-08T09:20:00+01:00",
        "email": f"zerlina.quastenflosser.{marker}@example.org",
        "phone": "+49 30 5550123",
        "consent": True,
    }
    document.update(changes)
    return document
