"""Bookings the client has already received block their doctor's time.

The relay stops offering a slot once it is taken, but only that slot: a booking also
blocks every other slot of its doctor that overlaps it (slots of another appointment type
or length), and a wish booking blocks the time it names. Only `start`, `end`, `doctor`
and `status` are read from each `{id}.json`; nothing of a booking is logged.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path

from practice_client.calendar.busy import Busy
from practice_client.handover.moments import aware_time
from practice_client.handover.sink import REJECTED_SUFFIX, usable_booking_id
from practice_client.handover.status import ENDED

log = logging.getLogger(__name__)

# A booking document is a few kilobytes; anything far larger is not one.
MAX_BOOKING_FILE_BYTES = 1024 * 1024
# A booking without an end still blocks the slot its start falls into.
_INSTANT = timedelta(seconds=1)


def received_bookings(out_dir: Path, *, since: datetime) -> list[Busy]:
    """The times booked in `out_dir` that end after `since` (none if it does not exist).

    A booking without a doctor blocks every doctor; one whose document says
    `"status": "cancelled"` or `"declined"` blocks nothing.
    """
    try:
        paths = sorted(out_dir.glob("*.json"))
    except OSError as error:
        log.warning("cannot list received bookings in %s: %s", out_dir, error.strerror)
        return []
    booked: list[Busy] = []
    for path in paths:
        # {id}.json and {id}.rejected.json only: other JSON the client or practice software
        # writes there is skipped.
        booking_id = path.name.removesuffix(REJECTED_SUFFIX).removesuffix(".json")
        if not usable_booking_id(booking_id):
            continue
        interval = _booked(path)
        if interval is not None and interval.end > since:
            booked.append(interval)
    return booked


def _booked(path: Path) -> Busy | None:
    try:
        if path.stat().st_size > MAX_BOOKING_FILE_BYTES:
            return None
        document = json.loads(path.read_bytes())
    except (OSError, ValueError):
        log.warning("booking file %s could not be read; its time is not blocked", path.name)
        return None
    if not isinstance(document, dict) or document.get("status") in ENDED:
        return None
    start = aware_time(document.get("start"))
    if start is None:
        return None
    end = aware_time(document.get("end"))
    if end is None or end <= start:
        end = start + _INSTANT
    doctor = document.get("doctor")
    return Busy(start, end, frozenset({doctor}) if isinstance(doctor, str) else None)
