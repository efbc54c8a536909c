"""Every patient language on a narrow and a common phone, JavaScript on, the whole journey:
form, sent, confirm by the mailed link, result (with the calendar file), cancel, cancelled.

On every page: `<html>` names the language and its direction, axe-core finds nothing
serious or critical, nothing sticks out sideways, and a full-page screenshot is kept as
test-artifacts/screenshots/languages/{lang}-{width}-{step}.png.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from email.message import EmailMessage
from urllib.parse import parse_qs, urljoin, urlsplit

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright

from relay.i18n.languages import LANGUAGES, direction
from tests.browser.pages import check_page, launch_chromium, new_context
from tests.browser.test_patient_journey import fill_booking
from tests.conftest import LINK, RedisServer, RunningRelay, SmtpSink, start_relay
from tests.helpers import READY_SECONDS, booking_json, profile_json, put_profile
from tests.test_practice_details import DETAILS

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

# The module's own database, flushed once: one relay serves all its journeys.
LANGUAGES_DB = 10
WIDTHS = (320, 375)
# What a patient of each language types: the name in its own script, a note in its words.
PATIENTS = {
    "de": ("Jürgen", "Weißenbach-Müller", "Rückenschmerzen seit drei Tagen, schlimmer nachts."),
    "en": ("Siobhán", "O'Donnell-Fitzgerald", "Lower back pain for three days, worse at night."),
    "tr": ("Ayşe", "Yılmaz", "Üç gündür bel ağrım var, geceleri daha kötü."),
    "ar": ("فاطمة", "الزهراء", "ألم في أسفل الظهر منذ ثلاثة أيام، يزداد ليلاً."),
    "ru": ("Наталья", "Смирнова", "Боль в пояснице уже три дня, ночью сильнее."),
    "uk": ("Олена", "Коваленко", "Біль у попереку вже три дні, вночі сильніший."),
    "pl": ("Małgorzata", "Wiśniewska", "Ból krzyża od trzech dni, w nocy silniejszy."),
}
# The confirmation link with whatever query it carries.
MAIL_LINK = re.compile(LINK.pattern + r"(?:\?[^\s\"<>]*)?")
# Elements that are off screen on purpose (static/site.css): the skip link until it has
# focus, text for screen readers only; and whatever a <noscript> holds.
OVERFLOWING = """(width) => {
  const off = [];
  for (const element of document.querySelectorAll("body *")) {
    if (element.closest(".visually-hidden, .skip-link, noscript")) continue;
    const box = element.getBoundingClientRect();
    if (box.right > width + 1 || box.left < -1) {
      const classes = [...element.classList].map((name) => "." + name).join("");
      const id = element.id ? "#" + element.id : "";
      off.push(`${element.tagName.toLowerCase()}${id}${classes} [${Math.round(box.left)}, ` +
               `${Math.round(box.right)}] ${element.textContent.trim().slice(0, 40)}`);
    }
  }
  return off;
}"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the module's fourteen journeys."""
    async with async_playwright() as playwright:
        launched = await launch_chromium(playwright)
        yield launched
        await launched.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def relay(
    redis_server: RedisServer, smtp_server: SmtpSink, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningRelay]:
    """One relay for the module, on its own database; each journey has its own practice."""
    client = redis_server.client(LANGUAGES_DB)
    client.flushdb()
    client.close()
    running = await start_relay(
        redis_server.url(LANGUAGES_DB), smtp_server.settings, tmp_path_factory.mktemp("languages")
    )
    yield running
    await running.stop()


async def open_practice(relay: RunningRelay, slug: str) -> str:
    """A practice with three free slots, an address and a phone; its form's URL."""
    practice = await relay.add_practice(slug)
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, {**profile_json(), "details": DETAILS})
    return f"{relay.url}/p/{slug}"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def german_form(relay: RunningRelay, browser: Browser) -> dict[str, str]:
    """The German form's heading and send button, which no other language may share."""
    form_url = await open_practice(relay, "praxis-deutsch")
    context = await new_context(browser, lang="de", viewport="phone-375")
    page = await context.new_page()
    await page.goto(f"{form_url}?lang=de")
    texts = {"h1": await page.inner_text("h1"), "submit": await submit_text(page)}
    await context.close()
    return texts


