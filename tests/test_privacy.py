"""The privacy notices: /privacy and /p/{practice}/privacy, generated from the field list
the validator uses, the settings the relay runs with and the practice's profile."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import html as html_module
import json
import re
import subprocess
import sys
from typing import Any

import aiohttp
import pytest

from relay.booking.fields import FIELD_NAMES, FIELDS, worded
from relay.errors import SettingsError
from relay.i18n.catalogs import texts
from relay.settings import OperatorSettings, Settings
from tests.conftest import (
    PracticeHandle,
    RelayFactory,
    RunningRelay,
    free_port,
    subprocess_env,
)
from tests.helpers import profile_json, put_profile, wait_until_async
from tests.test_practice_details import DETAILS


async def privacy_html(relay: RunningRelay, lang: str) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{relay.url}/privacy", params={"lang": lang}) as response,
    ):
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"
        return await response.text()


@pytest.mark.parametrize("lang", ["de", "en"])
async def test_privacy_page_lists_exactly_the_validators_fields(
    relay: RunningRelay, lang: str
) -> None:
    """Each field of relay.fields is listed once with its label and purpose; nothing else."""
    html = await privacy_html(relay, lang)
    listed = re.findall(r'data-field="([^"]+)"', html)
    assert sorted(listed) == sorted(FIELD_NAMES)
    assert len(listed) == len(set(listed))
    # Worded for the default basis, the contract: the consent box an acknowledgement.
    for spec in (worded(f, "contract") for f in FIELDS):
        block = html[html.index(f'data-field="{spec.name}"') :]
        block = block[: block.index("</div>")]
        assert spec.label[lang] in html_module.unescape(block)
        assert spec.purpose[lang] in html_module.unescape(block)


@pytest.mark.parametrize(
    ("lang", "phrases"),
    [
        (
            "de",
            [
                "höchstens 60 Minuten",
                "Art. 15",
                "Art. 21",
                "Aufsichtsbehörde",
                "zurückziehen",
                "verschlüsselt",
                "gelöscht",
            ],
        ),
        (
            "en",
            [
                "at most 60 minutes",
                "Art. 15",
                "Art. 21",
                "supervisory authority",
                "withdraw",
                "encrypted",
                "deleted",
            ],
        ),
    ],
)
async def test_privacy_page_states_ttl_rights_and_withdrawal(
    relay: RunningRelay, lang: str, phrases: list[str]
) -> None:
    """The page says how long a request is held, that it is sealed, and the patient's rights."""
    html = await privacy_html(relay, lang)
    for phrase in phrases:
        assert phrase in html, phrase


async def test_privacy_page_uses_the_configured_ttl(relay_factory: Any) -> None:
    """A shorter RELAY_PENDING_TTL is what the page states."""
    relay = await relay_factory(pending_ttl=900)
    html = await privacy_html(relay, "en")
    pending = text_of(element(html, r'<div data-retention="pending">'))
    assert "at most 15 minutes" in pending
    assert "60 minutes" not in pending


# The per-practice notice: every item of Art. 13 GDPR --------------------------------------

