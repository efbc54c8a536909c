"""Embed mode in a real Chromium: the booking form on the practice's own website.

Two practice websites run beside the relay as aiohttp servers on 127.0.0.1, each on its
own port and so its own origin, over HTTPS with a certificate made for the test
(`frame_ancestors` takes https origins only): site A, which the practice lists in its
`frame_ancestors`, and site B, which it does not. Their pages carry the snippet of
docs/embedding.md, loading seal.js and embed.js from the relay with SRI hashes computed
here from the bytes the relay serves, under the CSP docs/embedding.md recommends; any
CSP violation or script error on a page fails the test.

The tests that only show the form, or refuse, use a stand-in for seal.js
(embed_site/seal-stand-in.js); the tests that book use the relay's own seal.js.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from dataclasses import field as member
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from nacl.public import SealedBox
from playwright.async_api import Browser, BrowserContext, Page

from relay.booking.fields import field
from relay.dev import free_port
from relay.i18n.catalogs import texts
from relay.web.error_messages import error_message
from tests.browser.pages import check_page, new_context
from tests.conftest import (
    PracticeHandle,
    RedisServer,
    RelayFactory,
    RunningRelay,
    SmtpSink,
    link_in,
)
from tests.helpers import BERLIN, booking_json, profile_json, put_profile, slot_times
from tests.test_origin import booking_keys

pytestmark = pytest.mark.browser

SITE_FILES = Path(__file__).parent / "embed_site"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "embedding.md"
# The CSP docs/embedding.md recommends for the practice's page, with {relay} its origin.
PRACTICE_CSP = (
    "default-src 'self'; script-src 'self' {relay}; connect-src {relay}; frame-src {relay}; "
    "style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)
# Sealing, a ticket and a submission on two shared cores: generous, reached only when broken.
SENT_MS = 60_000
DIFFICULTY = 20_000


# Practice websites ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server context with a self-signed certificate for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


@dataclass
class Site:
    """A practice's website: files by path, each with its content type and headers."""

    origin: str = ""
    files: dict[str, tuple[bytes, str, dict[str, str]]] = member(default_factory=dict)

    def put(self, path: str, body: bytes, content_type: str, **headers: str) -> str:
        self.files[path] = (body, content_type, headers)
        return f"{self.origin}{path}"

    def put_page(self, path: str, html: str, relay: RunningRelay, *, frames: str = "") -> str:
        """An HTML page under PRACTICE_CSP; `frames`: another origin it may frame."""
        csp = PRACTICE_CSP.format(relay=relay.url)
        if frames:
            csp = csp.replace(f"frame-src {relay.url}", f"frame-src {relay.url} {frames}")
        return self.put(path, html.encode(), "text/html", **{"Content-Security-Policy": csp})

    def put_file(self, name: str) -> str:
        """One of embed_site/'s files at /{name}."""
        return self.put(f"/{name}", (SITE_FILES / name).read_bytes(), "text/javascript")


SiteFactory = Callable[[], Awaitable[Site]]


@pytest.fixture
async def sites(tls: ssl.SSLContext) -> AsyncIterator[SiteFactory]:
    """Starts practice websites (HTTPS on loopback, a port each); stops them after."""
    runners: list[web.AppRunner] = []

    async def start() -> Site:
        site = Site()

        async def serve(request: web.Request) -> web.Response:
            found = site.files.get(request.path)
            if found is None:
                raise web.HTTPNotFound
            body, content_type, headers = found
            return web.Response(body=body, content_type=content_type, headers=headers)

        app = web.Application()
        app.router.add_get("/{path:.*}", serve)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=tls).start()
        site.origin = f"https://127.0.0.1:{port}"
        return site

    yield start
    for runner in runners:
        await runner.cleanup()


def sri(body: bytes) -> str:
    """The integrity attribute's value: what `openssl dgst -sha384 -binary | openssl
    base64 -A` prints, as docs/embedding.md says."""
    return "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()


async def relay_file(http: aiohttp.ClientSession, relay: RunningRelay, name: str) -> bytes:
    async with http.get(f"{relay.url}/static/{name}") as response:
        assert response.status == 200, f"the relay serves no /static/{name}"
        return await response.read()


@dataclass(frozen=True)
class Seal:
    """Which seal.js a page loads: its URL, its bytes, and attributes for its tag."""

    url: str
    body: bytes
    attributes: str = ""


