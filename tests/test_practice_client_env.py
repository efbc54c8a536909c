"""PRACTICE_* variables for the slot and hand-over options of `run` and `publish`, as a
systemd unit's Environment= or EnvironmentFile= sets them; the command line wins."""

from __future__ import annotations

import asyncio
import grp
import json
import os
import stat
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest

from practice_client.__main__ import main
from tests.helpers import BERLIN, READY_SECONDS
from tests.test_practice_client_e2e import confirmed_booking

if TYPE_CHECKING:
    from tests.conftest import PracticeHandle, RunningRelay, SmtpSink

TOKEN = f"praxis-test.{'A' * 43}"
RULES = """
name = "Praxis Dr. Beispiel"
time_zone = "Europe/Berlin"
horizon_days = 3
lead_time = "0m"

[appointment_types]
"Sprechstunde" = 60

[[doctors]]
name = "Dr. A. Beispiel"
[doctors.hours]
mo-so = ["09:00-12:00"]
"""
HOOK = """
import json, os, sys
from pathlib import Path
with open(Path(sys.argv[0]).with_name("calls.jsonl"), "a", encoding="utf-8") as calls:
    calls.write(json.dumps({"args": sys.argv[1:], "env": dict(os.environ)}) + "\\n")
"""


@pytest.fixture
def slot_files(tmp_path: Path) -> tuple[Path, Path]:
    """Opening hours 09-12 daily and a calendar busy tomorrow 09-10 (one slot)."""
    rules = tmp_path / "opening-hours.toml"
    rules.write_text(RULES, encoding="utf-8")
    tomorrow = datetime.now(BERLIN).date() + timedelta(days=1)
    calendar = tmp_path / "praxis.ics"
    calendar.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:busy\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:{tomorrow:%Y%m%d}"
        f"T090000\r\nDTEND;TZID=Europe/Berlin:{tomorrow:%Y%m%d}T100000\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n",
        encoding="utf-8",
    )
    return rules, calendar


