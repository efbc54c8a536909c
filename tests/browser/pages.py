"""What the browser tests share: how Chromium is launched, a browser context that only
reaches the relay on loopback, and the check every page gets (screenshot, axe-core scan).

The `browser` fixture (tests/browser/conftest.py) and bench/abuse_bench.py launch
Chromium with `launch_chromium`, so every Chromium of the tests starts the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, BrowserContext, Page, Playwright

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
AXE_RESULTS = ARTIFACTS / "axe"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
VIEWPORTS = {
    "phone": {"width": 375, "height": 667},
    "desktop": {"width": 1280, "height": 800},
    "phone-320": {"width": 320, "height": 640},
    "phone-375": {"width": 375, "height": 667},
}
# The viewports that are phones in all Chromium emulates, like Playwright's device
# descriptors without their user agent: the meta viewport counts, touch events exist, and
# two device pixels per CSS pixel.
PHONE_DEVICES = {"phone-320", "phone-375"}
MOBILE: dict[str, Any] = {"is_mobile": True, "has_touch": True, "device_scale_factor": 2}
LOCALES = {
    "de": "de-DE",
    "en": "en-GB",
    "tr": "tr-TR",
    "ar": "ar",
    "ru": "ru-RU",
    "uk": "uk-UA",
    "pl": "pl-PL",
}
BLOCKING_IMPACTS = {"serious", "critical"}
# What the booking form and the confirmation pages say, per language.
TEXT = {
    "de": {
        "sent": "Bitte bestätigen Sie",
        "confirm": "Anfrage bestätigen",
        "confirmed": "Termin gebucht",
        "already": "Bereits bestätigt",
        "withdraw": "Anfrage zurückziehen",
        "withdrawn": "Anfrage zurückgezogen",
        "gone": "Link nicht mehr gültig",
        "summary": "Bitte prüfen Sie Ihre Angaben",
        "submit": "Anfrage absenden",
    },
    "en": {
        "sent": "Please confirm your request",
        "confirm": "Confirm request",
        "confirmed": "Appointment booked",
        "already": "Already confirmed",
        "withdraw": "Withdraw request",
        "withdrawn": "Request withdrawn",
        "gone": "Link no longer valid",
        "summary": "Please check your details",
        "submit": "Send request",
    },
}


async def launch_chromium(playwright: Playwright) -> Browser:
    """The system Chromium, headless, with CHROMIUM_ARGS; close it after."""
    return await playwright.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
    )


async def new_context(
    browser: Browser,
    *,
    lang: str,
    viewport: str,
    javascript: bool = True,
    ignore_https_errors: bool = False,
) -> BrowserContext:
    """A fresh profile whose Accept-Language is `lang`; other hosts are refused outright.

    `ignore_https_errors`: for the practice websites of tests/browser/test_embed.py,
    served over HTTPS on loopback with a certificate made for the test."""
    context = await browser.new_context(
        locale=LOCALES[lang],
        viewport=VIEWPORTS[viewport],  # type: ignore[arg-type]
        java_script_enabled=javascript,
        service_workers="block",
        ignore_https_errors=ignore_https_errors,
        **(MOBILE if viewport in PHONE_DEVICES else {}),
    )
    foreign: list[str] = []

    async def only_loopback(route: Any) -> None:
        if route.request.url.startswith(("http://127.0.0.1:", "https://127.0.0.1:")):
            await route.continue_()
        else:
            foreign.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_loopback)
    context.foreign_requests = foreign  # type: ignore[attr-defined]
    return context


async def check_page(page: Page, name: str, *, axe: bool = True) -> None:
    """Screenshot the page; with JavaScript on, scan it with axe-core and keep the result."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    assert page.context.foreign_requests == []  # type: ignore[attr-defined]
    if not axe:
        return
    results = await Axe().run(page)
    violations = results.response["violations"]
    kept = AXE_RESULTS / f"{name}.json"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(
        json.dumps(
            [{"id": v["id"], "impact": v["impact"], "nodes": len(v["nodes"])} for v in violations],
            indent=1,
        )
    )
    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, results.generate_report()