async def relay_seal(http: aiohttp.ClientSession, relay: RunningRelay) -> Seal:
    return Seal(f"{relay.url}/static/seal.js", await relay_file(http, relay, "seal.js"))


def stand_in_seal(site: Site, *, self_test: str = "pass") -> Seal:
    url = site.put_file("seal-stand-in.js")
    body = (SITE_FILES / "seal-stand-in.js").read_bytes()
    return Seal(url, body, f' data-self-test="{self_test}"')


async def practice_page(
    http: aiohttp.ClientSession,
    site: Site,
    relay: RunningRelay,
    practice: PracticeHandle,
    seal: Seal,
    *,
    lang: str = "de",
    pinned_key: str | None = None,
    link: str | None = "Termin online anfragen",
) -> str:
    """The practice's page with the snippet of docs/embedding.md, its link to the relay's
    form reading `link` (None: an empty box); its URL."""
    embed = await relay_file(http, relay, "embed.js")
    pin = f' data-terminrelay-public-key="{pinned_key}"' if pinned_key else ""
    own_link = f'<a href="{relay.url}/p/{practice.slug}">{link}</a>' if link else ""
    html = f"""<!DOCTYPE html>
<html lang="{lang}">
<head><meta charset="utf-8"><title>Praxis Dr. Beispiel</title></head>
<body>
<main>
<h1>Praxis Dr. Beispiel</h1>
<div id="termin" data-terminrelay-relay="{relay.url}" data-terminrelay-practice="{practice.slug}"
     data-lang="{lang}"{pin}>{own_link}</div>
<script src="{seal.url}" integrity="{sri(seal.body)}"
        crossorigin="anonymous"{seal.attributes}></script>
<script src="{relay.url}/static/embed.js" integrity="{sri(embed)}" crossorigin="anonymous"></script>
</main>
</body>
</html>
"""
    return site.put_page("/termine.html", html, relay)


async def publish(
    http: aiohttp.ClientSession,
    relay: RunningRelay,
    practice: PracticeHandle,
    site: Site,
    *,
    sealing: str | None = "either",
) -> dict[str, Any]:
    """Slots, `site`'s origin the one allowed to embed, and (unless None) `sealing`:
    "either" lets the browser seal (docs/protocol.md, protocol 2)."""
    profile = profile_json()
    profile["frame_ancestors"] = [site.origin]
    if sealing is not None:
        profile["sealing"] = sealing
    await put_profile(http, relay.url, practice.token, profile)
    return profile


@dataclass
class Watched:
    """What a page did: requests sent, and problems (script errors, CSP violations)."""

    requests: list[Any] = member(default_factory=list)
    problems: list[str] = member(default_factory=list)

    def urls(self, part: str) -> list[str]:
        return [request.url for request in self.requests if part in request.url]


