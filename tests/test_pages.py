"""The patient pages over HTTP: booking form, errors, slot conflicts, headers, languages."""

from __future__ import annotations

import re
from datetime import datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from relay.booking.fields import FIELDS, worded
from relay.i18n.languages import LANGUAGES, SELF_NAMES
from tests.conftest import PracticeHandle, RunningRelay, SmtpSink, link_in
from tests.helpers import (
    DOCTORS,
    booking_json,
    profile_json,
    put_profile,
    slot_times,
    submit,
)

EMBEDDER = "https://praxis-beispiel.example"


class Page(HTMLParser):
    """The parts of a page the tests look at: elements by id, attributes, resources."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text_parts: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    def handle_data(self, data: str) -> None:
        self.text_parts.append(data)

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.text_parts))

    def by_id(self, element_id: str) -> dict[str, str]:
        (found,) = [attrs for _, attrs in self.elements if attrs.get("id") == element_id]
        return found

    def named(self, name: str) -> list[tuple[str, dict[str, str]]]:
        return [(tag, attrs) for tag, attrs in self.elements if attrs.get("name") == name]

    def resources(self) -> list[str]:
        return [
            attrs[key]
            for _, attrs in self.elements
            for key in ("src", "href", "action", "srcset", "poster", "data")
            if key in attrs
        ]


def form_post(booking: dict[str, Any], **changes: str) -> dict[str, str]:
    """A booking as the HTML form posts it: strings, the slot as "{start}|{doctor}"."""
    posted = {
        key: ("true" if value is True else "false" if value is False else str(value))
        for key, value in booking.items()
        if key not in ("start", "doctor", "appointment_type")
    }
    posted["slot"] = f"{booking['start']}|{booking['doctor']}"
    posted.update(changes)
    return posted


async def published(
    http: aiohttp.ClientSession,
    relay: RunningRelay,
    practice: PracticeHandle,
    **profile_changes: Any,
) -> dict[str, Any]:
    profile = profile_json()
    profile["frame_ancestors"] = [EMBEDDER]
    profile.update(profile_changes)
    await put_profile(http, relay.url, practice.token, profile)
    return profile


async def test_form_renders_every_field_and_the_slots_by_day(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """Every FIELDS entry is a control of the form; the day's slots are radios."""
    async with aiohttp.ClientSession() as http:
        profile = await published(http, relay, practice)
        async with http.get(f"{relay.url}/p/{practice.slug}") as response:
            assert response.status == 200
            html = await response.text()
    page = Page(html)
    # Worded for the default basis (the contract); the reminder box only where the practice
    # sends reminders (tests/test_form_wording.py).
    for spec in (worded(f, "contract") for f in FIELDS if f.name != "reminder"):
        controls = page.named(spec.name)
        assert controls, f"no control for {spec.name}"
        assert spec.label["de"] in page.text or spec.label["de"] in html, spec.name
        if spec.autocomplete:
            assert any(a.get("autocomplete") == spec.autocomplete for _, a in controls)
    types = {
        name: attrs.get("type")
        for tag, attrs in page.elements
        if tag == "input" and (name := attrs.get("name"))
    }
    assert types["birth_date"] == "date"
    assert types["email"] == "email"
    assert types["phone"] == "tel"
    assert types["start"] == "datetime-local"
    assert types["consent"] == "checkbox"
    consent_label = html[html.index('for="field-consent"') :]
    assert "/privacy" in consent_label[: consent_label.index("</label>")]

    slots = [attrs for _, attrs in page.named("slot") if attrs["value"]]
    assert [s["value"] for s in slots] == [
        f"{slot['start']}|{slot['doctor']}" for slot in profile["slots"]
    ]
    day = slot_times()[0][0].date()
    day_legend = f'id="day-{day.isoformat()}"'
    assert day_legend in html
    assert "09:00" in page.text
    assert f"{day.day}. " in page.text  # "Dienstag, 1. Dezember 2026"
    for doctor in DOCTORS:
        assert f'<option value="{doctor}"' in html


