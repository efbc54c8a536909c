"""The patient's journey in a real Chromium: book, confirm by mailed link, withdraw, errors.

Every page is scanned with axe-core (no serious or critical violation) and saved as a
full-page screenshot under test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from playwright.async_api import Browser, Locator, Page

from practice_client.runner import RunConfig, run
from tests.browser.pages import SCREENSHOTS, TEXT, check_page, new_context
from tests.conftest import PracticeHandle, RunningRelay, SmtpSink, link_in
from tests.helpers import BERLIN, booking_json, profile_json, put_profile, submit

pytestmark = pytest.mark.browser


def time_radio(page: Page, start: str) -> Locator:
    """The picker's time for `start`, found as a patient (or a screen reader) finds it: the
    radio named by its visible label, "09:00" in the practice's zone."""
    label = datetime.fromisoformat(start).astimezone(BERLIN).strftime("%H:%M")
    return page.locator("#times").get_by_role("radio", name=label, exact=True)


def submit_button(page: Page, lang: str) -> Locator:
    """The visible "send" button in the form's actions. The form's first submit button is a
    hidden default (so Enter in a text field sends the request); no patient can press it."""
    return page.locator("form.booking .actions").get_by_role(
        "button", name=TEXT[lang]["submit"], exact=True
    )


async def fill_booking(page: Page, booking: dict[str, Any]) -> None:
    """Fills the form the way a patient would: the booking's time in the picker by its
    label, then every field."""
    chosen = time_radio(page, booking["start"])
    await chosen.check()
    assert await chosen.is_checked()
    await page.fill("#field-first_name", booking["first_name"])
    await page.fill("#field-last_name", booking["last_name"])
    await page.fill("#field-birth_date", booking["birth_date"])
    await page.check(f"#gender-{booking['gender']}")
    await page.check(f"#insurance-{booking['insurance']}")
    await page.check("#new_patient-yes" if booking["new_patient"] else "#new_patient-no")
    await page.fill("#field-email", booking["email"])
    await page.fill("#field-phone", booking["phone"])
    await page.fill("#field-note", booking["note"])
    await page.check("#field-consent")


@pytest.mark.parametrize(
    ("lang", "viewport", "javascript"),
    [
        ("de", "phone", True),
        ("en", "desktop", True),
        ("de", "desktop", False),
        ("en", "phone", False),
    ],
)
async def test_book_confirm_and_the_practice_receives_it(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    tmp_path: Path,
    lang: str,
    viewport: str,
    javascript: bool,
) -> None:
    """Given slots; when a patient books one in the form and confirms by the mailed link,
    then the practice client writes the booking with the patient's values."""
    name = f"{lang}-{viewport}-{'js' if javascript else 'nojs'}"
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
    context = await new_context(browser, lang=lang, viewport=viewport, javascript=javascript)
    page = await context.new_page()
    booking = booking_json()

    # When the patient opens the form (language from Accept-Language) and books
    await page.goto(f"{relay.url}/p/{practice.slug}")
    assert await page.get_attribute("html", "lang") == lang
    await check_page(page, f"{name}-form", axe=javascript)
    await fill_booking(page, booking)
    async with page.expect_navigation():
        await submit_button(page, lang).click()
    assert TEXT[lang]["sent"] in await page.inner_text("h1")
    await check_page(page, f"{name}-sent", axe=javascript)

    # And opens the link from the mail and confirms
    (message,) = await smtp_sink.wait_for(1)
    link = link_in(message)
    await page.goto(link)
    assert await page.inner_text("h1") == TEXT[lang]["confirm"].replace(
        "Anfrage bestätigen", "Terminanfrage bestätigen"
    ).replace("Confirm request", "Confirm your appointment request")
    assert "Praxis Dr. Beispiel" in await page.inner_text("main")
    assert booking["doctor"] in await page.inner_text("main")
    await check_page(page, f"{name}-confirm", axe=javascript)
    async with page.expect_navigation():
        await page.get_by_role("button", name=TEXT[lang]["confirm"]).click()
    assert await page.inner_text("h1") == TEXT[lang]["confirmed"]
    await check_page(page, f"{name}-confirmed", axe=javascript)

    # And a second visit says it is confirmed already
    await page.goto(link)
    assert await page.inner_text("h1") == TEXT[lang]["already"]
    await check_page(page, f"{name}-already", axe=javascript)
    await context.close()

    # Then the practice client receives it with the patient's values
    out_dir = tmp_path / "out"
    code = await run(
        RunConfig(relay.url, practice.token, practice.key_file, out_dir, wait=0), once=True
    )
    assert code == 0
    (written,) = out_dir.glob("*.json")
    document = json.loads(written.read_text())
    assert (out_dir / f"{document['id']}.json").exists()
    for key, value in booking.items():
        assert document[key] == value, key


