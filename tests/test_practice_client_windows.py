"""The client's Windows branches, run here by simulating Windows.

Nothing in practice_client may need a POSIX-only call on Windows: locking, directory
fsync, modes and groups, signal handlers, the hook's command line, environment and kill.
These tests send each of those code paths through its Windows branch on this machine:
the client modules see an `os` whose name is "nt" and lacks the POSIX-only calls, while
pathlib and pytest keep the real one (pathlib would otherwise make WindowsPaths).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path, PureWindowsPath

import pytest

from practice_client import runner
from practice_client.handover import files, hooks
from practice_client.handover import options as handover_options
from practice_client.handover.files import FileAccess, locked_directory, write_atomically
from practice_client.handover.sink import BookingSink
from practice_client.relay import keys
from tests.test_practice_client_sink import NOW, booking

# What Windows' os module lacks of the calls the client could reach.
POSIX_ONLY = frozenset({"fchmod", "fchown", "chown", "killpg", "geteuid", "getegid", "getgroups"})


class WindowsOs:
    """The os module as the client modules would see it on Windows."""

    name = "nt"

    def __getattr__(self, attribute: str) -> object:
        if attribute in POSIX_ONLY:
            raise AttributeError(f"module 'os' has no attribute {attribute!r} on Windows")
        return getattr(os, attribute)


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client modules see Windows' os, and no fcntl or grp module."""
    for module in (files, hooks, keys, handover_options):
        monkeypatch.setattr(module, "os", WindowsOs())
    monkeypatch.setattr(files, "grp", None)
    monkeypatch.setattr(files, "fcntl", None)


@pytest.mark.usefixtures("windows")
def test_the_folder_lock_is_a_no_op_without_flock(tmp_path: Path) -> None:
    """Two holders at once: Windows has no flock, so nothing is locked and nothing fails."""
    with locked_directory(tmp_path), locked_directory(tmp_path):
        pass


@pytest.mark.usefixtures("windows")
def test_files_are_written_without_directory_fsync_modes_or_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No os.open of a folder, no fchmod/fchown: the Windows write path still completes."""
    calls: list[str] = []
    real_open = os.open

    def watched_open(path: object, flags: int, mode: int = 0o777) -> int:
        if Path(str(path)).is_dir():
            calls.append("open a folder")
        return real_open(path, flags, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", watched_open)

    write_atomically(tmp_path / "b.json", b"{}", mode=0o640, group=1234)

    assert (tmp_path / "b.json").read_bytes() == b"{}"
    assert calls == []


@pytest.mark.usefixtures("windows")
def test_a_sink_with_every_format_works_on_windows(tmp_path: Path) -> None:
    """Prepare (claim, clean up) and write all three formats through the Windows branches."""
    sink = BookingSink(tmp_path / "out", formats=("json", "ics", "fhir"), clock=lambda: NOW)
    document = booking()

    with sink.claimed() as stale:
        assert stale == 0
        assert sink.write(document)

    assert sorted(path.name for path in sink.out_dir.iterdir()) == sorted(
        f"{document['id']}{suffix}" for suffix in (".json", ".ics", ".fhir.json")
    )


@pytest.mark.usefixtures("windows")
@pytest.mark.parametrize(("file_mode", "group"), [("0640", None), (None, "praxis")])
def test_file_mode_and_group_are_refused_with_a_pointer_to_icacls(
    file_mode: str | None, group: str | None
) -> None:
    """--file-mode and --group mean nothing on Windows: a clear error, not a silent no-op."""
    args = argparse.Namespace(
        format="json,ics",
        exec_command=None,
        exec_timeout=60.0,
        file_mode=file_mode,
        group=group,
    )

    with pytest.raises(ValueError, match="icacls"):
        handover_options.handover(args)


@pytest.mark.usefixtures("windows")
def test_a_group_name_cannot_be_resolved_without_groups() -> None:
    """resolve_group explains that Windows uses ACLs."""
    with pytest.raises(ValueError, match="Windows"):
        files.resolve_group("praxis")


@pytest.mark.usefixtures("windows")
def test_the_hook_gets_systemroot_and_a_windows_command_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SYSTEMROOT passes (Windows programs need it); quotes group a path with spaces."""
    monkeypatch.setenv("SYSTEMROOT", r"C:\Windows")
    monkeypatch.setenv("USERPROFILE", r"C:\Users\praxis")

    environment = hooks.hook_environment("b-1", "booking")

    assert environment["SYSTEMROOT"] == r"C:\Windows"
    assert "USERPROFILE" not in environment
    assert hooks.split_command(r'"C:\Praxis Software\import.exe" --in C:\Termine') == [
        r"C:\Praxis Software\import.exe",
        "--in",
        r"C:\Termine",
    ]


async def test_the_hook_is_killed_without_process_groups_on_windows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On Windows the timeout kills the process itself (there is no killpg)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import time; time.sleep(300)", start_new_session=True
    )
    monkeypatch.setattr(hooks, "os", WindowsOs())

    await hooks._kill(process)

    assert process.returncode is not None


@pytest.mark.usefixtures("windows")
def test_an_exposed_key_file_is_not_judged_by_posix_modes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Key-file modes mean nothing on Windows: no warning about 0644 there."""
    key_file = tmp_path / "practice.key"
    keys.create_key_file(key_file, keys.KeyPair.generate())
    key_file.chmod(0o644)
    caplog.set_level(logging.WARNING)

    keys.load_key_ring(key_file)

    assert "should be 0600" not in caplog.text


def test_windows_paths_name_the_pinned_relay_key_beside_the_key_file() -> None:
    """%ProgramData%\\Terminrelay\\practice.key pins beside itself, as on Linux."""
    key_file = PureWindowsPath(r"C:\ProgramData\Terminrelay\practice.key")

    assert keys.relay_key_path(key_file) == PureWindowsPath(  # type: ignore[arg-type]
        r"C:\ProgramData\Terminrelay\practice.key.relay-key"
    )


async def test_the_run_loop_starts_where_signal_handlers_cannot_be_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Windows' event loop raises NotImplementedError for signal handlers; no crash."""
    loop = asyncio.get_running_loop()

    def unsupported(*_: object) -> None:
        raise NotImplementedError

    monkeypatch.setattr(loop, "add_signal_handler", unsupported)
    stop = asyncio.Event()

    with runner._stopping_on_signals(stop):
        pass

    assert not stop.is_set()


def test_default_file_access_needs_no_posix_calls() -> None:
    """The default (owner only, no group) is what Windows gets; it asks for nothing."""
    assert FileAccess().is_default
    assert FileAccess(0o640).directory_mode == 0o750
    assert FileAccess(0o660).directory_mode == 0o770