async def open_page(context: BrowserContext, url: str) -> tuple[Page, Watched]:
    page = await context.new_page()
    watched = Watched()

    def sent(request: Any) -> None:
        # Not list.append itself: Playwright cannot wrap a builtin method as a listener.
        watched.requests.append(request)

    page.on("request", sent)
    page.on("pageerror", lambda error: watched.problems.append(f"error: {error}"))

    def console(message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            watched.problems.append(message.text)

    page.on("console", console)
    await page.goto(url)
    return page, watched


async def state(page: Page, *states: str) -> str:
    """The embed box's state once it is one of `states` (loading is left quickly)."""
    # Functions, not expressions: the page's CSP (no 'unsafe-eval') would refuse those.
    await page.wait_for_function(
        "states => states.includes(document.getElementById('termin').dataset.terminrelayState)",
        arg=list(states),
        timeout=SENT_MS,
    )
    return str(await page.get_attribute("#termin", "data-terminrelay-state"))


async def fill_booking(page: Page, booking: dict[str, Any], lang: str) -> None:
    """Fills the embedded form as a patient does, by the visible labels."""
    start = datetime.fromisoformat(booking["start"]).astimezone(BERLIN).strftime("%H:%M")
    slots = page.get_by_label(texts(lang).gettext("Free appointment"))
    option = slots.locator("option", has_text=start)
    await slots.select_option(await option.get_attribute("value"))
    labels = {name: field(name).label[lang] for name in ("first_name", "last_name", "birth_date")}
    for name, label in labels.items():
        await page.get_by_label(label, exact=False).first.fill(booking[name])
    choice = field("gender").choice_labels[booking["gender"]][lang]
    await page.get_by_role("radio", name=choice, exact=True).check()
    insurance = field("insurance").choice_labels[booking["insurance"]][lang]
    await page.get_by_role("radio", name=insurance, exact=True).check()
    first_visit = page.get_by_role("group", name=field("new_patient").label[lang])
    answer = texts(lang).gettext("Yes") if booking["new_patient"] else texts(lang).gettext("No")
    await first_visit.get_by_role("radio", name=answer, exact=True).check()
    await page.get_by_label(field("email").label[lang], exact=False).fill(booking["email"])
    await page.get_by_label(field("phone").label[lang], exact=False).fill(booking["phone"])
    await page.get_by_label(field("note").label[lang], exact=False).fill(booking["note"])
    await page.get_by_role("checkbox").check()


def open_blob(practice: PracticeHandle, blob: str) -> dict[str, Any]:
    """The inner document of a browser-sealed blob (docs/protocol.md, protocol 2)."""
    padded = SealedBox(practice.private_key).decrypt(base64.b64decode(blob))
    length = int.from_bytes(padded[:4], "big")
    document = json.loads(padded[4 : 4 + length])
    assert isinstance(document, dict)
    return document


# Booking through CORS -------------------------------------------------------------------


async def test_a_patient_books_on_the_practice_site_and_the_booking_arrives(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    smtp_sink: SmtpSink,
    sites: SiteFactory,
) -> None:
    """Given the snippet on a listed site with the practice's key pinned; when a patient
    books a slot there and confirms by the mailed link, then the relay got only the
    sealed blob beside address, consent and slot, and the practice's inbox holds the
    booking, sealed in the browser to the practice's key, with the patient's values."""
    site = await sites()
    booking = booking_json()
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice, site)
        url = await practice_page(
            http,
            site,
            relay,
            practice,
            await relay_seal(http, relay),
            pinned_key=practice.public_key_b64,
        )
    context = await new_context(browser, lang="de", viewport="phone", ignore_https_errors=True)
    page, watched = await open_page(context, url)
    assert await state(page, "ready", "fallback") == "ready"
    assert await page.get_attribute("#termin", "lang") == "de"
    await check_page(page, "embed-de-phone-form")

    # When the patient books on the practice's page
    await fill_booking(page, booking, "de")
    await page.get_by_role("button", name=texts("de").gettext("Send request")).click()
    assert await state(page, "sent", "ready") == "sent"
    assert texts("de").gettext("Please confirm your request by email") in await page.inner_text(
        "#termin"
    )
    await check_page(page, "embed-de-phone-sent")
    (posted,) = [r for r in watched.requests if r.url.endswith("/bookings") and r.method == "POST"]
    sent = json.loads(posted.post_data or "{}")
    assert set(sent) == {"sealed", "key_id", "ticket", "email", "consent", "slot"}
    assert sent["email"] == booking["email"]
    assert booking["last_name"] not in (posted.post_data or "")

    # And confirms by the link in the mail
    (message,) = await smtp_sink.wait_for(1)
    await page.goto(link_in(message))
    async with page.expect_navigation():
        await page.get_by_role("button", name=texts("de").gettext("Confirm request")).click()
    assert await page.inner_text("h1") == texts("de").gettext("Appointment booked")
    assert watched.problems == []
    await context.close()

    # Then the inbox holds it, sealed in the browser to the practice's key
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{relay.url}/api/v1/inbox?wait=0", headers=practice.auth) as inbox,
    ):
        assert inbox.status == 200
        (item,) = (await inbox.json())["items"]
    inner = open_blob(practice, item["blob"])
    assert inner["id"] == item["id"]
    assert inner["practice"] == practice.slug
    assert inner["kind"] == "slot"
    assert inner["language"] == "de"
    assert inner["slot"] == sent["slot"]
    for name in ("first_name", "last_name", "birth_date", "gender", "insurance", "note"):
        assert inner[name] == booking[name], name
    for name in ("new_patient", "email", "phone", "doctor", "appointment_type"):
        assert inner[name] == booking[name], name
    assert datetime.fromisoformat(inner["start"]) == datetime.fromisoformat(booking["start"])


