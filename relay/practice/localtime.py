"""Dates and times the way a patient reads them: in the practice's zone, in their language."""

from __future__ import annotations

import functools
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date as babel_format_date
from babel.dates import format_interval as babel_format_interval
from babel.dates import get_datetime_format

from relay.i18n.languages import BABEL_LOCALES, known


def format_datetime(moment: datetime, zone: ZoneInfo, lang: str) -> str:
    """'Dienstag, 1. Dezember 2026, 09:00' / 'Tuesday, 1 December 2026, 09:00', joined
    the way the language joins a date and a time (an Arabic comma, none in Turkish)."""
    local = moment.astimezone(zone)
    # CLDR's pattern: "{1}, {0}", {1} the date and {0} the time.
    pattern = _date_and_time(lang)
    return pattern.replace("{1}", format_day(local.date(), lang)).replace(
        "{0}", format_clock(local, lang)
    )


@functools.cache
def _date_and_time(lang: str) -> str:
    return str(get_datetime_format("medium", locale=BABEL_LOCALES[known(lang)]))


# Babel takes tens of microseconds per call, and a slot picker page shows dozens of
# days; the same days recur on every page, so each is formatted once per language.
@functools.lru_cache(maxsize=4096)
def format_day(day: date, lang: str) -> str:
    return babel_format_date(day, format="full", locale=BABEL_LOCALES[known(lang)])


@functools.lru_cache(maxsize=4096)
def format_day_short(day: date, lang: str) -> str:
    """'Do. 3.12.' / 'Thu 3.12.': a day button of the slot picker."""
    name = babel_format_date(day, "EEE", locale=BABEL_LOCALES[known(lang)])
    return f"{name} {day.day}.{day.month}."


def format_week(first: date, last: date, lang: str) -> str:
    """'1.–7. Dez. 2026' / '1–7 Dec 2026'."""
    return str(babel_format_interval(first, last, "yMMMd", locale=BABEL_LOCALES[known(lang)]))


def format_clock(moment: datetime, lang: str) -> str:
    # 24-hour times in every language (CLDR's own for en and ar are 12-hour), with Latin
    # digits (docs/translating.md); without Babel's cost per slot shown.
    return f"{moment.hour:02d}:{moment.minute:02d}"
