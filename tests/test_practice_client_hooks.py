"""`--exec CMD` (practice_client/handover/hooks.py): run per booking, acknowledge only on
success."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

from practice_client.__main__ import main
from practice_client.handover.hooks import Hook, HookCommandError, hook_environment, split_command
from practice_client.relay.retry import RetryPolicy
from practice_client.runner import RunConfig, run
from tests.helpers import wait_until_async
from tests.test_practice_client_e2e import client_log, confirmed_booking, raw_inbox

if TYPE_CHECKING:
    from tests.conftest import RelayFactory, SmtpSink

QUICK_RETRIES = RetryPolicy(start=0.02, cap=0.1, attempts=5)

# A hook that records its arguments and environment, then exits with $HOOK_EXIT's code
# read from a file (the environment is not passed on, so the file says it).
RECORDER = """
import json, os, sys
from pathlib import Path
here = Path(sys.argv[0]).parent
record = {"args": sys.argv[1:], "env": dict(os.environ)}
with open(here / "calls.jsonl", "a", encoding="utf-8") as calls:
    calls.write(json.dumps(record) + "\\n")
print("Zerlina Quastenflosser said hello")  # output that must never reach a log
sys.exit(int((here / "exit_code").read_text()))
"""


def recorder(tmp_path: Path, exit_code: int = 0) -> tuple[str, Path]:
    """(--exec command, folder of the record) for the recording hook."""
    folder = tmp_path / "hook"
    folder.mkdir(exist_ok=True)
    (folder / "hook.py").write_text(RECORDER, encoding="utf-8")
    (folder / "exit_code").write_text(str(exit_code), encoding="utf-8")
    return f"{sys.executable} {folder / 'hook.py'}", folder


def files_exist(paths: list[str]) -> bool:
    return all(Path(path).is_file() for path in paths)


def calls(folder: Path) -> list[dict[str, Any]]:
    path = folder / "calls.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_posix_commands_split_like_a_shell_without_one() -> None:
    """Quotes group words; no shell expands anything."""
    assert split_command("/opt/import 'a b' --x=$HOME", windows=False) == [
        "/opt/import",
        "a b",
        "--x=$HOME",
    ]


def test_windows_commands_keep_backslashes_and_drop_quotes() -> None:
    """Paths with backslashes survive; a quoted path with spaces becomes one word."""
    assert split_command(r'"C:\Program Files\PVS\import.exe" /q C:\in', windows=True) == [
        r"C:\Program Files\PVS\import.exe",
        "/q",
        r"C:\in",
    ]


@pytest.mark.parametrize("command", ["", "   ", "'unclosed"])
def test_an_unusable_command_is_refused_at_start(command: str) -> None:
    """A command that cannot be split fails when the hook is made, not per booking."""
    with pytest.raises(HookCommandError):
        Hook(command)


def test_the_environment_holds_no_secret_and_no_booking_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only PATH and the two TERMINRELAY_ variables, never the practice token."""
    monkeypatch.setenv("PRACTICE_TOKEN", "praxis.secret")
    monkeypatch.setenv("HOME", "/home/praxis")

    environment = hook_environment("b-1", "booking")

    assert set(environment) == {"PATH", "TERMINRELAY_BOOKING_ID", "TERMINRELAY_EVENT"}
    assert environment["TERMINRELAY_BOOKING_ID"] == "b-1"


