"""Pages kept rendered with holes (relay/web/page_shells.py) equal the pages Jinja2 renders."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import aiohttp
from jinja2 import DictLoader, Environment, select_autoescape
from markupsafe import Markup

from relay.web.page_shells import PAGE_SHELLS, Hole, HoleValue, PageShells
from tests.conftest import PracticeHandle, RunningRelay, SmtpSink, link_in
from tests.helpers import DOCTORS, booking_json, profile_json, put_profile, slot_times

TEMPLATES = Environment(
    loader=DictLoader(
        {
            "page.html": (
                "<title>{{ name or 'none' }}</title><a href=\"{{ link }}?x=1\">{{ name }}</a>"
                "{% if note %}<p>{{ note }}</p>{% endif %}<i>{{ fixed }}</i>"
            ),
            "upper.html": "<b>{{ name|upper }}</b>",
        }
    ),
    autoescape=select_autoescape(["html"]),
)


def page(template: str, fixed: str = "&fixed") -> Any:
    def build(hole: Hole) -> str:
        return TEMPLATES.get_template(template).render(
            name=hole("name"), link=hole("link"), note=hole("note"), fixed=fixed
        )

    return build


def test_a_kept_page_equals_the_page_jinja_renders() -> None:
    """Filled holes are escaped as autoescape escapes them; empty holes choose the shape."""
    shells = PageShells()
    cases: list[dict[str, HoleValue]] = [
        {"name": "Praxis <Dr.> & \"Co\" 'x'", "link": "/c/a.b", "note": "Bitte <b>"},
        {"name": "Zweite", "link": "/c/<x>", "note": None},
        {"name": "", "link": "/c/y", "note": ""},
        {"name": Markup("<em>safe</em>"), "link": "/c/z", "note": "n"},
    ]
    for values in cases * 2:
        direct = page("page.html")(values.__getitem__)
        assert shells.render("page", (), values, page("page.html")) == direct
    # One shape per combination of empty holes, not one per value.
    assert len(shells) == 3


def test_a_hole_the_template_changes_is_rendered_directly() -> None:
    """A filtered hole breaks the contract: the page is still right, rendered every time."""
    shells = PageShells()
    for name in ("erste", "zweite"):
        values: dict[str, HoleValue] = {"name": name, "link": None, "note": None}
        assert shells.render("upper", (), values, page("upper.html")) == f"<b>{name.upper()}</b>"


def test_another_owner_renders_the_page_again() -> None:
    """A reloaded practice (another object) shows its new data, not the kept page."""
    shells = PageShells()
    values: dict[str, HoleValue] = {"name": "n", "link": "/l", "note": None}
    old, new = ["alt"], ["neu"]
    assert "alt" in shells.render("page", (old,), values, page("page.html", old[0]))
    assert "neu" in shells.render("page", (new,), values, page("page.html", new[0]))


def test_kept_pages_are_bounded() -> None:
    """The least recently shown shape goes first once the bound is reached."""
    shells = PageShells(max_shells=2)
    values: dict[str, HoleValue] = {"name": "n", "link": "/l", "note": None}
    for key in ("a", "b", "c"):
        shells.render(key, (), values, page("page.html"))
    assert len(shells) == 2


# The strings that differ between two bookings (tokens, the sealed calendar link, the
# expiry time, the slot's time): replaced before two bookings' pages are compared.
_PER_BOOKING = [
    (re.compile(r"/c/[A-Za-z0-9_.-]+"), "/c/TOKEN"),
    (re.compile(r"/x/[A-Za-z0-9_.=-]+"), "/x/CANCEL"),
    (re.compile(r"/calendar/[A-Za-z0-9_-]+\.ics"), "/calendar/LINK.ics"),
    # The appointment sealed into "choose another time" (relay/mail/move_links.py).
    (re.compile(r"\?m=[A-Za-z0-9_-]+"), "?m=APPOINTMENT"),
    (re.compile(r'name="resend" value="[^"]*"'), 'name="resend" value="TOKEN"'),
    (re.compile(r'<p class="lead">[^<]*</p>'), '<p class="lead">LEAD</p>'),
    (re.compile(r"\b\d\d:\d\d\b"), "HH:MM"),
]


def _same_booking(html: str) -> str:
    for pattern, replacement in _PER_BOOKING:
        html = pattern.sub(replacement, html)
    return html


def _form(start: datetime | None) -> dict[str, str]:
    """A new patient's booking as the HTML form posts it: a slot, or a wish (no start)."""
    booking = booking_json()
    posted = {
        key: ("true" if value is True else "false" if value is False else str(value))
        for key, value in booking.items()
        if key not in ("start", "doctor", "appointment_type")
    }
    if start is None:
        posted.update(doctor=DOCTORS[1], appointment_type="Kontrolle")
        posted["start"] = slot_times(days_ahead=5)[0][0].strftime("%Y-%m-%dT%H:%M")
    else:
        posted["slot"] = f"{start.isoformat()}|{DOCTORS[0]}"
    return posted


async def _booking_pages(
    http: aiohttp.ClientSession,
    relay: RunningRelay,
    practice: PracticeHandle,
    sink: SmtpSink,
    form: dict[str, str],
    lang: str,
) -> list[str]:
    """The sent page, the result page after confirming and after clicking again."""
    pages = []
    sink.clear()
    url = f"{relay.url}/p/{practice.slug}"
    async with http.post(url, data=form, params={"lang": lang}) as response:
        assert response.status == 200, await response.text()
        pages.append(await response.text())
    (message,) = await sink.wait_for(1)
    link = link_in(message)
    for _ in range(2):
        async with http.post(link, data={"action": "confirm"}, params={"lang": lang}) as result:
            assert result.status == 200
            pages.append(await result.text())
    # The "handed to the practice" mail, before the next booking clears the sink.
    await sink.wait_for(2)
    return pages


async def test_result_and_sent_pages_equal_the_pages_rendered_directly(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """Given a practice with contact details, when slots and wishes are booked with every
    page rendered directly and with kept pages, then the pages are the same but for the
    strings of each booking."""
    slots = iter(start for start, _ in slot_times(count=12))
    profile = profile_json(count=12)
    profile["details"] = {
        "address": ["Hauptstraße 1 <Hof>", "10115 Berlin"],
        "phone": "+49 30 1234567",
        "email": "praxis@example.org",
        "opening_hours": ["Mo–Fr 8–12 & nach Absprache"],
    }
    shells = relay.app[PAGE_SHELLS]
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
        for lang in ("de", "en"):
            for wish in (False, True):
                shells.max_shells = 0
                form = _form(None if wish else next(slots))
                direct = await _booking_pages(http, relay, practice, smtp_sink, form, lang)
                assert any("Hauptstraße 1 &lt;Hof&gt;" in html for html in direct)
                shells.max_shells = 256
                # Twice: the first renders the kept pages, the second fills them.
                for _ in range(2):
                    form = _form(None if wish else next(slots))
                    kept = await _booking_pages(http, relay, practice, smtp_sink, form, lang)
                    assert list(map(_same_booking, kept)) == list(map(_same_booking, direct))
    # Per language: the sent page, confirmed (a slot, a wish), already confirmed.
    assert len(shells) == 2 * 4
