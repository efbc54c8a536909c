"""What the confirmation and result pages show: the appointment and the practice's contact.

The appointment comes from the booking's encrypted summary (relay/booking/service.py), which
holds no patient data; the practice's address and contact from its public profile.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from relay.i18n.catalogs import texts
from relay.practice.localtime import format_clock, format_day
from relay.practice.profile import Profile

_NOT_DIALLED = re.compile(r"[^0-9+]")


@dataclass(frozen=True)
class Appointment:
    date: str
    time: str
    # "20 Minuten" / "20 minutes"; None without an end (a wish).
    duration: str | None
    doctor: str | None
    appointment_type: str | None
    wish: bool
    # The practice's note for this type of appointment ("please bring …").
    type_note: str | None
    # The language the type's name and note are in where it is not the page's: the
    # practice's own, for want of a translation (marked `lang` on the page).
    type_lang: str | None = None
    type_note_lang: str | None = None


@dataclass(frozen=True)
class PracticeCard:
    """A practice's contact as the pages show it; every part may be missing."""

    name: str
    address: tuple[str, ...]
    phone: str | None
    phone_href: str | None
    email: str | None
    website: str | None
    opening_hours: tuple[str, ...]
    officer_lines: tuple[str, ...]
    # The opening hours' language where it is not the page's (see Appointment.type_lang).
    opening_hours_lang: str | None = None

    @property
    def has_contact(self) -> bool:
        return bool(self.address or self.phone or self.email or self.website)

    @property
    def is_empty(self) -> bool:
        return not (self.has_contact or self.opening_hours or self.officer_lines)


def appointment(summary: Mapping[str, object], profile: Profile | None, lang: str) -> Appointment:
    """The appointment of a confirmation summary, in `lang`, in the practice's zone."""
    zone = ZoneInfo(str(summary["time_zone"]))
    start = datetime.fromisoformat(str(summary["start"])).astimezone(zone)
    end_text = summary.get("end")
    end = datetime.fromisoformat(str(end_text)).astimezone(zone) if end_text else None
    begins = format_clock(start, lang)
    if end is not None and end.date() == start.date():
        time = texts(lang).gettext("%(start)s–%(end)s", start=begins, end=format_clock(end, lang))
    else:
        time = texts(lang).gettext("from %(start)s", start=begins)
    kind_name = _text(summary.get("appointment_type"))
    kind = profile.appointment_type(kind_name) if profile and kind_name else None
    # Summaries written before "kind" existed say "wish" instead.
    wish = summary.get("kind") == "wish" if "kind" in summary else bool(summary.get("wish"))
    minutes = int((end - start).total_seconds() // 60) if end is not None else 0
    own = profile.language if profile else lang
    name = kind.display_name(lang, own_language=own) if kind is not None else None
    note = kind.display_note(lang, own_language=own) if kind is not None else None
    return Appointment(
        date=format_day(start.date(), lang),
        time=time,
        duration=texts(lang).gettext("%(minutes)s minutes", minutes=minutes) if minutes else None,
        doctor=_text(summary.get("doctor")),
        appointment_type=name.text if name is not None else kind_name,
        wish=wish,
        type_note=note.text if note is not None else None,
        type_lang=name.lang if name is not None and name.lang != lang else None,
        type_note_lang=note.lang if note is not None and note.lang != lang else None,
    )


def practice_card(name: str, profile: Profile, lang: str) -> PracticeCard:
    """How the pages show the practice's contact, its opening hours in `lang` if it gave
    them so."""
    details = profile.details
    hours = details.opening_hours_in(lang, own_language=profile.language)
    officer = details.data_protection_officer
    officer_lines: tuple[str, ...] = ()
    if officer is not None:
        officer_lines = tuple(
            line for line in (officer.name, *officer.address, officer.phone, officer.email) if line
        )
    return PracticeCard(
        name=name,
        address=details.address,
        phone=details.phone,
        phone_href=tel_href(details.phone) if details.phone else None,
        email=details.email,
        website=details.website,
        opening_hours=hours.lines,
        officer_lines=officer_lines,
        opening_hours_lang=hours.lang if hours.lang != lang else None,
    )


def tel_href(phone: str) -> str:
    """A tel: link: "+49 30 1234567" becomes "tel:+49301234567" (RFC 3966)."""
    return "tel:" + _NOT_DIALLED.sub("", phone)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
