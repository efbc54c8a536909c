"""Right to left in a real Chromium: the form page mirrors under dir="rtl" and nothing
overflows a 320 px screen, in either direction, even with long German and Russian words.

The Arabic catalog is not there yet, so the tests load the German form and set
`document.documentElement.dir` themselves; geometry, computed styles and pixels decide.
Screenshots go to test-artifacts/screenshots/rtl-*.png.
"""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page

from tests.browser.pages import check_page, new_context
from tests.conftest import PracticeHandle, RelayFactory, RunningRelay
from tests.helpers import profile_json, put_profile
from tests.test_form_wording import big_profile

pytestmark = pytest.mark.browser

NARROW = {"width": 320, "height": 640}
# Within this many pixels of an edge counts as "at" it (borders, rounding).
EDGE_PX = 2.5
LONG_WORDS = {
    "de": "Rechtsschutzversicherungsgesellschaften",
    "ru": "Человеконенавистничество",
}

# Each box of interest as the browser lays it out: the element's, and for labels the
# box of their text (a label is a block as wide as the form).
BOXES = """() => {
  const box = (selector) => {
    const element = document.querySelector(selector);
    if (!element) throw new Error("no " + selector);
    const r = element.getBoundingClientRect();
    return { left: r.left, right: r.right, width: r.width };
  };
  const textBox = (selector) => {
    const range = document.createRange();
    range.selectNodeContents(document.querySelector(selector));
    const r = range.getBoundingClientRect();
    return { left: r.left, right: r.right, width: r.width };
  };
  const style = (selector) => getComputedStyle(document.querySelector(selector));
  return {
    form: box("form.booking"),
    submit: box("form.booking .actions .button-primary"),
    weekNav: box(".week-nav"),
    weekPrevious: box("#week-previous"),
    weekNext: box("#week-next"),
    previousArrow: box("#week-previous [aria-hidden]"),
    nextArrow: box("#week-next [aria-hidden]"),
    label: box("label[for=field-first_name]"),
    labelText: textBox("label[for=field-first_name]"),
    summaryList: box("#error-summary ul"),
    summaryItem: box("#error-summary li"),
    dayGrid: box(".day-grid"),
    firstDay: box(".day-grid .day"),
    timeGrid: box(".time-grid"),
    firstTime: box(".time-grid .time"),
    brand: box(".brand"),
    fieldError: {
      left: style(".field-error").borderLeftWidth,
      right: style(".field-error").borderRightWidth,
    },
    typeNote: {
      left: style(".type-note").borderLeftWidth,
      right: style(".type-note").borderRightWidth,
    },
  };
}"""

# Every rendered element, and every line of text, that leaves the viewport sideways; and
# the page's own width.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const skipped = ".visually-hidden, .skip-link, [hidden], noscript, script";
  const outside = (r) => r.left < -0.5 || r.right > width + 0.5;
  const name = (element) => `${element.tagName.toLowerCase()}#${element.id}.${element.className}`;
  const out = [];
  for (const element of document.body.querySelectorAll("*")) {
    if (element.closest(skipped)) continue;
    const r = element.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (outside(r)) out.push(`${name(element)}: ${Math.round(r.left)}..${Math.round(r.right)}`);
  }
  const texts = document.createNodeIterator(document.body, NodeFilter.SHOW_TEXT);
  for (let text = texts.nextNode(); text; text = texts.nextNode()) {
    if (text.parentElement.closest(skipped)) continue;
    const range = document.createRange();
    range.selectNodeContents(text);
    for (const r of range.getClientRects()) {
      if (outside(r)) {
        const where = `${Math.round(r.left)}..${Math.round(r.right)}`;
        out.push(`text in ${name(text.parentElement)}: ${where}`);
        break;
      }
    }
  }
  return { width, scrollWidth: document.documentElement.scrollWidth, out };
}"""

# Appends a long word to every text a patient reads in the page, as a translation might.
LENGTHEN = """(word) => {
  const selector = "h1, h2, p, label, legend, summary, li, dt, dd, button, a, .day-label";
  for (const element of document.querySelectorAll(selector)) {
    element.append(" " + word);
  }
}"""

# Blue minus red of the pixel at a fraction of an image's width, at half its height
# (a progress bar's fill is blue, its track grey). Runs on a blank page: no CSP there.
FILL_AT = """async ([png, fractions]) => {
  const image = new Image();
  image.src = "data:image/png;base64," + png;
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = image.width;
  canvas.height = image.height;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  return fractions.map((fraction) => {
    const x = Math.floor(image.width * fraction);
    const [r, , b] = context.getImageData(x, Math.floor(image.height / 2), 1, 1).data;
    return b - r;
  });
}"""


async def form_with_errors(
    browser: Browser, relay: RunningRelay, practice: PracticeHandle, viewport: str
) -> Page:
    """The 420-slot practice's form sent with only a type chosen: summary and field errors."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, big_profile())
    context = await new_context(browser, lang="de", viewport=viewport)
    page = await context.new_page()
    if viewport == "phone":
        await page.set_viewport_size(NARROW)
    await page.goto(f"{relay.url}/p/{practice.slug}")
    # A type with a note, so the note's bar is on the page too.
    await page.select_option("#field-appointment_type", "Erstgespräch")
    await page.locator(".type-note").wait_for()
    async with page.expect_navigation() as navigation:
        await page.click("form.booking .actions .button-primary")
    assert (await navigation.value).status == 422
    await page.locator("#error-summary").wait_for()
    return page


async def set_direction(page: Page, direction: str) -> None:
    await page.evaluate("(dir) => { document.documentElement.dir = dir; }", direction)


