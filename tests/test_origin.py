"""Same-origin posts: form, confirm and withdraw refuse other sites, over real HTTP."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import async_playwright

from relay.dev import free_port
from relay.web.origin import allows_post
from tests.browser.pages import launch_chromium
from tests.conftest import PracticeHandle, RedisServer, RunningRelay, SmtpSink, link_in
from tests.helpers import booking_json, profile_json, put_profile, slot_times, submit
from tests.test_pages import Page, form_post

EMBEDDER = "https://praxis-beispiel.example"
GROUP = "https://*.praxis-gruppe.example"
FOREIGN = "https://evil.example"

CROSS_SITE_HEADERS = {
    "Sec-Fetch-Site cross-site": {"Sec-Fetch-Site": "cross-site", "Origin": FOREIGN},
    "Sec-Fetch-Site same-site": {
        "Sec-Fetch-Site": "same-site",
        "Origin": "http://www.127.0.0.1.example",
    },
    "foreign Origin only": {"Origin": FOREIGN},
    "Origin null only": {"Origin": "null"},
    "Origin null, cross-site": {"Sec-Fetch-Site": "cross-site", "Origin": "null"},
}


def booking_keys(redis_server: RedisServer) -> set[str]:
    """Kinds of keys besides the practice's registration and profile, and rate counters."""
    client = redis_server.client()
    try:
        kinds = {key.decode().split(":")[2] for key in client.scan_iter("tr:{*")}
        counters = {key.decode() for key in client.scan_iter("tr:rl:*")}
    finally:
        client.close()
    return (kinds - {"practice", "profile"}) | counters


def pending_bookings(redis_server: RedisServer, slug: str) -> int:
    """How many bookings of `slug` wait for confirmation."""
    client = redis_server.client()
    try:
        return len(list(client.scan_iter(f"tr:{{{slug}}}:b:*")))
    finally:
        client.close()


def same_origin(relay: RunningRelay) -> dict[str, str]:
    """What Chromium sends with a form on the relay's own page."""
    return {"Sec-Fetch-Site": "same-origin", "Origin": relay.url}


async def publish(
    http: aiohttp.ClientSession, relay: RunningRelay, practice: PracticeHandle, **changes: Any
) -> dict[str, Any]:
    profile = profile_json(count=6)
    profile.update(changes)
    await put_profile(http, relay.url, practice.token, profile)
    return profile


def form_for_slot(index: int) -> dict[str, str]:
    """A valid form post for the `index`th published slot."""
    return form_post(booking_json(start=slot_times(count=6)[index][0]))


@pytest.mark.parametrize("headers", CROSS_SITE_HEADERS.values(), ids=CROSS_SITE_HEADERS)
async def test_cross_site_form_post_is_refused_with_a_page_and_stores_nothing(
    relay: RunningRelay,
    practice: PracticeHandle,
    redis_server: RedisServer,
    headers: dict[str, str],
) -> None:
    """Given a foreign post, then 403 with a friendly page linking to the form; no key
    is written, and the same slot can then be booked from the relay's own page."""
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice)
        posted = form_for_slot(0)
        async with http.post(
            f"{relay.url}/p/{practice.slug}?lang=de", data=posted, headers=headers
        ) as refused:
            assert refused.status == 403
            assert refused.content_type == "text/html"
            page = Page(await refused.text())
        assert "Bitte nutzen Sie unser Formular" in page.text
        assert "Es wurde nichts gespeichert" in page.text
        links = [a for tag, a in page.elements if tag == "a" and "button" in a.get("class", "")]
        assert [a["href"] for a in links] == [f"/p/{practice.slug}?lang=de"]
        assert booking_keys(redis_server) == set()

        async with http.post(
            f"{relay.url}/p/{practice.slug}", data=posted, headers=same_origin(relay)
        ) as accepted:
            assert accepted.status == 200, await accepted.text()
    assert "b" in booking_keys(redis_server)


