"""The slot picker with the issue's 420-slot practice in a real Chromium.

Phone (375×667) and desktop, JavaScript on and off, German and English: filter, step
through weeks and days, take the next free appointment, choose a time, book, confirm.
Every page is scanned with axe-core and saved as a screenshot; the form's size, the
distance from the chosen time to the first-name field and the page heights are measured
and written to test-artifacts/slot-picker.json.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from icalendar import Calendar
from playwright.async_api import Browser, Page

from practice_client.runner import RunConfig, run
from tests.browser.pages import ARTIFACTS, VIEWPORTS, check_page, new_context
from tests.conftest import PracticeHandle, RunningRelay, SmtpSink, link_in
from tests.helpers import DOCTORS, booking_json, put_profile, wait_until_async
from tests.test_form_wording import FORM_LIMIT, TYPE_NOTE, big_profile, first_monday

pytestmark = pytest.mark.browser

PHONE_SCREEN = VIEWPORTS["phone"]["height"]
METRICS = ARTIFACTS / "slot-picker.json"
TEXT = {
    "de": {
        "show": "Termine anzeigen",
        "next_week": "Nächste Woche",
        "next_free": "Nächster freier Termin",
        "status": "freie Uhrzeiten am",
        "sent": "Bitte bestätigen Sie",
        "confirm": "Anfrage bestätigen",
        "confirmed": "Termin gebucht",
        "minutes": "20 Minuten",
        "next": "Wie es weitergeht",
    },
    "en": {
        "show": "Show appointments",
        "next_week": "Next week",
        "next_free": "Next free appointment",
        "status": "free times on",
        "sent": "Please confirm your request",
        "confirm": "Confirm request",
        "confirmed": "Appointment booked",
        "minutes": "20 minutes",
        "next": "What happens next",
    },
}


class Checker:
    """Screenshot and axe scan of every page. axe needs JavaScript: for a page seen with
    JavaScript off, its HTML is scanned in a second, scripted page of the same origin
    (so the same style sheet applies)."""

    def __init__(self, scanner: Page | None, origin: str) -> None:
        self.scanner = scanner
        self.origin = origin

    async def __call__(self, page: Page, name: str) -> None:
        if self.scanner is None:
            await check_page(page, name)
            return
        await check_page(page, name, axe=False)
        html = await page.content()
        await self.scanner.goto(f"{self.origin}/privacy")
        await self.scanner.set_content(html, wait_until="load")
        await check_page(self.scanner, f"{name}-scan")


async def checker(
    browser: Browser, origin: str, lang: str, viewport: str, javascript: bool
) -> Checker:
    if javascript:
        return Checker(None, origin)
    context = await new_context(browser, lang=lang, viewport=viewport, javascript=True)
    return Checker(await context.new_page(), origin)


def record(name: str, **figures: Any) -> None:
    """Keeps measured figures for the closing report, one entry per test run."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    known = json.loads(METRICS.read_text()) if METRICS.exists() else {}
    known[name] = figures
    METRICS.write_text(json.dumps(known, indent=1, sort_keys=True))


async def picker_moves(page: Page, javascript: bool, action: Any) -> None:
    """Runs a picker action: with JavaScript it updates in place (no navigation, the live
    region speaks), without it the form posts and comes back."""
    if not javascript:
        async with page.expect_navigation():
            await action()
        return
    await page.evaluate("() => { window.__samePage = true; }")
    before = await page.get_attribute("#picker", "data-url")
    await action()
    await wait_until_async(
        lambda: page.evaluate(
            "(before) => document.getElementById('picker').getAttribute('data-url') !== before"
            " && !document.getElementById('picker').hasAttribute('aria-busy')",
            before,
        ),
        "the picker to update in place",
        seconds=20,
    )
    assert await page.evaluate("() => window.__samePage === true"), "the page was reloaded"


async def spoken(page: Page, words: str) -> str:
    """The live region's text once it holds `words` (it is filled a moment after the swap,
    so screen readers notice the change)."""

    async def said() -> str:
        status = await page.inner_text("#picker-status")
        return status if words in status else ""

    return await wait_until_async(said, f"the live region to say {words!r}", seconds=10)


async def distance_to_first_name(page: Page, selector: str) -> float:
    """Pixels from the top of the first element `selector` finds to the first-name field."""
    time_box = await page.locator(selector).first.bounding_box()
    name_box = await page.locator("#field-first_name").bounding_box()
    assert time_box is not None
    assert name_box is not None
    return name_box["y"] - time_box["y"]


async def slot_values(page: Page) -> list[str]:
    return await page.eval_on_selector_all(
        "#picker input[name=slot]", "inputs => inputs.map(input => input.value)"
    )


