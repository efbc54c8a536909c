"""Rescheduling in one step, in Chromium (de and Turkish, JavaScript on and off): from the
result page and from the cancel page to another time, and onto a time someone takes
meanwhile. The practice's inbox gets one sealed reschedule notice; a taken time leaves the
appointment as it was.

Every page is saved as a screenshot and, with JavaScript on, scanned with axe-core
(tests/browser/pages.py).
"""

from __future__ import annotations

import re

import aiohttp
import pytest
from playwright.async_api import Browser, Page

from relay.i18n.catalogs import texts
from tests.browser.pages import check_page, new_context
from tests.conftest import PracticeHandle, RunningRelay, SmtpSink, link_in
from tests.helpers import DOCTORS, booking_json, profile_json, put_profile, slot_times, submit
from tests.test_answers import plain, record
from tests.test_cancellation import mail_to
from tests.test_moves import notices, slot_id

pytestmark = pytest.mark.browser

CASES = [("de", True), ("de", False), ("tr", True), ("tr", False)]


def case_id(lang: str, javascript: bool) -> str:
    return f"{lang}-{'js' if javascript else 'nojs'}"


async def confirmed_in_browser(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    sink: SmtpSink,
    *,
    lang: str,
    javascript: bool,
) -> tuple[dict[str, str], Page]:
    """A booking of the first slot, confirmed in Chromium: the result page."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        booking = booking_json(slot_times()[0][0])
        async with http.post(
            f"{relay.url}/api/v1/practices/{practice.slug}/bookings",
            json=booking,
            params={"lang": lang},
        ) as submitted:
            assert submitted.status == 202
    link = link_in(await mail_to(sink, booking["email"], "/c/"))
    context = await new_context(browser, lang=lang, viewport="phone", javascript=javascript)
    page = await context.new_page()
    await page.goto(link)
    async with page.expect_navigation():
        await page.get_by_role("button", name=texts(lang).gettext("Confirm request")).click()
    return booking, page


async def choose(page: Page, index: int, lang: str) -> None:
    """Picks slot `index` in the move picker and continues."""
    value = f"{slot_times()[index][0].isoformat()}|{DOCTORS[0]}"
    await page.locator(f'input[name="slot"][value="{value}"]').check()
    async with page.expect_navigation():
        await page.get_by_role(
            "button", name=texts(lang).gettext("Continue with this time")
        ).click()


async def move_to(page: Page, index: int, lang: str, name: str, *, javascript: bool) -> None:
    """From the picker: choose slot `index`, then the one confirmation."""
    t = texts(lang)
    assert t.gettext("Your appointment now: %(time)s", time="")[:8] in await page.content()
    await check_page(page, f"{name}-picker", axe=javascript)
    await choose(page, index, lang)
    assert await page.inner_text("h1") == t.gettext("Move your appointment?")
    await check_page(page, f"{name}-confirm", axe=javascript)
    async with page.expect_navigation():
        await page.get_by_role("button", name=t.gettext("Move my appointment")).click()
    assert await page.inner_text("h1") == t.gettext("Appointment moved")
    assert await page.locator("#move-calendar").get_attribute("href")
    assert await page.locator("#move-cancel").get_attribute("href")
    await check_page(page, f"{name}-done", axe=javascript)


@pytest.mark.parametrize(("lang", "javascript"), CASES, ids=[case_id(*c) for c in CASES])
async def test_moving_from_the_result_page(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    lang: str,
    javascript: bool,
) -> None:
    """Given a confirmed booking; when the patient follows "Choose another time" on the
    result page, picks a time and moves, then the page shows the new time and the
    practice's inbox holds one reschedule notice for the new slot."""
    name = f"move-result-{case_id(lang, javascript)}"
    _, page = await confirmed_in_browser(
        browser, relay, practice, smtp_sink, lang=lang, javascript=javascript
    )
    t = texts(lang)
    async with page.expect_navigation():
        await page.get_by_role("link", name=t.gettext("Choose another time")).click()
    await move_to(page, 1, lang, name, javascript=javascript)
    assert "09:20" in await page.inner_text("main")
    async with aiohttp.ClientSession() as http:
        (notice,) = await notices(http, relay, practice)
    assert notice["slot"] == slot_id(1)
    assert (await record(relay, practice.slug, "x"))[0].endswith(f":{slot_id(1)}")
    await page.context.close()


@pytest.mark.parametrize(
    ("lang", "javascript"), [("de", False), ("tr", True)], ids=["de-nojs", "tr-js"]
)
async def test_moving_from_the_cancel_page(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    lang: str,
    javascript: bool,
) -> None:
    """The cancel link from the mail names the appointment and leads to another time."""
    name = f"move-cancel-{case_id(lang, javascript)}"
    booking, page = await confirmed_in_browser(
        browser, relay, practice, smtp_sink, lang=lang, javascript=javascript
    )
    handed = plain(await mail_to(smtp_sink, booking["email"], "/move?m="))
    found = re.search(r"https?://\S+/x/[A-Za-z0-9._~-]+\?lang=[a-z]{2}", handed)
    assert found
    await page.goto(found.group(0))
    t = texts(lang)
    assert await page.inner_text("h1") == t.gettext("Cancel the appointment")
    await check_page(page, f"{name}-cancel-page", axe=javascript)
    async with page.expect_navigation():
        await page.get_by_role("link", name=t.gettext("Choose another time")).click()
    # The plain cancel link carries no appointment: the picker opens unfiltered, and the
    # mail's "choose another time" names it.
    move_link = re.search(r"https?://\S+/x/[A-Za-z0-9._~-]+/move\?m=\S+", handed)
    assert move_link
    await page.goto(move_link.group(0))
    await move_to(page, 2, lang, name, javascript=javascript)
    async with aiohttp.ClientSession() as http:
        (notice,) = await notices(http, relay, practice)
    assert notice["slot"] == slot_id(2)
    await page.context.close()


@pytest.mark.parametrize(
    ("lang", "javascript"), [("de", True), ("tr", False)], ids=["de-js", "tr-nojs"]
)
async def test_a_time_someone_takes_meanwhile_leaves_the_appointment(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    lang: str,
    javascript: bool,
) -> None:
    """Given the picker open; when another patient takes the time first, then choosing it
    tells the patient that the appointment stays, and shows the picker again."""
    name = f"move-taken-{case_id(lang, javascript)}"
    _, page = await confirmed_in_browser(
        browser, relay, practice, smtp_sink, lang=lang, javascript=javascript
    )
    t = texts(lang)
    async with page.expect_navigation():
        await page.get_by_role("link", name=t.gettext("Choose another time")).click()
    async with aiohttp.ClientSession() as http:
        other = booking_json(start=slot_times()[1][0])
        assert (await submit(http, relay.url, practice.slug, other)).status == 202
    await choose(page, 1, lang)
    notice = await page.inner_text("#move-notice")
    assert notice.startswith(
        t.gettext("This time was just taken. Your appointment stays on %(time)s.", time="")[:12]
    )
    assert "09:00" in notice
    await check_page(page, name, axe=javascript)
    assert await page.locator('input[name="slot"]').count() >= 1
    assert (await record(relay, practice.slug, "x"))[0].endswith(f":{slot_id(0)}")
    await page.context.close()
