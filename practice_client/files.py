"""Durable file writes: a file either appears complete or not at all, even after a crash."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path

# Windows opens files in text mode unless told otherwise; elsewhere the flag does not exist.
_O_BINARY: int = getattr(os, "O_BINARY", 0)
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY


def write_atomically(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace `path` with `data`: temp file in the same directory, fsync, rename, fsync dir.

    The temp file is created with `mode` from the start, so there is never a moment in
    which the content is readable by others.
    """
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        _write_new_file(temp, data, mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    fsync_directory(path.parent)


def create_exclusively(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Create `path` with `data`; FileExistsError if it exists (nothing is overwritten)."""
    _write_new_file(path, data, mode)
    fsync_directory(path.parent)


def _write_new_file(path: Path, data: bytes, mode: int) -> None:
    descriptor = os.open(path, _NEW_FILE, mode)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise


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
