"""Clean text: line breaks, control and bidi characters refused per field; real scripts kept.

Over the real JSON API, the real HTML form, the practice API and the real command line.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from html import unescape
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from nacl.public import PrivateKey

from relay.errors import ValidationFailed
from relay.i18n.catalogs import texts
from relay.practice import registry
from relay.rules.text import one_line, single_line_problem
from relay.web.error_messages import ERROR_MESSAGES
from tests.conftest import PracticeHandle, RunningRelay, SmtpSink, link_in, subprocess_env
from tests.helpers import (
    DOCTORS,
    booking_json,
    drain_inbox,
    profile_json,
    put_profile,
    wish_booking_json,
)
from tests.test_pages import Page, form_post

# Each refused character class, with the code (and so the message) it earns in a
# single-line value.
SINGLE_LINE_BAD = {
    "line feed": ("\n", "line_break"),
    "carriage return": ("\r", "line_break"),
    "vertical tab": ("\x0b", "line_break"),
    "next line U+0085": ("\x85", "line_break"),
    "line separator U+2028": ("\u2028", "line_break"),
    "paragraph separator U+2029": ("\u2029", "line_break"),
    "tab": ("\t", "control_character"),
    "NUL": ("\x00", "control_character"),
    "escape": ("\x1b", "control_character"),
    "delete": ("\x7f", "control_character"),
    "C1 CSI U+009B": ("\x9b", "control_character"),
    "zero-width space U+200B": ("\u200b", "control_character"),
    "byte order mark U+FEFF": ("\ufeff", "control_character"),
    "tag character U+E0041": ("\U000e0041", "control_character"),
    "LRE U+202A": ("\u202a", "bidi_control"),
    "PDF U+202C": ("\u202c", "bidi_control"),
    "RLO U+202E": ("\u202e", "bidi_control"),
    "LRI U+2066": ("\u2066", "bidi_control"),
    "PDI U+2069": ("\u2069", "bidi_control"),
    "RLM U+200F": ("\u200f", "bidi_control"),
}
# The note may hold line breaks, but nothing else of the above.
NOTE_BAD = {
    "tab": ("\t", "control_character"),
    "NUL": ("\x00", "control_character"),
    "vertical tab": ("\x0b", "control_character"),
    "form feed": ("\x0c", "control_character"),
    "escape": ("\x1b", "control_character"),
    "RLO U+202E": ("\u202e", "bidi_control"),
    "RLI U+2067": ("\u2067", "bidi_control"),
}
# Real names and text in several scripts; ZWNJ (Persian) and ZWJ (emoji) are needed.
GOOD = {
    "first_name": "Zoë-Françoise",
    "last_name": "Müller-Şahin Ñúñez",
    "note": (
        "Arabic: محمد عبد الله\nHebrew: שרה כהן\nPersian: می\u200cخواهم\n"
        "Emoji: 👩\u200d⚕️ 👨\u200d👩\u200d👧 🇩🇪"
    ),
}

EN = {"Accept-Language": "en"}


def message(code: str, lang: str = "en") -> str:
    return texts(lang).gettext(ERROR_MESSAGES[code])


def ids(cases: dict[str, tuple[str, str]]) -> list[str]:
    return list(cases)


@pytest.fixture
async def relay(relay_factory: Any) -> RunningRelay:
    """A relay whose rate limit leaves room for the many accepted submissions here."""
    running: RunningRelay = await relay_factory(submit_limit=1000)
    return running


@pytest.fixture
async def published(relay: RunningRelay, practice: PracticeHandle) -> PracticeHandle:
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
    return practice


async def api_errors(
    http: aiohttp.ClientSession, relay: RunningRelay, slug: str, booking: dict[str, Any]
) -> dict[str, str]:
    """The per-field errors of a submission that must be refused."""
    async with http.post(
        f"{relay.url}/api/v1/practices/{slug}/bookings", json=booking, headers=EN
    ) as response:
        body = await response.json()
        assert response.status == 422, body
    errors: dict[str, str] = body["errors"]
    return errors


@pytest.mark.parametrize(("char", "code"), SINGLE_LINE_BAD.values(), ids=ids(SINGLE_LINE_BAD))
async def test_api_refuses_each_bad_character_in_every_single_line_field(
    relay: RunningRelay, published: PracticeHandle, char: str, code: str
) -> None:
    """Names, doctor and appointment type each get 422 with the class's message."""
    async with aiohttp.ClientSession() as http:
        for name, good in (
            ("first_name", "Erika"),
            ("last_name", "Mustermann"),
            ("doctor", DOCTORS[0]),
            ("appointment_type", "Erstgespräch"),
        ):
            bad = good[:3] + char + good[3:]
            errors = await api_errors(http, relay, published.slug, booking_json(**{name: bad}))
            assert errors == {name: message(code)}, name


