"""The privacy notices: `/privacy` for the relay in general, `/p/{practice}/privacy` for one
practice, with every item Art. 13 GDPR asks for.

Generated, never written by hand: what is collected and why comes from relay.fields.FIELDS
(the list the form and the validator use), who is responsible from the practice's profile
(relay/practice/details.py) and the operator's settings (RELAY_OPERATOR_*), and every
retention period from the settings the relay really runs with. A field added to FIELDS, a
changed TTL or a new profile detail changes the notice too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import web

from relay.booking.answers import ANSWER_MAIL_TTL
from relay.booking.fields import FIELDS, worded
from relay.booking.reminders import REMINDER_MAIL_TTL
from relay.i18n.catalogs import texts
from relay.practice.details import PracticeDetails
from relay.practice.profile import DEFAULT_LEGAL_BASIS, LegalBasis, Profile
from relay.rules.contact import tel_url
from relay.settings import OperatorSettings, Settings
from relay.web.appkeys import SERVICE, SETTINGS
from relay.web.form import reminder_hint
from relay.web.language import request_language
from relay.web.pages import render


@dataclass(frozen=True)
class CollectedField:
    name: str
    label: str
    purpose: str
    required: str


def collected_fields(
    lang: str, legal_basis: LegalBasis = DEFAULT_LEGAL_BASIS
) -> list[CollectedField]:
    """Every booking field with why it is collected and whether it must be given, worded
    as a practice on `legal_basis` shows them (the consent box an acknowledgement or not)."""
    rows = []
    for spec in (worded(f, legal_basis) for f in FIELDS):
        if spec.required_when_offered:
            required = texts(lang).gettext("when the practice offers a choice")
        else:
            required = texts(lang).gettext("Yes") if spec.required else texts(lang).gettext("No")
        rows.append(CollectedField(spec.name, spec.label[lang], spec.purpose[lang], required))
    return rows


@dataclass(frozen=True)
class ContactCard:
    """A party as the notice shows it: name, address lines and the ways to reach it."""

    lines: tuple[str, ...]
    phone: str | None = None
    email: str | None = None
    website: str | None = None

    @property
    def phone_url(self) -> str | None:
        return None if self.phone is None else tel_url(self.phone)


@dataclass(frozen=True)
class Retention:
    """One class of data and how long it is kept; `name` marks the row for tests."""

    name: str
    data: str
    period: str


@dataclass(frozen=True)
class Authority:
    role: str
    name: str
    url: str | None


@dataclass(frozen=True)
class Notice:
    """Everything a privacy notice states; the template only lays it out."""

    practice_name: str | None
    # The practice as controller; None on the general page.
    controller: ContactCard | None
    # Whether the controller card gives an address, phone or e-mail (not just a name).
    controller_reachable: bool
    officer: ContactCard | None
    operator: ContactCard | None
    operator_officer: str | None
    imprint_url: str | None
    fields: list[CollectedField]
    retention: list[Retention]
    mail_recipient: str
    third_country_transfer: str | None
    authorities: list[Authority]
    # The practice's legal basis; None on the general page, which describes both.
    legal_basis: LegalBasis | None = None
    # The practice's reminders: when they go out, or None where it sends none. Always
    # None on the general page.
    reminders: str | None = None


def duration_minutes(lang: str, seconds: int) -> str:
    """ "60 Minuten": rounded up, so an "at most" stays true."""
    return texts(lang).ngettext("%(num)s minute", "%(num)s minutes", math.ceil(seconds / 60))


def duration_days(lang: str, seconds: int) -> str:
    """ "14 Tage": rounded up, so an "at most" stays true."""
    return _days(lang, math.ceil(seconds / 86400))


def _days(lang: str, days: int) -> str:
    return texts(lang).ngettext("%(num)s day", "%(num)s days", days)


def retention(lang: str, settings: Settings) -> list[Retention]:
    """Each class of data the relay and the practice keep, with its period from `settings`."""
    t = texts(lang)
    log_days = settings.operator.log_retention_days
    return [
        Retention(
            "pending",
            t.gettext(
                "Your request before you confirm it: encrypted for the practice, with your email "
                "address (encrypted, for the confirmation email), an encrypted summary for the "
                "confirmation page (practice, doctor, type of appointment, time) and the hold on "
                "the chosen slot"
            ),
            t.gettext(
                "at most %(duration)s until you confirm; without confirmation then deleted "
                "unread, at once if you withdraw. The email address is deleted as soon as the "
                "confirmation email has been sent.",
                duration=duration_minutes(lang, settings.pending_ttl),
            ),
        ),
        Retention(
            "inbox",
            t.gettext("Your confirmed request, encrypted for the practice"),
            t.gettext(
                "until the practice has fetched it and acknowledged receipt, at most %(duration)s",
                duration=duration_days(lang, settings.inbox_ttl),
            ),
        ),
        Retention(
            "cancel",
            t.gettext(
                "For cancelling your appointment: a hash of the cancellation link, the practice, "
                "your request's id and the expiry date; nothing about you"
            ),
            t.gettext("until the appointment starts"),
        ),
        Retention(
            "answer",
            t.gettext(
                "The practice's answer to your request: its status (waiting, accepted, "
                "declined, cancelled) and a time the practice proposed, beside the cancellation "
                "record; your email address only in the encrypted mail that tells you the answer"
            ),
            t.gettext(
                "until the appointment starts; the email address at most %(duration)s, until "
                "that mail has been sent",
                duration=duration_minutes(lang, ANSWER_MAIL_TTL),
            ),
        ),
        Retention(
            "reminder",
            t.gettext(
                "For reminders you asked for: your email address, the practice, and the "
                "date and time of the appointment"
            ),
            t.gettext(
                "kept by the practice, whose software asks us to send the reminder when it "
                "is due; we keep the mail, encrypted, only until it is sent (at most "
                "%(duration)s), and until the appointment starts only a mark, under a code "
                "that names no one, that it was sent or that you switched reminders off. "
                "Nothing is kept after the appointment, and a reminder not yet sent is "
                "deleted when you cancel or switch the reminders off.",
                duration=duration_minutes(lang, REMINDER_MAIL_TTL),
            ),
        ),
        Retention(
            "logs",
            t.gettext(
                "Server logs: time, the address called as a pattern (without links and form "
                "details), result, duration and your network with a truncated IP address (IPv4: "
                "the first 24 bits, IPv6: the first 48 bits)"
            ),
            t.gettext("as long as the operator keeps its logs; it has not stated a period yet")
            if log_days is None
            else t.gettext(
                "%(duration)s, as the operator has set for its logs", duration=_days(lang, log_days)
            ),
        ),
        Retention(
            "rate",
            t.gettext(
                "Counter against floods of requests: an encrypted check value of your truncated "
                "network and the number of requests"
            ),
            duration_minutes(lang, settings.submit_window),
        ),
        Retention(
            "practice",
            t.gettext("Your request at the practice, once the practice has fetched it"),
            t.gettext(
                "under the practice's retention rules: as long as the practice needs it for your "
                "appointment; if it becomes part of your medical records, 10 years after the "
                "treatment ends (§ 630f(3) German Civil Code)"
            ),
        ),
    ]


def _practice_card(name: str, details: PracticeDetails) -> ContactCard:
    lines = [name]
    if details.controller and details.controller != name:
        lines.append(details.controller)
    return ContactCard(
        lines=(*lines, *details.address),
        phone=details.phone,
        email=details.email,
        website=details.website,
    )


def _operator_card(operator: OperatorSettings) -> ContactCard | None:
    if operator.name is None:
        return None
    lines = (operator.name,) if operator.address is None else (operator.name, operator.address)
    return ContactCard(lines=lines, phone=operator.phone, email=operator.email)


def build_notice(
    lang: str,
    settings: Settings,
    practice_name: str | None,
    details: PracticeDetails | None,
    profile: Profile | None = None,
) -> Notice:
    """The notice for one practice (its `profile` says the legal basis and the reminders),
    or with `practice_name` None the general one."""
    operator = settings.operator
    operator_card = _operator_card(operator)
    controller = officer = None
    authorities = []
    if practice_name is not None and details is not None:
        controller = _practice_card(practice_name, details)
        dpo = details.data_protection_officer
        if dpo is not None:
            officer = ContactCard(
                lines=tuple(line for line in (dpo.name, *dpo.address) if line),
                phone=dpo.phone,
                email=dpo.email,
            )
        if details.supervisory_authority is not None:
            authority = details.supervisory_authority
            authorities.append(
                Authority(
                    texts(lang).gettext("Competent for the practice:"),
                    authority.name,
                    authority.url,
                )
            )
    if operator.supervisory_authority_name is not None:
        authorities.append(
            Authority(
                texts(lang).gettext("Competent for the operator:"),
                operator.supervisory_authority_name,
                operator.supervisory_authority_url,
            )
        )
    mail_recipient = (
        texts(lang).gettext(
            "The mail server through which the operator sends the confirmation "
            "email. It receives your email address and the email with the "
            "practice's name and the link, but no health data."
        )
        if operator.mail_provider is None
        else texts(lang).gettext(
            "%(provider)s sends the confirmation email. For this it receives your "
            "email address and the email with the practice's name and the link, but "
            "no health data.",
            provider=operator.mail_provider,
        )
    )
    return Notice(
        practice_name=practice_name,
        controller=controller,
        controller_reachable=details is not None and details.has_contact,
        officer=officer,
        operator=operator_card,
        operator_officer=operator.data_protection_officer,
        imprint_url=operator.imprint_url,
        fields=collected_fields(
            lang, DEFAULT_LEGAL_BASIS if profile is None else profile.legal_basis
        ),
        retention=retention(lang, settings),
        mail_recipient=mail_recipient,
        third_country_transfer=operator.third_country_transfer,
        authorities=authorities,
        legal_basis=None if profile is None else profile.legal_basis,
        reminders=(
            reminder_hint(profile, lang, wishes=profile.accept_wishes)
            if profile is not None and profile.offers_reminders
            else None
        ),
    )


# Pages ----------------------------------------------------------------------------------


async def general_notice(request: web.Request) -> web.Response:
    """`/privacy`: the relay in general; the practice's own notice names the controller."""
    lang = request_language(request)
    notice = build_notice(lang, request.app[SETTINGS], None, None)
    return render(
        request, "privacy.html", notice=notice, heading=texts(lang).gettext("Privacy notice")
    )


async def practice_notice(request: web.Request) -> web.Response:
    """`/p/{practice}/privacy`: one practice's notice; 404 for a practice not registered."""
    lang = request_language(request)
    public = await request.app[SERVICE].profile(request.match_info["practice"])
    notice = build_notice(
        lang, request.app[SETTINGS], public.practice.name, public.profile.details, public.profile
    )
    return render(
        request,
        "privacy.html",
        notice=notice,
        heading=texts(lang).gettext(
            "Privacy notice for appointment requests to %(practice)s", practice=public.practice.name
        ),
        practice=public.practice,
        form_url=f"/p/{quote(public.practice.slug)}?lang={lang}",
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/privacy", general_notice)
    app.router.add_get("/p/{practice}/privacy", practice_notice)
