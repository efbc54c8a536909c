"""The second mail, after confirming: handed to the practice, when, and the cancel link;
no health data (no doctor, no type of appointment, nothing the patient typed)."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from typing import Any

import aiohttp
import pytest

from relay.i18n.catalogs import texts
from relay.mail.compose import ConfirmationMail, booked_subject
from relay.practice.localtime import format_day
from tests.conftest import PracticeHandle, RunningRelay, SmtpSink, link_in
from tests.helpers import DOCTORS, booking_json, profile_json, put_profile, slot_times
from tests.test_cancellation import book_and_confirm, mail_to
from tests.test_mail import BIDI_CONTROLS, parts, submit_in

PRACTICE = "Praxis Dr. Beispiel"
# The cancel link itself, not the "choose another time" link beside it (/x/{token}/move?m=…).
CANCEL_LINK = re.compile(
    r"https?://[^\s\"<>]+/x/[A-Za-z0-9._~-]+(?:\?[A-Za-z0-9=&_-]+)?(?![/A-Za-z0-9._~-])"
)


def assert_no_health_data(message: EmailMessage, booking: dict[str, Any]) -> None:
    whole = message.as_string().replace(PRACTICE, "")
    for detail in (
        DOCTORS[0],
        "Erstgespräch",
        *(str(booking[field]) for field in ("note", "last_name", "birth_date")),
    ):
        assert detail not in whole, detail


async def test_confirming_sends_the_handed_over_mail_with_the_cancel_link(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """Given a confirmed booking; then a second mail to the patient, in German only, names
    the practice and the time, carries the page's cancel link (asking for German) in both
    parts, and no health data."""
    start, _ = slot_times()[0]
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        confirmed = await book_and_confirm(http, relay, practice, smtp_sink, booking_json(start))
    message = await mail_to(smtp_sink, confirmed.booking["email"], "/x/")
    assert message["Subject"] == f"Ihr Termin bei {PRACTICE} ist gebucht"
    assert message["Content-Language"] == "de"
    text, html = parts(message)
    assert f"{confirmed.cancel_url}?lang=de" in text
    assert f'href="{confirmed.cancel_url}?lang=de"' in html
    assert f"Ihr Termin bei {PRACTICE} ist gebucht" in text
    assert "09:00–09:20 Uhr" in text
    assert text.startswith("Guten Tag,\n")
    assert "Hello" not in text
    assert '<html lang="de" dir="ltr">' in html
    assert_no_health_data(message, confirmed.booking)
    # Exactly two mails for this patient: the confirmation link, then this one.
    to_patient = [m for m in smtp_sink.messages if m["To"] == confirmed.booking["email"]]
    assert len(to_patient) == 2


@pytest.mark.parametrize(("lang", "language"), [("tr", "Türkisch"), ("ar", "Arabisch")])
async def test_the_handed_over_mail_is_in_the_language_of_the_booking(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink, lang: str, language: str
) -> None:
    """Given a booking made in Turkish or Arabic, confirmed; then the second mail's subject
    and body are in that language, under one German line, with the day as that language
    writes it, the cancel link asking for the language, and no health data."""
    start, _ = slot_times()[0]
    booking = booking_json(start)
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        assert await submit_in(http, relay.url, practice.slug, booking, lang) == 202
        link = link_in(await mail_to(smtp_sink, booking["email"], "/c/"))
        async with http.post(link, data={"action": "confirm"}) as confirmed:
            assert confirmed.status == 200
    message = await mail_to(smtp_sink, booking["email"], "/x/")
    text, html = parts(message)
    t = texts(lang)

    assert message["Content-Language"] == lang
    assert message["Subject"] == booked_subject(PRACTICE, lang)
    assert message["Subject"] == t.gettext(
        "Your appointment at %(practice)s is booked", practice=PRACTICE
    )
    german = f"Termin bei {PRACTICE}: gebucht (diese E-Mail ist auf {language})"
    assert text.startswith(f"{german}\n\n{t.gettext('Hello,')}\n")
    when = t.gettext(
        "Appointment: %(day)s, %(time)s", day=format_day(start.date(), lang), time="09:00–09:20"
    )
    assert when in text
    for german_text in ("Guten Tag", "Termin:", "Uhr", "Können Sie nicht kommen"):
        assert german_text not in text.removeprefix(german)
    (cancel,) = set(CANCEL_LINK.findall(text))
    assert cancel.endswith(f"?lang={lang}")
    assert f'href="{cancel}"' in html
    assert f'<html lang="{lang}" dir="{"rtl" if lang == "ar" else "ltr"}">' in html
    assert not BIDI_CONTROLS.search(text)
    if lang == "ar":
        assert "text-align: right;" in html
        assert f"<bdi>{cancel}</bdi>" in html
        assert f"<bdi>{when}</bdi>" in html
    assert_no_health_data(message, booking)


def test_without_a_cancel_link_the_mail_says_to_tell_the_practice() -> None:
    """An appointment that has begun has no cancel link: the mail points to the practice."""
    composer = ConfirmationMail(mail_from="termine@relay.test", domain="relay.test")
    mail = composer.build_handed(
        to="patient@example.org",
        practice_name="Praxis Müller",
        link="",
        time="Termin: Dienstag, 1. Dezember 2026, 09:00–09:20 Uhr",
        until="",
        lang="de",
    )
    parsed = email.message_from_bytes(mail.message, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    plain = parsed.get_body(preferencelist=("plain",))
    assert plain is not None
    text = plain.get_content()
    assert "Bitte sagen Sie der Praxis direkt ab" in text
    assert "/x/" not in text
    assert "Praxis Müller" in str(parsed["Subject"])
