"""Backoff, stopping, and failures detected before any network traffic (runner, retry)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from practice_client.__main__ import main
from practice_client.relay.api import RelayUnavailableError
from practice_client.relay.keys import KeyPair, create_key_file
from practice_client.relay.retry import (
    RelayUnreachableError,
    RetryPolicy,
    StopRequestedError,
    call_with_retries,
    until_stopped,
)
from practice_client.runner import RunConfig, practice_slug, run

TOKEN = f"praxis-test.{'A' * 43}"


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize("failures", [1, 2, 3, 5, 8, 20])
def test_backoff_is_full_jitter_below_an_exponential_ceiling(failures: int) -> None:
    """Each delay lies in [0, min(30, 0.5 * 2**(failures - 1))]."""
    policy = RetryPolicy()
    ceiling = min(30.0, 0.5 * 2 ** (failures - 1))

    delays = [policy.delay(failures) for _ in range(200)]

    assert all(0 <= delay <= ceiling for delay in delays)
    assert max(delays) > ceiling / 2  # jittered across the range, not a constant


async def test_retries_stop_after_the_allowed_attempts() -> None:
    """Where giving up is allowed, RelayUnreachableError follows `attempts` failures."""
    calls = 0

    async def failing() -> None:
        nonlocal calls
        calls += 1
        raise RelayUnavailableError("HTTP 503")

    with pytest.raises(RelayUnreachableError, match=r"http://relay\.test"):
        await call_with_retries(
            failing,
            policy=RetryPolicy(start=0.001, cap=0.002, attempts=5),
            stop=asyncio.Event(),
            give_up=True,
            relay_url="http://relay.test",
        )
    assert calls == 5


async def test_a_transient_failure_is_retried_until_it_succeeds() -> None:
    """Without giving up, a relay that recovers is simply used again."""
    answers = iter([RelayUnavailableError("reset"), RelayUnavailableError("503"), "ok"])

    async def flaky() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    result = await call_with_retries(
        flaky,
        policy=RetryPolicy(start=0.001, cap=0.002),
        stop=asyncio.Event(),
        give_up=False,
        relay_url="http://relay.test",
    )

    assert result == "ok"


async def test_a_stop_request_ends_a_long_wait_at_once() -> None:
    """A long poll or backoff wait is cut short when stop is set."""
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)

    with pytest.raises(StopRequestedError):
        await asyncio.wait_for(until_stopped(asyncio.sleep(30), stop), timeout=5)


def test_the_slug_is_the_token_part_before_the_first_dot() -> None:
    """praxis.a.b belongs to practice `praxis`."""
    assert practice_slug("praxis-test.abc.def") == "praxis-test"


async def test_a_malformed_token_exits_2_before_any_request(tmp_path: Path) -> None:
    """A token without `.` cannot be right: exit 2 at once."""
    key_file = tmp_path / "practice.key"
    create_key_file(key_file, KeyPair.generate())

    code = await run(RunConfig(closed_port_url(), "no-dot", key_file, tmp_path), once=True)

    assert code == 2


def test_a_missing_key_file_exits_1_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """run with a wrong key file path: exit 1 naming the file, no traceback."""
    missing = tmp_path / "missing.key"

    argv = ["run", "--relay", closed_port_url(), "--token", TOKEN, "--key-file", str(missing)]
    code = main([*argv, "--out", str(tmp_path / "out"), "--once"])

    assert code == 1
    err = capsys.readouterr().err
    assert f"cannot read key file {missing}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("extra", "complaint"),
    [
        (["--relay-key", "short"], "--relay-key"),
        (["--wait", "61"], "between 0 and 60"),
        (["--relay", "ftp://relay.test"], "http:// or https://"),
    ],
)
def test_bad_options_exit_1_with_the_option_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], complaint: str
) -> None:
    """Usage errors exit 1 (2 is reserved for a rejected token) and name the option."""
    argv = ["run", "--relay", "http://127.0.0.1:9", "--token", TOKEN]
    argv += ["--key-file", str(tmp_path / "k"), "--out", str(tmp_path), *extra]

    assert main(argv) == 1
    assert complaint in capsys.readouterr().err


def test_settings_come_from_the_environment_and_the_command_line_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """PRACTICE_* variables fill missing options; an option given on the command line wins."""
    monkeypatch.setenv("PRACTICE_RELAY", "http://127.0.0.1:9")
    monkeypatch.setenv("PRACTICE_TOKEN", TOKEN)
    monkeypatch.setenv("PRACTICE_KEY_FILE", str(tmp_path / "from-env.key"))
    monkeypatch.setenv("PRACTICE_OUT", str(tmp_path / "out"))

    code = main(["run", "--once", "--key-file", str(tmp_path / "from-cli.key")])

    assert code == 1
    err = capsys.readouterr().err
    assert "from-cli.key" in err
    assert "from-env.key" not in err
