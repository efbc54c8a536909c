"""The per-practice privacy notice in a real Chromium: reached from the booking form's
consent, readable on phone and desktop in both languages, and free of serious or critical
axe-core violations. Screenshots go to test-artifacts/screenshots/privacy-*.png."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser

from relay.settings import OperatorSettings
from tests.browser.pages import check_page, new_context
from tests.conftest import RelayFactory
from tests.helpers import profile_json, put_profile
from tests.test_practice_details import DETAILS

pytestmark = pytest.mark.browser

OPERATOR = OperatorSettings(
    name="Relaybetrieb Muster GmbH",
    address="Betreiberweg 7, 20095 Hamburg",
    email="datenschutz@relay-betrieb.example",
    imprint_url="https://relay-betrieb.example/impressum",
    log_retention_days=14,
    mail_provider="Postbote Mail AG, Köln",
    supervisory_authority_name="Hamburgische Beauftragte für Datenschutz",
    supervisory_authority_url="https://datenschutz-hamburg.example/",
)
HEADINGS = {
    "de": "Datenschutzhinweise für Terminanfragen an",
    "en": "Privacy notice for appointment requests to",
}


@pytest.mark.parametrize(
    ("lang", "viewport"), [("de", "phone"), ("en", "desktop"), ("en", "phone")]
)
async def test_notice_from_the_form_is_accessible(
    browser: Browser,
    relay_factory: RelayFactory,
    lang: str,
    viewport: str,
) -> None:
    """Given a practice with details, the consent link of its form opens its notice in a
    new tab; the notice names the practice and the operator, and axe finds nothing
    serious or critical."""
    relay = await relay_factory(operator=OPERATOR)
    practice = await relay.add_practice()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, {**profile_json(), "details": DETAILS})
    context = await new_context(browser, lang=lang, viewport=viewport)
    try:
        form = await context.new_page()
        await form.goto(f"{relay.url}/p/{practice.slug}?lang={lang}")
        async with context.expect_page() as opened:
            await form.locator("label[for=field-consent] a").click()
        notice = await opened.value
        await notice.wait_for_load_state()
        assert notice.url == f"{relay.url}/p/{practice.slug}/privacy?lang={lang}"
        heading = notice.get_by_role("heading", level=1)
        assert HEADINGS[lang] in await heading.inner_text()
        assert practice.name in await notice.locator("#controller-contact").inner_text()
        assert OPERATOR.name in await notice.locator("#operator-contact").inner_text()
        await check_page(notice, f"privacy-{lang}-{viewport}-practice")
    finally:
        await context.close()


async def test_general_notice_is_accessible(
    browser: Browser,
    relay_factory: RelayFactory,
) -> None:
    """/privacy with an operator that configured nothing: still no serious violation."""
    relay = await relay_factory(operator=OperatorSettings())
    context = await new_context(browser, lang="de", viewport="phone")
    try:
        page = await context.new_page()
        response: Any = await page.goto(f"{relay.url}/privacy")
        assert response.status == 200
        await check_page(page, "privacy-de-phone-general")
    finally:
        await context.close()