OPERATOR = OperatorSettings(
    name="Relaybetrieb Muster GmbH",
    address="Betreiberweg 7, 20095 Hamburg",
    email="datenschutz@relay-betrieb.example",
    phone="+49 40 7654321",
    data_protection_officer="Dr. Ole Wächter, dsb@relay-betrieb.example",
    imprint_url="https://relay-betrieb.example/impressum",
    log_retention_days=30,
    mail_provider="Postbote Mail AG, Köln",
    third_country_transfer=None,
    supervisory_authority_name="Hamburgische Beauftragte für Datenschutz",
    supervisory_authority_url="https://datenschutz-hamburg.example/",
)
# Each Art. 13 item as the notice words it, per language: the legal bases (13(1)(c)),
# the rights (13(2)(b)-(d)), the obligation to provide and automated decisions (13(2)(e)-(f)).
LEGAL_TEXT = {
    "de": {
        "consent": ["Art. 6 Abs. 1 lit. a", "Art. 9 Abs. 2 lit. a"],
        "contract": ["Art. 6 Abs. 1 lit. b", "Art. 9 Abs. 2 lit. h", "§ 22", "BDSG"],
        "legitimate": ["Art. 6 Abs. 1 lit. f", "berechtigte Interesse"],
        "rights": [
            "Art. 15 DSGVO",
            "Art. 16 DSGVO",
            "Art. 17 DSGVO",
            "Art. 18 DSGVO",
            "Art. 20 DSGVO",
            "Art. 21 DSGVO",
            "Art. 7 Abs. 3 DSGVO",
            "Art. 77 DSGVO",
        ],
        "obligation": ["weder gesetzlich noch vertraglich verpflichtet", "Art. 22 DSGVO"],
        "processor": "Auftragsverarbeiter (Art. 28 DSGVO)",
        "no_transfer": "nicht in Länder außerhalb der Europäischen Union",
        "pending": "höchstens 15 Minuten",
        "inbox": "höchstens 7 Tage",
        "cancel": "bis der Termin beginnt",
        "answer": "höchstens 60 Minuten",
        "logs": "30 Tage",
        "rate": "10 Minuten",
    },
    "en": {
        "consent": ["Art. 6(1)(a)", "Art. 9(2)(a)"],
        "contract": ["Art. 6(1)(b)", "Art. 9(2)(h)", "§ 22", "BDSG"],
        "legitimate": ["Art. 6(1)(f)", "legitimate interest"],
        "rights": [
            "Art. 15 GDPR",
            "Art. 16 GDPR",
            "Art. 17 GDPR",
            "Art. 18 GDPR",
            "Art. 20 GDPR",
            "Art. 21 GDPR",
            "Art. 7(3) GDPR",
            "Art. 77 GDPR",
        ],
        "obligation": ["no legal or contractual obligation", "Art. 22 GDPR"],
        "processor": "processor (Art. 28 GDPR)",
        "no_transfer": "not transferred to countries outside the European Union",
        "pending": "at most 15 minutes",
        "inbox": "at most 7 days",
        "cancel": "until the appointment starts",
        "answer": "at most 60 minutes",
        "logs": "30 days",
        "rate": "10 minutes",
    },
}


def text_of(fragment: str) -> str:
    """Visible text of an HTML fragment, tags dropped and white space collapsed."""
    return " ".join(html_module.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def element(html: str, pattern: str) -> str:
    """The first element opened by `pattern` (a regex for its start tag) up to its end tag."""
    found = re.search(pattern + r"(.*?)</(address|div|li|p)>", html, re.S)
    assert found, f"no element matching {pattern}"
    return found.group(1)


async def notice_html(relay: RunningRelay, slug: str, lang: str) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{relay.url}/p/{slug}/privacy", params={"lang": lang}) as response,
    ):
        assert response.status == 200, await response.text()
        assert response.headers["Cache-Control"] == "no-store"
        return await response.text()


async def publish_details(relay: RunningRelay, practice: PracticeHandle) -> None:
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, {**profile_json(), "details": DETAILS})


