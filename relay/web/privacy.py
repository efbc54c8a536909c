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

from relay.booking.fields import FIELDS
from relay.practice.details import PracticeDetails
from relay.rules.contact import tel_url
from relay.settings import OperatorSettings, Settings
from relay.web.appkeys import SERVICE, SETTINGS
from relay.web.i18n import page_text
from relay.web.language import request_language
from relay.web.pages import render


@dataclass(frozen=True)
class CollectedField:
    name: str
    label: str
    purpose: str
    required: str


def collected_fields(lang: str) -> list[CollectedField]:
    """Every booking field with why it is collected and whether it must be given."""
    rows = []
    for spec in FIELDS:
        if spec.required_when_offered:
            required = page_text(lang, "privacy_required_when_offered")
        else:
            required = page_text(lang, "yes" if spec.required else "no")
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


def duration_minutes(lang: str, seconds: int) -> str:
    """ "60 Minuten": rounded up, so an "at most" stays true."""
    return _count(lang, "minutes", math.ceil(seconds / 60))


def duration_days(lang: str, seconds: int) -> str:
    """ "14 Tage": rounded up, so an "at most" stays true."""
    return _count(lang, "days", math.ceil(seconds / 86400))


def _count(lang: str, unit: str, count: int) -> str:
    form = "one" if count == 1 else "other"
    return page_text(lang, f"duration_{unit}_{form}", count=count)


def retention(lang: str, settings: Settings) -> list[Retention]:
    """Each class of data the relay and the practice keep, with its period from `settings`."""

    def row(name: str, period: str, **values: object) -> Retention:
        return Retention(
            name, page_text(lang, f"retention_{name}"), page_text(lang, period, **values)
        )

    log_days = settings.operator.log_retention_days
    return [
        row(
            "pending",
            "retention_pending_period",
            duration=duration_minutes(lang, settings.pending_ttl),
        ),
        row("inbox", "retention_inbox_period", duration=duration_days(lang, settings.inbox_ttl)),
        row("cancel", "retention_cancel_period"),
        row("logs", "retention_logs_unknown")
        if log_days is None
        else row("logs", "retention_logs_period", duration=_count(lang, "days", log_days)),
        row(
            "rate", "retention_rate_period", duration=duration_minutes(lang, settings.submit_window)
        ),
        row("practice", "retention_practice_period"),
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
    lang: str, settings: Settings, practice_name: str | None, details: PracticeDetails | None
) -> Notice:
    """The notice for one practice, or with `practice_name` None the general one."""
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
                Authority(page_text(lang, "authority_practice"), authority.name, authority.url)
            )
    if operator.supervisory_authority_name is not None:
        authorities.append(
            Authority(
                page_text(lang, "authority_operator"),
                operator.supervisory_authority_name,
                operator.supervisory_authority_url,
            )
        )
    mail_recipient = (
        page_text(lang, "recipient_mail_unnamed")
        if operator.mail_provider is None
        else page_text(lang, "recipient_mail", provider=operator.mail_provider)
    )
    return Notice(
        practice_name=practice_name,
        controller=controller,
        controller_reachable=details is not None and details.has_contact,
        officer=officer,
        operator=operator_card,
        operator_officer=operator.data_protection_officer,
        imprint_url=operator.imprint_url,
        fields=collected_fields(lang),
        retention=retention(lang, settings),
        mail_recipient=mail_recipient,
        third_country_transfer=operator.third_country_transfer,
        authorities=authorities,
    )


# Pages ----------------------------------------------------------------------------------


async def general_notice(request: web.Request) -> web.Response:
    """`/privacy`: the relay in general; the practice's own notice names the controller."""
    lang = request_language(request)
    notice = build_notice(lang, request.app[SETTINGS], None, None)
    return render(request, "privacy.html", notice=notice, heading=page_text(lang, "privacy_title"))


async def practice_notice(request: web.Request) -> web.Response:
    """`/p/{practice}/privacy`: one practice's notice; 404 for a practice not registered."""
    lang = request_language(request)
    public = await request.app[SERVICE].profile(request.match_info["practice"])
    notice = build_notice(lang, request.app[SETTINGS], public.practice.name, public.profile.details)
    return render(
        request,
        "privacy.html",
        notice=notice,
        heading=page_text(lang, "privacy_practice_title", practice=public.practice.name),
        practice=public.practice,
        form_url=f"/p/{quote(public.practice.slug)}?lang={lang}",
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/privacy", general_notice)
    app.router.add_get("/p/{practice}/privacy", practice_notice)