@pytest.mark.parametrize(("char", "code"), NOTE_BAD.values(), ids=ids(NOTE_BAD))
async def test_api_refuses_controls_and_bidi_in_the_note(
    relay: RunningRelay, published: PracticeHandle, char: str, code: str
) -> None:
    """The note keeps line breaks but refuses other controls and bidi characters."""
    async with aiohttp.ClientSession() as http:
        errors = await api_errors(
            http, relay, published.slug, booking_json(note=f"Zeile eins\nZeile {char}zwei")
        )
    assert errors == {"note": message(code)}


async def test_api_messages_follow_the_language(
    relay: RunningRelay, published: PracticeHandle
) -> None:
    """Without a language asked for, the per-field message is German."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{relay.url}/api/v1/practices/{published.slug}/bookings",
            json=booking_json(last_name="Muster\u2028mann", first_name="Eri\u202eka"),
        ) as response,
    ):
        assert response.status == 422
        errors = (await response.json())["errors"]
    assert errors == {
        "last_name": message("line_break", "de"),
        "first_name": message("bidi_control", "de"),
    }


async def test_good_text_in_many_scripts_arrives_intact(
    relay: RunningRelay, published: PracticeHandle, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """Given umlauts, accents, Arabic, Hebrew, ZWNJ and ZWJ emoji, when submitted (with
    CRLF and U+2028 line breaks in the note), confirmed and fetched, then the practice's
    file holds the text as written, line breaks as "\\n"."""
    booking = booking_json(
        first_name=GOOD["first_name"],
        last_name=GOOD["last_name"],
        note="{}\r\n{}\u2028{}\u2029{}".format(*GOOD["note"].split("\n")),
    )
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{relay.url}/api/v1/practices/{published.slug}/bookings", json=booking
        ) as response:
            assert response.status == 202, await response.text()
        (mail,) = await smtp_sink.wait_for(1)
        async with http.post(link_in(mail), data={"action": "confirm"}) as confirmed:
            assert confirmed.status == 200
    out = tmp_path / "out"
    out.mkdir()
    await drain_inbox(relay.url, published.token, published.key_file, out)
    (received,) = [json.loads(path.read_text()) for path in out.glob("*.json")]
    assert received["first_name"] == GOOD["first_name"]
    assert received["last_name"] == GOOD["last_name"]
    assert received["note"] == GOOD["note"]


async def form_page(
    http: aiohttp.ClientSession, relay: RunningRelay, slug: str, posted: dict[str, str]
) -> str:
    async with http.post(f"{relay.url}/p/{slug}?lang=en", data=posted) as response:
        html = await response.text()
        assert response.status == 422, html
    return html


def error_beside(html: str, name: str) -> str:
    """The text of the error message the form shows beside field `name`."""
    found = re.search(rf'<p class="error-message" id="error-{name}">(.*?)</p>', html, re.S)
    assert found, f"no error message beside {name}"
    return " ".join(re.sub(r"<[^>]+>", " ", unescape(found.group(1))).split())


async def test_form_shows_the_message_beside_each_bad_field(
    relay: RunningRelay, published: PracticeHandle
) -> None:
    """The HTML form answers 422 with each field's own message beside it, values kept."""
    posted = form_post(
        booking_json(),
        first_name="Eri\u2028ka",
        last_name="Muster\u202emann",
        note="Bitte\x07klingeln",
    )
    async with aiohttp.ClientSession() as http:
        html = await form_page(http, relay, published.slug, posted)
    assert message("line_break") in error_beside(html, "first_name")
    assert message("bidi_control") in error_beside(html, "last_name")
    assert message("control_character") in error_beside(html, "note")
    page = Page(html)
    assert page.by_id("field-first_name")["aria-invalid"] == "true"
    assert page.by_id("field-last_name")["value"] == "Muster\u202emann"
    assert "aria-invalid" not in page.by_id("field-email")


@pytest.mark.parametrize(
    ("changes", "path", "code"),
    [
        ({"name": "Praxis\nDr. Beispiel"}, "name", "line_break"),
        ({"name": "Praxis\u202eDr. Beispiel"}, "name", "bidi_control"),
        ({"doctors": [DOCTORS[0], "Dr. B.\u2029Muster"]}, "doctors[1]", "line_break"),
        (
            {"appointment_types": [{"name": "Erst\u2066gespräch", "minutes": 20}]},
            "appointment_types[0].name",
            "bidi_control",
        ),
        ({"doctors": ["Dr. \x1bA"]}, "doctors[0]", "control_character"),
    ],
)
async def test_profile_put_refuses_bad_characters_naming_the_field(
    relay: RunningRelay,
    practice: PracticeHandle,
    changes: dict[str, Any],
    path: str,
    code: str,
) -> None:
    """PUT /api/v1/profile answers 422 naming the field; the stored profile is unchanged."""
    profile = {**profile_json(), **changes}
    if "doctors" in changes or "appointment_types" in changes:
        profile["slots"] = []
    async with aiohttp.ClientSession() as http:
        async with http.put(
            f"{relay.url}/api/v1/profile",
            json=profile,
            headers={**practice.auth, **EN},
        ) as response:
            body = await response.json()
            assert response.status == 422, body
        assert body["errors"] == {path: message(code)}
        async with http.get(f"{relay.url}/api/v1/practices/{practice.slug}") as public:
            assert (await public.json())["name"] == practice.name