@pytest.mark.parametrize("lang", ["de", "en"])
async def test_practice_notice_states_every_art13_item(
    relay_factory: RelayFactory, lang: str
) -> None:
    """Given operator settings, TTLs and a profile with details, the notice names the
    controller, its officer, the operator as processor, purposes and legal bases, each
    retention figure, the recipients, no third-country transfer, every right with whom to
    contact, the supervisory authorities and the imprint: all values from those sources."""
    relay = await relay_factory(operator=OPERATOR, pending_ttl=900, inbox_ttl=7 * 86400)
    practice = await relay.add_practice()
    await publish_details(relay, practice)
    html = await notice_html(relay, practice.slug, lang)
    expected = LEGAL_TEXT[lang]
    page = text_of(html)

    # Art. 13(1)(a): the controller, from the profile.
    controller = text_of(element(html, r'<address class="contact-card" id="controller-contact">'))
    for value in [practice.name, DETAILS["controller"], *DETAILS["address"]]:
        assert value in controller
    for value in [DETAILS["phone"], DETAILS["email"], DETAILS["website"]]:
        assert value in controller
    assert f'href="mailto:{DETAILS["email"]}"' in html
    assert 'href="tel:+49301234567"' in html
    # Art. 13(1)(b): the data protection officer.
    officer = text_of(element(html, r'<address class="contact-card" id="officer-contact">'))
    assert DETAILS["data_protection_officer"]["name"] in officer
    assert DETAILS["data_protection_officer"]["email"] in officer
    # The operator as processor, from RELAY_OPERATOR_*, with its own officer.
    operator = text_of(element(html, r'<address class="contact-card" id="operator-contact">'))
    for value in [OPERATOR.name, OPERATOR.address, OPERATOR.email, OPERATOR.phone]:
        assert value is not None
        assert value in operator
    assert expected["processor"] in page
    assert OPERATOR.data_protection_officer in text_of(
        element(html, r'<span id="operator-officer">')
    )
    # Art. 13(1)(c): purposes and legal bases.
    # The default basis, the contract (the Datenschutzkonferenz's of 2025), and not consent.
    booking_purpose = text_of(element(html, r'<div data-purpose="booking">'))
    assert all(basis in booking_purpose for basis in expected["contract"])
    assert 'data-basis="consent"' not in html
    for purpose in ("logs", "rate"):
        text = text_of(element(html, rf'<div data-purpose="{purpose}">'))
        assert all(basis in text for basis in expected["legitimate"]), purpose
    # Art. 13(2)(a): each data class with its period, from the settings.
    rows = re.findall(r'data-retention="([^"]+)"', html)
    assert rows == ["pending", "inbox", "cancel", "answer", "reminder", "logs", "rate", "practice"]
    for name in ("pending", "inbox", "cancel", "answer", "logs", "rate"):
        assert expected[name] in text_of(element(html, rf'<div data-retention="{name}">')), name
    # Art. 13(1)(e) recipients, 13(1)(f) no transfer outside the EU/EEA.
    assert OPERATOR.mail_provider in text_of(element(html, r'<li id="recipient-mail">'))
    assert expected["no_transfer"] in text_of(element(html, r'<p id="transfer">'))
    # Art. 13(2)(b)-(f): every right, the obligation, no automated decisions.
    for phrase in expected["rights"] + expected["obligation"]:
        assert phrase in page, phrase
    # Whom to contact: the practice for the booking, the operator for the logs.
    assert DETAILS["email"] in text_of(
        element(html, r'<address class="contact-card" id="booking-contact">')
    )
    assert OPERATOR.email in text_of(
        element(html, r'<address class="contact-card" id="logs-contact">')
    )
    # Art. 13(2)(d): the supervisory authorities, the practice's and the operator's.
    authority = DETAILS["supervisory_authority"]
    assert f'<a href="{authority["url"]}" rel="noopener noreferrer">{authority["name"]}</a>' in html
    assert f'href="{OPERATOR.supervisory_authority_url}"' in html
    assert OPERATOR.supervisory_authority_name in page
    # The imprint, on the notice and in the footer.
    assert html.count(f'href="{OPERATOR.imprint_url}"') == 2
    # What is collected: the one field list, as on /privacy.
    assert sorted(re.findall(r'data-field="([^"]+)"', html)) == sorted(FIELD_NAMES)


@pytest.mark.parametrize("lang", ["de", "en"])
async def test_practice_notice_without_details_or_operator_settings_says_so(
    relay: RunningRelay, practice: PracticeHandle, lang: str
) -> None:
    """With nothing configured the notice still names the practice, and says plainly what
    is not stated instead of leaving gaps or inventing values."""
    html = await notice_html(relay, practice.slug, lang)
    page = text_of(html)
    assert practice.name in text_of(
        element(html, r'<address class="contact-card" id="controller-contact">')
    )
    for message in (
        (
            "The practice has not given its address or contact details "
            "here yet. Please ask at the practice."
        ),
        (
            "The practice has not named a data protection officer here. "
            "Please send questions about data protection to the practice "
            "directly."
        ),
        "The operator has not given its name and address here yet.",
        "as long as the operator keeps its logs; it has not stated a period yet",
        (
            "The mail server through which the operator sends the "
            "confirmation email. It receives your email address and the "
            "email with the practice's name and the link, but no health "
            "data."
        ),
        (
            "Your details are not transferred to countries outside the "
            "European Union (EU) and the European Economic Area (EEA)."
        ),
    ):
        assert texts(lang).gettext(message) in page, message
    assert 'id="imprint"' not in html
    assert 'id="operator-contact"' not in html


