"""The language switcher on the booking form keeps what the patient typed and chose.

Without JavaScript its buttons post the form, and the relay shows it again in the other
language with the values filled back in. With JavaScript the sealed fields have no
names and must not reach the relay in the clear, so the values wait in the tab's
sessionStorage while the page loads in the other language, and are gone from it after.
"""

from __future__ import annotations

import aiohttp
import pytest
from playwright.async_api import Browser

from relay.i18n.catalogs import texts
from relay.i18n.languages import SELF_NAMES
from tests.browser.pages import new_context
from tests.conftest import PracticeHandle, RunningRelay
from tests.helpers import profile_json, put_profile

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
async def test_switching_language_keeps_everything_typed(
    browser: Browser, relay: RunningRelay, practice: PracticeHandle, javascript: bool
) -> None:
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
    context = await new_context(browser, lang="de", viewport="phone", javascript=javascript)
    page = await context.new_page()
    await page.goto(f"{relay.url}/p/{practice.slug}")
    await page.fill("#field-first_name", "Ayşe")
    await page.fill("#field-note", "Bitte vormittags")
    await page.check("#new_patient-yes")
    await page.locator("input[name=slot]").first.check()
    chosen = await page.locator("input[name=slot]:checked").get_attribute("id")

    async with page.expect_navigation():
        await page.get_by_role("button", name=SELF_NAMES["tr"]).click()

    assert await page.get_attribute("html", "lang") == "tr"
    assert await page.input_value("#field-first_name") == "Ayşe"
    assert await page.input_value("#field-note") == "Bitte vormittags"
    assert await page.is_checked("#new_patient-yes")
    assert await page.is_checked(f"#{chosen}")
    if javascript:
        kept = await page.evaluate("() => window.sessionStorage.length")
        assert kept == 0
    # The current language is shown, not offered; every other one is a button.
    switcher = page.get_by_role("navigation", name=texts("tr").gettext("Language"))
    assert await switcher.locator("[aria-current]").inner_text() == SELF_NAMES["tr"]
    assert await switcher.get_by_role("button").count() == len(SELF_NAMES) - 1
    await context.close()
