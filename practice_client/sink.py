"""Bookings out as files: `{id}.ics`, then `{id}.json`, each written atomically.

The .json file is written last, so its presence means the booking is complete; it is also
what de-duplicates a booking the relay delivers again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from practice_client.files import write_atomically
from practice_client.ics import render_calendar

# Booking ids become file names: nothing that could leave the directory or hide a file.
_SAFE_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,127}")

# Bookings hold health data; the practice software reads them as the same user.
BOOKING_FILE_MODE = 0o600


class BookingSink:
    def __init__(
        self, out_dir: Path, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.out_dir = out_dir
        self._clock = clock

    def prepare(self) -> None:
        """Create the output directory if needed; OSError if that is impossible."""
        self.out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.out_dir.is_dir():
            raise NotADirectoryError(f"{self.out_dir} is not a directory")

    def paths(self, booking_id: str) -> tuple[Path, Path]:
        """(.json, .ics) of a booking; ValueError for an id unfit as a file name."""
        if not _SAFE_ID.fullmatch(booking_id):
            raise ValueError("booking id is not usable as a file name")
        return self.out_dir / f"{booking_id}.json", self.out_dir / f"{booking_id}.ics"

    def write(self, booking: Mapping[str, object]) -> bool:
        """Write a booking; False if it was written before (a redelivery)."""
        json_path, ics_path = self.paths(str(booking["id"]))
        if json_path.exists():
            return False
        write_atomically(
            ics_path, render_calendar(booking, now=self._clock()), mode=BOOKING_FILE_MODE
        )
        write_atomically(json_path, _json_bytes(booking), mode=BOOKING_FILE_MODE)
        return True


def _json_bytes(booking: Mapping[str, object]) -> bytes:
    return (json.dumps(booking, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode()
