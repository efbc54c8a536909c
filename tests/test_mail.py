"""The confirmation mail: content, languages, queue, retries, and no blocking of submits."""

from __future__ import annotations

import email
import email.policy
import secrets
import time
from email.message import EmailMessage

import aiohttp
import pytest

from relay.mail.compose import ConfirmationMail, subject, templates
from relay.settings import SmtpSettings
from tests.conftest import PracticeHandle, RelayFactory, RunningRelay, SmtpSink, free_port, link_in
from tests.helpers import booking_json, profile_json, put_profile, submit, wish_booking_json


async def test_mail_is_german_then_english_with_html_and_no_health_data(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """The mail names the practice, carries the link in both parts, and no booking details."""
    booking = booking_json()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        assert (await submit(http, relay.url, practice.slug, booking)).status == 202
    (message,) = await smtp_sink.wait_for(1)
    assert smtp_sink.envelopes == [("termine@relay.test", [booking["email"]])]
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    text = plain.get_content()
    assert text.index("Guten Tag") < text.index("Hello")
    link = link_in(message)
    assert link in html.get_content()
    token = link.rsplit("/", 1)[1]
    assert len(token.split(".", 1)[1]) >= 22  # at least 128 bits of randomness
    for detail in ("Erstgespräch", booking["doctor"], booking["note"], booking["last_name"]):
        assert detail not in message.as_string()


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


def test_mail_with_a_non_ascii_practice_name_parses_back_exactly() -> None:
    """A long non-ASCII name is folded into RFC 2047 encoded words and decodes back; both
    bodies equal the templates rendered directly, and the link survives line wrapping."""
    name = "Zahnarztpraxis Dr. Çelik-Østergård & Partner <Kinder> – Göttingen-Weende Süd"
    link = "https://termine.example.org/c/praxis-test." + secrets.token_urlsafe(48)
    composer = ConfirmationMail(
        mail_from="Terminrelay Prüfstelle <termine@relay.test>", domain="relay.test"
    )

    raw = composer.build(
        to="patient@example.org",
        practice_name=name,
        link=link,
        expires_de="Dienstag, 1. Dezember 2026, 09:00",
        expires_en="Tuesday, 1 December 2026, 09:00",
    ).message

    raw.decode("ascii")  # 7-bit clean: no server extension needed
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == subject(name)
    assert message["From"].addresses[0].display_name == "Terminrelay Prüfstelle"
    assert message["To"] == "patient@example.org"
    assert message["Auto-Submitted"] == "auto-generated"
    assert composer.envelope_from == "termine@relay.test"
    values = {
        "practice_name": name,
        "link": link,
        "expires_de": "Dienstag, 1. Dezember 2026, 09:00",
        "expires_en": "Tuesday, 1 December 2026, 09:00",
    }
    environment = templates()
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    # Mail travels with CRLF line ends; the parsed parts keep them.
    plain_text = plain.get_content().replace("\r\n", "\n")
    html_text = html.get_content().replace("\r\n", "\n")
    assert plain_text == environment.get_template("confirm.txt").render(values) + "\n"
    assert html_text == environment.get_template("confirm.html").render(values) + "\n"
    assert link_in(message) == link
    assert f'href="{link}"' in html_text
    assert "Partner &lt;Kinder&gt;" in html_text


def test_a_line_break_never_reaches_a_header() -> None:
    """A line break in a stored practice name becomes a space; in an address it is refused:
    neither can add a header."""
    composer = ConfirmationMail(mail_from="termine@relay.test", domain="relay.test")
    parts = {"link": "https://x.example/c/a.b", "expires_de": "d", "expires_en": "e"}

    raw = composer.build(
        to="a@example.org", practice_name="Praxis\r\nBcc: x@evil.test", **parts
    ).message
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Bcc"] is None
    assert message["Subject"] == subject("Praxis Bcc: x@evil.test")
    with pytest.raises(ValueError, match="line break"):
        composer.build(to="a@example.org\nBcc: x@evil.test", practice_name="Praxis", **parts)