def test_publish_takes_rules_and_calendar_from_the_environment(
    slot_files: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """PRACTICE_RULES and PRACTICE_BUSY_ICS stand in for --rules and --busy-ics."""
    rules, calendar = slot_files
    monkeypatch.setenv("PRACTICE_RULES", str(rules))
    monkeypatch.setenv("PRACTICE_BUSY_ICS", str(calendar))

    assert main(["publish", "--dry-run"]) == 0

    out = capsys.readouterr().out
    assert "1 slots busy in the calendar" in out
    assert "not published (--dry-run)" in out


def test_a_calendar_on_the_command_line_overrules_the_other_kind_in_the_environment(
    slot_files: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--busy-ics wins over PRACTICE_CALDAV and its user and password file."""
    rules, calendar = slot_files
    password_file = tmp_path / "caldav-password"
    password_file.write_text("secret\n", encoding="utf-8")
    monkeypatch.setenv("PRACTICE_RULES", str(rules))
    monkeypatch.setenv("PRACTICE_CALDAV", "http://127.0.0.1:9/praxis/termine/")
    monkeypatch.setenv("PRACTICE_CALDAV_USER", "praxis")
    monkeypatch.setenv("PRACTICE_CALDAV_PASSWORD_FILE", str(password_file))

    assert main(["publish", "--dry-run", "--busy-ics", str(calendar)]) == 0

    captured = capsys.readouterr()
    assert "1 slots busy in the calendar" in captured.out
    assert "CalDAV" not in captured.out + captured.err


def test_two_calendars_in_the_environment_are_refused(
    slot_files: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """PRACTICE_BUSY_ICS and PRACTICE_CALDAV together: a usage error naming both."""
    rules, calendar = slot_files
    monkeypatch.setenv("PRACTICE_RULES", str(rules))
    monkeypatch.setenv("PRACTICE_BUSY_ICS", str(calendar))
    monkeypatch.setenv("PRACTICE_CALDAV", "http://127.0.0.1:9/praxis/termine/")

    assert main(["publish", "--dry-run"]) == 1

    assert "PRACTICE_BUSY_ICS and PRACTICE_CALDAV name two calendars" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("PRACTICE_PUBLISH_EVERY", "soon", "PRACTICE_PUBLISH_EVERY: 'soon' is not a duration"),
        ("PRACTICE_FORMAT", "json,xml", "--format:"),
        ("PRACTICE_EXEC", "'unclosed", "--exec"),
        ("PRACTICE_FILE_MODE", "0999", "--file-mode:"),
        ("PRACTICE_GROUP", "no-such-group-terminrelay", "--group:"),
    ],
)
def test_run_reads_each_hand_over_variable(
    variable: str,
    value: str,
    complaint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bad value in a variable is refused at start, as the option's would be."""
    monkeypatch.setenv("PRACTICE_RELAY", "http://127.0.0.1:9")
    monkeypatch.setenv("PRACTICE_TOKEN", TOKEN)
    monkeypatch.setenv("PRACTICE_KEY_FILE", str(tmp_path / "practice.key"))
    monkeypatch.setenv("PRACTICE_OUT", str(tmp_path / "out"))
    monkeypatch.setenv(variable, value)

    assert main(["run", "--once"]) == 1

    assert complaint in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


async def test_run_hands_over_as_the_environment_says(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """A service configured only by variables writes FHIR too, 0640 in its group, and runs
    the hook with the file paths."""
    # Given a confirmed booking and a client configured only by its environment
    async with aiohttp.ClientSession() as http:
        await confirmed_booking(http, relay, practice.slug, smtp_sink)
    hook = tmp_path / "hook" / "hook.py"
    hook.parent.mkdir()
    hook.write_text(HOOK, encoding="utf-8")
    out_dir = tmp_path / "out"
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("RELAY_", "PRACTICE_"))},
        "PRACTICE_RELAY": relay.url,
        "PRACTICE_TOKEN": practice.token,
        "PRACTICE_KEY_FILE": str(practice.key_file),
        "PRACTICE_OUT": str(out_dir),
        "PRACTICE_FORMAT": "json,ics,fhir",
        "PRACTICE_EXEC": f"{sys.executable} {hook}",
        "PRACTICE_FILE_MODE": "0640",
        "PRACTICE_GROUP": grp.getgrgid(os.getgid()).gr_name,
    }

    # When it drains the inbox
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "practice_client", "run", "--once", "--wait", "0"),
        env=environment,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), READY_SECONDS)

    # Then the booking is there in three formats, readable by the group, and the hook ran
    assert process.returncode == 0, err.decode()
    (document,) = out_dir.glob("*.fhir.json")
    booking_id = document.name.removesuffix(".fhir.json")
    files = [out_dir / f"{booking_id}{suffix}" for suffix in (".json", ".ics", ".fhir.json")]
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path.name
        assert path.stat().st_gid == os.getgid()
    (call,) = [json.loads(line) for line in hook.with_name("calls.jsonl").read_text().splitlines()]
    assert sorted(call["args"]) == sorted(str(path) for path in files)
    assert call["env"]["TERMINRELAY_BOOKING_ID"] == booking_id
    assert practice.token not in json.dumps(call["env"])


def test_a_token_and_a_token_file_in_the_environment_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """PRACTICE_TOKEN and PRACTICE_TOKEN_FILE together: a usage error naming both."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    monkeypatch.setenv("PRACTICE_TOKEN", TOKEN)
    monkeypatch.setenv("PRACTICE_TOKEN_FILE", str(token_file))

    assert main(["check", "--relay", "http://127.0.0.1:9", "--key-file", "k", "--out", "o"]) == 1

    error = capsys.readouterr().err
    assert "PRACTICE_TOKEN and PRACTICE_TOKEN_FILE both give the token: set one" in error
    assert "Traceback" not in error


def test_the_token_file_variable_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """PRACTICE_TOKEN_FILE alone names the file the token is read from (a missing one is
    a usage error naming it)."""
    missing = tmp_path / "no-such-token"
    monkeypatch.delenv("PRACTICE_TOKEN", raising=False)
    monkeypatch.setenv("PRACTICE_TOKEN_FILE", str(missing))

    assert main(["check", "--relay", "http://127.0.0.1:9", "--key-file", "k", "--out", "o"]) == 1

    assert f"cannot read token file {missing}" in capsys.readouterr().err