async def test_refusal_page_speaks_english_when_asked(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """The refusal page follows the request's language like every other page."""
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice)
        async with http.post(
            f"{relay.url}/p/{practice.slug}",
            data=form_for_slot(0),
            headers={"Origin": FOREIGN, "Accept-Language": "en-GB,en;q=0.9"},
        ) as refused:
            assert refused.status == 403
            text = Page(await refused.text()).text
    assert "Please use our own form" in text
    assert "Open the appointment form on our page" in text


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin", "Origin": "RELAY"},
        {"Sec-Fetch-Site": "none"},
        {"Origin": "RELAY"},
        {},
    ],
    ids=["Sec-Fetch-Site same-origin", "Sec-Fetch-Site none", "Origin only", "no headers"],
)
async def test_own_and_non_browser_form_posts_are_accepted(
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    headers: dict[str, str],
) -> None:
    """Our own page, a user-started request and a non-browser client may submit."""
    headers = {name: relay.url if value == "RELAY" else value for name, value in headers.items()}
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice)
        async with http.post(
            f"{relay.url}/p/{practice.slug}", data=form_for_slot(0), headers=headers
        ) as sent:
            assert sent.status == 200, await sent.text()
    await smtp_sink.wait_for(1)


async def test_practice_origins_may_post_their_own_form_only(
    relay: RunningRelay, practice: PracticeHandle, redis_server: RedisServer
) -> None:
    """A frame_ancestors origin posts its practice's form cross-site; not another's form,
    and neither the bare host of a wildcard nor another scheme or port passes."""
    other = await relay.add_practice("praxis-andere", "Praxis Andere")
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice, frame_ancestors=[EMBEDDER, GROUP])
        await publish(http, relay, other)

        for index, origin in enumerate([EMBEDDER, "https://nord.praxis-gruppe.example"]):
            async with http.post(
                f"{relay.url}/p/{practice.slug}",
                data=form_for_slot(index),
                headers={"Sec-Fetch-Site": "cross-site", "Origin": origin},
            ) as own:
                assert own.status == 200, (origin, await own.text())
        assert pending_bookings(redis_server, practice.slug) == 2

        refused_origins = [
            "https://praxis-gruppe.example",
            "http://praxis-beispiel.example",
            "https://praxis-beispiel.example:8443",
            "https://praxis-beispiel.example.evil.example",
        ]
        for origin in refused_origins:
            async with http.post(
                f"{relay.url}/p/{practice.slug}",
                data=form_for_slot(5),
                headers={"Sec-Fetch-Site": "cross-site", "Origin": origin},
            ) as foreign:
                assert foreign.status == 403, origin
        async with http.post(
            f"{relay.url}/p/{other.slug}",
            data=form_for_slot(5),
            headers={"Sec-Fetch-Site": "cross-site", "Origin": EMBEDDER},
        ) as not_theirs:
            assert not_theirs.status == 403
            assert "Bitte nutzen Sie unser Formular" in await not_theirs.text()
    assert pending_bookings(redis_server, practice.slug) == 2
    assert pending_bookings(redis_server, other.slug) == 0


async def pending_link(
    http: aiohttp.ClientSession, relay: RunningRelay, practice: PracticeHandle, sink: SmtpSink
) -> str:
    await publish(http, relay, practice)
    response = await submit(http, relay.url, practice.slug, booking_json())
    assert response.status == 202
    (message,) = await sink.wait_for(1)
    return link_in(message)


def inbox_items(redis_server: RedisServer, slug: str) -> int:
    client = redis_server.client()
    try:
        return len(list(client.scan_iter(f"tr:{{{slug}}}:i:*")))
    finally:
        client.close()


async def test_cross_site_confirm_and_withdraw_are_refused_and_the_link_still_works(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink, redis_server: RedisServer
) -> None:
    """Foreign confirm or withdraw posts get 403 and change nothing; the patient's own
    confirm afterwards succeeds."""
    async with aiohttp.ClientSession() as http:
        link = await pending_link(http, relay, practice, smtp_sink)
        token_path = link.removeprefix(relay.url)
        for action in ("confirm", "withdraw"):
            for headers in CROSS_SITE_HEADERS.values():
                async with http.post(
                    link, data={"action": action}, params={"lang": "en"}, headers=headers
                ) as refused:
                    assert refused.status == 403, (action, headers)
                    page = Page(await refused.text())
                assert "Please use our own form" in page.text
                assert "Open the confirmation page on our page" in page.text
                assert f"{token_path}?lang=en" in [a.get("href") for _, a in page.elements]
        assert inbox_items(redis_server, practice.slug) == 0
        async with http.get(link, params={"lang": "en"}) as still_pending:
            assert still_pending.status == 200
            assert "Confirm request" in await still_pending.text()
        async with http.post(
            link, data={"action": "confirm"}, params={"lang": "en"}, headers=same_origin(relay)
        ) as confirmed:
            assert confirmed.status == 200
            assert "Appointment booked" in await confirmed.text()
    assert inbox_items(redis_server, practice.slug) == 1


