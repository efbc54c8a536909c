"""`run` options for handing bookings over: formats, the --exec hook, file mode and group.

Also where the practice token comes from when it is not on the command line: a file
(`--token-file`, or systemd's `$CREDENTIALS_DIRECTORY/token` from `LoadCredential=`).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from practice_client.handover.files import (
    OWNER_ONLY,
    FileAccess,
    parse_file_mode,
    posix_permissions_supported,
    resolve_group,
)
from practice_client.handover.hooks import DEFAULT_TIMEOUT, Hook, HookCommandError
from practice_client.handover.sink import CALENDAR_FORMAT, DEFAULT_FORMATS, parse_formats
from practice_client.i18n import gettext as _

# A token is a short line; anything far larger is the wrong file.
_MAX_TOKEN_FILE_BYTES = 4096
CREDENTIAL_NAME = "token"


@dataclass(frozen=True)
class Handover:
    formats: tuple[str, ...]
    access: FileAccess
    hook: Hook | None


def add_handover_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        default=",".join(DEFAULT_FORMATS),
        metavar="LIST",
        help=_(
            "files per booking: json (always), ics, fhir (FHIR R4 transaction Bundle); "
            "caldav: also an event in the CalDAV calendar (--caldav or [caldav.write] in "
            "--rules); default json,ics"
        ),
    )
    parser.add_argument(
        "--exec",
        dest="exec_command",
        metavar="CMD",
        help=_(
            "run CMD with the booking's file paths as arguments after writing them; the "
            "booking is acknowledged only if CMD exits 0 (no shell; see the README)"
        ),
    )
    parser.add_argument(
        "--exec-timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=_("stop CMD after this long and retry the booking later (default %(default)s)")
        % {"default": f"{DEFAULT_TIMEOUT:g}"},
    )
    parser.add_argument(
        "--file-mode",
        metavar="MODE",
        help=_(
            "mode of booking files, e.g. 0640 (default 0600; folders get matching x bits); "
            "Linux/macOS only"
        ),
    )
    parser.add_argument(
        "--group",
        metavar="GROUP",
        help=_(
            "group (name or number) of booking files and folders, so practice software "
            "running as another user in it can read them; Linux/macOS only"
        ),
    )


def handover(args: argparse.Namespace, *, calendar: bool = False) -> Handover:
    """The settings of those options; ValueError with a message naming the option.
    `calendar`: the bookings also go into a CalDAV calendar (the formats then hold
    `caldav`, whether --format named it or the rules' [caldav.write] did)."""
    try:
        formats = parse_formats(args.format)
    except ValueError as error:
        raise ValueError(f"--format: {error}") from error
    if calendar and CALENDAR_FORMAT not in formats:
        formats = (*formats, CALENDAR_FORMAT)
    hook = None
    if args.exec_command is not None:
        try:
            hook = Hook(args.exec_command, timeout=args.exec_timeout)
        except HookCommandError as error:
            raise ValueError(str(error)) from error
    return Handover(formats, _access(args.file_mode, args.group), hook)


def _access(file_mode: str | None, group: str | None) -> FileAccess:
    if file_mode is None and group is None:
        return FileAccess()
    if not posix_permissions_supported():
        option = "--file-mode" if file_mode is not None else "--group"
        raise ValueError(
            f"{option} works on Linux and macOS only; on Windows give the practice "
            "software's account read access to the folder with icacls (docs/windows.md)"
        )
    try:
        mode = parse_file_mode(file_mode) if file_mode is not None else OWNER_ONLY
    except ValueError as error:
        raise ValueError(f"--file-mode: {error}") from error
    try:
        gid = resolve_group(group) if group is not None else None
    except ValueError as error:
        raise ValueError(f"--group: {error}") from error
    if gid is not None and mode & 0o040 == 0:
        # A group that may not read is pointless; the usual wish is 0640.
        mode |= 0o040
    return FileAccess(mode, gid)


def read_token_file(path: Path) -> str:
    """The token in `path` (surrounding white space removed); ValueError if unusable."""
    try:
        with path.open("rb") as stream:
            raw = stream.read(_MAX_TOKEN_FILE_BYTES + 1)
    except OSError as error:
        raise ValueError(f"cannot read token file {path}: {error.strerror or error}") from error
    if len(raw) > _MAX_TOKEN_FILE_BYTES:
        raise ValueError(f"token file {path} is far larger than a token")
    try:
        token = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise ValueError(f"token file {path} holds no token (not ASCII text)") from None
    if not token or any(character.isspace() for character in token):
        raise ValueError(f"token file {path} must hold the practice token on one line")
    return token


def credential_token_file() -> Path | None:
    """systemd's `LoadCredential=token:…` file, if the service has one."""
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    path = Path(directory) / CREDENTIAL_NAME
    return path if path.is_file() else None


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < seconds <= 3600:
        raise argparse.ArgumentTypeError("must be more than 0 and at most 3600")
    return seconds