@pytest.mark.parametrize(
    ("lang", "viewport", "javascript"),
    [
        ("de", "phone", True),
        ("en", "phone", False),
        ("de", "desktop", False),
        ("en", "desktop", True),
    ],
)
async def test_choose_filter_week_day_time_book_and_confirm(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    tmp_path: Path,
    lang: str,
    viewport: str,
    javascript: bool,
) -> None:
    """A new patient books the 420-slot practice without scrolling through a list."""
    name = f"picker-{lang}-{viewport}-{'js' if javascript else 'nojs'}"
    text = TEXT[lang]
    profile = big_profile()
    assert len(profile["slots"]) == 420
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
    context = await new_context(browser, lang=lang, viewport=viewport, javascript=javascript)
    page = await context.new_page()
    check = await checker(browser, relay.url, lang, viewport, javascript)
    booking = booking_json()

    # Given the form of the 420-slot practice
    response = await page.goto(f"{relay.url}/p/{practice.slug}")
    assert response is not None
    form_bytes = len(await response.body())
    assert form_bytes <= FORM_LIMIT
    first_height = await page.evaluate("() => document.documentElement.scrollHeight")
    # Unfiltered, the day's first time (both doctors' 42 below it) is the farthest one.
    unfiltered = await distance_to_first_name(page, "#times label")
    if viewport == "phone":
        assert 0 < unfiltered <= 2 * PHONE_SCREEN, unfiltered
    await check(page, f"{name}-1-form")
    # Days without a free slot are marked and cannot be chosen.
    monday = first_monday()
    for offset in (5, 6):
        day = page.locator(f"#day-{(monday + timedelta(days=offset)).isoformat()}")
        assert await day.is_disabled()
    assert await page.locator(f"#day-{monday.isoformat()}").is_enabled()

    # When the patient types their name, then filters by doctor
    await page.fill("#field-first_name", booking["first_name"])
    await page.fill("#field-email", booking["email"])
    await page.select_option("#field-doctor", DOCTORS[1])
    if javascript:
        await wait_until_async(
            lambda: _all_of(page, DOCTORS[1]), "only Dr. B's times after the filter", seconds=20
        )
        await spoken(page, text["status"])
    else:
        await picker_moves(page, javascript, lambda: page.click(f"text={text['show']}"))
    assert await _all_of(page, DOCTORS[1])

    # And goes to the next week and chooses its Tuesday
    await picker_moves(page, javascript, lambda: page.click("#week-next"))
    tuesday = monday + timedelta(days=8)
    await picker_moves(page, javascript, lambda: page.click(f"#day-{tuesday.isoformat()}"))
    assert await page.get_attribute(f"#day-{tuesday.isoformat()}", "aria-pressed") == "true"
    values = await slot_values(page)
    assert len(values) == 21
    assert all(v.startswith(tuesday.isoformat()) and v.endswith(DOCTORS[1]) for v in values)
    # Then what was typed survived every step, and the URL holds no personal data
    assert await page.input_value("#field-first_name") == booking["first_name"]
    assert await page.input_value("#field-email") == booking["email"]
    assert booking["first_name"] not in page.url
    assert "day=" in page.url

    # When the patient chooses 10:00 on that day
    chosen = next(v for v in values if "T10:00:00" in v)
    radio = page.locator(f"#picker input[value='{chosen}']")
    await radio.check()
    assert await radio.is_checked()
    distance = await distance_to_first_name(page, f"label[for='{await radio.get_attribute('id')}']")
    if viewport == "phone":
        assert 0 < distance <= 2 * PHONE_SCREEN, distance
    height = await page.evaluate("() => document.documentElement.scrollHeight")
    await check(page, f"{name}-2-chosen")

    # And fills in the rest and sends the request
    await page.fill("#field-last_name", booking["last_name"])
    await page.fill("#field-birth_date", booking["birth_date"])
    await page.check(f"#gender-{booking['gender']}")
    await page.check(f"#insurance-{booking['insurance']}")
    await page.check("#new_patient-yes")
    await page.check("#field-consent")
    async with page.expect_navigation():
        await page.click("button.button-primary[type=submit]")
    assert text["sent"] in await page.inner_text("h1")
    await check(page, f"{name}-3-sent")

    # Then the confirmation page names the whole appointment and the practice
    (message,) = await smtp_sink.wait_for(1)
    await page.goto(link_in(message))
    main = await page.inner_text("main")
    start = datetime.fromisoformat(chosen.partition("|")[0])
    for expected in (
        "10:00",
        "10:20",
        text["minutes"],
        DOCTORS[1],
        "Musterstraße 1",
        "10115 Berlin",
    ):
        assert expected in main, expected
    assert str(start.day) in main
    assert await page.inner_text(".brand") == "Praxis Dr. Beispiel"
    assert await page.get_attribute("html", "lang") == lang
    await check(page, f"{name}-4-confirm")

    # And after confirming, the result page shows the summary, what next and the contact
    async with page.expect_navigation():
        await page.get_by_role("button", name=text["confirm"]).click()
    assert await page.inner_text("h1") == text["confirmed"]
    main = await page.inner_text("main")
    for expected in ("10:00", text["next"], "+49 30 1234567"):
        assert expected in main, expected
    await check(page, f"{name}-5-confirmed")
    await context.close()

    # And the practice receives a slot booking in the patient's language
    out_dir = tmp_path / "out"
    code = await run(
        RunConfig(relay.url, practice.token, practice.key_file, out_dir, wait=0), once=True
    )
    assert code == 0
    (written,) = out_dir.glob("*.json")
    document = json.loads(written.read_text())
    assert (document["kind"], document["language"]) == ("slot", lang)
    assert document["doctor"] == DOCTORS[1]
    assert document["start"] == start.isoformat()
    event = Calendar.from_ical(written.with_suffix(".ics").read_bytes()).walk("VEVENT")[0]
    assert str(event["X-TERMINRELAY-KIND"]) == "slot"
    assert str(event["X-TERMINRELAY-LANGUAGE"]) == lang
    record(
        name,
        form_bytes=form_bytes,
        form_height_px=first_height,
        chosen_height_px=height,
        time_to_first_name_px=distance,
        first_time_to_first_name_unfiltered_px=unfiltered,
        screen_px=VIEWPORTS[viewport]["height"],
    )


