"""Proof of work in a real Chromium: the relay's own solver runs while the patient types,
the live region says so, and the form goes through; without JavaScript the limit page
shows the form again, filled in, with the reason on top."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page

from tests.browser.pages import check_page, new_context
from tests.conftest import RelayFactory, SmtpSink
from tests.helpers import booking_json, profile_json, put_profile, submit

pytestmark = pytest.mark.browser

# Small enough for shared CI cores, large enough that the solver really searches.
DIFFICULTY = 20_000
SOLVED_MS = 60_000  # a generous bound for a loaded CI machine


async def fill_booking(page: Page, booking: dict[str, Any]) -> None:
    """Fills the form as a keyboard user does: the first free time (focus, Space; the
    slot picker's styling decides what lies on top for a mouse), then every field."""
    await page.locator("input[name=slot]").first.focus()
    await page.keyboard.press("Space")
    assert await page.locator("input[name=slot]").first.is_checked()
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


async def test_the_solver_runs_announces_itself_and_the_form_goes_through(
    browser: Browser, relay_factory: RelayFactory, smtp_sink: SmtpSink
) -> None:
    """Given the operator's "always" mode; when a patient opens the form, the live region
    says the check runs and then that it is complete, with the progress bar full; then the
    booking is sent and mailed, a solved challenge counted."""
    relay = await relay_factory(pow="always", pow_difficulty=DIFFICULTY)
    practice = await relay.add_practice()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
    context = await new_context(browser, lang="de", viewport="phone")
    page = await context.new_page()
    await page.goto(f"{relay.url}/p/{practice.slug}")
    status = page.locator("#pow-status")
    assert await status.get_attribute("role") == "status"
    await fill_booking(page, booking_json())
    await page.wait_for_function(
        "document.getElementById('pow').dataset.state === 'solved'", timeout=SOLVED_MS
    )
    assert "Sicherheitsprüfung abgeschlossen" in await status.inner_text()
    assert await page.locator("#pow-progress").get_attribute("value") == "100"
    assert await page.locator("input[name=altcha]").input_value()
    await check_page(page, "pow-solved")
    async with page.expect_navigation():
        await page.click(".actions button[type=submit]")
    assert "Bitte bestätigen Sie" in await page.inner_text("h1")
    await context.close()
    await smtp_sink.wait_for(1)
    metrics, _ = relay.service.metrics.render()
    assert b'terminrelay_pow_challenges_total{event="solved"} 1.0' in metrics


async def test_a_submission_before_the_check_is_done_waits_for_it(
    browser: Browser, relay_factory: RelayFactory, smtp_sink: SmtpSink
) -> None:
    """Pressing "send" as soon as the form is filled in works whether or not the check is
    done: an unfinished check holds the form back and sends it by itself when done."""
    relay = await relay_factory(pow="always", pow_difficulty=DIFFICULTY)
    practice = await relay.add_practice()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
    context = await new_context(browser, lang="en", viewport="desktop")
    page = await context.new_page()
    await page.goto(f"{relay.url}/p/{practice.slug}")
    await fill_booking(page, booking_json())
    async with page.expect_navigation(timeout=SOLVED_MS):
        await page.click(".actions button[type=submit]")
    assert "Please confirm your request" in await page.inner_text("h1")
    await context.close()
    await smtp_sink.wait_for(1)


async def test_patients_behind_one_address_all_book_with_proof_of_work(
    browser: Browser, relay_factory: RelayFactory, smtp_sink: SmtpSink
) -> None:
    """Given a soft limit of 2 per network; four patients from the same address book one
    after another in Chromium: all four are booked, the last two with a proof of work."""
    relay = await relay_factory(submit_limit=2, pow_difficulty=DIFFICULTY)
    practice = await relay.add_practice()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json(count=4))
    for patient in range(4):
        context = await new_context(browser, lang="de", viewport="phone")
        page = await context.new_page()
        await page.goto(f"{relay.url}/p/{practice.slug}")
        assert (await page.locator("#pow").count()) == (1 if patient >= 2 else 0)
        await fill_booking(page, booking_json())
        async with page.expect_navigation(timeout=SOLVED_MS):
            await page.click(".actions button[type=submit]")
        assert "Bitte bestätigen Sie" in await page.inner_text("h1"), f"patient {patient}"
        await context.close()
    await smtp_sink.wait_for(4)
    metrics, _ = relay.service.metrics.render()
    assert b'terminrelay_pow_challenges_total{event="solved"} 2.0' in metrics


async def test_without_javascript_the_limit_page_keeps_the_form_filled_in(
    browser: Browser, relay_factory: RelayFactory
) -> None:
    """Given a network past its soft limit; a patient without JavaScript sends the form
    and gets 429: the reason on top, every value typed still in the form."""
    relay = await relay_factory(submit_limit=1, pow_difficulty=DIFFICULTY)
    practice = await relay.add_practice()
    async with aiohttp.ClientSession() as http:
        profile = profile_json(count=3)
        await put_profile(http, relay.url, practice.token, profile)
        other = booking_json(start=None)
        other["start"] = profile["slots"][2]["start"]
        assert (await submit(http, relay.url, practice.slug, other)).status == 202
    context = await new_context(browser, lang="de", viewport="phone", javascript=False)
    page = await context.new_page()
    await page.goto(f"{relay.url}/p/{practice.slug}")
    booking = booking_json()
    await fill_booking(page, booking)
    async with page.expect_navigation() as navigation:
        await page.click(".actions button[type=submit]")
    response = await navigation.value
    assert response is not None
    assert response.status == 429
    assert int(await response.header_value("Retry-After") or "0") > 0
    summary = page.locator("#error-summary")
    assert "Bitte noch einen Moment" in await summary.inner_text()
    assert "Ohne JavaScript" in await summary.inner_text()
    assert await page.input_value("#field-first_name") == booking["first_name"]
    assert await page.input_value("#field-email") == booking["email"]
    assert await page.input_value("#field-note") == booking["note"]
    assert await page.is_checked("#field-consent")
    await check_page(page, "pow-nojs-limit", axe=False)
    await context.close()