async def test_a_proof_of_work_is_solved_and_the_booking_sent_again(
    browser: Browser, relay_factory: RelayFactory, smtp_sink: SmtpSink, sites: SiteFactory
) -> None:
    """Given the relay asking every submission for a proof of work; when the patient
    sends, the script fetches the challenge the 429 names, solves it with SHA-256 and
    sends again with X-Terminrelay-Pow: the request is taken and mailed."""
    relay = await relay_factory(pow="always", pow_difficulty=DIFFICULTY)
    practice = await relay.add_practice()
    site = await sites()
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice, site)
        url = await practice_page(
            http, site, relay, practice, await relay_seal(http, relay), lang="en"
        )
    context = await new_context(browser, lang="en", viewport="desktop", ignore_https_errors=True)
    page, watched = await open_page(context, url)
    assert await state(page, "ready", "fallback") == "ready"
    await fill_booking(page, booking_json(), "en")
    await page.get_by_role("button", name=texts("en").gettext("Send request")).click()
    assert await state(page, "sent") == "sent"
    posts = [r for r in watched.requests if r.url.endswith("/bookings") and r.method == "POST"]
    assert len(posts) == 2
    assert "x-terminrelay-pow" not in posts[0].headers
    assert posts[1].headers["x-terminrelay-pow"]
    assert watched.urls("/api/v1/challenge?practice=")
    await smtp_sink.wait_for(1)
    assert watched.problems == []
    await context.close()


# Showing and checking the form ----------------------------------------------------------


async def test_the_form_speaks_the_pages_language_and_checks_before_sending(
    browser: Browser, relay: RunningRelay, practice: PracticeHandle, sites: SiteFactory
) -> None:
    """Given an English page; when the patient sends the empty form, then nothing goes
    to the relay, a focused summary links every missing answer, each field says why
    (aria-invalid, aria-describedby), and a link moves the focus to its field."""
    site = await sites()
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice, site)
        url = await practice_page(http, site, relay, practice, stand_in_seal(site), lang="en")
    context = await new_context(browser, lang="en", viewport="desktop", ignore_https_errors=True)
    page, watched = await open_page(context, url)
    assert await state(page, "ready", "fallback") == "ready"
    box = page.locator("#termin")
    assert await box.get_attribute("lang") == "en"
    assert await box.get_attribute("dir") == "ltr"
    assert await page.locator("#termin h2").first.inner_text() == texts("en").gettext(
        "Request an appointment"
    )
    email = page.get_by_label(field("email").label["en"], exact=False)
    assert await email.get_attribute("autocomplete") == "email"
    await check_page(page, "embed-en-desktop-form")

    # When the patient sends the empty form
    await page.get_by_role("button", name=texts("en").gettext("Send request")).click()
    summary = page.get_by_role("alert")
    await summary.wait_for()
    assert await page.evaluate("document.activeElement.getAttribute('role')") == "alert"
    links = await summary.get_by_role("link").all_inner_texts()
    # The slot, names, birth date, gender, insurance, first visit, address and consent.
    assert len(links) == 9, links
    assert f"{field('email').label['en']}: {error_message('required', 'en')}" in links
    assert any(
        texts("en").gettext("Please choose a time or suggest a preferred time.") in text
        for text in links
    )
    assert any(field("gender").choose["en"] in text for text in links)  # type: ignore[index]
    assert await email.get_attribute("aria-invalid") == "true"
    described = (await email.get_attribute("aria-describedby") or "").split()
    messages = [await page.locator(f"[id='{ref}']").inner_text() for ref in described]
    assert any(error_message("required", "en") in text for text in messages)
    gender = page.get_by_role("group", name=field("gender").label["en"])
    assert await gender.get_attribute("aria-describedby")
    await check_page(page, "embed-en-desktop-errors")

    # And follows the summary's link to the address, which it then mistypes
    await summary.get_by_role("link", name=field("email").label["en"], exact=False).click()
    assert await email.evaluate("node => node === document.activeElement")
    await email.fill("not-an-address")
    await page.get_by_role("button", name=texts("en").gettext("Send request")).click()
    invalid = error_message("invalid_email", "en", field=field("email"))
    await page.get_by_role("link", name=f"{field('email').label['en']}: {invalid}").wait_for()
    assert watched.urls("/tickets") == []
    assert watched.urls("/bookings") == []
    assert watched.problems == []
    await context.close()