async def test_slot_doctor_with_a_line_break_is_refused(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """A slot's doctor is a single-line value like the doctor list."""
    profile = profile_json()
    profile["slots"][0]["doctor"] = "Dr. A.\nBeispiel"
    async with (
        aiohttp.ClientSession() as http,
        http.put(
            f"{relay.url}/api/v1/profile", json=profile, headers={**practice.auth, **EN}
        ) as response,
    ):
        assert response.status == 422
        assert (await response.json())["errors"] == {"slots[0].doctor": message("line_break")}


def relay_command(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m relay ARGS` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "relay", *args],
        env=subprocess_env(RELAY_REDIS_URL=redis_url),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Praxis\nDr. Beispiel", "line break (U+000A) at character 7"),
        ("Praxis\u2028Dr. Beispiel", "line break (U+2028) at character 7"),
        ("Praxis \u202eleipsieB .rD", "bidirectional control character (U+202E)"),
        ("Praxis\x07", "control character (U+0007)"),
        ("   ", "is empty"),
        ("P" * 201, "longer than 200 characters"),
    ],
)
def test_cli_refuses_a_bad_practice_name_in_one_line(redis_url: str, name: str, shown: str) -> None:
    """`relay practice add --name` exits 1 with one line naming the problem; nothing added."""
    key = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode()
    added = relay_command(
        redis_url, "practice", "add", "praxis", "--name", name, "--public-key", key
    )
    assert added.returncode == 1
    assert added.stdout == ""
    (line,) = added.stderr.splitlines()
    assert line.startswith("relay: --name ")
    assert shown in line
    assert relay_command(redis_url, "practice", "list").stdout == ""


def test_cli_accepts_names_in_any_script(redis_url: str) -> None:
    """Umlauts, accents and right-to-left letters make a fine practice name."""
    key = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode()
    name = "Praxis Dr. Müller-Şahin · عيادة · מרפאה"
    added = relay_command(
        redis_url, "practice", "add", "praxis", "--name", name, "--public-key", key
    )
    assert added.returncode == 0, added.stderr
    assert relay_command(redis_url, "practice", "list").stdout.split("\t")[1] == name


async def test_registry_refuses_a_bad_name_for_every_caller(relay: RunningRelay) -> None:
    """registry.add_practice (also used by relay dev) checks the name itself."""
    with pytest.raises(ValidationFailed) as refused:
        await registry.add_practice(
            relay.store, "praxis", name="Praxis\r\nBcc: x@example.org", public_key=bytes(32)
        )
    assert refused.value.errors == {"name": "line_break"}
    assert await registry.list_practices(relay.store) == []


async def test_a_name_stored_before_the_rule_still_gets_its_mail(
    relay: RunningRelay, smtp_sink: SmtpSink
) -> None:
    """Given a practice whose stored name has a line break (registered before the check),
    a submission still sends its confirmation mail, with a one-line Subject."""
    handle = await relay.add_practice("praxis-alt", "Praxis Alt")
    await relay.store.set_practice_field(
        handle.slug, "name", "Praxis Alt\nBcc: someone@example.org"
    )
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{relay.url}/api/v1/practices/{handle.slug}/bookings",
            json=wish_booking_json(),
        ) as response,
    ):
        assert response.status == 202, await response.text()
    (mail,) = await smtp_sink.wait_for(1)
    assert "Praxis Alt Bcc: someone@example.org" in mail["Subject"]
    assert "\n" not in str(mail["Subject"])
    assert mail["Bcc"] is None


@pytest.mark.parametrize(
    ("value", "kind", "position"),
    [
        ("Erika", None, None),
        ("Zoë Ñúñez", None, None),
        ("محمد", None, None),
        ("می\u200cخواهم", None, None),
        ("👩\u200d⚕️", None, None),
        ("ab\ncd", "line_break", 2),
        ("a\u2029", "line_break", 1),
        ("x\u202ey", "bidi_control", 1),
        ("x\u061cy", "bidi_control", 1),
        ("\u00ad", "control_character", 0),
        ("ok\ud800", "invalid", 2),
    ],
)
def test_single_line_rule(value: str, kind: str | None, position: int | None) -> None:
    """relay/rules/text.py: the first refused character, its class and position; letters pass."""
    problem = single_line_problem(value)
    if kind is None:
        assert problem is None
    else:
        assert problem is not None
        assert (problem.kind, problem.position) == (kind, position)


def test_one_line_makes_any_value_safe_for_a_header() -> None:
    """one_line turns every refused character into a space and collapses white space."""
    assert one_line("Praxis\r\n\u2028Dr.\u202e  Beispiel\x00") == "Praxis Dr. Beispiel"
    assert one_line("Müller · عيادة") == "Müller · عيادة"