@pytest.mark.parametrize(("lang", "viewport"), [("de", "phone"), ("en", "desktop")])
async def test_withdraw_then_the_link_is_gone(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    lang: str,
    viewport: str,
) -> None:
    """Withdrawing deletes the request; the same link then shows the 410 page."""
    name = f"{lang}-{viewport}-js"
    # Booked in `lang`: the confirmation page speaks the language the patient used.
    async with aiohttp.ClientSession(headers={"Accept-Language": lang}) as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        assert (await submit(http, relay.url, practice.slug, booking_json())).status == 202
    (message,) = await smtp_sink.wait_for(1)
    link = link_in(message)
    context = await new_context(browser, lang=lang, viewport=viewport)
    page = await context.new_page()
    await page.goto(link)
    async with page.expect_navigation():
        await page.get_by_role("button", name=TEXT[lang]["withdraw"]).click()
    assert await page.inner_text("h1") == TEXT[lang]["withdrawn"]
    await check_page(page, f"{name}-withdrawn")

    response = await page.goto(link)
    assert response is not None
    assert response.status == 410
    assert await page.inner_text("h1") == TEXT[lang]["gone"]
    await check_page(page, f"{name}-gone")
    await context.close()


@pytest.mark.parametrize(
    ("lang", "viewport", "javascript"),
    [("de", "phone", True), ("en", "desktop", True), ("de", "phone", False)],
)
async def test_empty_form_shows_a_focused_summary_and_marked_fields(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    lang: str,
    viewport: str,
    javascript: bool,
) -> None:
    """Submitting nothing: 422, the summary has focus, each field is marked; links lead there."""
    name = f"{lang}-{viewport}-{'js' if javascript else 'nojs'}"
    profile = profile_json()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
    context = await new_context(browser, lang=lang, viewport=viewport, javascript=javascript)
    page = await context.new_page()
    await page.goto(f"{relay.url}/p/{practice.slug}")
    async with page.expect_navigation() as navigation:
        await submit_button(page, lang).click()
    assert (await navigation.value).status == 422

    summary = page.locator("#error-summary")
    await summary.wait_for(state="visible")
    assert TEXT[lang]["summary"] in await summary.inner_text()
    assert await page.locator("#error-summary:focus").count() == 1
    for field_id in ("field-first_name", "field-email", "field-consent", "gender-female"):
        assert await page.get_attribute(f"#{field_id}", "aria-invalid") == "true"
    # The times are marked too: the missing choice is the picker's.
    first_time = time_radio(page, profile["slots"][0]["start"])
    assert await first_time.get_attribute("aria-invalid") == "true"
    await check_page(page, f"{name}-form-errors", axe=javascript)

    # The summary's first link moves the focus to its field.
    first_link = summary.locator("a").first
    target = (await first_link.get_attribute("href") or "#")[1:]
    await first_link.click()
    assert await page.locator(f"[id='{target}']:focus").count() == 1
    await context.close()


@pytest.mark.parametrize(("lang", "viewport"), [("de", "phone"), ("en", "desktop")])
async def test_privacy_and_not_found_pages(
    browser: Browser, relay: RunningRelay, lang: str, viewport: str
) -> None:
    """The privacy page and the 404 page pass the scan in both languages."""
    context = await new_context(browser, lang=lang, viewport=viewport)
    page = await context.new_page()
    await page.goto(f"{relay.url}/privacy")
    assert await page.get_attribute("html", "lang") == lang
    await check_page(page, f"{lang}-{viewport}-js-privacy")
    response = await page.goto(f"{relay.url}/no/such/page")
    assert response is not None
    assert response.status == 404
    await check_page(page, f"{lang}-{viewport}-js-not-found")
    await context.close()


async def test_language_switch_link_changes_language_and_keeps_the_page(
    browser: Browser, relay: RunningRelay, practice: PracticeHandle
) -> None:
    """The visible switch turns the form into English and back, on the same path; on the
    privacy notice it is a link."""
    context = await new_context(browser, lang="de", viewport="phone")
    page = await context.new_page()
    await page.goto(f"{relay.url}/p/{practice.slug}")
    async with page.expect_navigation():
        await page.get_by_role("button", name="English").click()
    assert await page.get_attribute("html", "lang") == "en"
    assert urlsplit(page.url).path == f"/p/{practice.slug}"
    assert parse_qs(urlsplit(page.url).query)["lang"] == ["en"]
    async with page.expect_navigation():
        await page.get_by_role("button", name="Deutsch").click()
    assert await page.get_attribute("html", "lang") == "de"
    await page.goto(f"{relay.url}/p/{practice.slug}/privacy")
    async with page.expect_navigation():
        await page.get_by_role("link", name="Polski").click()
    assert await page.get_attribute("html", "lang") == "pl"
    assert page.url.endswith(f"/p/{practice.slug}/privacy?lang=pl")
    await context.close()


async def test_keyboard_only_skip_link_and_visible_focus(
    browser: Browser, relay: RunningRelay, practice: PracticeHandle
) -> None:
    """The first Tab reaches a visible skip link; focused controls draw an outline."""
    context = await new_context(browser, lang="de", viewport="desktop")
    page = await context.new_page()
    await page.goto(f"{relay.url}/p/{practice.slug}")
    await page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    assert await page.locator(".skip-link:focus").count() == 1
    box = await skip.bounding_box()
    assert box is not None
    assert box["y"] >= 0
    await page.keyboard.press("Enter")
    await page.keyboard.press("Tab")
    outline = await page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    await context.close()


async def test_narrow_phone_has_no_horizontal_scrolling(
    browser: Browser, relay: RunningRelay, practice: PracticeHandle
) -> None:
    """At 320 px the form fits: nothing wider than the screen."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
    context = await browser.new_context(viewport={"width": 320, "height": 640}, locale="de-DE")
    page = await context.new_page()
    await page.goto(f"{relay.url}/p/{practice.slug}")
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 320
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "de-320-js-form.png"), full_page=True)
    await context.close()