async def test_a_wish_asks_for_its_time_where_the_practice_takes_wishes(
    browser: Browser, relay: RunningRelay, practice: PracticeHandle, sites: SiteFactory
) -> None:
    """Choosing "none of these" in the slot list shows the wish's time in the practice's
    zone, and sending without it names the wish, the doctor and the type."""
    site = await sites()
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice, site)
        url = await practice_page(http, site, relay, practice, stand_in_seal(site))
    context = await new_context(browser, lang="de", viewport="phone", ignore_https_errors=True)
    page, _ = await open_page(context, url)
    assert await state(page, "ready", "fallback") == "ready"
    wish = page.get_by_role("group", name=texts("de").gettext("Preferred time"))
    assert not await wish.is_visible()
    slots = page.get_by_label(texts("de").gettext("Free appointment"))
    # Grouped by day, each time in the practice's zone.
    first = slot_times()[0][0].astimezone(BERLIN)
    assert await slots.locator("optgroup").count() == 1
    assert await slots.locator("option", has_text=first.strftime("%H:%M")).count() == 1
    await slots.select_option("wish")
    assert await wish.is_visible()
    zone = texts("de").gettext(
        (
            "Give the day and time you would like to come. The practice "
            "will let you know whether it is possible. Practice time "
            "zone: %(zone)s."
        ),
        zone="Europe/Berlin",
    )
    assert zone in await wish.inner_text()
    await page.get_by_role("button", name=texts("de").gettext("Send request")).click()
    links = await page.get_by_role("alert").get_by_role("link").all_inner_texts()
    for message in (
        "Please enter the day and time of your preferred appointment.",
        "Please choose a doctor for your preferred time.",
        "Please choose a type of appointment for your preferred time.",
    ):
        assert any(texts("de").gettext(message) in text for text in links), message
    await context.close()


# Refusals and the way back to the relay's form ------------------------------------------


async def test_a_site_the_practice_does_not_list_gets_nothing_and_stores_nothing(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    redis_server: RedisServer,
    sites: SiteFactory,
) -> None:
    """Given the snippet on site B, which the practice does not list; then the browser
    hides every answer from B's page, which keeps its link to the relay's form; a post
    from B's page fails and a direct post with B's Origin gets 403; nothing is stored."""
    listed, other = await sites(), await sites()
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice, listed, sealing=None)
        url = await practice_page(http, other, relay, practice, stand_in_seal(other))
    context = await new_context(browser, lang="de", viewport="phone", ignore_https_errors=True)
    page, watched = await open_page(context, url)
    assert await state(page, "ready", "fallback") == "fallback"
    link = page.locator("#termin a")
    assert await link.get_attribute("href") == f"{relay.url}/p/{practice.slug}"
    # The relay was asked (and answered, without CORS headers) for the profile.
    profile = f"{relay.url}/api/v1/practices/{practice.slug}"
    assert watched.urls(profile)
    read = await page.evaluate('url => fetch(url).then(() => "answered", () => "blocked")', profile)
    assert read == "blocked"
    bookings = f"{profile}/bookings"
    posted = await page.evaluate(
        """url => fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                              body: "{}"}).then(() => "answered", () => "blocked")""",
        bookings,
    )
    assert posted == "blocked"
    await context.close()
    headers = {"Origin": other.origin, "Sec-Fetch-Site": "cross-site"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(bookings, json=booking_json(), headers=headers) as refused,
    ):
        assert refused.status == 403
        assert "Access-Control-Allow-Origin" not in refused.headers
    assert booking_keys(redis_server) == set()


@pytest.mark.parametrize(
    ("lang", "own_words"), [("de", "Termin online anfragen"), ("en", "Book with us online")]
)
async def test_a_failed_self_test_keeps_the_practices_own_link(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    sites: SiteFactory,
    lang: str,
    own_words: str,
) -> None:
    """Given seal.js failing its self-test; then the script asks the relay nothing and
    the box keeps the practice's link, in the practice's own words."""
    site = await sites()
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice, site, sealing=None)
        url = await practice_page(
            http,
            site,
            relay,
            practice,
            stand_in_seal(site, self_test="fail"),
            lang=lang,
            link=own_words,
        )
    context = await new_context(browser, lang=lang, viewport="phone", ignore_https_errors=True)
    page, watched = await open_page(context, url)
    assert await state(page, "ready", "fallback") == "fallback"
    link = page.locator("#termin a")
    assert await link.inner_text() == own_words
    assert await link.get_attribute("href") == f"{relay.url}/p/{practice.slug}"
    assert watched.urls("/api/") == []
    assert watched.problems == []
    await context.close()


