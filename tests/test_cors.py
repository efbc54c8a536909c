"""CORS for embed mode (relay/web/cors.py) and the embedded form's texts
(relay/web/form_texts.py), over real HTTP against a real relay and Redis."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from relay.booking.fields import FIELD_NAMES, FIELDS, field
from relay.i18n.catalogs import texts
from relay.web import form
from relay.web.cors import ALLOWED_HEADERS, MAX_AGE_SECONDS
from relay.web.error_messages import ERROR_MESSAGES, error_message
from relay.web.form import SECTIONS
from tests.conftest import PracticeHandle, RedisServer, RunningRelay
from tests.helpers import booking_json, profile_json, put_profile, slot_times
from tests.test_origin import EMBEDDER, FOREIGN, GROUP, booking_keys

EMBED_JS = Path(__file__).parent.parent / "relay" / "web" / "static" / "embed.js"
GROUP_MEMBER = "https://nord.praxis-gruppe.example"


async def publish(
    http: aiohttp.ClientSession, relay: RunningRelay, practice: PracticeHandle
) -> None:
    profile = profile_json()
    profile["frame_ancestors"] = [EMBEDDER, GROUP]
    await put_profile(http, relay.url, practice.token, profile)


def endpoints(relay: RunningRelay, slug: str) -> dict[str, str]:
    """The GET endpoints an embedded form reads, by name."""
    return {
        "profile": f"{relay.url}/api/v1/practices/{slug}",
        "form-texts": f"{relay.url}/api/v1/practices/{slug}/form-texts?lang=de",
        "challenge": f"{relay.url}/api/v1/challenge?practice={slug}",
    }


def cross_site(origin: str) -> dict[str, str]:
    """What Chromium sends with a fetch from a page on `origin`."""
    return {"Origin": origin, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "content-type,x-terminrelay-pow",
    }


def varies_by_origin(headers: Any) -> bool:
    return "origin" in {name.strip().lower() for name in headers.get("Vary", "").split(",")}


@pytest.mark.parametrize("origin", [EMBEDDER, GROUP_MEMBER])
async def test_listed_origins_may_read_every_embed_endpoint(
    relay: RunningRelay, practice: PracticeHandle, origin: str
) -> None:
    """A frame_ancestors origin, exact or under a wildcard, gets its own origin back in
    Access-Control-Allow-Origin (never `*`), Vary: Origin and Retry-After exposed."""
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice)
        for name, url in endpoints(relay, practice.slug).items():
            async with http.get(url, headers=cross_site(origin)) as response:
                assert response.status == 200, (name, await response.text())
                assert response.headers["Access-Control-Allow-Origin"] == origin, name
                assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]
                assert "Access-Control-Allow-Credentials" not in response.headers
                assert varies_by_origin(response.headers), name


@pytest.mark.parametrize(
    "origin",
    [
        FOREIGN,
        "https://praxis-gruppe.example",  # the bare host of a wildcard
        "http://praxis-beispiel.example",  # another scheme
        "https://praxis-beispiel.example:8443",  # another port
        "https://praxis-beispiel.example/termine",  # no origin as browsers write one
        "null",
    ],
)
async def test_other_origins_get_no_cors_headers(
    relay: RunningRelay, practice: PracticeHandle, origin: str
) -> None:
    """Any origin the practice does not list gets the public answer without CORS headers
    (the browser hides it from the page), still with Vary: Origin."""
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice)
        for name, url in endpoints(relay, practice.slug).items():
            async with http.get(url, headers=cross_site(origin)) as response:
                assert response.status == 200, name
                assert "Access-Control-Allow-Origin" not in response.headers, name
                assert varies_by_origin(response.headers), name


async def test_another_practices_origins_are_not_this_practices(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """The list is per practice: EMBEDDER, listed by one practice, reads nothing of
    another that lists none."""
    other = await relay.add_practice("praxis-andere", "Praxis Andere")
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice)
        await put_profile(http, relay.url, other.token, profile_json())
        url = f"{relay.url}/api/v1/practices/{other.slug}"
        async with http.get(url, headers=cross_site(EMBEDDER)) as response:
            assert response.status == 200
            assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("path", ["bookings", "tickets"])
async def test_preflight_for_a_listed_origin_is_answered_204(
    relay: RunningRelay, practice: PracticeHandle, path: str
) -> None:
    """OPTIONS with Access-Control-Request-Method from a listed origin: 204 with the
    origin, the method, the allowed headers and a max age; nothing else is asked."""
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice)
        async with http.options(
            f"{relay.url}/api/v1/practices/{practice.slug}/{path}", headers=preflight(EMBEDDER)
        ) as response:
            assert response.status == 204
            headers = response.headers
    assert headers["Access-Control-Allow-Origin"] == EMBEDDER
    assert headers["Access-Control-Allow-Methods"] == "POST"
    assert headers["Access-Control-Allow-Headers"] == ALLOWED_HEADERS
    assert ALLOWED_HEADERS == "Content-Type, X-Terminrelay-Pow, Accept-Language"
    assert headers["Access-Control-Max-Age"] == str(MAX_AGE_SECONDS)
    assert varies_by_origin(headers)


async def test_preflight_from_another_origin_or_for_an_unknown_practice_is_refused(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """An unlisted origin's preflight gets 403 JSON without CORS headers (the browser
    then never sends the POST); an unknown practice's gets 404."""
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice)
        url = f"{relay.url}/api/v1/practices/{practice.slug}/bookings"
        async with http.options(url, headers=preflight(FOREIGN)) as refused:
            assert refused.status == 403
            assert "error" in await refused.json()
            assert not [h for h in refused.headers if h.lower().startswith("access-control-")]
        unknown = f"{relay.url}/api/v1/practices/praxis-unbekannt/bookings"
        async with http.options(unknown, headers=preflight(EMBEDDER)) as missing:
            assert missing.status == 404
            assert "Access-Control-Allow-Origin" not in missing.headers