async def test_a_hook_gets_the_paths_and_a_minimal_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real process sees the paths as arguments and no variable of the client."""
    monkeypatch.setenv("PRACTICE_TOKEN", "praxis.secret")
    command, folder = recorder(tmp_path)
    paths = [tmp_path / "b-1.json", tmp_path / "b 1.ics"]

    result = await Hook(command).run("b-1", paths)

    assert result.ok
    (call,) = calls(folder)
    assert call["args"] == [str(path) for path in paths]
    # Python itself may add LC_CTYPE on start-up; nothing else may appear.
    assert set(call["env"]) - {"LC_CTYPE"} == {
        "PATH",
        "TERMINRELAY_BOOKING_ID",
        "TERMINRELAY_EVENT",
    }
    assert call["env"]["TERMINRELAY_EVENT"] == "booking"


async def test_a_failing_hook_reports_its_exit_code_and_not_its_output(tmp_path: Path) -> None:
    """Exit code 3 is a failure; the problem names the code and hides what it printed."""
    command, _ = recorder(tmp_path, exit_code=3)

    result = await Hook(command).run("b-1", [])

    assert not result.ok
    assert "exit code 3" in result.problem
    assert "Zerlina" not in result.problem


async def test_a_missing_program_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    """A command that does not exist fails this booking with a message."""
    result = await Hook(str(tmp_path / "no-such-program")).run("b-1", [])

    assert not result.ok
    assert "cannot start" in result.problem


async def test_a_hook_over_its_timeout_is_stopped_with_its_children(tmp_path: Path) -> None:
    """A hung command is killed (with what it started) after the timeout."""
    script = tmp_path / "hang.py"
    marker = tmp_path / "child.pid"
    script.write_text(
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        f"open({str(marker)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(300)\n",
        encoding="utf-8",
    )
    started = time.monotonic()

    result = await Hook(f"{sys.executable} {script}", timeout=2).run("b-1", [])

    assert not result.ok
    assert "no exit within 2 s" in result.problem
    assert time.monotonic() - started < 60, "the timeout did not stop the hook"
    if os.name == "posix":
        child = int(marker.read_text())
        deadline = time.monotonic() + 10
        while _alive(child):
            assert time.monotonic() < deadline, "the hook's child survived the timeout"
            await asyncio.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its init) counts as gone.
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split()[2] == "Z")


async def test_a_booking_is_acknowledged_only_after_its_hook_succeeds(
    relay_factory: RelayFactory,
    smtp_sink: SmtpSink,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Hook fails: files stay, no ack, redelivered; next run the hook succeeds and it is acked."""
    caplog.set_level(logging.INFO)
    relay = await relay_factory(inbox_visibility=1)
    practice = await relay.add_practice()
    out_dir = tmp_path / "bookings"
    command, folder = recorder(tmp_path, exit_code=1)
    config = RunConfig(
        relay.url,
        practice.token,
        practice.key_file,
        out_dir,
        wait=0,
        retry=QUICK_RETRIES,
        formats=("json", "ics", "fhir"),
        hook=Hook(command, timeout=30),
    )
    async with aiohttp.ClientSession() as http:
        # Given a confirmed booking and a hook that fails
        submitted = await confirmed_booking(http, relay, practice.slug, smtp_sink)

        # When the client runs once
        first = await run(config, once=True)

        # Then the files are written, the run fails, and the booking stays in the inbox
        assert first == 1
        (call,) = calls(folder)
        booking_id = Path(call["args"][0]).stem
        assert [Path(arg).name for arg in call["args"]] == [
            f"{booking_id}.json",
            f"{booking_id}.ics",
            f"{booking_id}.fhir.json",
        ]
        assert files_exist(call["args"])
        handed_out = await wait_until_async(
            lambda: raw_inbox(http, relay, practice),
            "the unacknowledged booking to be handed out again",
            seconds=15,
        )
        assert [item["id"] for item in handed_out] == [booking_id]

        # When the hook is fixed and the client runs again once the booking is due
        (folder / "exit_code").write_text("0", encoding="utf-8")
        codes: list[int] = []

        async def second_run_called_the_hook() -> bool:
            codes.append(await run(config, once=True))
            return len(calls(folder)) == 2

        await wait_until_async(
            second_run_called_the_hook, "a run that hands the booking to the hook", seconds=15
        )

        # Then the hook ran again for the booking already written, and it is acknowledged
        assert codes[-1] == 0
        await asyncio.sleep(1.2)  # past the visibility timeout: only a deleted item stays away
        assert await raw_inbox(http, relay, practice) == []

    log = client_log(caplog)
    assert f"the --exec command failed for booking {booking_id} (exit code 1" in log
    assert "summary: 0 written, 0 cancelled, 0 refused, 1 already there" in log
    for value in (submitted["first_name"], submitted["last_name"], "Zerlina"):
        assert value not in log


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--format", "ics"], "--format: the formats must include json"),
        (["--exec", "'unclosed"], "cannot be split"),
        (["--exec-timeout", "0"], "more than 0"),
    ],
)
def test_bad_handover_options_are_usage_errors(
    options: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Refused before anything runs: exit 1 and a line naming the option."""
    client_logger = logging.getLogger("practice_client")  # main() sets its handler: undone
    monkeypatch.setattr(client_logger, "handlers", [])
    argv = ["run", "--relay", "http://127.0.0.1:9", "--token", "praxis.secret"]
    argv += ["--key-file", str(tmp_path / "k"), "--out", str(tmp_path), *options]

    assert main(argv) == 1

    assert message in capsys.readouterr().err
