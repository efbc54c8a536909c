"""`practice-client check` and `show-key` (practice_client/check.py) against a real relay."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest

from practice_client.__main__ import main
from practice_client.check import check
from practice_client.relay.keys import KeyPair, create_key_file, pin_relay_key
from practice_client.relay.retry import RetryPolicy
from practice_client.runner import RunConfig, run
from tests.test_practice_client_e2e import confirmed_booking, free_port, put_key

if TYPE_CHECKING:
    from tests.conftest import PracticeHandle, RunningRelay, SmtpSink

QUICK = RetryPolicy(start=0.01, cap=0.05, attempts=2)


class Console(io.StringIO):
    """A text stream that says which encoding it has, as a console does."""

    def __init__(self, encoding: str = "utf-8") -> None:
        super().__init__()
        self._encoding = encoding

    @property
    def encoding(self) -> str:
        return self._encoding


async def checked(
    relay_url: str, token: str, key_file: Path, out_dir: Path, encoding: str = "utf-8"
) -> tuple[int, list[str]]:
    console = Console(encoding)
    code = await check(relay_url, token, key_file, out_dir, policy=QUICK, out=console)
    return code, console.getvalue().splitlines()


def line_about(lines: list[str], words: str) -> str:
    (line,) = [line for line in lines if words in line]
    return line


async def test_a_good_set_up_passes_every_check_and_prints_the_public_key(
    relay: RunningRelay, practice: PracticeHandle, tmp_path: Path
) -> None:
    """Key file, token, relay, signing key, practice key, form page, folder: all ✓, exit 0."""
    code, lines = await checked(relay.url, practice.token, practice.key_file, tmp_path / "out")

    assert code == 0, lines
    assert len(lines) == 9
    assert line_about(lines, "booking form page").startswith("✓ ")
    assert all(line.startswith("✓ ") for line in lines[:-1]), lines
    assert lines[-1] == f"public key: {practice.public_key_b64}"
    assert "not pinned yet" in line_about(lines, "relay signing key")
    assert not (tmp_path / "out").exists(), "check created the output folder"


async def test_check_leaves_the_inbox_and_the_pin_untouched(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """A waiting booking stays visible (a run right after gets it) and nothing is pinned."""
    async with aiohttp.ClientSession() as http:
        await confirmed_booking(http, relay, practice.slug, smtp_sink)

    code, _ = await checked(relay.url, practice.token, practice.key_file, tmp_path / "out")
    assert code == 0
    assert not practice.key_file.with_name(practice.key_file.name + ".relay-key").exists()

    config = RunConfig(relay.url, practice.token, practice.key_file, tmp_path / "out", wait=0)
    assert await run(config, once=True) == 0
    assert len(list((tmp_path / "out").glob("*.json"))) == 1


async def test_a_rejected_token_fails_with_the_fix(
    relay: RunningRelay, practice: PracticeHandle, tmp_path: Path
) -> None:
    """A token with the right slug but a wrong secret: ✗ and how to get a new one."""
    wrong = practice.slug + ".not-the-secret"

    code, lines = await checked(relay.url, wrong, practice.key_file, tmp_path)

    assert code == 1
    line = line_about(lines, "rejects the token")
    assert line.startswith("✗ the relay rejects the token -> ")
    assert f"relay practice token {practice.slug}" in line


async def test_a_foreign_practice_key_and_a_changed_relay_key_fail(
    relay: RunningRelay, practice: PracticeHandle, tmp_path: Path
) -> None:
    """The relay seals to a key we do not hold, and the pinned relay key differs: two ✗."""
    async with aiohttp.ClientSession() as http:
        await put_key(http, relay, practice, bytes(KeyPair.generate().public_key))
    pin_relay_key(practice.key_file, b"\x01" * 32)

    code, lines = await checked(relay.url, practice.token, practice.key_file, tmp_path)

    assert code == 1
    assert line_about(lines, "not in our key file").startswith("✗ ")
    assert line_about(lines, "not the pinned").startswith("✗ ")
    assert line_about(lines, "accepts the token").startswith("✓ ")


async def test_an_unreachable_relay_and_missing_key_file_fail_clearly(tmp_path: Path) -> None:
    """Nothing listens there and there is no key file: ✗ with fixes, no public key line."""
    url = f"http://127.0.0.1:{free_port()}"

    code, lines = await checked(url, "praxis.secret", tmp_path / "none.key", tmp_path)

    assert code == 1
    assert line_about(lines, "key file").startswith("✗ cannot read key file")
    assert "practice-client keygen" in line_about(lines, "key file")
    assert line_about(lines, f"relay at {url}").startswith(f"✗ relay at {url} unreachable (")
    assert not any(line.startswith("public key") for line in lines)


async def test_an_output_path_that_is_a_file_fails_with_a_sentence(
    relay: RunningRelay, practice: PracticeHandle, tmp_path: Path
) -> None:
    """No raw `[Errno …]`: the line names the path and what is wrong."""
    blocker = tmp_path / "bookings"
    blocker.write_text("not a folder")

    code, lines = await checked(relay.url, practice.token, practice.key_file, blocker)

    assert code == 1
    line = line_about(lines, "output folder")
    assert line.startswith(f"✗ output folder {blocker}: {blocker} is not a folder")
    assert "Errno" not in "\n".join(lines)


async def test_a_console_without_check_marks_gets_ascii(
    relay: RunningRelay, practice: PracticeHandle, tmp_path: Path
) -> None:
    """A Windows code page cannot show ✓/✗; the lines say [ok]/[FAIL] there."""
    code, lines = await checked(
        relay.url, practice.token, practice.key_file, tmp_path, encoding="cp1252"
    )

    assert code == 0
    assert all(line.startswith("[ok] ") for line in lines[:-1]), lines


def test_show_key_prints_the_newest_public_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`show-key --key-file` prints the key to register, as its only output line."""
    key_file = tmp_path / "practice.key"
    pair = KeyPair.generate()
    create_key_file(key_file, pair)

    assert main(["show-key", "--key-file", str(key_file)]) == 0

    assert capsys.readouterr().out.splitlines() == [pair.public_key_b64]
    assert len(base64.b64decode(pair.public_key_b64)) == 32