@pytest.mark.parametrize("path", ["bookings", "tickets"])
@pytest.mark.parametrize(
    "headers",
    [cross_site(FOREIGN), {"Origin": FOREIGN}, cross_site("null")],
    ids=["cross-site", "Origin only", "Origin null"],
)
async def test_a_post_from_an_unlisted_origin_is_refused_403_and_stores_nothing(
    relay: RunningRelay,
    practice: PracticeHandle,
    redis_server: RedisServer,
    path: str,
    headers: dict[str, str],
) -> None:
    """A valid booking (or a ticket request) posted from a site the practice does not
    list: 403 JSON before the body is read, no CORS header, no key written."""
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice)
        async with http.post(
            f"{relay.url}/api/v1/practices/{practice.slug}/{path}",
            json=booking_json(),
            headers=headers,
        ) as refused:
            assert refused.status == 403
            assert refused.content_type == "application/json"
            body = await refused.json()
            assert "Access-Control-Allow-Origin" not in refused.headers
    assert set(body) == {"error"}
    assert booking_keys(redis_server) == set()


async def test_listed_origins_same_origin_and_non_browsers_may_post(
    relay: RunningRelay, practice: PracticeHandle, redis_server: RedisServer
) -> None:
    """The practice's site (with CORS headers on its 202 and on a 422, whose messages its
    script must read), the relay's own page and a client without browser headers post."""
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice)
        url = f"{relay.url}/api/v1/practices/{practice.slug}/bookings"
        async with http.post(url, json=booking_json(), headers=cross_site(EMBEDDER)) as taken:
            assert taken.status == 202, await taken.text()
            assert taken.headers["Access-Control-Allow-Origin"] == EMBEDDER
        async with http.post(
            url,
            json=booking_json(email="not an address"),
            headers={**cross_site(EMBEDDER), "Accept-Language": "en"},
        ) as invalid:
            assert invalid.status == 422
            assert invalid.headers["Access-Control-Allow-Origin"] == EMBEDDER
            errors = (await invalid.json())["errors"]
        assert errors == {"email": error_message("invalid_email", "en", field=field("email"))}
        own = {"Origin": relay.url, "Sec-Fetch-Site": "same-origin"}
        starts = [start for start, _ in slot_times()]
        async with http.post(url, json=booking_json(starts[1]), headers=own) as same:
            assert same.status == 202, await same.text()
            assert "Access-Control-Allow-Origin" not in same.headers
        async with http.post(url, json=booking_json(starts[2])) as plain:
            assert plain.status == 202, await plain.text()
    pending = redis_server.client()
    try:
        assert len(list(pending.scan_iter(f"tr:{{{practice.slug}}}:b:*"))) == 3
    finally:
        pending.close()