async def test_configured_third_country_transfer_is_stated(relay_factory: RelayFactory) -> None:
    """RELAY_THIRD_COUNTRY_TRANSFER replaces "no transfer" with the operator's statement."""
    transfer = "Postbote Mail Inc., USA, EU-US Data Privacy Framework"
    relay = await relay_factory(
        operator=dataclasses.replace(OPERATOR, third_country_transfer=transfer)
    )
    practice = await relay.add_practice()
    html = await notice_html(relay, practice.slug, "en")
    stated = text_of(element(html, r'<p id="transfer">'))
    assert transfer in stated
    assert "not transferred" not in stated


async def test_practice_notice_of_an_unknown_practice_is_404(relay: RunningRelay) -> None:
    """/p/{unknown}/privacy answers 404 with the error page, not a notice."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{relay.url}/p/no-such-practice/privacy", params={"lang": "en"}) as response,
    ):
        assert response.status == 404
        html = await response.text()
    assert texts("en").gettext("Not found") in html
    assert "data-retention" not in html


async def test_booking_form_links_the_practice_notice(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """The consent and the footer of the booking form link /p/{practice}/privacy in the
    form's language, not the general /privacy."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{relay.url}/p/{practice.slug}", params={"lang": "en"}) as response,
    ):
        assert response.status == 200
        html = await response.text()
    notice = f"/p/{practice.slug}/privacy?lang=en"
    consent = element(html, r'<label for="field-consent">')
    assert f'href="{notice}"' in consent
    assert html.count(f'href="{notice}"') == 2
    assert 'href="/privacy' not in html


async def test_general_notice_names_the_operator_and_points_to_practice_notices(
    relay_factory: RelayFactory,
) -> None:
    """/privacy names the operator and its imprint, and sends patients to the practice's
    own notice for the controller."""
    relay = await relay_factory(operator=OPERATOR)
    html = await privacy_html(relay, "de")
    operator = text_of(element(html, r'<address class="contact-card" id="operator-contact">'))
    assert OPERATOR.name is not None
    assert OPERATOR.name in operator
    assert texts("de").gettext(
        "The practice you request the appointment from is responsible "
        "(controller) for processing your request. The practice's "
        "name, address and contact details, and those of its data "
        "protection officer, are in the practice's own privacy "
        "notice, linked from the consent in its appointment form."
    ) in text_of(html)
    assert f'id="imprint" href="{OPERATOR.imprint_url}"' in html
    assert 'id="controller-contact"' not in html


# Operator settings and the start-up warning -----------------------------------------------

SERVE_ENV = {
    "RELAY_SMTP_URL": "smtp://127.0.0.1:1",
    "RELAY_MAIL_FROM": "termine@relay.test",
    "RELAY_SIGNING_KEY": base64.b64encode(bytes(32)).decode(),
    "RELAY_DATA_KEYS": base64.b64encode(bytes(32)).decode(),
}