async def _all_of(page: Page, doctor: str) -> bool:
    values = await slot_values(page)
    return bool(values) and all(value.endswith(f"|{doctor}") for value in values)


@pytest.mark.parametrize(("lang", "javascript"), [("de", True), ("en", False)])
async def test_next_free_appointment_with_a_type_filter(
    browser: Browser, relay: RunningRelay, practice: PracticeHandle, lang: str, javascript: bool
) -> None:
    """The next-free shortcut chooses the first free time of the chosen type, shows its day
    and the type's note, and keeps what was typed."""
    name = f"picker-{lang}-phone-{'js' if javascript else 'nojs'}-next-free"
    profile = big_profile()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
    context = await new_context(browser, lang=lang, viewport="phone", javascript=javascript)
    page = await context.new_page()
    check = await checker(browser, relay.url, lang, "phone", javascript)
    # The type is chosen in the URL (a shared link), the patient types, then takes the shortcut.
    await page.goto(f"{relay.url}/p/{practice.slug}?appointment_type=Erstgespr%C3%A4ch")
    assert TYPE_NOTE in await page.inner_text("#picker")
    await page.fill("#field-first_name", "Zerlina")
    await picker_moves(page, javascript, lambda: page.click("#next-free"))
    checked = page.locator("#picker input[name=slot]:checked")
    assert await checked.count() == 1
    expected = profile["slots"][0]
    assert await checked.get_attribute("value") == f"{expected['start']}|{expected['doctor']}"
    assert await page.input_value("#field-first_name") == "Zerlina"
    if javascript:
        # Focus lands on the chosen time, ready for the keyboard.
        assert await page.evaluate("() => document.activeElement.name") == "slot"
    await check(page, name)
    await context.close()


async def test_keyboard_moves_through_days_and_times(
    browser: Browser, relay: RunningRelay, practice: PracticeHandle
) -> None:
    """Day buttons work with Enter; times are one native radio group: arrow keys choose."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, big_profile())
    context = await new_context(browser, lang="de", viewport="desktop")
    page = await context.new_page()
    await page.goto(f"{relay.url}/p/{practice.slug}")
    wednesday = first_monday() + timedelta(days=2)
    await page.focus(f"#day-{wednesday.isoformat()}")
    await picker_moves(page, True, lambda: page.keyboard.press("Enter"))
    # Focus stays on the day just chosen, which is now pressed.
    assert await page.evaluate("() => document.activeElement.id") == f"day-{wednesday.isoformat()}"
    await spoken(page, "am Mittwoch")
    first = page.locator("#times input[name=slot]").first
    await first.focus()
    await page.keyboard.press("Space")
    await page.keyboard.press("ArrowRight")
    values = await slot_values(page)
    checked = await page.locator("#times input[name=slot]:checked").get_attribute("value")
    assert checked == values[1]
    assert checked.startswith(wednesday.isoformat())
    await context.close()


async def test_enter_in_a_text_field_sends_the_form_not_a_picker_button(
    browser: Browser, relay: RunningRelay, practice: PracticeHandle
) -> None:
    """Enter submits the request (here: 422 for the missing fields), not the picker."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, big_profile())
    context = await new_context(browser, lang="de", viewport="phone", javascript=False)
    page = await context.new_page()
    await page.goto(f"{relay.url}/p/{practice.slug}")
    await page.fill("#field-first_name", "Zerlina")
    async with page.expect_navigation() as navigation:
        await page.press("#field-first_name", "Enter")
    assert (await navigation.value).status == 422
    assert await page.locator("#error-summary").count() == 1
    await context.close()
