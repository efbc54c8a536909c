"""`--exec CMD`: a command run for each booking written, before it is acknowledged.

The command gets the booking's file paths as arguments and is started without a shell.
Its environment is minimal on purpose: the client's own environment holds the practice
token, and nothing of a booking may reach a process table or a crash dump through an
environment variable. It gets PATH (and SYSTEMROOT on Windows, without which Windows
programs fail), TERMINRELAY_BOOKING_ID and TERMINRELAY_EVENT (`booking`; `cancellation`
when a patient cancelled, with the booking's files, now marked cancelled; `reply` and
`reschedule` when the patient answered a proposal or moved the booking; `rejected` when
a browser-sealed booking's sealed part was refused, with `{id}.rejected.json` only).

Its output is read (so it cannot block on a full pipe) but never logged: a script may
well print the patient's name. Only the exit code and the output's size are logged.

A hook runs at least once per booking: if the acknowledgement is lost after it
succeeded, the booking comes back and the hook runs again. Scripts must therefore
tolerate a booking id they have seen (it is in TERMINRELAY_BOOKING_ID).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0
# Output is counted and dropped chunk by chunk: nothing of it is kept, however much.
_READ_CHUNK = 16 * 1024
# After a kill, how long to wait for the process to be gone.
_REAP_SECONDS = 5.0


class HookCommandError(ValueError):
    """The --exec command line cannot be split into a program and its arguments."""


def split_command(command: str, *, windows: bool | None = None) -> list[str]:
    """The argument list of `command`, split as documented for this platform.

    POSIX: shell word rules (shlex), without a shell. Windows: split at white space
    outside double quotes; backslashes are kept (they are path separators there) and one
    pair of surrounding double quotes is removed from each word.
    """
    on_windows = os.name == "nt" if windows is None else windows
    try:
        words = shlex.split(command, posix=not on_windows)
    except ValueError as error:
        raise HookCommandError(f"--exec {command!r} cannot be split: {error}") from error
    if on_windows:
        words = [
            word[1:-1] if len(word) >= 2 and word[0] == word[-1] == '"' else word for word in words
        ]
    if not words:
        raise HookCommandError("--exec needs a command")
    return words


def hook_environment(booking_id: str, event: str) -> dict[str, str]:
    """The hook's whole environment: nothing from the client's own but PATH (+SYSTEMROOT)."""
    environment = {"TERMINRELAY_BOOKING_ID": booking_id, "TERMINRELAY_EVENT": event}
    path = os.environ.get("PATH")
    if path is not None:
        environment["PATH"] = path
    if os.name == "nt":
        root = os.environ.get("SYSTEMROOT")
        if root is not None:
            environment["SYSTEMROOT"] = root
    return environment


@dataclass(frozen=True)
class HookResult:
    ok: bool
    problem: str = ""  # for the log: an exit code or what went wrong, never output


@dataclass(frozen=True)
class Hook:
    command: str
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        split_command(self.command)  # fail at start-up, not at the first booking

    async def run(
        self, booking_id: str, paths: Sequence[Path], *, event: str = "booking"
    ) -> HookResult:
        """Run the command for one booking; whether it exited 0 within the timeout."""
        argv = [*split_command(self.command), *(str(path) for path in paths)]
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=hook_environment(booking_id, event),
                # Its own process group on POSIX, so a timeout also ends what it started.
                start_new_session=os.name == "posix",
            )
        except OSError as error:
            return HookResult(False, f"cannot start {argv[0]!r}: {error.strerror or error}")
        try:
            size, code = await asyncio.wait_for(_finished(process), self.timeout)
        except TimeoutError:
            await _kill(process)
            return HookResult(False, f"no exit within {self.timeout:g} s; it was stopped")
        if code != 0:
            said = f", {size} bytes of output not shown" if size else ""
            return HookResult(False, f"exit code {code}{said}")
        return HookResult(True)


async def _finished(process: asyncio.subprocess.Process) -> tuple[int, int]:
    """Read the output to its end, keeping nothing; (its size, the exit code)."""
    size = 0
    if process.stdout is not None:
        while chunk := await process.stdout.read(_READ_CHUNK):
            size += len(chunk)
    return size, await process.wait()


async def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), _REAP_SECONDS)