def test_operator_settings_are_read_from_the_environment() -> None:
    """Every RELAY_OPERATOR_* variable lands in Settings.operator; none is missing then."""
    env = {
        **SERVE_ENV,
        "RELAY_REDIS_URL": "redis://127.0.0.1:1/0",
        "RELAY_OPERATOR_NAME": OPERATOR.name or "",
        "RELAY_OPERATOR_ADDRESS": OPERATOR.address or "",
        "RELAY_OPERATOR_EMAIL": OPERATOR.email or "",
        "RELAY_OPERATOR_PHONE": OPERATOR.phone or "",
        "RELAY_OPERATOR_DPO": OPERATOR.data_protection_officer or "",
        "RELAY_IMPRINT_URL": OPERATOR.imprint_url or "",
        "RELAY_LOG_RETENTION_DAYS": "30",
        "RELAY_OPERATOR_MAIL_PROVIDER": OPERATOR.mail_provider or "",
        "RELAY_SUPERVISORY_AUTHORITY_NAME": OPERATOR.supervisory_authority_name or "",
        "RELAY_SUPERVISORY_AUTHORITY_URL": OPERATOR.supervisory_authority_url or "",
    }
    operator = Settings.from_env(env).operator
    assert operator == OPERATOR
    assert operator.missing_variables() == []


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RELAY_IMPRINT_URL", "javascript:alert(1)", "is not an http(s) URL"),
        ("RELAY_SUPERVISORY_AUTHORITY_URL", "ftp://lfd.example", "is not an http(s) URL"),
        ("RELAY_OPERATOR_EMAIL", "datenschutz at example", "is not an e-mail address"),
        ("RELAY_OPERATOR_PHONE", "ring ring", "is not a phone number"),
        ("RELAY_OPERATOR_NAME", "Muster\u202eGmbH", "bidirectional control"),
        ("RELAY_LOG_RETENTION_DAYS", "0", "outside 1..3650"),
        ("RELAY_LOG_RETENTION_DAYS", "a week", "not a whole number"),
    ],
)
def test_bad_operator_settings_stop_startup_naming_the_variable(
    name: str, value: str, message: str
) -> None:
    """A malformed operator setting is a SettingsError that names the variable."""
    env = {**SERVE_ENV, "RELAY_REDIS_URL": "redis://127.0.0.1:1/0", name: value}
    with pytest.raises(SettingsError) as error:
        Settings.from_env(env)
    assert str(error.value).startswith(f"{name}: ")
    assert message in str(error.value)


async def test_serve_warns_in_one_line_which_notice_settings_are_missing(
    redis_url: str,
) -> None:
    """Given `relay serve` with some operator settings, one WARNING line at start-up names
    exactly the missing ones, and the relay runs."""
    port = free_port()
    env = subprocess_env(
        **SERVE_ENV,
        RELAY_REDIS_URL=redis_url,
        RELAY_PORT=str(port),
        RELAY_OPERATOR_NAME="Relaybetrieb Muster GmbH",
        RELAY_OPERATOR_EMAIL="datenschutz@relay-betrieb.example",
        RELAY_LOG_RETENTION_DAYS="14",
    )
    process = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "relay", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        async with aiohttp.ClientSession() as http:

            async def ready() -> bool:
                if process.poll() is not None:
                    pytest.fail(f"relay serve exited {process.returncode}")
                async with http.get(f"http://127.0.0.1:{port}/readyz") as answer:
                    return answer.status == 200

            await wait_until_async(ready, f"relay serve on port {port} to answer /readyz")
    finally:
        process.terminate()
        stdout, _ = await asyncio.to_thread(process.communicate, timeout=10)
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    warnings = [line for line in lines if "privacy notice" in line["event"]]
    assert len(warnings) == 1, lines
    assert warnings[0]["level"] == "WARNING"
    assert warnings[0]["event"] == (
        "privacy notice incomplete: RELAY_OPERATOR_ADDRESS, RELAY_IMPRINT_URL not set"
    )


async def basis_notice(
    relay: RunningRelay, practice: PracticeHandle, lang: str, **profile: object
) -> str:
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, {**profile_json(), **profile})
    return await notice_html(relay, practice.slug, lang)


