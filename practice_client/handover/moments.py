"""Times in a booking document: ISO 8601 strings the relay wrote, read without trusting
them to be strings or well formed."""

from __future__ import annotations

from datetime import datetime


def iso_time(value: object) -> datetime | None:
    """The time `value` names, with or without an offset; None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def aware_time(value: object) -> datetime | None:
    """The time `value` names, only with its offset: a time without one cannot be placed
    (FHIR instants and busy times need it)."""
    moment = iso_time(value)
    return moment if moment is not None and moment.tzinfo is not None else None