async def test_static_files_are_public_to_every_origin(relay: RunningRelay) -> None:
    """Every file under /static/ carries Access-Control-Allow-Origin: *, which a
    cross-origin <script integrity crossorigin> needs; an API answer does not."""
    async with aiohttp.ClientSession() as http:
        for name in ("embed.js", "frame.js", "booking-rules.json", "site.css"):
            async with http.get(
                f"{relay.url}/static/{name}", headers=cross_site(FOREIGN)
            ) as response:
                assert response.status == 200, name
                assert response.headers["Access-Control-Allow-Origin"] == "*", name
        async with http.get(f"{relay.url}/api/v1/relay-key", headers=cross_site(FOREIGN)) as key:
            assert "Access-Control-Allow-Origin" not in key.headers


async def test_requests_without_origin_are_left_as_they_were(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """No Origin, no CORS: the profile answers as before, with Vary naming both."""
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice)
        async with http.get(f"{relay.url}/api/v1/practices/{practice.slug}") as response:
            assert response.status == 200
            assert "Access-Control-Allow-Origin" not in response.headers
            assert response.headers["Vary"] == "Accept-Encoding, Origin"


# Form texts ------------------------------------------------------------------------------


async def form_texts(
    http: aiohttp.ClientSession, relay: RunningRelay, slug: str, query: str = "?lang=de"
) -> tuple[int, Any, Any]:
    url = f"{relay.url}/api/v1/practices/{slug}/form-texts{query}"
    async with http.get(url, headers=cross_site(EMBEDDER)) as response:
        body = await response.json() if response.status in (200, 404, 422) else None
        return response.status, body, response.headers


@pytest.mark.parametrize("lang", ["de", "en"])
async def test_form_texts_carry_the_forms_own_words(
    relay: RunningRelay, practice: PracticeHandle, lang: str
) -> None:
    """Labels, choice labels, yes/no, hints, sections and a message per validation code,
    in the language asked for, as the relay's own form words them."""
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice)
        status, body, headers = await form_texts(http, relay, practice.slug, f"?lang={lang}")
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == EMBEDDER
    assert body["lang"] == lang
    assert body["dir"] == "ltr"
    fields = body["fields"]
    assert set(fields) == {spec.name for spec in FIELDS}
    for spec in FIELDS:
        assert fields[spec.name]["label"] == spec.label[lang]
    assert fields["gender"]["choices"] == {
        choice: field("gender").choice_labels[choice][lang] for choice in field("gender").choices
    }
    assert fields["gender"]["control"] == "radio"
    assert fields["new_patient"]["choices"] == {
        "true": texts(lang).gettext("Yes"),
        "false": texts(lang).gettext("No"),
    }
    assert fields["consent"]["control"] == "checkbox"
    assert fields["doctor"]["control"] == "select"
    assert fields["email"]["hint"] == texts(lang).gettext(
        "We send the confirmation link to this address."
    )
    assert fields["email"]["autocomplete"] == "email"
    assert fields["note"]["hint"] == texts(lang).gettext(form.NOTE_HINT, max=1000)
    # The embedded form words the box per basis and the reminder's days itself.
    assert body["texts"]["acknowledgement_label"] == texts(lang).gettext(
        "I have read the privacy notice."
    )
    assert body["days"]["7"] == texts(lang).ngettext("%(num)s day", "%(num)s days", 7)
    assert fields["reminder"]["control"] == "checkbox"
    assert fields["gender"]["errors"]["required"] == error_message(
        "required", lang, field=field("gender")
    )
    assert fields["first_name"]["errors"]["too_long"] == error_message(
        "too_long", lang, field=field("first_name")
    )
    assert "100" in fields["first_name"]["errors"]["too_long"]
    assert fields["consent"]["summary_label"] == texts(lang).gettext("Consent")
    assert body["errors"] == {code: error_message(code, lang) for code in ERROR_MESSAGES}
    assert [(s["name"], tuple(s["fields"])) for s in body["sections"]] == list(SECTIONS)
    assert body["texts"]["sent_title"] == texts(lang).gettext(
        "Please confirm your request by email"
    )
    assert body["texts"]["yes"] == texts(lang).gettext("Yes")
    assert "{practice}" in body["texts"]["form_lead"]


