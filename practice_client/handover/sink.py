"""Bookings out as files: `{id}.ics` and `{id}.fhir.json` if asked for, then `{id}.json`,
each written atomically.

The .json file is written last, so its presence means the booking is complete; it is also
what de-duplicates a booking the relay delivers again. A crash between the files leaves
others without the .json: the booking is not acknowledged, comes back, and is written
again in full.

A booking is written with the status it arrives with (`booked` or `proposed`) and
`"sequence": 0`. Each change after (changes.py: a patient's cancellation or reply notice,
the practice's answer) rewrites the booking's files in place: the .json's `status` and
what changed, the .ics STATUS and SEQUENCE, the FHIR status; again .json last, so it
says what changed only once the others do. Delivery is at least once and in no fixed
order, so a notice may come before its booking: it is then kept as
`{booking id}.cancellation.json`, `{booking id}.reply.json` or
`{booking id}.reschedule.json` (no patient data: the ids, the times, the reply, the new
slot; of several moves the latest) and applied when the booking arrives.

With `--format …,caldav` every version also leaves `{id}.caldav-pending` beside the
files, in the same batch before the .json: caldav_write.py puts the event into the
calendar and removes it, so a calendar that cannot be written is retried, after a restart
too, and never holds up the files or the acknowledgement.

A browser-sealed booking whose sealed part cannot be written (docs/protocol.md, "What
the practice client checks") becomes `{id}.rejected.json` instead: what the relay's
signed envelope says (who to call back, for which time) and why it was refused.

The runner stages a whole batch of bookings (`batch`, `stage_write`, `stage_cancel`) and
commits it at once (files.DurableBatch: parallel fsyncs, two directory syncs per batch);
`write` and `cancel` are the same for one booking, durable when they return.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import re
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from practice_client.handover.changes import (
    CANCELLATION,
    NOTICE_TYPES,
    REPLY,
    RESCHEDULE,
    RescheduleMismatch,
    applied_before,
    kept_record,
    newer_reschedule,
    with_notice,
)
from practice_client.handover.fhir import render_bundle
from practice_client.handover.files import (
    DurableBatch,
    FileAccess,
    locked_directory,
    make_directory,
    posix_permissions_supported,
    remove_stale_temps,
)
from practice_client.handover.ics import render_calendar
from practice_client.handover.status import arriving_status
from practice_client.limits import JsonRejectedError, load_json

log = logging.getLogger(__name__)

# Booking ids become file names: nothing that could leave the directory or hide a file.
_SAFE_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,127}")

# Bookings hold health data; by default only the client's own user may read them.
BOOKING_FILE_MODE = 0o600

# Every format the client writes, in the order the files are written: `json` last.
FORMATS = ("ics", "fhir", "json")
DEFAULT_FORMATS = ("json", "ics")
_SUFFIXES = {"json": ".json", "ics": ".ics", "fhir": ".fhir.json"}
# A notice that came before its booking, until the booking arrives.
KEPT_CANCELLATION_SUFFIX = ".cancellation.json"
KEPT_SUFFIXES = {
    CANCELLATION: KEPT_CANCELLATION_SUFFIX,
    REPLY: ".reply.json",
    RESCHEDULE: ".reschedule.json",
}
# `--format …,caldav`: the booking's last version has still to reach the calendar.
CALENDAR_FORMAT = "caldav"
CALENDAR_MARKER_SUFFIX = ".caldav-pending"
CALENDAR_MARKER_BYTES = b"{}\n"
# A browser-sealed booking whose sealed part was refused: the envelope's data and why.
REJECTED_SUFFIX = ".rejected.json"
# A booking file the client wrote is a few kilobytes; anything far larger is not one.
MAX_BOOKING_FILE_BYTES = 1024 * 1024

# What a notice did: rewrote the booking's files, found it applied already (or the
# booking cancelled), was kept for a booking not written yet, or found kept already.
NoticeOutcome = Literal["applied", "applied_before", "kept", "kept_before"]
CancelOutcome = NoticeOutcome
Notice = Mapping[str, object]


def usable_booking_id(booking_id: str) -> bool:
    """Whether `booking_id` is safe as a file name and in a log line."""
    return _SAFE_ID.fullmatch(booking_id) is not None


def parse_formats(text: str) -> tuple[str, ...]:
    """`json,ics,fhir` as a tuple; ValueError for an unknown format or one without json."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    known = sorted([*_SUFFIXES, CALENDAR_FORMAT])
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown format {unknown[0]!r}; choose from {', '.join(known)}")
    if "json" not in names:
        raise ValueError(
            "the formats must include json: {id}.json marks a booking as completely written"
        )
    return tuple(dict.fromkeys(names))


