"""Durable file writes: a file either appears complete or not at all, even after a crash.

Why a temporary file at all, when it holds the same plaintext as the final one: rename
is the only step a POSIX file system makes atomic. Writing `{id}.json` in place would let
a crash leave a half-written file under the final name, which the practice software would
read and the de-duplication would take for done. So the bytes go to a temporary file in
the same directory (same file system, so the rename cannot turn into a copy), created
with O_EXCL and mode 0600 (never readable by others, never someone else's file), fsynced,
then renamed over the final name, and the directory fsynced so the rename survives a
power cut. The temporary file is plaintext only for that window. A crash inside the window
(kill -9, power cut) leaves it behind; its name follows a fixed pattern of ours
(`.terminrelay-tmp.{name}.{random}`), and `remove_stale_temps` deletes such leftovers
when the client starts, while it holds the directory lock, so it can never delete a temp
file another client is still writing.

Bookings arrive in batches (up to 100 per poll), and per-file durability made fsync most
of the client's time: four per booking (two files, two directory syncs). `DurableBatch`
writes a batch's files as a group and keeps every guarantee of a single write:
- each file's temp is fsynced before it is renamed (data before name), several at once
  in a few threads: fsync waits on the disk, and concurrent ones share a journal commit;
- each group's marker (a booking's `{id}.json`) is renamed only after the group's other
  files are renamed and the directory synced, so on any POSIX file system a marker that
  survives a power cut means the rest survived too: a directory sync for all other files
  of the batch, then one for all markers;
- `commit` returns only once the last directory sync is done, and the caller
  acknowledges only then.
So a batch costs one fsync per file (in parallel) and two directory syncs (one when it
has only markers), instead of two fsyncs per file.

On Linux a larger batch goes further: its temp files are all written first, then one
syncfs(2) on the directory flushes their data to stable storage together (one journal
commit and one cache flush instead of one per file), and only then is each file fsynced,
which finds nothing left to write and costs next to nothing, but still reports a write
error of that very file (syncfs reports them only since Linux 5.8, and on some file
systems, such as NFS, does not commit at all: there the fsync does the work as before).
So the guarantee is the per-file fsync's, whatever syncfs did. The price: syncfs also
flushes what other programs wrote to that file system and not yet synced, which the
kernel would write within half a minute anyway.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

try:
    import grp
except ImportError:  # Windows
    grp = None  # type: ignore[assignment]

# Windows opens files in text mode unless told otherwise; elsewhere the flag does not exist.
_O_BINARY: int = getattr(os, "O_BINARY", 0)
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY

TEMP_PREFIX = ".terminrelay-tmp."
_TEMP_RANDOM_HEX = 16
_TEMP_NAME = re.compile(re.escape(TEMP_PREFIX) + rf".+\.[0-9a-f]{{{_TEMP_RANDOM_HEX}}}")


class DirectoryBusyError(Exception):
    """Another process holds the lock on the directory."""


# Who may read what the client writes. Bookings hold health data: by default only the
# client's own user. `--file-mode 0640 --group praxis` lets practice software running as
# another user of that group read them; folders get the matching x bits (0750).
OWNER_ONLY = 0o600


@dataclass(frozen=True)
class FileAccess:
    mode: int = OWNER_ONLY
    group: int | None = None  # a gid; None keeps the user's primary group

    @property
    def directory_mode(self) -> int:
        """The mode for folders: each read bit of `mode` with its x bit, so it can be entered."""
        return self.mode | ((self.mode & 0o444) >> 2)

    @property
    def is_default(self) -> bool:
        return self.mode == OWNER_ONLY and self.group is None


def posix_permissions_supported() -> bool:
    """Whether modes and groups mean anything here (not on Windows: ACLs decide there)."""
    return os.name == "posix" and hasattr(os, "fchmod") and hasattr(os, "fchown")


def parse_file_mode(text: str) -> int:
    """An octal mode such as 0640 or 640; ValueError unless the owner may read and write."""
    try:
        mode = int(text, 8)
    except ValueError:
        raise ValueError(f"{text!r} is not an octal file mode such as 0640") from None
    if not 0 <= mode <= 0o777:
        raise ValueError(f"{text!r} is not a file mode between 0000 and 0777")
    if mode & 0o600 != 0o600:
        raise ValueError(f"{text!r} must let the owner read and write (at least 0600)")
    if mode & 0o111:
        raise ValueError(f"{text!r} makes booking files executable; use a mode such as 0640")
    if mode & 0o002:
        raise ValueError(f"{text!r} lets every local user change bookings; use 0640 or 0660")
    return mode


def resolve_group(text: str) -> int:
    """A group name or number as a gid; ValueError if there is no such group or no groups."""
    if grp is None or os.name != "posix":
        raise ValueError(
            "groups exist only on Linux and other POSIX systems; on Windows grant access "
            "to the folder with icacls (see docs/windows.md)"
        )
    if text.isdigit():
        gid = int(text)
    else:
        try:
            gid = grp.getgrnam(text).gr_gid
        except KeyError:
            raise ValueError(f"there is no group {text!r} on this machine") from None
    # Only root may give a file to a group its owner is not in; say so now, not per file.
    if os.geteuid() != 0 and gid != os.getegid() and gid not in os.getgroups():
        raise ValueError(
            f"this user is not a member of group {text!r}, so it cannot give files to it; "
            "add it (usermod -aG GROUP USER) and start the client again"
        )
    return gid


def temp_name_for(path: Path) -> Path:
    """A fresh temporary name beside `path`, recognisable by `is_temp_name`."""
    return path.with_name(f"{TEMP_PREFIX}{path.name}.{secrets.token_hex(_TEMP_RANDOM_HEX // 2)}")


def is_temp_name(name: str) -> bool:
    return _TEMP_NAME.fullmatch(name) is not None


# Files of a batch written and fsynced at once. Measured on ext4 (2 cores, shared disk):
# 1,000 new files took about 310 ms one at a time, 112 ms with 8 threads and 126 ms with
# 16 to 64; in bench/drain_bench.py 4 and 16 threads were no faster than 8. It also
# bounds the descriptors open at once.
WRITE_THREADS = 8
# From this many files on a batch is synced with one syncfs (Linux); fewer (a booking
# arriving alone) are fsynced one by one and flush nothing of other programs. Measured on
# ext4 (2 cores): 2,000 files took 270-300 ms and 360-410 ms of CPU with fsync in 8
# threads, 110-170 ms and 80-130 ms of CPU with syncfs and an fsync each after it.
SYNCFS_MIN_FILES = 8
# A batch holds every one of its files open until they are synced; beyond this many it
# takes the path of one fsync per file, which holds WRITE_THREADS at a time. A poll
# brings at most 100 bookings of at most 3 files.
SYNCFS_MAX_FILES = 512

SyncFile = Callable[[int], None]
SyncDirectory = Callable[[Path], None]


@dataclass
class _Group:
    """Files that belong together (a booking's), the marker last."""

    key: str
    files: list[tuple[Path, Path, bytes]]  # (final path, temp path, data)
    remove_after: tuple[Path, ...]
    error: OSError | None = None
    renamed: set[Path] = field(default_factory=set)  # temp paths that became final ones

    def discard_temps(self) -> None:
        for _, temp, _ in self.files:
            if temp not in self.renamed:
                with contextlib.suppress(FileNotFoundError):
                    temp.unlink()


class DurableBatch:
    """Groups of files in one directory, made durable together by `commit`.

    Each group (one booking: its .ics, .fhir.json, then its .json marker) is written
    completely or its marker not at all; see the module docstring for the order. A
    failing group (a full disk) does not stop the others. Nothing touches the disk before
    `commit`. `sync_file` and `sync_directory` replace os.fsync and fsync_directory, for
    tests that record the order.
    """

    def __init__(
        self,
        directory: Path,
        *,
        access: FileAccess | None = None,
        threads: int = WRITE_THREADS,
        sync_file: SyncFile | None = None,
        sync_directory: SyncDirectory | None = None,
    ) -> None:
        self.directory = directory
        self.access = access or FileAccess()
        self.threads = threads
        self._sync_file = sync_file
        self._sync_directory = sync_directory
        self._groups: dict[str, _Group] = {}

    def __contains__(self, key: object) -> bool:
        return key in self._groups

    def __len__(self) -> int:
        return len(self._groups)

    def add(
        self, key: str, files: Sequence[tuple[Path, bytes]], *, remove_after: Sequence[Path] = ()
    ) -> None:
        """Stage `files` (path, data) under `key`, the marker last; `remove_after` are
        deleted once the marker is durable (a kept cancellation the booking now carries)."""
        if key in self._groups:
            raise ValueError(f"{key} is in this batch already")
        if not files:
            raise ValueError("a group needs at least its marker file")
        for path, _ in files:
            if path.parent != self.directory:
                raise ValueError(f"{path} is not in {self.directory}")
        self._groups[key] = _Group(
            key, [(path, temp_name_for(path), data) for path, data in files], tuple(remove_after)
        )

    def commit(self) -> dict[str, OSError]:
        """Write, fsync, rename and sync everything staged; the keys of failed groups.

        On return every other group is durable, and so are files of this directory written
        before (a redelivered booking found complete is acknowledged after this, too).
        OSError if a directory sync fails: then nothing of the batch counts as durable.
        Temp files never outlive the call, whatever fails.
        """
        groups = list(self._groups.values())
        self._groups.clear()  # a batch commits once
        try:
            self._write_temps(groups)
            if self._rename(groups, markers=False):
                self._sync(self.directory)
            self._rename(groups, markers=True)
            self._sync(self.directory)
        finally:
            for group in groups:
                group.discard_temps()
        for group in groups:
            if group.error is None:
                for path in group.remove_after:
                    path.unlink(missing_ok=True)
        return {group.key: group.error for group in groups if group.error is not None}

    def _write_temps(self, groups: list[_Group]) -> None:
        """Write and fsync every temp file; a failure becomes its group's error. All
        writes have ended on return (also on an exception): no temp file can appear after
        the caller deleted the leftovers."""
        jobs = [(group, temp, data) for group in groups for _, temp, data in group.files]
        if SYNCFS_MIN_FILES <= len(jobs) <= SYNCFS_MAX_FILES and _syncfs_available():
            self._write_temps_then_syncfs(jobs)
        else:
            self._write_and_fsync_temps(jobs)

    def _write_temps_then_syncfs(self, jobs: list[tuple[_Group, Path, bytes]]) -> None:
        """Write every temp file, flush them all with one syncfs, then fsync each (see the
        module docstring): the same guarantee as `_write_and_fsync_temps`, a fraction of
        the disk waits."""
        written: list[tuple[_Group, int]] = []
        try:
            for group, temp, data in jobs:
                if group.error is not None:
                    continue  # a file of its group failed: its marker will not be renamed
                try:
                    descriptor = _create_new_file(temp, self.access.mode, self.access.group)
                except OSError as error:
                    group.error = error
                    continue
                written.append((group, descriptor))
                try:
                    _write_all(descriptor, data)
                except OSError as error:
                    group.error = error
            _syncfs(self.directory)
            for group, descriptor in written:
                if group.error is None:
                    try:
                        self._fsync(descriptor)
                    except OSError as error:
                        group.error = error
        finally:
            for _, descriptor in written:
                os.close(descriptor)

    def _write_and_fsync_temps(self, jobs: list[tuple[_Group, Path, bytes]]) -> None:
        """Write and fsync every temp file, several at once."""

        def write(job: tuple[_Group, Path, bytes]) -> OSError | None:
            _, temp, data = job
            try:
                self._write(temp, data)
            except OSError as error:
                return error
            return None

        if len(jobs) <= 1 or self.threads <= 1:
            results = [write(job) for job in jobs]
        else:
            threads = min(self.threads, len(jobs))
            with ThreadPoolExecutor(threads, thread_name_prefix="terminrelay-write") as pool:
                results = list(pool.map(write, jobs))
        for (group, _, _), error in zip(jobs, results, strict=True):
            group.error = group.error or error

    def _write(self, temp: Path, data: bytes) -> None:
        _write_new_file(temp, data, self.access.mode, self.access.group, self._fsync)

    def _rename(self, groups: list[_Group], *, markers: bool) -> bool:
        """Rename the markers, or every other file, of the groups without error so far."""
        renamed = False
        for group in groups:
            if group.error is not None:
                continue
            files = group.files[-1:] if markers else group.files[:-1]
            for final, temp, _ in files:
                try:
                    os.replace(temp, final)
                except OSError as error:
                    group.error = error
                    break
                group.renamed.add(temp)
                renamed = True
        return renamed

    def _fsync(self, descriptor: int) -> None:
        (self._sync_file or os.fsync)(descriptor)

    def _sync(self, directory: Path) -> None:
        (self._sync_directory or fsync_directory)(directory)


def write_atomically(
    path: Path, data: bytes, *, mode: int = OWNER_ONLY, group: int | None = None
) -> None:
    """Replace `path` with `data`: temp file in the same directory, fsync, rename, fsync dir.

    The temp file gets `mode` and `group` before any byte is written, so there is never a
    moment in which the content is readable by anyone else.
    """
    temp = temp_name_for(path)
    try:
        _write_new_file(temp, data, mode, group)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    fsync_directory(path.parent)


def create_exclusively(path: Path, data: bytes, *, mode: int = OWNER_ONLY) -> None:
    """Create `path` with `data`; FileExistsError if it exists (nothing is overwritten)."""
    _write_new_file(path, data, mode, None)
    fsync_directory(path.parent)


def remove_stale_temps(directory: Path) -> int:
    """Delete temp files an interrupted write left in `directory`; how many there were.

    Only call this while holding `locked_directory(directory)`: a temp file of a
    running writer looks exactly like a stale one.
    """
    removed = 0
    with os.scandir(directory) as entries:
        for entry in entries:
            # Regular files only: what we create. A directory or link of that name is not ours.
            if is_temp_name(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
    if removed:
        fsync_directory(directory)
    return removed


@contextlib.contextmanager
def locked_directory(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on `directory` (flock on the directory itself, no lock file).

    DirectoryBusyError if another process holds it. The kernel drops the lock when the
    process dies, kill -9 included, so a crash never leaves the directory locked.
    """
    if fcntl is None or os.name == "nt":
        # No flock on Windows: two clients on one folder are then not prevented, and the
        # start-up cleanup of one could remove a temp file the other is writing. That
        # write then fails and its booking is delivered again later; nothing is lost.
        yield
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise DirectoryBusyError(
                f"another practice-client is already writing to {directory}"
            ) from error
        yield
    finally:
        os.close(descriptor)  # closing the descriptor releases the lock


def make_directory(directory: Path, access: FileAccess) -> None:
    """Create `directory` (and missing parents) with `access.directory_mode` and its group.

    An existing directory is left as it is: it may be shared, and its owner chose its mode.
    """
    if directory.is_dir():
        return
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if posix_permissions_supported() and not access.is_default:
        # mkdir's mode passes through the umask; the chmod afterwards is exact.
        if access.group is not None:
            os.chown(directory, -1, access.group)
        os.chmod(directory, access.directory_mode)


def _write_new_file(
    path: Path, data: bytes, mode: int, group: int | None, sync: SyncFile | None = None
) -> None:
    descriptor = _create_new_file(path, mode, group)
    try:
        _write_all(descriptor, data)
        (sync or os.fsync)(descriptor)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise
    finally:
        os.close(descriptor)


def _create_new_file(path: Path, mode: int, group: int | None) -> int:
    """A descriptor of the new file `path`, with `mode` and `group`, before any byte."""
    # Created owner-only; widened to `mode` (exactly, whatever the umask) only after the
    # group is set, so a group reader never sees the file under the wrong group.
    descriptor = os.open(path, _NEW_FILE, mode & OWNER_ONLY)
    try:
        if posix_permissions_supported():
            if group is not None:
                os.fchown(descriptor, -1, group)
            if mode != mode & OWNER_ONLY:
                os.fchmod(descriptor, mode)
    except BaseException:
        os.close(descriptor)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise
    return descriptor


def _write_all(descriptor: int, data: bytes) -> None:
    # os.write may write less than asked (a signal, a full pipe); a file object would
    # loop the same way, at the cost of a buffer per file.
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]


@functools.cache
def _syncfs_function() -> Callable[[int], int] | None:
    """libc's syncfs (Linux), or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # noqa: PLC0415 - only here, so that starting the client stays quick

    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (AttributeError, OSError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return cast(Callable[[int], int], function)


def _syncfs_available() -> bool:
    return _syncfs_function() is not None


def _syncfs(directory: Path) -> None:
    """Flush the file system holding `directory` to stable storage (syncfs(2))."""
    function = _syncfs_function()
    if function is None:
        raise RuntimeError("syncfs is not available here")
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        if function(descriptor) != 0:
            import ctypes  # noqa: PLC0415 - loaded already by _syncfs_function

            number = ctypes.get_errno()
            raise OSError(number, os.strerror(number), str(directory))
    finally:
        os.close(descriptor)


def fsync_directory(directory: Path) -> None:
    """Make a rename in `directory` survive a power cut."""
    if os.name == "nt":
        return  # Windows cannot open a directory for fsync; NTFS journals the rename itself
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    except OSError as error:
        # Some file systems (certain network mounts) do not support fsync on a directory.
        if error.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(descriptor)