async def test_form_texts_differ_by_language(relay: RunningRelay, practice: PracticeHandle) -> None:
    """German and English are two different bodies with two different tags."""
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice)
        _, german, german_headers = await form_texts(http, relay, practice.slug, "?lang=de")
        _, english, english_headers = await form_texts(http, relay, practice.slug, "?lang=en")
    assert german["fields"]["first_name"]["label"] == "Vorname"
    assert english["fields"]["first_name"]["label"] == "First name"
    assert german_headers["ETag"] != english_headers["ETag"]


async def test_form_texts_are_cacheable(relay: RunningRelay, practice: PracticeHandle) -> None:
    """Public with a max age and an ETag; If-None-Match with the tag answers 304; without
    ?lang= the language follows Accept-Language, and the answer says it varies by it."""
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice)
        url = f"{relay.url}/api/v1/practices/{practice.slug}/form-texts?lang=en"
        async with http.get(url) as first:
            assert first.status == 200
            etag = first.headers["ETag"]
            assert re.fullmatch(r'"[0-9a-f]{24}"', etag)
            assert first.headers["Cache-Control"] == "public, max-age=3600"
        for condition in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            async with http.get(url, headers={"If-None-Match": condition}) as again:
                assert again.status == 304, condition
                assert again.headers["ETag"] == etag
        async with http.get(url, headers={"If-None-Match": '"other"'}) as changed:
            assert changed.status == 200
        negotiated = f"{relay.url}/api/v1/practices/{practice.slug}/form-texts"
        async with http.get(negotiated, headers={"Accept-Language": "en-GB,en"}) as chosen:
            assert (await chosen.json())["lang"] == "en"
            assert chosen.headers["ETag"] == etag
            assert "Accept-Language" in chosen.headers["Vary"]


async def test_form_texts_refuse_other_languages_and_unknown_practices(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """?lang= other than de or en is a 422 naming `lang`; an unknown practice a 404,
    both JSON."""
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice)
        status, body, _ = await form_texts(http, relay, practice.slug, "?lang=fr")
        assert status == 422
        assert set(body["errors"]) == {"lang"}
        status, body, _ = await form_texts(http, relay, "praxis-unbekannt")
        assert status == 404
        assert "error" in body


def text_keys_read_by_embed_js() -> set[str]:
    """The page texts embed.js reads: key literals inside its `.t(…)` calls (ternaries
    included) and `texts.…`; field names compared there are not texts."""
    source = EMBED_JS.read_text(encoding="utf-8")
    keys = set(re.findall(r"\btexts\.([a-z0-9_]+)", source))
    for call in re.finditer(r"\.t\(", source):
        depth, end = 1, call.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(source[end], 0)
            end += 1
        keys |= set(re.findall(r'"([a-z0-9_]+)"', source[call.end() : end]))
    return keys - FIELD_NAMES


async def test_embed_js_asks_only_for_texts_the_relay_serves(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """Every text key embed.js reads is in form-texts, in both languages: a missing one
    would make the script give up and show the link to the relay's form."""
    used = text_keys_read_by_embed_js()
    assert {"form_title", "choose_slot_or_wish", "picker_all_types", "embed_fallback_link"} <= used
    async with aiohttp.ClientSession() as http:
        await publish(http, relay, practice)
        for lang in ("de", "en"):
            _, body, _ = await form_texts(http, relay, practice.slug, f"?lang={lang}")
            assert used - set(body["texts"]) == set(), lang


def test_embed_scripts_build_no_html_and_evaluate_nothing() -> None:
    """embed.js and frame.js make nodes and text only: no HTML parsed from strings, no
    code evaluated (the practice's CSP needs neither 'unsafe-inline' nor 'unsafe-eval')."""
    for name in ("embed.js", "frame.js"):
        source = (EMBED_JS.parent / name).read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
            assert sink not in source, (name, sink)
        assert not re.search(r"\beval\s*\(|new\s+Function\b|setTimeout\(\s*[\"']", source), name
        assert 'setAttribute("style"' not in source, name
