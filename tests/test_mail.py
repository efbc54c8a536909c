"""The confirmation mail: content, language, queue, retries, and no blocking of submits."""

from __future__ import annotations

import email
import email.policy
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from markupsafe import Markup, escape

from relay.i18n.catalogs import texts
from relay.i18n.templates import gettext_context
from relay.mail.compose import (
    ConfirmationMail,
    plain_gettext_context,
    subject,
    templates,
)
from relay.practice.localtime import format_datetime
from relay.settings import SmtpSettings
from relay.storage.store import mail_queue_key
from tests.conftest import PracticeHandle, RelayFactory, RunningRelay, SmtpSink, free_port, link_in
from tests.helpers import (
    booking_json,
    profile_json,
    put_profile,
    submit,
    wait_until_async,
    wish_booking_json,
)

PRACTICE = "Praxis Dr. Beispiel"
# The confirmation link with its query, as the mail writes it out.
FULL_LINK = re.compile(r"https?://[^\s\"<>]+/c/[A-Za-z0-9._~-]+(?:\?[A-Za-z0-9=&_-]+)?")
# Direction marks, embeddings and isolates: never in a plain-text part (docs/translating.md).
BIDI_CONTROLS = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")
YOU_REQUESTED = (
    "You requested an appointment at %(practice)s. The request is encrypted and is handed to "
    "the practice only once you confirm it."
)


async def queue_empty(relay: RunningRelay, slug: str) -> bool:
    return int(await relay.store.redis.zcard(mail_queue_key(slug))) == 0


def parts(message: EmailMessage) -> tuple[str, str]:
    """The plain-text and HTML parts' text, with the CRLF line ends mail travels with as LF."""
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    return plain.get_content().replace("\r\n", "\n"), html.get_content().replace("\r\n", "\n")


async def submit_in(
    http: aiohttp.ClientSession, relay_url: str, slug: str, booking: dict[str, Any], lang: str
) -> int:
    """Submits through the JSON API as a page in `lang` does."""
    async with http.post(
        f"{relay_url}/api/v1/practices/{slug}/bookings", params={"lang": lang}, json=booking
    ) as response:
        await response.read()
        return response.status


def assert_no_health_data(message: EmailMessage, booking: dict[str, Any]) -> None:
    whole = message.as_string()
    for detail in ("Erstgespräch", booking["doctor"], booking["note"], booking["last_name"]):
        assert detail not in whole, detail