def at_start(box: dict[str, float], container: dict[str, float], direction: str) -> bool:
    """Whether `box` touches the edge of `container` where lines start in `direction`."""
    if direction == "rtl":
        return abs(box["right"] - container["right"]) <= EDGE_PX
    return abs(box["left"] - container["left"]) <= EDGE_PX


def at_end(box: dict[str, float], container: dict[str, float], direction: str) -> bool:
    return at_start(box, container, "ltr" if direction == "rtl" else "rtl")


def in_start_half(box: dict[str, float], container: dict[str, float], direction: str) -> bool:
    """Whether the middle of `box` lies in the half of `container` where lines start."""
    middle = (box["left"] + box["right"]) / 2
    container_middle = (container["left"] + container["right"]) / 2
    return middle > container_middle if direction == "rtl" else middle < container_middle


async def assert_nothing_overflows(page: Page) -> None:
    found = await page.evaluate(OVERFLOW)
    assert found["out"] == [], found
    assert found["scrollWidth"] <= found["width"], found


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
@pytest.mark.parametrize("direction", ["ltr", "rtl"])
async def test_the_form_mirrors_under_rtl(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    direction: str,
    viewport: str,
) -> None:
    """Under rtl the form's start is its right edge: labels, the send button, the first
    day and time, the previous week, the error bullets and error bars sit there; under ltr
    on the left."""
    # Given the form with its errors, in the direction under test
    page = await form_with_errors(browser, relay, practice, viewport)
    await set_direction(page, direction)

    # When the browser lays it out
    boxes: dict[str, Any] = await page.evaluate(BOXES)

    # Then everything that starts a line starts on the direction's side
    assert at_start(boxes["submit"], boxes["form"], direction), boxes
    assert at_start(boxes["labelText"], boxes["label"], direction), boxes
    assert boxes["labelText"]["width"] < boxes["label"]["width"] - 20, boxes
    assert at_start(boxes["firstDay"], boxes["dayGrid"], direction), boxes
    assert at_start(boxes["firstTime"], boxes["timeGrid"], direction), boxes
    # The header's row and the form share one column: the practice's name starts it.
    assert at_start(boxes["brand"], boxes["form"], direction), boxes
    # "previous" on the start side, "next" on the end side, each arrow on its outer side
    assert at_start(boxes["weekPrevious"], boxes["weekNav"], direction), boxes
    assert at_end(boxes["weekNext"], boxes["weekNav"], direction), boxes
    if viewport == "desktop":  # on a phone each arrow may stand on a line of its own
        assert in_start_half(boxes["previousArrow"], boxes["weekPrevious"], direction), boxes
        assert not in_start_half(boxes["nextArrow"], boxes["weekNext"], direction), boxes
    # The summary's bullets stand in the list's start padding, its text on the far side.
    assert not at_start(boxes["summaryItem"], boxes["summaryList"], direction), boxes
    assert at_end(boxes["summaryItem"], boxes["summaryList"], direction), boxes
    # The red bar of a field with an error and the blue bar of the type note are on the start side.
    start, end = ("right", "left") if direction == "rtl" else ("left", "right")
    for bar in (boxes["fieldError"], boxes["typeNote"]):
        assert (bar[start], bar[end]) == ("4px", "0px"), boxes
    await check_page(page, f"rtl-{direction}-{viewport}-form-errors")
    if viewport == "phone":
        await assert_nothing_overflows(page)
    await page.context.close()


@pytest.mark.parametrize("language", sorted(LONG_WORDS))
@pytest.mark.parametrize("direction", ["ltr", "rtl"])
async def test_long_words_stay_inside_320_px(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    direction: str,
    language: str,
) -> None:
    """No box leaves a 320 px screen sideways, even when every text carries a long word."""
    # Given the form with its errors at 320 px, in the direction under test
    page = await form_with_errors(browser, relay, practice, "phone")
    await set_direction(page, direction)
    await assert_nothing_overflows(page)

    # When every heading, label, button and link grows by a long word
    await page.evaluate(LENGTHEN, LONG_WORDS[language])

    # Then the words break inside their boxes instead of widening the page
    await check_page(page, f"rtl-{direction}-phone-long-{language}", axe=False)
    await assert_nothing_overflows(page)
    await page.context.close()


@pytest.mark.parametrize("direction", ["ltr", "rtl"])
async def test_the_proof_of_work_bar_fills_from_the_start_side(
    browser: Browser, relay_factory: RelayFactory, direction: str
) -> None:
    """The browser mirrors a <progress> by itself: under rtl a quarter-full bar is blue on
    the right and grey on the left, under ltr the other way round."""
    # Given the form with its proof-of-work widget, and a quarter-full bar beside it
    relay = await relay_factory(pow="always", pow_difficulty=20_000)
    practice = await relay.add_practice()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
    context = await new_context(browser, lang="de", viewport="phone")
    page = await context.new_page()
    await page.goto(f"{relay.url}/p/{practice.slug}")
    await set_direction(page, direction)
    await page.evaluate(
        """() => {
          const probe = document.createElement("progress");
          probe.id = "probe";
          probe.max = 100;
          probe.value = 25;
          document.getElementById("pow").append(probe);
        }"""
    )
    await page.locator("#probe").scroll_into_view_if_needed()

    # When the bar is drawn
    png = base64.b64encode(await page.locator("#probe").screenshot()).decode()
    await check_page(page, f"rtl-{direction}-phone-pow", axe=False)
    blank = await context.new_page()
    near_left, near_right = await blank.evaluate(FILL_AT, [png, [0.1, 0.9]])

    # Then the filled quarter is on the start side
    filled, empty = (near_right, near_left) if direction == "rtl" else (near_left, near_right)
    assert filled > 60, (near_left, near_right)
    assert abs(empty) < 20, (near_left, near_right)
    await context.close()
