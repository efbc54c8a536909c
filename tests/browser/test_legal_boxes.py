"""The booking form's boxes in a real Chromium, with and without JavaScript: on the
contract (the default basis) the required box acknowledges the privacy notice, on consent
it is the explicit consent; the reminder box is separate, optional and unticked; the
practice's phone is a tel: link to book without the internet."""

from __future__ import annotations

import aiohttp
import pytest
from playwright.async_api import Browser

from relay.i18n.catalogs import texts
from tests.browser.pages import new_context
from tests.conftest import PracticeHandle, RunningRelay
from tests.helpers import profile_json, put_profile

pytestmark = pytest.mark.browser

PHONE = "+49 30 1234567"
CONSENT_START = {
    "de": "Ich willige ein",
    "tr": texts("tr").gettext(
        "I consent to my details, including details about my health, being sent "
        "encrypted to the practice to arrange this appointment (Art. 9(2)(a) GDPR). "
        "I can withdraw my consent at any time."
    )[:12],
}


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("lang", ["de", "tr"])
@pytest.mark.parametrize("basis", ["contract", "consent"])
async def test_the_boxes_read_right_and_the_phone_shows(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    javascript: bool,
    lang: str,
    basis: str,
) -> None:
    """Given a practice with a phone and reminders on `basis`, the form in `lang` shows the
    acknowledgement or the consent, an unticked optional reminder box with its days, and
    "book by phone" as a tel: link."""
    profile = {
        **profile_json(),
        "details": {"phone": PHONE},
        "reminder_days": [1],
        "legal_basis": basis,
        "sealing": "either",
    }
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
    t = texts(lang)
    context = await new_context(browser, lang=lang, viewport="phone", javascript=javascript)
    try:
        page = await context.new_page()
        await page.goto(f"{relay.url}/p/{practice.slug}?lang={lang}")
        consent = await page.locator("label[for=field-consent]").inner_text()
        if basis == "contract":
            assert consent.startswith(t.gettext("I have read the privacy notice."))
        else:
            assert consent.startswith(CONSENT_START[lang])
        assert await page.locator("#field-consent").is_checked() is False
        reminder = page.locator("#field-reminder")
        assert await reminder.is_checked() is False
        assert await reminder.get_attribute("required") is None
        label = await page.locator("label[for=field-reminder]").inner_text()
        assert label.startswith(t.gettext("Remind me by e-mail before the appointment"))
        assert t.gettext("optional") in label
        hint = await page.locator("#hint-reminder").inner_text()
        assert (
            t.gettext(
                "We send the reminder %(days)s before the appointment.",
                days=t.ngettext("%(num)s day", "%(num)s days", 1),
            )
            in hint
        )
        await page.locator("label[for=field-reminder]").click()
        assert await reminder.is_checked() is True
        link = page.locator("#by-phone a")
        assert await link.get_attribute("href") == "tel:+49301234567"
        assert await link.inner_text() == PHONE
        by_phone = await page.locator("#by-phone").inner_text()
        assert by_phone == t.gettext("You can also book by phone: %(phone)s", phone=PHONE)
    finally:
        await context.close()