async def submit_text(page: Page) -> str:
    return await page.locator("form.booking .actions button[type=submit]").inner_text()


async def mail_to(sink: SmtpSink, address: str) -> EmailMessage:
    """The confirmation mail to `address`, once it is there (the worker is a background
    loop); the "handed over" mail of an earlier journey may arrive meanwhile."""
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        for message in list(sink.messages):
            if message["To"] == address and "/c/" in plain_text(message):
                return message
        await asyncio.sleep(0.02)
    raise AssertionError(f"no confirmation mail to {address} within {READY_SECONDS:g} s")


def plain_text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


async def check_phone_page(page: Page, lang: str, width: int, step: str) -> None:
    """Screenshot and axe scan (check_page); the page's language and direction; no element
    and no scrolling wider than the phone."""
    await check_page(page, f"languages/{lang}-{width}-{step}")
    html = await page.evaluate(
        "() => [document.documentElement.lang,"
        " getComputedStyle(document.documentElement).direction]"
    )
    assert html == [lang, direction(lang)], step
    assert await page.evaluate("() => innerWidth") == width, step
    assert await page.evaluate(OVERFLOWING, width) == [], step
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= width, step


@pytest.mark.parametrize(
    ("lang", "width"),
    [pytest.param(lang, width, id=f"{lang}-{width}") for lang in LANGUAGES for width in WIDTHS],
)
async def test_the_whole_journey_in_each_language_on_a_phone(
    browser: Browser,
    relay: RunningRelay,
    smtp_server: SmtpSink,
    german_form: dict[str, str],
    lang: str,
    width: int,
) -> None:
    """Given a phone set to another language; when the patient books, confirms and cancels
    in `lang` (chosen by ?lang=), then every page speaks it, passes the scan and fits."""
    form_url = await open_practice(relay, f"praxis-{lang}-{width}")
    first_name, last_name, note = PATIENTS[lang]
    booking = booking_json(first_name=first_name, last_name=last_name, note=note)
    # The phone's own language is another one: the pages' can only come from ?lang=.
    context = await new_context(
        browser, lang="en" if lang == "de" else "de", viewport=f"phone-{width}"
    )
    page = await context.new_page()

    # When the patient opens the form in `lang`, picks the first free time and sends it
    await page.goto(f"{form_url}?lang={lang}")
    await check_phone_page(page, lang, width, "form")
    if lang != "de":
        assert await page.inner_text("h1") != german_form["h1"]
        assert await submit_text(page) != german_form["submit"]
    await fill_booking(page, booking)
    async with page.expect_navigation():
        await page.locator("form.booking .actions button[type=submit]").click()
    assert await page.locator(".panel-info h1").count() == 1
    await check_phone_page(page, lang, width, "sent")

    # And opens the mailed link, which keeps the language, and confirms
    found = MAIL_LINK.search(plain_text(await mail_to(smtp_server, booking["email"])))
    assert found, "no confirmation link in the mail"
    link = found.group(0)
    assert parse_qs(urlsplit(link).query).get("lang") == [lang], link
    await page.goto(link)
    assert booking["doctor"] in await page.inner_text("main")
    await check_phone_page(page, lang, width, "confirm")
    async with page.expect_navigation():
        await page.locator("button[name=action][value=confirm]").click()
    assert await page.locator(".panel-success h1").count() == 1
    await check_phone_page(page, lang, width, "result")

    # Then the result page's calendar file is there for the patient's calendar
    calendar_href = await page.locator("main a[href*='/calendar/']").get_attribute("href")
    assert calendar_href is not None
    calendar = await page.request.get(urljoin(page.url, calendar_href))
    assert calendar.status == 200
    assert calendar.headers["content-type"].startswith("text/calendar")
    assert (await calendar.text()).startswith("BEGIN:VCALENDAR")

    # When the patient follows the cancel link and cancels
    async with page.expect_navigation():
        await page.locator("main a[href*='/x/']:not([href*='/move'])").click()
    assert urlsplit(page.url).path.startswith("/x/")
    await check_phone_page(page, lang, width, "cancel")
    async with page.expect_navigation():
        await page.locator("button[name=action][value=cancel]").click()
    assert await page.locator(".panel-success h1").count() == 1
    await check_phone_page(page, lang, width, "cancelled")
    await context.close()
