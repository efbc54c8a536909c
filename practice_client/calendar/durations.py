"""Durations as practice staff write them: "15m", "2h", "1h30m", "1d"."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?")
# Beyond a year a number is a typo, and timedelta would overflow long before a digit limit.
_LONGEST = timedelta(days=366)


def parse_duration(text: str) -> timedelta:
    """ "90m", "2h", "1h30m", "1d" (also "0m"); ValueError naming the expected form."""
    match = _DURATION.fullmatch(text.strip().lower().replace(" ", ""))
    if not text.strip() or match is None:
        raise ValueError(f"{text!r} is not a duration such as 15m, 2h, 1h30m or 1d")
    days, hours, minutes = (int(match[unit] or 0) for unit in "dhm")
    if days > _LONGEST.days or hours > 24 * _LONGEST.days or minutes > 1440 * _LONGEST.days:
        raise ValueError(f"{text!r} is longer than a year")
    duration = timedelta(days=days, hours=hours, minutes=minutes)
    if duration > _LONGEST:
        raise ValueError(f"{text!r} is longer than a year")
    return duration
