"""Sealed in the patient's browser (protocol 2), in a real Chromium against the real relay.

With JavaScript the relay process never receives what the patient typed: a recording proxy
between Chromium and the relay keeps every byte the relay was sent, and neither those
bytes nor the relay's log, Redis or the mail hold the patient's name, birth date, phone or
note. The practice client opens the booking and finds those values. Without JavaScript the
relay seals as before, unless the practice takes only browser-sealed requests.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page

from practice_client.runner import RunConfig, run
from tests.browser.pages import TEXT, check_page, new_context
from tests.browser.test_patient_journey import fill_booking, submit_button
from tests.capture_proxy import CaptureProxy
from tests.conftest import (
    PracticeHandle,
    RedisServer,
    RelayFactory,
    RunningRelay,
    SmtpSink,
    link_in,
)
from tests.helpers import booking_json, profile_json, put_profile

pytestmark = pytest.mark.browser

SECRET_FIELDS = ("first_name", "last_name", "birth_date", "phone", "note")


def sealed_profile(sealing: str) -> dict[str, Any]:
    profile = profile_json()
    profile["sealing"] = sealing
    profile["details"] = {"phone": "+49 30 1234567"}
    return profile


@pytest.fixture
async def proxy() -> AsyncIterator[CaptureProxy]:
    capture = CaptureProxy()
    yield capture
    await capture.stop()


async def relay_behind(
    relay_factory: RelayFactory, proxy: CaptureProxy
) -> tuple[RunningRelay, PracticeHandle]:
    """A relay whose public address is the proxy's, so the browser talks only to that."""
    relay = await relay_factory(public_url=proxy.url)
    await proxy.start(relay.url)
    return relay, await relay.add_practice()


def stored_bytes(redis_server: RedisServer) -> bytes:
    client = redis_server.client()
    try:
        return b"".join(key + (client.dump(key) or b"") for key in client.scan_iter(count=1000))
    finally:
        client.close()


async def receive(relay: RunningRelay, practice: PracticeHandle, out_dir: Path) -> dict[str, Any]:
    code = await run(
        RunConfig(relay.url, practice.token, practice.key_file, out_dir, wait=0), once=True
    )
    assert code == 0
    return written_booking(out_dir)


def written_booking(out_dir: Path) -> dict[str, Any]:
    (written,) = out_dir.glob("*.json")
    document: dict[str, Any] = json.loads(written.read_text())
    return document


async def book(page: Page, url: str, booking: dict[str, Any], lang: str) -> None:
    await page.goto(url)
    # While the script runs, the fields only the sealed part carries have no name.
    assert await page.locator("form.booking [data-seal][name]").count() == 0
    assert await page.locator("form.booking [data-seal]").count() > 0
    await fill_booking(page, booking)
    await submit_button(page, lang).click()
    await page.wait_for_function(
        "text => document.querySelector('h1') && document.querySelector('h1')"
        ".textContent.includes(text)",
        arg=TEXT[lang]["sent"],
    )


@pytest.mark.parametrize(("lang", "viewport"), [("de", "phone"), ("en", "desktop")])
async def test_the_relay_never_receives_what_the_patient_typed(
    browser: Browser,
    relay_factory: RelayFactory,
    proxy: CaptureProxy,
    smtp_sink: SmtpSink,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    lang: str,
    viewport: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    relay, practice = await relay_behind(relay_factory, proxy)
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, sealed_profile("either"))
    context = await new_context(browser, lang=lang, viewport=viewport, javascript=True)
    page = await context.new_page()
    booking = booking_json()

    await book(page, f"{proxy.url}/p/{practice.slug}", booking, lang)
    await check_page(page, f"sealed-{lang}-{viewport}-sent")
    (message,) = await smtp_sink.wait_for(1)
    await page.goto(link_in(message).replace(relay.url, proxy.url))
    assert booking["doctor"] in await page.inner_text("main")
    async with page.expect_navigation():
        await page.get_by_role("button", name=TEXT[lang]["confirm"]).click()
    assert await page.inner_text("h1") == TEXT[lang]["confirmed"]
    await context.close()

    document = await receive(relay, practice, tmp_path / "out")
    for key, value in booking.items():
        assert document[key] == value, key
    assert document["sealed_by"] == "browser"
    assert document["language"] == lang

    seen_by_relay = proxy.everything()
    in_redis = stored_bytes(redis_server)
    mail = message.as_string()
    for name in SECRET_FIELDS:
        value = booking[name]
        assert value.encode() not in seen_by_relay, f"the relay received the {name}"
        assert value not in caplog.text, f"the relay logged the {name}"
        assert value.encode() not in in_redis, f"Redis holds the {name}"
        assert value not in mail, f"the mail holds the {name}"