async def test_json_api_refuses_other_sites_and_takes_json_only(
    relay: RunningRelay, practice: PracticeHandle, redis_server: RedisServer
) -> None:
    """The JSON API follows the same rule (relay/web/cors.py): a post from a site the
    practice does not list gets 403 JSON, whatever its type, and no CORS preflight
    succeeds for it; a client without browser headers must still send JSON (415)."""
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice)
        url = f"{relay.url}/api/v1/practices/{practice.slug}/bookings"
        cross = {"Sec-Fetch-Site": "cross-site", "Origin": FOREIGN}
        async with http.post(url, json=booking_json(), headers=cross) as refused:
            assert refused.status == 403
            assert "error" in await refused.json()
        async with http.post(
            url, data="{}", headers={**cross, "Content-Type": "text/plain"}
        ) as simple:
            assert simple.status == 403
        async with http.post(url, data="{}", headers={"Content-Type": "text/plain"}) as plain:
            assert plain.status == 415
        async with http.options(
            url,
            headers={
                "Origin": FOREIGN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        ) as preflight:
            assert "Access-Control-Allow-Origin" not in preflight.headers
    assert booking_keys(redis_server) == set()


@pytest.mark.parametrize(
    ("headers", "trusted", "allowed"),
    [
        ({"Sec-Fetch-Site": "same-origin"}, (), True),
        ({"Sec-Fetch-Site": "none"}, (), True),
        ({"Sec-Fetch-Site": "same-site", "Origin": "https://www.relay.example"}, (), False),
        ({"Sec-Fetch-Site": "cross-site"}, (), False),
        ({"Sec-Fetch-Site": "something-new"}, (), False),
        ({"Origin": "https://relay.example"}, (), True),
        ({"Origin": "HTTPS://Relay.Example:443"}, (), True),
        ({"Origin": "https://relay.example:8443"}, (), False),
        ({"Origin": "http://relay.example"}, (), False),
        ({"Origin": "null"}, (), False),
        ({"Origin": "https://relay.example:99999"}, (), False),
        ({}, (), True),
        ({"Sec-Fetch-Site": "cross-site", "Origin": EMBEDDER}, (EMBEDDER,), True),
        ({"Sec-Fetch-Site": "cross-site", "Origin": f"{EMBEDDER}:443"}, (EMBEDDER,), True),
        (
            {"Sec-Fetch-Site": "cross-site", "Origin": "https://a.b.praxis-gruppe.example"},
            (GROUP,),
            True,
        ),
        (
            {"Sec-Fetch-Site": "cross-site", "Origin": "https://praxis-gruppe.example"},
            (GROUP,),
            False,
        ),
        (
            {"Sec-Fetch-Site": "cross-site", "Origin": "https://xpraxis-gruppe.example"},
            (GROUP,),
            False,
        ),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "null"}, (EMBEDDER,), False),
    ],
)
def test_policy(headers: dict[str, str], trusted: tuple[str, ...], allowed: bool) -> None:
    """The decision table of relay/web/origin.py, header by header."""
    assert (
        allows_post(headers, relay_origin="https://relay.example", trusted_sources=trusted)
        is allowed
    )


@pytest.mark.browser
async def test_chromium_post_from_another_site_gets_the_page_and_its_link_works(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """Given a page on another site (localhost, not 127.0.0.1) with a confirm button for
    a patient's link, when Chromium posts it, then the refusal page shows; its link opens
    the relay's confirmation page, where confirming works."""
    async with aiohttp.ClientSession() as http:
        link = await pending_link(http, relay, practice, smtp_sink)
    other_site = web.Application()

    async def lure(request: web.Request) -> web.Response:
        return web.Response(
            content_type="text/html",
            text=f'<!DOCTYPE html><form method="post" action="{link}?lang=en">'
            '<button name="action" value="confirm">Win a prize</button></form>',
        )

    other_site.router.add_get("/", lure)
    runner = web.AppRunner(other_site, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with async_playwright() as playwright:
            browser = await launch_chromium(playwright)
            page = await browser.new_page(locale="en-GB")
            await page.goto(f"http://localhost:{port}/")
            async with page.expect_navigation():
                await page.click("button")
            assert "Please use our own form" in await page.inner_text("h1")
            async with page.expect_navigation():
                await page.click("text=Open the confirmation page on our page")
            assert page.url.startswith(link)
            async with page.expect_navigation():
                await page.click("text=Confirm request")
            assert "Appointment booked" in await page.inner_text("h1")
            await browser.close()
    finally:
        await runner.cleanup()