async def test_form_in_english_formats_days_the_english_way(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """?lang=en gives English labels and "Tuesday, 1 December 2026"-style day legends."""
    async with aiohttp.ClientSession() as http:
        await published(http, relay, practice)
        async with http.get(f"{relay.url}/p/{practice.slug}", params={"lang": "en"}) as response:
            html = await response.text()
    page = Page(html)
    start = slot_times()[0][0]
    assert f"{start:%A}, {start.day} {start:%B %Y}" in page.text
    assert '<html lang="en" dir="ltr">' in html
    for spec in (worded(f, "contract") for f in FIELDS if f.name != "reminder"):
        assert spec.label["en"] in page.text or spec.label["en"] in html


async def test_invalid_post_comes_back_filled_in_with_wired_errors(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """422: the values stay, a summary links each error, fields carry aria-invalid/-describedby."""
    async with aiohttp.ClientSession() as http:
        await published(http, relay, practice)
        posted = form_post(booking_json(), birth_date="2999-01-01", email="not-an-address")
        del posted["consent"]
        async with http.post(f"{relay.url}/p/{practice.slug}", data=posted) as response:
            assert response.status == 422
            html = await response.text()
    page = Page(html)
    summary = page.by_id("error-summary")
    assert summary["role"] == "alert"
    assert summary["tabindex"] == "-1"
    for name in ("birth_date", "email", "consent"):
        control = page.by_id(f"field-{name}")
        assert control["aria-invalid"] == "true"
        assert f"error-{name}" in control["aria-describedby"].split()
        assert page.by_id(f"error-{name}")
        assert f'href="#field-{name}"' in html
    assert page.by_id("field-first_name")["value"] == posted["first_name"]
    assert page.by_id("field-email")["value"] == "not-an-address"
    assert posted["note"] in html
    assert "aria-invalid" not in page.by_id("field-first_name")
    checked = [a["value"] for _, a in page.named("slot") if "checked" in a]
    assert checked == [posted["slot"]]
    assert "Dieses Datum muss in der Vergangenheit liegen." in page.text
    assert "<title>Fehler:" in html


async def test_empty_post_marks_radio_groups_and_the_slot_picker(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """An empty form: every required group is marked; the slot error links to the picker."""
    async with aiohttp.ClientSession() as http:
        await published(http, relay, practice, accept_wishes=False)
        async with http.post(
            f"{relay.url}/p/{practice.slug}", data={}, params={"lang": "en"}
        ) as response:
            assert response.status == 422
            html = await response.text()
    page = Page(html)
    assert page.by_id("gender-female")["aria-invalid"] == "true"
    assert "error-gender" in page.by_id("gender-female")["aria-describedby"]
    assert page.by_id("error-start")
    first_slot = next(a for _, a in page.named("slot") if a["value"])
    assert first_slot["aria-invalid"] == "true"
    assert f'href="#{first_slot["id"]}"' in html
    assert "Please check your details" in page.text


async def test_successful_post_says_check_your_mail_and_sends_it(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """200: check your mail within the TTL, nothing sent to the practice yet; a mail arrives."""
    async with aiohttp.ClientSession() as http:
        await published(http, relay, practice)
        booking = booking_json()
        async with http.post(f"{relay.url}/p/{practice.slug}", data=form_post(booking)) as response:
            assert response.status == 200
            text = Page(await response.text()).text
    assert "innerhalb von 60 Minuten" in text
    assert "noch nicht bei der Praxis" in text
    (message,) = await smtp_sink.wait_for(1)
    assert message["To"] == booking["email"]
    assert f"/c/{practice.slug}." in link_in(message)


async def test_success_page_states_the_configured_ttl(
    relay_factory: Any, smtp_sink: SmtpSink
) -> None:
    """A relay with a 20-minute pending TTL tells the patient 20 minutes."""
    relay = await relay_factory(pending_ttl=1200)
    practice = await relay.add_practice()
    async with aiohttp.ClientSession() as http:
        await published(http, relay, practice)
        async with http.post(
            f"{relay.url}/p/{practice.slug}", data=form_post(booking_json()), params={"lang": "en"}
        ) as response:
            assert response.status == 200
            assert "within 20 minutes" in Page(await response.text()).text


async def test_a_wish_is_read_in_the_practice_time_zone(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """A datetime-local wish without offset is the practice's local time."""
    async with aiohttp.ClientSession() as http:
        await published(http, relay, practice, slots=[])
        booking = booking_json()
        posted = form_post(booking, doctor=DOCTORS[1], appointment_type="Kontrolle")
        del posted["slot"]
        wished = slot_times(days_ahead=5)[0][0]
        posted["start"] = wished.strftime("%Y-%m-%dT%H:%M")
        async with http.post(f"{relay.url}/p/{practice.slug}", data=posted) as response:
            assert response.status == 200, await response.text()
        (message,) = await smtp_sink.wait_for(1)
        async with http.get(link_in(message), params={"lang": "en"}) as page:
            text = Page(await page.text()).text
    assert f"{wished:%A}, {wished.day} {wished:%B %Y}" in text
    assert "09:00–09:10 (preferred time)" in text


async def test_a_taken_slot_answers_409_and_offers_the_others(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """Someone else held the slot: 409, a clear message, the remaining slots, values kept."""
    async with aiohttp.ClientSession() as http:
        profile = await published(http, relay, practice)
        first = profile["slots"][0]
        taken = await submit(http, relay.url, practice.slug, booking_json())
        assert taken.status == 202
        posted = form_post(booking_json())
        async with http.post(f"{relay.url}/p/{practice.slug}", data=posted) as response:
            assert response.status == 409
            html = await response.text()
    page = Page(html)
    assert "nicht mehr frei" in page.text
    offered = [a["value"] for _, a in page.named("slot") if a["value"]]
    assert f"{first['start']}|{first['doctor']}" not in offered
    assert len(offered) == len(profile["slots"]) - 1
    assert page.by_id("field-first_name")["value"] == posted["first_name"]
    assert page.by_id("error-summary")["role"] == "alert"


async def test_a_kept_form_page_follows_holds_and_republishing(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """The form page kept between views (relay/web/form_pages.py) never shows a slot held
    since, nor the calendar from before a new publication."""

    async def offered(http: aiohttp.ClientSession) -> list[str]:
        async with http.get(f"{relay.url}/p/{practice.slug}") as response:
            assert response.status == 200
            return [a["value"] for _, a in Page(await response.text()).named("slot") if a["value"]]

    async with aiohttp.ClientSession() as http:
        profile = await published(http, relay, practice)
        first = f"{profile['slots'][0]['start']}|{profile['slots'][0]['doctor']}"
        before = await offered(http)
        assert first in before
        assert await offered(http) == before
        taken = await submit(http, relay.url, practice.slug, booking_json())
        assert taken.status == 202
        after = await offered(http)
        assert first not in after
        assert len(after) == len(before) - 1
        await published(http, relay, practice, slots=profile["slots"][-1:])
        last = f"{profile['slots'][-1]['start']}|{profile['slots'][-1]['doctor']}"
        assert await offered(http) == [last]


async def test_rate_limit_answers_429_page_with_retry_after(
    relay_factory: Any, smtp_sink: SmtpSink
) -> None:
    """Past the submit limit (no proof of work sent) the form answers 429 with
    Retry-After: the form again, filled in, with the reason on top."""
    relay = await relay_factory(submit_limit=1)
    practice = await relay.add_practice()
    async with aiohttp.ClientSession() as http:
        profile = await published(http, relay, practice)
        for index, expected in ((0, 200), (1, 429)):
            booking = booking_json(datetime.fromisoformat(profile["slots"][index]["start"]))
            async with http.post(
                f"{relay.url}/p/{practice.slug}", data=form_post(booking)
            ) as response:
                assert response.status == expected
                html = await response.text()
    assert int(response.headers["Retry-After"]) > 0
    assert "Bitte noch einen Moment" in html
    assert booking["first_name"] in html


async def test_unknown_practice_is_a_404_page(relay: RunningRelay) -> None:
    """/p/{unknown} answers a 404 page in the patient's language."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{relay.url}/p/nobody", params={"lang": "en"}) as response,
    ):
        assert response.status == 404
        assert "Not found" in await response.text()


async def test_frame_ancestors_only_on_the_practice_form(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """/p/ may be embedded by the practice's origins; every other page by nobody."""
    async with aiohttp.ClientSession() as http:
        await published(http, relay, practice)
        async with http.get(f"{relay.url}/p/{practice.slug}") as form:
            csp = form.headers["Content-Security-Policy"]
            assert f"frame-ancestors {EMBEDDER}" in csp
            assert "X-Frame-Options" not in form.headers
        async with http.post(
            f"{relay.url}/p/{practice.slug}", data=form_post(booking_json())
        ) as sent:
            assert f"frame-ancestors {EMBEDDER}" in sent.headers["Content-Security-Policy"]
        (message,) = await smtp_sink.wait_for(1)
        for url in (link_in(message), f"{relay.url}/privacy", f"{relay.url}/nowhere"):
            async with http.get(url) as other:
                assert "frame-ancestors 'none'" in other.headers["Content-Security-Policy"]
                assert other.headers["X-Frame-Options"] == "DENY"


async def test_pages_without_embedding_allowance_keep_none(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """A practice without frame_ancestors gets 'none' on its form too."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        async with http.get(f"{relay.url}/p/{practice.slug}") as form:
            assert "frame-ancestors 'none'" in form.headers["Content-Security-Policy"]


async def every_page(
    http: aiohttp.ClientSession, relay: RunningRelay, practice: PracticeHandle, sink: SmtpSink
) -> dict[str, tuple[aiohttp.ClientResponse, str]]:
    """name -> (response, html) of every patient page, in German."""
    pages: dict[str, tuple[aiohttp.ClientResponse, str]] = {}

    async def fetch(name: str, method: str, url: str, **kwargs: Any) -> None:
        async with http.request(method, url, **kwargs) as response:
            pages[name] = (response, await response.text())

    await published(http, relay, practice)
    form_url = f"{relay.url}/p/{practice.slug}"
    await fetch("form", "GET", form_url)
    await fetch("form_errors", "POST", form_url, data={})
    await fetch("sent", "POST", form_url, data=form_post(booking_json()))
    (message,) = await sink.wait_for(1)
    link = link_in(message)
    await fetch("confirm", "GET", link)
    await fetch("confirmed", "POST", link, data={"action": "confirm"})
    await fetch("already", "GET", link)
    await fetch("privacy", "GET", f"{relay.url}/privacy")
    await fetch("not_found", "GET", f"{relay.url}/nowhere")
    await fetch("gone", "GET", f"{relay.url}/c/{practice.slug}.{'A' * 32}")
    return pages


async def test_every_page_loads_only_same_origin_resources_under_a_strict_csp(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """No third-party request of any kind, no inline script or style, CSP without unsafe-inline."""
    async with aiohttp.ClientSession() as http:
        pages = await every_page(http, relay, practice, smtp_sink)
        for name, (response, html) in pages.items():
            csp = response.headers["Content-Security-Policy"]
            assert "unsafe-inline" not in csp, name
            assert "script-src 'self'" in csp
            assert response.headers["Referrer-Policy"] == "no-referrer"
            assert response.headers["Cache-Control"] == "no-store"
            page = Page(html)
            for url in page.resources():
                parts = urlsplit(url)
                assert not parts.scheme, (name, url)
                assert not parts.netloc, (name, url)
            assert not any("style" in attrs for _, attrs in page.elements), name
            assert not re.search(r"<script(?![^>]*\bsrc=)", html), name
            assert "<style" not in html, name
            assert not re.search(r"\son[a-z]+=", html), name
            # Every referenced static file is served.
            for url in page.resources():
                if url.startswith("/static/"):
                    async with http.get(f"{relay.url}{url}") as asset:
                        assert asset.status == 200, url
    statuses = {name: response.status for name, (response, _) in pages.items()}
    assert statuses == {
        "form": 200,
        "form_errors": 422,
        "sent": 200,
        "confirm": 200,
        "confirmed": 200,
        "already": 200,
        "privacy": 200,
        "not_found": 404,
        "gone": 410,
    }


async def test_language_switch_keeps_the_path_on_every_page(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """Each page leads to itself in each other language, named in that language, without a
    cookie: a link, or on the form a button that posts what is typed."""
    async with aiohttp.ClientSession() as http:
        pages = await every_page(http, relay, practice, smtp_sink)
    for name, (response, html) in pages.items():
        assert "Set-Cookie" not in response.headers, name
        page = Page(html)
        targets = {
            a.get("hreflang") or a.get("data-language"): a.get("href") or a.get("formaction")
            for tag, a in page.elements
            if (tag == "a" and a.get("hreflang")) or (tag == "button" and a.get("data-language"))
        }
        assert set(targets) == set(LANGUAGES) - {"de"}, name
        for code, url in targets.items():
            assert url is not None
            assert urlsplit(url).path == response.url.path, name
            assert url.endswith(f"lang={code}"), (name, url)
        for code, own_name in SELF_NAMES.items():
            assert f'lang="{code}"' in html, (name, code)
            assert own_name in html, (name, code)
        assert '<html lang="de" dir="ltr">' in html


@pytest.mark.parametrize(
    ("header", "expected", "title"),
    [
        ("en-GB,en;q=0.9", "en", "Privacy notice"),
        ("fr-FR, de;q=0.5", "de", "Datenschutzhinweise"),
        ("", "de", "Datenschutzhinweise"),
    ],
)
async def test_accept_language_chooses_the_page_language(
    relay: RunningRelay, header: str, expected: str, title: str
) -> None:
    """Accept-Language picks English or German; German is the default."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{relay.url}/privacy", headers={"Accept-Language": header}) as response,
    ):
        html = await response.text()
    assert f'<html lang="{expected}" dir="ltr">' in html
    assert title in html


async def test_static_files_are_served_with_versions(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """The stylesheet and the scripts (the form's, and frame.js, which tells a framing
    practice site the page's height) are served from /static/ under versioned URLs."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        async with http.get(f"{relay.url}/p/{practice.slug}") as response:
            page = Page(await response.text())
        assets = [url for url in page.resources() if url.startswith("/static/")]
        assert {urlsplit(url).path for url in assets} == {
            "/static/site.css",
            "/static/form.js",
            "/static/frame.js",
        }
        for url in assets:
            async with http.get(f"{relay.url}{url}") as asset:
                assert asset.status == 200
                assert "Content-Security-Policy" in asset.headers
