"""Dates and times the way a patient reads them: in the practice's zone, in their language."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from babel.dates import format_time as babel_format_time

_LOCALES = {"de": "de_DE", "en": "en_GB"}


def format_datetime(moment: datetime, zone: ZoneInfo, lang: str) -> str:
    """'Dienstag, 1. Dezember 2026, 09:00' / 'Tuesday, 1 December 2026, 09:00'."""
    local = moment.astimezone(zone)
    return f"{format_day(local.date(), lang)}, {format_clock(local, lang)}"


def format_day(day: date, lang: str) -> str:
    return babel_format_date(day, format="full", locale=_LOCALES[lang])


def format_clock(moment: datetime, lang: str) -> str:
    return babel_format_time(moment, format="HH:mm", locale=_LOCALES[lang])


def format_short(moment: datetime, zone: ZoneInfo, lang: str) -> str:
    return babel_format_datetime(moment.astimezone(zone), format="short", locale=_LOCALES[lang])
