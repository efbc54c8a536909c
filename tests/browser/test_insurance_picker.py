"""Slots kept for some insurance types in a real Chromium with JavaScript: the picker asks
for the insurance first, shows only fitting times without a reload, and the sealed
request carries the insurance in the clear for such a slot (issue 18)."""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import unquote_plus

import aiohttp
import pytest
from playwright.async_api import Browser

from relay.booking.fields import field
from relay.i18n.catalogs import texts
from relay.web.picker import INSURANCE_FIRST
from tests.browser.pages import TEXT, check_page, new_context
from tests.browser.test_browser_sealing import proxy, relay_behind, sealed_profile
from tests.browser.test_embed import (
    SiteFactory,
    open_page,
    practice_page,
    relay_seal,
    sites,
    state,
    tls,
)
from tests.browser.test_embed import fill_booking as fill_booking_embedded
from tests.browser.test_patient_journey import fill_booking, submit_button, time_radio
from tests.capture_proxy import CaptureProxy
from tests.conftest import PracticeHandle, RelayFactory, RunningRelay
from tests.helpers import BERLIN, booking_json, profile_json, put_profile

pytestmark = pytest.mark.browser
__all__ = ["proxy", "sites", "tls"]  # fixtures, used by name


def clock(start: str) -> str:
    return datetime.fromisoformat(start).astimezone(BERLIN).strftime("%H:%M")


async def test_the_picker_filters_by_insurance_in_place_and_the_seal_sends_it(
    browser: Browser, relay_factory: RelayFactory, proxy: CaptureProxy
) -> None:
    """Given slots kept for private, for statutory and for everyone; when a patient
    chooses "private" and then "statutory", the picker swaps in the fitting times without
    reloading; booking the private slot sends its insurance beside the sealed blob."""
    relay, practice = await relay_behind(relay_factory, proxy)
    profile = sealed_profile("either")
    private, statutory, everyone = profile["slots"]
    private["insurance"] = ["private"]
    statutory["insurance"] = ["statutory"]
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
    context = await new_context(browser, lang="en", viewport="phone", javascript=True)
    page = await context.new_page()
    await page.goto(f"{proxy.url}/p/{practice.slug}?lang=en")
    await page.evaluate("window.sameDocument = true")
    assert await page.locator("#insurance-first").is_visible()
    assert await page.locator("#times").count() == 0

    await page.check("#insurance-statutory")
    await time_radio(page, statutory["start"]).wait_for()
    shown = await page.locator("#times input[type='radio']").count()
    assert shown == 2  # the statutory slot and the open one
    await page.check("#insurance-private")
    await time_radio(page, private["start"]).wait_for()
    labels = await page.locator("#times label").all_inner_texts()
    assert [label.strip() for label in labels] == [
        clock(private["start"]),
        clock(everyone["start"]),
    ]
    assert await page.evaluate("window.sameDocument === true")
    assert "insurance=private" in page.url
    await check_page(page, "insurance-en-phone-private")

    booking = booking_json(
        datetime.fromisoformat(private["start"]), doctor=private["doctor"], insurance="private"
    )
    await fill_booking(page, booking)
    await submit_button(page, "en").click()
    await page.wait_for_function(
        "text => document.querySelector('h1') && document.querySelector('h1')"
        ".textContent.includes(text)",
        arg=TEXT["en"]["sent"],
    )
    await context.close()
    (posted,) = [
        unquote_plus(request.decode(errors="replace"))
        for request in proxy.received
        if request.startswith(b"POST /p/")
    ]
    assert "insurance=private" in posted
    assert "sealed=" in posted
    assert booking["first_name"] not in posted


async def test_the_embedded_form_lists_only_fitting_slots_and_sends_the_insurance(
    browser: Browser, relay: RunningRelay, practice: PracticeHandle, sites: SiteFactory
) -> None:
    """On the practice's own page: no slot before the insurance is chosen, then only the
    fitting ones; the request for a private slot carries the insurance in the clear."""
    site = await sites()
    profile = profile_json()
    profile.update(frame_ancestors=[site.origin], sealing="either")
    private, statutory, everyone = profile["slots"]
    private["insurance"] = ["private"]
    statutory["insurance"] = ["statutory"]
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
        url = await practice_page(http, site, relay, practice, await relay_seal(http, relay))
    context = await new_context(browser, lang="de", viewport="phone", ignore_https_errors=True)
    page, watched = await open_page(context, url)
    assert await state(page, "ready", "fallback") == "ready"
    slots = page.get_by_label(texts("de").gettext("Free appointment"))
    assert await slots.locator("optgroup option").count() == 0
    assert await page.get_by_text(texts("de").gettext(INSURANCE_FIRST)).is_visible()

    booking = booking_json(
        datetime.fromisoformat(private["start"]), doctor=private["doctor"], insurance="private"
    )
    private_label = field("insurance").choice_labels["private"]["de"]
    await page.get_by_role("radio", name=private_label, exact=True).check()
    times = await slots.locator("optgroup option").all_inner_texts()
    assert [text[:5] for text in times] == [clock(private["start"]), clock(everyone["start"])]
    await fill_booking_embedded(page, booking, "de")
    await page.get_by_role("button", name=texts("de").gettext("Send request")).click()
    assert await state(page, "sent", "ready") == "sent"
    (posted,) = [r for r in watched.requests if r.url.endswith("/bookings") and r.method == "POST"]
    sent = json.loads(posted.post_data or "{}")
    assert sent["insurance"] == "private"
    assert watched.problems == []
    await context.close()