async def test_an_empty_box_without_the_relays_words_links_to_the_form_by_its_address(
    browser: Browser, relay: RunningRelay, practice: PracticeHandle, sites: SiteFactory
) -> None:
    """Given a box without the practice's link and seal.js failing its self-test (so the
    relay sends no words); then the link to the relay's form reads as its own address,
    left to right, in no language embed.js would have to know."""
    site = await sites()
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice, site, sealing=None)
        url = await practice_page(
            http, site, relay, practice, stand_in_seal(site, self_test="fail"), link=None
        )
    context = await new_context(browser, lang="de", viewport="phone", ignore_https_errors=True)
    page, watched = await open_page(context, url)
    assert await state(page, "ready", "fallback") == "fallback"
    address = f"{relay.url}/p/{practice.slug}"
    link = page.get_by_role("link", name=address, exact=True)
    assert await link.get_attribute("href") == f"{address}?lang=de"
    assert await link.get_attribute("dir") == "ltr"
    assert watched.urls("/api/") == []
    assert watched.problems == []
    await context.close()


async def test_an_empty_box_gets_the_relays_words_for_its_link(
    browser: Browser, relay: RunningRelay, practice: PracticeHandle, sites: SiteFactory
) -> None:
    """Given a box without the practice's link, for a practice that takes no requests
    sealed in the browser; then the link to the relay's form says what the relay's
    catalog says, in the page's language."""
    site = await sites()
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice, site, sealing=None)
        url = await practice_page(
            http, site, relay, practice, stand_in_seal(site), lang="en", link=None
        )
    context = await new_context(browser, lang="en", viewport="phone", ignore_https_errors=True)
    page, watched = await open_page(context, url)
    assert await state(page, "ready", "fallback") == "fallback"
    assert texts("en").gettext(
        "The appointment form cannot be shown here."
    ) in await page.inner_text("#termin")
    link = page.get_by_role(
        "link", name=texts("en").gettext("Request an appointment in Terminrelay's form"), exact=True
    )
    assert await link.get_attribute("href") == f"{relay.url}/p/{practice.slug}?lang=en"
    assert watched.problems == []
    await context.close()


@pytest.mark.parametrize(("asked", "spoken"), [("en-GB", "en"), ("fr", "de")])
async def test_the_relay_chooses_among_its_languages_for_the_pages(
    browser: Browser,
    relay: RunningRelay,
    practice: PracticeHandle,
    sites: SiteFactory,
    asked: str,
    spoken: str,
) -> None:
    """Given a page asking for a regional tag or a language the relay does not speak;
    then the form speaks the relay's nearest language (embed.js keeps no list of them)."""
    site = await sites()
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice, site)
        url = await practice_page(http, site, relay, practice, stand_in_seal(site), lang=asked)
    context = await new_context(browser, lang="de", viewport="phone", ignore_https_errors=True)
    page, watched = await open_page(context, url)
    assert await state(page, "ready", "fallback") == "ready"
    assert await page.get_attribute("#termin", "lang") == spoken
    title = await page.locator("#termin h2").first.inner_text()
    assert title == texts(spoken).gettext("Request an appointment")
    assert watched.problems == []
    await context.close()


async def test_a_key_other_than_the_pinned_one_is_refused_before_anything_is_typed(
    browser: Browser, relay: RunningRelay, practice: PracticeHandle, sites: SiteFactory
) -> None:
    """Given the page pinning a key the relay does not serve for the practice (as when an
    operator swapped it); then the form says so and offers nothing to send."""
    site = await sites()
    other_key = base64.b64encode(bytes(32)).decode()
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice, site)
        url = await practice_page(
            http, site, relay, practice, stand_in_seal(site), pinned_key=other_key
        )
    context = await new_context(browser, lang="de", viewport="phone", ignore_https_errors=True)
    page, watched = await open_page(context, url)
    assert await state(page, "refused", "fallback") == "refused"
    assert texts("de").gettext(
        "Your request would not be encrypted with the key the "
        "practice published on this website. To protect you, nothing "
        "was sent. Please contact the practice directly."
    ) in await page.inner_text("#termin")
    assert await page.locator("#termin form").count() == 0
    assert watched.urls("/tickets") == []
    await context.close()