async def test_mail_is_german_only_with_html_and_no_health_data(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """A booking in German gets a German mail, no other language and no German line atop:
    it names the practice, carries the link (asking for German) in both parts, and no
    booking details."""
    booking = booking_json()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        assert (await submit(http, relay.url, practice.slug, booking)).status == 202
    (message,) = await smtp_sink.wait_for(1)
    assert smtp_sink.envelopes == [("termine@relay.test", [booking["email"]])]
    text, html = parts(message)
    assert message["Content-Language"] == "de"
    assert message["Subject"] == f"Bitte bestätigen Sie Ihre Terminanfrage – {PRACTICE}"
    assert text.startswith("Guten Tag,\n")
    assert f"Sie haben bei {PRACTICE} einen Termin angefragt." in text
    assert "Hello" not in text
    assert "English" not in text
    assert '<html lang="de" dir="ltr">' in html
    link = link_in(message)
    assert f"{link}?lang=de" in text
    assert f'href="{link}?lang=de"' in html
    token = link.rsplit("/", 1)[1]
    assert len(token.split(".", 1)[1]) >= 22  # at least 128 bits of randomness
    assert_no_health_data(message, booking)


@pytest.mark.parametrize(("lang", "language"), [("tr", "Türkisch"), ("ar", "Arabisch")])
async def test_a_booking_in_another_language_gets_its_mail_in_that_language(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink, lang: str, language: str
) -> None:
    """Given a booking made in Turkish or Arabic; then its mail's subject and body are in
    that language (as its catalog says), under one German line naming the practice and
    the language; the link asks for the language; Arabic HTML runs right to left with
    names, times and links isolated, and no bidi controls in the plain text."""
    booking = booking_json()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        assert await submit_in(http, relay.url, practice.slug, booking, lang) == 202
    (message,) = await smtp_sink.wait_for(1)
    text, html = parts(message)
    t = texts(lang)

    assert message["Content-Language"] == lang
    assert message["Subject"] == t.gettext(
        "Please confirm your appointment request – %(practice)s", practice=PRACTICE
    )
    german = f"Terminanfrage bei {PRACTICE}: Bestätigungslink (diese E-Mail ist auf {language})"
    assert text.startswith(f"{german}\n\n{t.gettext('Hello,')}\n")
    assert t.gettext(YOU_REQUESTED, practice=PRACTICE) in text
    # The German is the one line atop, nothing of the German mail below it.
    for german_text in ("Guten Tag", "Sie haben bei", "Bitte bestätigen Sie", "E-Mail einfach"):
        assert german_text not in text.removeprefix(german)
    (link,) = set(FULL_LINK.findall(text))
    assert link.endswith(f"?lang={lang}")
    assert f'href="{link}"' in html
    assert f'<html lang="{lang}" dir="{"rtl" if lang == "ar" else "ltr"}">' in html
    assert '<p lang="de" dir="ltr" style="text-align: left;' in html
    assert not BIDI_CONTROLS.search(text)
    if lang == "ar":
        assert "text-align: right;" in html
        assert f"<strong><bdi>{PRACTICE}</bdi></strong>" in html
        assert f"<bdi>{link}</bdi>" in html
        assert re.search(r"<bdi>[^<]*[,،] \d\d:\d\d</bdi>", html), "the expiry is isolated"
    assert_no_health_data(message, booking)


async def test_the_mail_sent_again_keeps_the_language_of_the_booking(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """Given a pending booking made in Turkish; when the same request comes again from a
    German page, the mail sent again is in Turkish, as the booking is."""
    booking = booking_json()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        assert await submit_in(http, relay.url, practice.slug, booking, "tr") == 202
        await smtp_sink.wait_for(1)
        # The first mail must be out of the queue, or the second request sends none.
        await wait_until_async(lambda: queue_empty(relay, practice.slug), "the first mail sent")
        assert await submit_in(http, relay.url, practice.slug, booking, "de") == 202
    first, again = await smtp_sink.wait_for(2)
    assert again["Content-Language"] == "tr"
    assert again["Subject"] == first["Subject"]
    assert f"{link_in(again)}?lang=tr" in parts(again)[0]


async def test_submit_does_not_wait_for_a_dead_mail_server(relay_factory: RelayFactory) -> None:
    """With SMTP unreachable, submits still answer 202 at once; the job waits for retries."""
    nowhere = SmtpSettings(host="127.0.0.1", port=free_port())
    relay = await relay_factory(smtp=nowhere, mail_retry_base=0.05)
    practice = await relay.add_practice()
    booking = wish_booking_json()
    async with aiohttp.ClientSession() as http:
        started = time.monotonic()
        assert (await submit(http, relay.url, practice.slug, booking)).status == 202
        assert time.monotonic() - started < 0.5
    body = await relay.metrics_show(b'terminrelay_mail_total{outcome="retried"} 2.0')
    assert b'terminrelay_mail_total{outcome="sent"} 0.0' in body
    assert b'terminrelay_mail_total{outcome="retried"} 2.0' in body


async def test_temporary_smtp_failures_are_retried_until_sent(
    relay_factory: RelayFactory, smtp_sink: SmtpSink
) -> None:
    """A mail refused twice with 451 is sent on the third attempt and its job deleted."""
    relay = await relay_factory(mail_retry_base=0.05)
    practice = await relay.add_practice()
    smtp_sink.fail_next = 2
    booking = wish_booking_json()
    async with aiohttp.ClientSession() as http:
        assert (await submit(http, relay.url, practice.slug, booking)).status == 202
    (message,) = await smtp_sink.wait_for(1)
    assert message["To"] == booking["email"]
    # The relay counts the mail once the server's answer is in, a moment after the sink.
    body = await relay.metrics_show(b'terminrelay_mail_total{outcome="sent"} 1.0')
    assert b'terminrelay_mail_total{outcome="retried"} 2.0' in body
    assert b'terminrelay_mail_total{outcome="sent"} 1.0' in body
    assert [key async for key in relay.store.redis.scan_iter("tr:{*}:m:*")] == []


async def test_mail_given_up_after_max_attempts(
    relay_factory: RelayFactory, smtp_sink: SmtpSink
) -> None:
    """A mail that keeps failing is given up after the configured attempts, counted failed."""
    relay = await relay_factory(mail_retry_base=0.02, mail_max_attempts=3)
    practice = await relay.add_practice()
    smtp_sink.fail_next = 100
    booking = wish_booking_json()
    async with aiohttp.ClientSession() as http:
        assert (await submit(http, relay.url, practice.slug, booking)).status == 202
    body = await relay.metrics_show(b'terminrelay_mail_total{outcome="failed"} 1.0')
    assert b'terminrelay_mail_total{outcome="failed"} 1.0' in body
    assert b'terminrelay_mail_total{outcome="retried"} 2.0' in body
    assert [key async for key in relay.store.redis.scan_iter("tr:{*}:m:*")] == []


@pytest.mark.parametrize("lang", ["de", "ar"])
def test_mail_with_a_non_ascii_practice_name_parses_back_exactly(lang: str) -> None:
    """A long non-ASCII name is folded into RFC 2047 encoded words and decodes back; both
    bodies equal the templates rendered directly in the mail's language, and the link
    survives line wrapping."""
    name = "Zahnarztpraxis Dr. Çelik-Østergård & Partner <Kinder> – Göttingen-Weende Süd"
    link = f"https://termine.example.org/c/praxis-test.{secrets.token_urlsafe(48)}?lang={lang}"
    expires = format_datetime(datetime(2026, 12, 1, 8, tzinfo=UTC), ZoneInfo("Europe/Berlin"), lang)
    composer = ConfirmationMail(
        mail_from="Terminrelay Prüfstelle <termine@relay.test>", domain="relay.test"
    )

    raw = composer.build(
        to="patient@example.org", practice_name=name, link=link, expires=expires, lang=lang
    ).message

    raw.decode("ascii")  # 7-bit clean: no server extension needed
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == subject(name, lang)
    assert message["From"].addresses[0].display_name == "Terminrelay Prüfstelle"
    assert message["To"] == "patient@example.org"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == lang
    assert composer.envelope_from == "termine@relay.test"
    values: dict[str, Any] = {
        "practice_name": name,
        "link": link,
        "expires": expires,
        "lang": lang,
        "dir": "rtl" if lang == "ar" else "ltr",
    }
    plain_values = {**values, **plain_gettext_context(lang)}
    html_values = {**values, **gettext_context(lang)}
    if lang != "de":
        german = "Terminanfrage bei %s: Bestätigungslink (diese E-Mail ist auf Arabisch)"
        plain_values["german_line"] = german % name
        html_values["german_line"] = escape(german) % (Markup("<bdi>%s</bdi>") % name,)
    environment = templates()
    plain_text, html_text = parts(message)
    assert plain_text == environment.get_template("confirm.txt").render(plain_values) + "\n"
    assert html_text == environment.get_template("confirm.html").render(html_values) + "\n"
    assert link_in(message) == link.split("?", maxsplit=1)[0]
    assert f'href="{escape(link)}"' in html_text
    assert "Partner &lt;Kinder&gt;" in html_text
    assert "Partner <Kinder>" in plain_text


def test_a_job_without_a_language_gets_a_german_mail() -> None:
    """A job queued by an earlier relay names no language, one of a language we do not
    speak is treated alike: the mail is German."""
    composer = ConfirmationMail(mail_from="termine@relay.test", domain="relay.test")
    job = {
        "to": "a@example.org",
        "practice_name": PRACTICE,
        "link": "https://x.example/c/a.b",
        "expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "time_zone": "Europe/Berlin",
    }
    for mail in (composer.from_job(job), composer.from_job({**job, "lang": "xx"})):
        message = email.message_from_bytes(mail.message, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        assert message["Content-Language"] == "de"
        assert parts(message)[0].startswith("Guten Tag,")


def test_a_line_break_never_reaches_a_header() -> None:
    """A line break in a stored practice name becomes a space; in an address it is refused:
    neither can add a header."""
    composer = ConfirmationMail(mail_from="termine@relay.test", domain="relay.test")
    values = {"link": "https://x.example/c/a.b", "expires": "d"}

    for lang in ("de", "tr"):
        raw = composer.build(
            to="a@example.org", practice_name="Praxis\r\nBcc: x@evil.test", lang=lang, **values
        ).message
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert message["Bcc"] is None
        assert message["Subject"] == subject("Praxis Bcc: x@evil.test", lang)
    with pytest.raises(ValueError, match="line break"):
        composer.build(
            to="a@example.org\nBcc: x@evil.test", practice_name="Praxis", lang="de", **values
        )
