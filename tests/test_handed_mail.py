"""The second mail, after confirming: handed to the practice, when, and the cancel link;
no health data (no doctor, no type of appointment, nothing the patient typed)."""

from __future__ import annotations

import email
import email.policy

import aiohttp

from relay.mail.compose import ConfirmationMail
from tests.conftest import PracticeHandle, RunningRelay, SmtpSink
from tests.helpers import DOCTORS, booking_json, profile_json, put_profile, slot_times
from tests.test_cancellation import book_and_confirm, mail_to


async def test_confirming_sends_the_handed_over_mail_with_the_cancel_link(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """Given a confirmed booking; then a second mail to the patient names the practice and
    the time, carries the page's cancel link in both parts, and no health data."""
    start, _ = slot_times()[0]
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        confirmed = await book_and_confirm(http, relay, practice, smtp_sink, booking_json(start))
    message = await mail_to(smtp_sink, confirmed.booking["email"], "/x/")
    assert "Praxis Dr. Beispiel" in message["Subject"]
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    text = plain.get_content()
    assert confirmed.cancel_url in text
    assert confirmed.cancel_url in html.get_content()
    assert "an Praxis Dr. Beispiel übergeben" in text
    assert "09:00–09:20 Uhr" in text
    assert text.index("Guten Tag") < text.index("Hello")
    whole = message.as_string()
    for detail in (
        DOCTORS[0],
        "Erstgespräch",
        *(str(confirmed.booking[field]) for field in ("note", "last_name", "birth_date")),
    ):
        assert detail not in whole.replace("Praxis Dr. Beispiel", ""), detail
    # Exactly two mails for this patient: the confirmation link, then this one.
    to_patient = [m for m in smtp_sink.messages if m["To"] == confirmed.booking["email"]]
    assert len(to_patient) == 2


def test_without_a_cancel_link_the_mail_says_to_tell_the_practice() -> None:
    """An appointment that has begun has no cancel link: the mail points to the practice."""
    composer = ConfirmationMail(mail_from="termine@relay.test", domain="relay.test")
    mail = composer.build_handed(
        to="patient@example.org",
        practice_name="Praxis Müller",
        link="",
        time_de="Termin: Dienstag, 1. Dezember 2026, 09:00–09:20 Uhr",
        time_en="Appointment: Tuesday, 1 December 2026, 09:00–09:20",
        until_de="",
        until_en="",
    )
    parsed = email.message_from_bytes(mail.message, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    plain = parsed.get_body(preferencelist=("plain",))
    assert plain is not None
    text = plain.get_content()
    assert "Bitte sagen Sie der Praxis direkt ab" in text
    assert "/x/" not in text
    assert "Praxis Müller" in str(parsed["Subject"])