def test_show_key_without_a_key_file_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing key file is one clear line, not a traceback."""
    assert main(["show-key", "--key-file", str(tmp_path / "missing.key")]) == 1

    error = capsys.readouterr().err
    assert "cannot read key file" in error
    assert "Traceback" not in error


async def test_the_token_comes_from_systemd_credentials(
    relay: RunningRelay,
    practice: PracticeHandle,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without --token, $CREDENTIALS_DIRECTORY/token (LoadCredential=) is read."""
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "token").write_text(practice.token + "\n")
    monkeypatch.delenv("PRACTICE_TOKEN", raising=False)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    argv = ["check", "--relay", relay.url, "--key-file", str(practice.key_file)]

    code = await _in_thread(main, [*argv, "--out", str(tmp_path / "out")])

    output = capsys.readouterr().out
    assert code == 0, output
    assert "✓ the relay accepts the token" in output


def test_a_token_file_with_two_lines_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--token-file must hold the token alone; anything else is a usage error."""
    token_file = tmp_path / "token"
    token_file.write_text("praxis.secret\nsomething else\n")
    monkeypatch.delenv("PRACTICE_TOKEN", raising=False)

    code = main(
        [
            *("check", "--relay", "http://127.0.0.1:1", "--token-file", str(token_file)),
            *("--key-file", str(tmp_path / "k"), "--out", str(tmp_path)),
        ]
    )

    assert code == 1
    assert "must hold the practice token on one line" in capsys.readouterr().err


async def _in_thread(function: Callable[[list[str]], int], argv: list[str]) -> int:
    """main() runs its own event loop; run it beside this test's loop."""
    return await asyncio.to_thread(function, argv)
