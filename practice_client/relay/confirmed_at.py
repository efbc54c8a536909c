"""The one unsigned value written into booking files: when the patient confirmed.

The relay sends `confirmed_at` beside the sealed box, outside the signature (it is set
at confirmation, after sealing). So it is only kept if it is a strict ISO 8601 timestamp
with an offset and lies where a real confirmation can lie: after the signed
`submitted_at` and within the longest confirmation window. It is written re-rendered
from the parsed value, never as the relay sent it, so no relay-chosen text reaches a file.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

# The relay writes `2026-11-22T09:14:03Z`; an offset instead of Z and fractions of a
# second are accepted, nothing else. The length check runs first, so a 5 MB value is
# dismissed without looking at it.
_MAX_LENGTH = len("2026-11-22T09:14:03.123456+01:00")
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)

# A booking is confirmed at most RELAY_PENDING_TTL (at most one hour) after it was
# submitted. The slack covers the clocks of several relay processes disagreeing.
MAX_CONFIRMATION_DELAY = timedelta(hours=1)
CLOCK_SLACK = timedelta(minutes=5)


def checked_confirmed_at(confirmed_at: object, submitted_at: object) -> str | None:
    """`confirmed_at` as `YYYY-MM-DDTHH:MM:SSZ` if plausible, else None.

    `submitted_at` comes from the signed document; without a usable one only the form
    of `confirmed_at` is checked.
    """
    confirmed = parse_timestamp(confirmed_at)
    if confirmed is None:
        return None
    submitted = parse_timestamp(submitted_at)
    # A difference of two datetimes never overflows, unlike adding a delay to one.
    if submitted is not None and not (
        -CLOCK_SLACK <= confirmed - submitted <= MAX_CONFIRMATION_DELAY + CLOCK_SLACK
    ):
        return None
    return confirmed.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: object) -> datetime | None:
    """An aware UTC datetime from a strict ISO 8601 string with offset; None otherwise."""
    if not isinstance(value, str) or len(value) > _MAX_LENGTH or not _TIMESTAMP.fullmatch(value):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:  # month 13, February 30th, hour 24 ...
        return None
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 lies before year 1 in UTC
        return None