# The iframe ------------------------------------------------------------------------------


async def test_the_framed_form_tells_the_listed_parent_its_height(
    browser: Browser, relay: RunningRelay, practice: PracticeHandle, sites: SiteFactory
) -> None:
    """Given the relay's form in an iframe on the listed site, with the parent's listener
    of docs/embedding.md; then the form page posts its height to that origin, the frame
    grows to it (no scroll bar inside), and posts again when the page grows."""
    site = await sites()
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice, site, sealing=None)
    listener = site.put_file("frame-height.js")
    recorder = site.put_file("record-messages.js")
    html = f"""<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8"><title>Praxis Dr. Beispiel</title>
<script src="{recorder}"></script><script src="{listener}"></script></head>
<body><main><h1>Praxis Dr. Beispiel</h1>
<iframe id="terminrelay-form" src="{relay.url}/p/{practice.slug}?lang=de"
        title="Termin anfragen" width="360" height="300"></iframe>
</main></body></html>
"""
    url = site.put_page("/iframe.html", html, relay)
    context = await new_context(browser, lang="de", viewport="desktop", ignore_https_errors=True)
    page, watched = await open_page(context, url)
    await page.wait_for_function("() => window.received.length > 0", timeout=SENT_MS)
    received = await page.evaluate("window.received")
    assert {message["origin"] for message in received} == {relay.url}
    first = received[-1]["data"]
    assert first["type"] == "terminrelay:height"
    assert first["height"] > 300
    frame = page.frame_locator("#terminrelay-form")
    await page.wait_for_function(
        "height => document.getElementById('terminrelay-form').clientHeight >= height",
        arg=first["height"],
    )
    inner = page.frames[1]
    assert await inner.evaluate(
        "document.documentElement.scrollHeight <= window.innerHeight + 1"
    ), "the frame still scrolls"

    # When the page in the frame grows (the wish box opens)
    await frame.get_by_text(
        texts("de").gettext("No time suits you? Suggest a preferred time")
    ).click()
    await page.wait_for_function(
        "height => window.received.some(message => message.data.height > height)",
        arg=first["height"],
    )
    assert watched.problems == []
    await context.close()


@pytest.mark.parametrize(("listed", "posts"), [(True, True), (False, False)])
async def test_frame_js_posts_only_to_a_parent_its_page_lists(
    browser: Browser, relay: RunningRelay, sites: SiteFactory, listed: bool, posts: bool
) -> None:
    """frame.js on a page framed by site A: it posts the height to A when the page's list
    (data-frame-ancestors, from the practice's profile) names A, and nothing otherwise."""
    parent, child = await sites(), await sites()
    recorder = parent.put_file("record-messages.js")
    done = child.put_file("scripts-done.js")
    allowed = parent.origin if listed else "https://praxis-anderswo.example"
    child.put_page(
        "/framed.html",
        f"""<!DOCTYPE html><html lang="de"><head><meta charset="utf-8"><title>Termine</title>
</head><body><p>Termine</p>
<script src="{relay.url}/static/frame.js" data-frame-ancestors="{allowed}"></script>
<script src="{done}"></script></body></html>""",
        relay,
    )
    url = parent.put_page(
        "/frames.html",
        f"""<!DOCTYPE html><html lang="de"><head><meta charset="utf-8"><title>Praxis</title>
<script src="{recorder}"></script></head><body>
<iframe src="{child.origin}/framed.html" title="Termine"></iframe></body></html>""",
        relay,
        frames=child.origin,
    )
    context = await new_context(browser, lang="de", viewport="desktop", ignore_https_errors=True)
    page, watched = await open_page(context, url)
    await page.wait_for_function(
        "() => window.received.some(message => message.data.type === 'test:done')"
    )
    types = [message["data"]["type"] for message in await page.evaluate("window.received")]
    assert types == (["terminrelay:height", "test:done"] if posts else ["test:done"])
    assert watched.problems == []
    await context.close()


def test_the_docs_give_the_listener_the_iframe_test_uses() -> None:
    """docs/embedding.md carries embed_site/frame-height.js word for word."""
    assert (SITE_FILES / "frame-height.js").read_text().strip() in DOCS.read_text()