async def test_errors_in_sealed_fields_are_shown_without_sending_anything(
    browser: Browser, relay_factory: RelayFactory, proxy: CaptureProxy
) -> None:
    relay, practice = await relay_behind(relay_factory, proxy)
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, sealed_profile("either"))
    context = await new_context(browser, lang="de", viewport="phone", javascript=True)
    page = await context.new_page()
    booking = booking_json(first_name="", birth_date="2999-01-01")
    await page.goto(f"{proxy.url}/p/{practice.slug}")
    await fill_booking(page, booking)
    before = len(proxy.received)
    await submit_button(page, "de").click()
    summary = page.locator("#error-summary")
    await summary.wait_for()
    text = await summary.inner_text()
    assert "Vorname" in text
    assert "Geburtsdatum" in text
    assert await page.locator("#field-first_name").get_attribute("aria-invalid") == "true"
    assert await page.evaluate("document.activeElement.id") == "error-summary"
    await check_page(page, "sealed-de-phone-errors")
    # Not a ticket, not a post: the relay heard nothing of it.
    assert len(proxy.received) == before
    # Corrected, it goes through, and the typed values were kept meanwhile.
    assert await page.input_value("#field-last_name") == booking["last_name"]
    await page.fill("#field-first_name", "Zerlina")
    await page.fill("#field-birth_date", "1984-03-05")
    await submit_button(page, "de").click()
    await page.wait_for_function(
        "text => document.querySelector('h1').textContent.includes(text)", arg=TEXT["de"]["sent"]
    )
    await context.close()


async def test_a_refusal_by_the_relay_keeps_what_only_the_page_knew(
    browser: Browser, relay_factory: RelayFactory, proxy: CaptureProxy
) -> None:
    """The relay refuses a clear field (a bad address): its page comes back in place of the
    form, with the sealed fields still filled in, and the corrected request goes through."""
    relay, practice = await relay_behind(relay_factory, proxy)
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, sealed_profile("either"))
    context = await new_context(browser, lang="en", viewport="desktop", javascript=True)
    page = await context.new_page()
    booking = booking_json(email="not-an-address")
    await page.goto(f"{proxy.url}/p/{practice.slug}")
    await fill_booking(page, booking)
    await submit_button(page, "en").click()
    await page.locator("#error-summary").wait_for()
    assert await page.locator("#field-email").get_attribute("aria-invalid") == "true"
    assert await page.input_value("#field-first_name") == booking["first_name"]
    assert await page.input_value("#field-note") == booking["note"]
    assert await page.locator("form.booking [data-seal][name]").count() == 0
    await page.fill("#field-email", "zerlina@example.org")
    await submit_button(page, "en").click()
    await page.wait_for_function(
        "text => document.querySelector('h1').textContent.includes(text)", arg=TEXT["en"]["sent"]
    )
    await context.close()


async def test_without_javascript_the_relay_seals(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    tmp_path: Path,
) -> None:
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, sealed_profile("either"))
    context = await new_context(browser, lang="de", viewport="phone", javascript=False)
    page = await context.new_page()
    booking = booking_json()
    await page.goto(f"{relay.url}/p/{practice.slug}")
    await fill_booking(page, booking)
    async with page.expect_navigation():
        await submit_button(page, "de").click()
    assert TEXT["de"]["sent"] in await page.inner_text("h1")
    (message,) = await smtp_sink.wait_for(1)
    await page.goto(link_in(message))
    async with page.expect_navigation():
        await page.get_by_role("button", name=TEXT["de"]["confirm"]).click()
    await context.close()
    document = await receive(relay, practice, tmp_path / "out")
    assert document["first_name"] == booking["first_name"]
    assert document["sealed_by"] == "relay"


async def test_a_practice_taking_only_browser_sealed_requests_says_so_without_javascript(
    browser: Browser, relay: RunningRelay, practice: PracticeHandle, redis_server: RedisServer
) -> None:
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, sealed_profile("browser"))
    context = await new_context(browser, lang="de", viewport="phone", javascript=False)
    page = await context.new_page()
    await page.goto(f"{relay.url}/p/{practice.slug}")
    notice = "Bitte nutzen Sie einen aktuellen Browser"
    assert notice in await page.inner_text("main")
    assert "+49 30 1234567" in await page.inner_text("main")
    before = stored_bytes(redis_server)
    await fill_booking(page, booking_json())
    async with page.expect_navigation():
        await submit_button(page, "de").click()
    assert notice in await page.inner_text("#error-summary")
    await check_page(page, "browser-only-nojs-refused", axe=False)
    assert stored_bytes(redis_server) == before
    await context.close()


async def test_a_browser_that_cannot_seal_is_told_and_sends_nothing(
    browser: Browser, relay: RunningRelay, practice: PracticeHandle
) -> None:
    """seal.js's self-test fails (here: no crypto.getRandomValues): the page says what to
    do, and its send button is off."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, sealed_profile("browser"))
    context = await new_context(browser, lang="en", viewport="phone", javascript=True)
    await context.add_init_script(
        "Object.defineProperty(crypto, 'getRandomValues', {value: undefined})"
    )
    page = await context.new_page()
    await page.goto(f"{relay.url}/p/{practice.slug}")
    notice = page.locator("#sealing-required")
    await notice.wait_for()
    assert "current browser" in await notice.inner_text()
    assert await submit_button(page, "en").is_disabled()
    await context.close()