@pytest.mark.parametrize("lang", ["de", "en"])
async def test_practice_notice_on_consent_states_consent(
    relay: RunningRelay, practice: PracticeHandle, lang: str
) -> None:
    """A practice on consent: the booking's basis is Art. 6(1)(a)/9(2)(a), the consent box
    is listed as consent, and the withdrawal section speaks of withdrawing consent."""
    html = await basis_notice(relay, practice, lang, legal_basis="consent")
    expected = LEGAL_TEXT[lang]
    booking_purpose = text_of(element(html, r'<div data-purpose="booking">'))
    assert all(basis in booking_purpose for basis in expected["consent"])
    assert not any(basis in booking_purpose for basis in expected["contract"])
    consent_row = text_of(element(html, r'<div data-field="consent">'))
    assert FIELDS[-2].label[lang] in consent_row
    assert 'data-basis="contract"' not in html
    assert 'data-basis="consent"' in html


@pytest.mark.parametrize("lang", ["de", "en"])
async def test_practice_notice_on_contract_lists_the_acknowledgement(
    relay: RunningRelay, practice: PracticeHandle, lang: str
) -> None:
    """The default basis: the consent box is an acknowledgement, the basis the contract,
    the withdrawal section the cancel link rather than withdrawing a consent."""
    html = await basis_notice(relay, practice, lang)
    consent_row = text_of(element(html, r'<div data-field="consent">'))
    assert worded(FIELDS[-2], "contract").label[lang] in consent_row
    assert all(basis in consent_row for basis in LEGAL_TEXT[lang]["contract"][:2])
    withdrawal = text_of(element(html, r'<p data-basis="contract">'))
    assert ("absagen" if lang == "de" else "cancel the appointment") in withdrawal


@pytest.mark.parametrize("lang", ["de", "en"])
async def test_general_notice_describes_both_bases(relay: RunningRelay, lang: str) -> None:
    """/privacy names no practice, so it describes the contract and consent both."""
    html = await privacy_html(relay, lang)
    booking_purpose = text_of(element(html, r'<div data-purpose="booking">'))
    assert 'data-basis="contract"' in html
    assert 'data-basis="consent"' in html
    page = text_of(html)
    for basis in LEGAL_TEXT[lang]["contract"] + LEGAL_TEXT[lang]["consent"]:
        assert basis in page, basis
    assert booking_purpose


REMINDER_TEXT = {
    "de": {
        "data": ["E-Mail-Adresse", "Praxis", "Datum", "Uhrzeit"],
        "basis": ["Einwilligung", "Art. 6 Abs. 1 lit. a", "Art. 9 Abs. 2 lit. a", "widerrufen"],
        "retention": [
            "bei der Praxis",
            "verschlüsselt nur, bis sie gesendet ist",
            "Nach dem Termin",
        ],
        "when": "Wir senden Erinnerungen 7 Tage und 1 Tag vor dem Termin.",
        "none": "Diese Praxis versendet keine Erinnerungen.",
    },
    "en": {
        "data": ["e-mail address", "practice", "date", "time"],
        "basis": ["consent", "Art. 6(1)(a)", "Art. 9(2)(a)", "withdraw"],
        "retention": [
            "kept by the practice",
            "encrypted, only until it is sent",
            "after the appointment",
        ],
        "when": "We send reminders 7 days and 1 day before the appointment.",
        "none": "This practice sends no reminders.",
    },
}


@pytest.mark.parametrize("lang", ["de", "en"])
async def test_practice_notice_has_a_reminder_section(
    relay: RunningRelay, practice: PracticeHandle, lang: str
) -> None:
    """The reminders: their data, purpose, basis (a consent of its own, withdrawn with the
    link in every reminder), retention, and when this practice sends them."""
    expected = REMINDER_TEXT[lang]
    html = await basis_notice(relay, practice, lang, reminder_days=[7, 1])
    section = text_of(element(html, r'<div data-purpose="reminder" id="reminders">'))
    for phrase in expected["data"] + expected["basis"]:
        assert phrase in section, phrase
    retention = text_of(element(html, r'<div data-retention="reminder">'))
    for phrase in expected["retention"]:
        assert phrase in retention, phrase
    assert expected["when"] in text_of(element(html, r'<dd id="reminder-when">'))
    assert text_of(element(html, r'<p id="withdraw-reminder">'))
    without = await basis_notice(relay, practice, lang)
    assert expected["none"] in text_of(element(without, r'<dd id="reminder-when">'))
