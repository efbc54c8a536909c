"""OS errors as sentences a practice can act on, instead of `[Errno 17] File exists: …`."""

from __future__ import annotations

import errno


def explain_os_error(error: OSError, doing: str = "use") -> str:
    """One sentence: what failed on which path, and what to do about it.

    `doing` is the verb for the attempted action ("write to", "read", "create").
    """
    path = error.filename if error.filename is not None else "a file"
    code = error.errno
    if isinstance(error, FileExistsError) or code == errno.EEXIST:
        return (
            f"cannot {doing} {path}: something else already exists under that name; "
            "move it away or choose another path"
        )
    if isinstance(error, NotADirectoryError) or code == errno.ENOTDIR:
        return (
            f"cannot {doing} {path}: it (or a folder on its path) is a file, not a folder; "
            "choose a folder for --out or move that file away"
        )
    if isinstance(error, IsADirectoryError) or code == errno.EISDIR:
        return f"cannot {doing} {path}: it is a folder; give the path of a file"
    if isinstance(error, FileNotFoundError) or code == errno.ENOENT:
        return f"cannot {doing} {path}: it does not exist; check the path"
    if isinstance(error, PermissionError) or code in (errno.EACCES, errno.EPERM):
        return (
            f"cannot {doing} {path}: permission denied; run the client as the user that "
            "owns it, or give that user access (chown/chmod on Linux, icacls on Windows)"
        )
    if code == errno.ENOSPC or code == getattr(errno, "EDQUOT", None):
        return f"cannot {doing} {path}: the disk (or the user's quota) is full; free space"
    if code == errno.EROFS:
        return (
            f"cannot {doing} {path}: the file system is read-only (under systemd, add the "
            "folder to ReadWritePaths=)"
        )
    reason = error.strerror or type(error).__name__
    return f"cannot {doing} {path}: {reason}"