class BookingSink:
    def __init__(
        self,
        out_dir: Path,
        *,
        formats: Sequence[str] = DEFAULT_FORMATS,
        access: FileAccess | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.out_dir = out_dir
        self.formats = tuple(name for name in FORMATS if name in formats)
        if "json" not in self.formats:
            raise ValueError("the formats must include json")
        # Whether each version is also marked for the practice's CalDAV calendar.
        self.calendar = CALENDAR_FORMAT in formats
        self.access = access or FileAccess()
        self._clock = clock

    def prepare(self) -> None:
        """Create the output directory if needed; OSError if that is impossible."""
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(self.out_dir))
        make_directory(self.out_dir, self.access)
        self._warn_if_closed()

    def _warn_if_closed(self) -> None:
        """An existing folder is not changed; say so if it keeps the group readers out."""
        if self.access.is_default or not posix_permissions_supported():
            return
        status = self.out_dir.stat()
        wanted = self.access.directory_mode
        group_ok = self.access.group is None or status.st_gid == self.access.group
        if stat.S_IMODE(status.st_mode) & wanted != wanted or not group_ok:
            log.warning(
                "the output folder %s has mode %04o and group %d, so the readers meant by "
                "--file-mode/--group may not be able to open it; run: chgrp GROUP %s && "
                "chmod %04o %s",
                self.out_dir,
                stat.S_IMODE(status.st_mode),
                status.st_gid,
                self.out_dir,
                wanted,
                self.out_dir,
            )

    @contextlib.contextmanager
    def claimed(self) -> Iterator[int]:
        """Hold the output directory for this process; yields how many stale temps went.

        Temp files of writes a crash interrupted hold plaintext bookings; they are removed
        here, under the lock, so they cannot belong to another running client.
        """
        self.prepare()
        with locked_directory(self.out_dir):
            yield remove_stale_temps(self.out_dir)

    def paths(self, booking_id: str) -> tuple[Path, Path]:
        """(.json, .ics) of a booking; ValueError for an id unfit as a file name."""
        files = self._files(booking_id)
        return files["json"], self.out_dir / f"{booking_id}.ics"

    def files(self, booking_id: str) -> list[Path]:
        """The files of a booking in this sink's formats: .json first, then .ics, .fhir.json."""
        files = self._files(booking_id)
        return [files[name] for name in ("json", "ics", "fhir") if name in self.formats]

    def _files(self, booking_id: str) -> dict[str, Path]:
        if not usable_booking_id(booking_id):
            raise ValueError("booking id is not usable as a file name")
        return {name: self.out_dir / f"{booking_id}{_SUFFIXES[name]}" for name in self.formats}

    def batch(self) -> DurableBatch:
        """An empty batch of writes into the output folder, for `stage_write`/`stage_cancel`."""
        return DurableBatch(self.out_dir, access=self.access)

    def write(self, booking: Mapping[str, object], *, kept: Sequence[Notice] = ()) -> bool:
        """Write a booking durably now; False if it was written before (a redelivery)."""
        batch = self.batch()
        written = self.stage_write(batch, booking, kept=kept)
        if written:
            _commit(batch)
        return written

    def apply(self, notice: Mapping[str, object]) -> NoticeOutcome:
        """Apply a notice (cancellation or reply) durably now (see `stage_notice`)."""
        batch = self.batch()
        outcome = self.stage_notice(batch, notice)
        if len(batch):
            _commit(batch)
        return outcome

    cancel = apply

    def stage_write(
        self,
        batch: DurableBatch,
        booking: Mapping[str, object],
        *,
        kept: Sequence[Notice] = (),
    ) -> bool:
        """Stage a booking's files in `batch`; False if it was written before (a redelivery).
        With the notices `kept` for it (`kept_notices`), it is written as they leave it.

        Decided from the files on disk: a batch must not hold the same booking twice.
        """
        booking_id = str(booking["id"])
        files = self._files(booking_id)
        if files["json"].exists():
            return False
        # The status it arrives with (the signed one, else by its kind), revision 0.
        document: dict[str, object] = {
            **booking,
            "status": arriving_status(booking),
            "sequence": 0,
        }
        for notice in kept:
            if not applied_before(document, notice):
                try:
                    document = with_notice(document, notice)
                except RescheduleMismatch as mismatch:
                    # Acknowledged when it was kept; refused now, with one line for staff.
                    log.error(  # noqa: TRY400 - one line, never a traceback
                        "REFUSED %s; booking %s is written unmoved", mismatch, booking_id
                    )
        batch.add(
            booking_id,
            self._rendered(booking_id, document),  # json last
            # Applied once the booking's .json carries them.
            remove_after=[self._kept_path(booking_id, str(n["type"])) for n in kept],
        )
        return True

    def stage_notice(self, batch: DurableBatch, notice: Mapping[str, object]) -> NoticeOutcome:
        """Stage a notice (envelope-checked) in `batch`: its booking's files rewritten, or
        the notice kept until the booking arrives. RescheduleMismatch (a ValueError) for a
        reschedule naming another doctor or type than the booking."""
        booking_id = str(notice["booking_id"])
        json_path = self._files(booking_id)["json"]
        if json_path.exists():
            booking = self.read_booking(booking_id)
            if applied_before(booking, notice):
                return "applied_before"
            self.stage_rewrite(batch, with_notice(booking, notice))
            return "applied"
        kept = self._kept_path(booking_id, str(notice["type"]))
        if kept.exists() and (
            notice["type"] != RESCHEDULE or not newer_reschedule(notice, _read_json(kept))
        ):
            return "kept_before"
        batch.add(booking_id, [(kept, _json_bytes(kept_record(notice)))])
        return "kept"

    def stage_cancel(self, batch: DurableBatch, notice: Mapping[str, object]) -> NoticeOutcome:
        """Stage a patient's cancellation notice (`stage_notice`)."""
        return self.stage_notice(batch, notice)

    def stage_rewrite(self, batch: DurableBatch, booking: Mapping[str, object]) -> None:
        """Stage a written booking's new version (changes.py): every file rewritten, .json
        last, so it says what changed only once the others do."""
        self._check_not_in(batch, str(booking["id"]))
        batch.add(str(booking["id"]), self._rendered(str(booking["id"]), booking, rewrite=True))

    def rewrite(self, booking: Mapping[str, object]) -> None:
        """A written booking's new version, durably now (`stage_rewrite`)."""
        batch = self.batch()
        self.stage_rewrite(batch, booking)
        _commit(batch)

    def _check_not_in(self, batch: DurableBatch, booking_id: str) -> None:
        if booking_id in batch:
            raise ValueError(f"booking {booking_id} is in this batch already")

    def _rendered(
        self, booking_id: str, booking: Mapping[str, object], *, rewrite: bool = False
    ) -> list[tuple[Path, bytes]]:
        """The booking's files and their bytes, json last; with `rewrite` also a format no
        longer asked for whose file is there (no file may go on saying what changed), and
        the calendar's marker (caldav_write.py) when the calendar is written."""
        paths = [(name, self.out_dir / f"{booking_id}{_SUFFIXES[name]}") for name in FORMATS]
        files = [
            (path, self._render(name, booking))
            for name, path in paths
            if name in self.formats or (rewrite and path.exists())
        ]
        if self.calendar:
            files.insert(-1, (self.calendar_marker(booking_id), CALENDAR_MARKER_BYTES))
        return files

    def calendar_marker(self, booking_id: str) -> Path:
        """`{id}.caldav-pending`: the calendar has not got the booking's last version."""
        if not usable_booking_id(booking_id):
            raise ValueError("booking id is not usable as a file name")
        return self.out_dir / f"{booking_id}{CALENDAR_MARKER_SUFFIX}"

    def stage_reject(self, batch: DurableBatch, record: Mapping[str, object]) -> bool:
        """Stage `{id}.rejected.json`; False if it, or the booking itself, was written
        before (a redelivery)."""
        booking_id = str(record["id"])
        path = self.rejected_path(booking_id)
        if path.exists() or self._files(booking_id)["json"].exists():
            return False
        batch.add(booking_id, [(path, _json_bytes(record))])
        return True

    def rejected_path(self, booking_id: str) -> Path:
        """Where a refused browser-sealed booking is written; ValueError for an unfit id."""
        if not usable_booking_id(booking_id):
            raise ValueError("booking id is not usable as a file name")
        return self.out_dir / f"{booking_id}{REJECTED_SUFFIX}"

    def kept_notices(self, booking_id: str) -> list[dict[str, object]]:
        """The notices kept for a booking not yet written, in the order to apply them: a
        reply, a move, then a cancellation (which ends the booking whatever came before)."""
        kept = []
        for kind in NOTICE_TYPES:
            path = self._kept_path(booking_id, kind)
            if path.exists():
                kept.append({**_read_json(path), "type": kind})
        return kept

    def kept_cancellation(self, booking_id: str) -> dict[str, object] | None:
        """The cancellation kept for a booking not yet written, if any."""
        path = self._kept_path(booking_id, CANCELLATION)
        return _read_json(path) if path.exists() else None

    def read_booking(self, booking_id: str) -> dict[str, object]:
        """A booking's .json as written; ValueError if it is not a booking document."""
        return _read_json(self._files(booking_id)["json"])

    def _kept_path(self, booking_id: str, kind: str = CANCELLATION) -> Path:
        if not usable_booking_id(booking_id):
            raise ValueError("booking id is not usable as a file name")
        return self.out_dir / f"{booking_id}{KEPT_SUFFIXES[kind]}"

    def _render(self, name: str, booking: Mapping[str, object]) -> bytes:
        if name == "ics":
            return render_calendar(booking, now=self._clock())
        if name == "fhir":
            return render_bundle(booking)
        return _json_bytes(booking)


def _commit(batch: DurableBatch) -> None:
    """Commit a batch of one booking; its OSError if it failed."""
    for error in batch.commit().values():
        raise error


def _read_json(path: Path) -> dict[str, object]:
    """A JSON object the client wrote; ValueError if it is not one (or far too large)."""
    if path.stat().st_size > MAX_BOOKING_FILE_BYTES:
        raise ValueError(f"{path.name} is larger than any booking file")
    try:
        document = load_json(path.read_bytes())
    except (JsonRejectedError, ValueError) as error:
        raise ValueError(f"{path.name} is not readable JSON: {error}") from error
    if not isinstance(document, dict):
        # ValueError, like every other way a file can fail to be a booking here.
        raise ValueError(f"{path.name} is not a JSON object")  # noqa: TRY004
    return document


def _json_bytes(booking: Mapping[str, object]) -> bytes:
    return (json.dumps(booking, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode()
