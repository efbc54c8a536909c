"""Key file, key rotation on disk and the pinned relay key (practice_client/relay/keys.py,
keygen)."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from practice_client.__main__ import main
from practice_client.relay.keys import (
    KeyFileError,
    KeyPair,
    create_key_file,
    load_key_ring,
    pin_relay_key,
    read_pinned_relay_key,
    relay_key_path,
    save_key_ring,
)

REPO = Path(__file__).resolve().parent.parent

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@posix_only
def test_keygen_creates_a_private_key_file_and_prints_the_public_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """keygen writes a 0600 key file and prints its public key as the last stdout line."""
    key_file = tmp_path / "practice.key"

    code = main(["keygen", "--key-file", str(key_file)])

    assert code == 0
    assert mode_of(key_file) == 0o600
    last_line = capsys.readouterr().out.splitlines()[-1]
    assert len(base64.b64decode(last_line, validate=True)) == 32
    content = json.loads(key_file.read_text())
    assert content["version"] == 1
    (entry,) = content["keys"]
    assert entry["public_key"] == last_line
    assert entry["created_at"].endswith("Z")
    assert load_key_ring(key_file).current.public_key_b64 == last_line


@posix_only
def test_keygen_file_is_private_even_with_a_permissive_umask(tmp_path: Path) -> None:
    """The key file is 0600 from its creation, whatever the umask allows."""
    previous = os.umask(0)
    try:
        create_key_file(tmp_path / "practice.key", KeyPair.generate())
    finally:
        os.umask(previous)
    assert mode_of(tmp_path / "practice.key") == 0o600


def test_keygen_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """keygen on an existing file exits 1 with a clear message and leaves the file alone."""
    key_file = tmp_path / "practice.key"
    key_file.write_text("precious")

    code = main(["keygen", "--key-file", str(key_file)])

    assert code == 1
    assert key_file.read_text() == "precious"
    captured = capsys.readouterr()
    assert "exists already" in captured.err
    assert "refusing to overwrite" in captured.err
    assert captured.out == ""


def test_keygen_takes_the_key_file_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """PRACTICE_KEY_FILE stands in for --key-file."""
    monkeypatch.setenv("PRACTICE_KEY_FILE", str(tmp_path / "from-env.key"))

    assert main(["keygen"]) == 0

    last_line = capsys.readouterr().out.splitlines()[-1]
    assert load_key_ring(tmp_path / "from-env.key").current.public_key_b64 == last_line


def test_keygen_in_a_missing_directory_fails_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key file path in a directory that does not exist: exit 1, a message, no traceback."""
    code = main(["keygen", "--key-file", str(tmp_path / "nowhere" / "practice.key")])

    assert code == 1
    err = capsys.readouterr().err
    assert "cannot create key file" in err
    assert "Traceback" not in err


@posix_only
def test_keygen_as_a_real_process(tmp_path: Path) -> None:
    """`python -m practice_client keygen` works and ends its output with the public key."""
    key_file = tmp_path / "practice.key"

    result = subprocess.run(
        [sys.executable, "-m", "practice_client", "keygen", "--key-file", str(key_file)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    last_line = result.stdout.splitlines()[-1]
    assert load_key_ring(key_file).current.public_key_b64 == last_line
    assert mode_of(key_file) == 0o600


@posix_only
def test_rewriting_the_key_ring_keeps_old_keys_newest_first_and_mode_0600(
    tmp_path: Path,
) -> None:
    """A rotation on disk puts the new pair first, keeps the old one and the file private."""
    key_file = tmp_path / "practice.key"
    ring = create_key_file(key_file, KeyPair.generate())
    old = ring.current

    new = KeyPair.generate()
    save_key_ring(key_file, ring.with_newest(new))

    reloaded = load_key_ring(key_file)
    assert [pair.public_key for pair in reloaded.pairs] == [new.public_key, old.public_key]
    assert reloaded.holds(old.public_key)
    assert mode_of(key_file) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["practice.key"]


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("not json", "malformed"),
        ('{"version": 2, "keys": []}', "version 1"),
        ('{"version": 1, "keys": []}', "non-empty"),
        ('{"version": 1, "keys": [{"private_key": "AAAA"}]}', "key 1"),
    ],
)
def test_malformed_key_files_are_refused_with_a_reason(
    tmp_path: Path, content: str, complaint: str
) -> None:
    """A malformed key file raises KeyFileError naming the problem."""
    key_file = tmp_path / "practice.key"
    key_file.write_text(content)

    with pytest.raises(KeyFileError, match=complaint):
        load_key_ring(key_file)


def test_a_public_key_that_does_not_match_its_private_key_is_refused(tmp_path: Path) -> None:
    """An edited key file whose public half belongs to another key is not trusted."""
    key_file = tmp_path / "practice.key"
    create_key_file(key_file, KeyPair.generate())
    content = json.loads(key_file.read_text())
    content["keys"][0]["public_key"] = KeyPair.generate().public_key_b64
    key_file.write_text(json.dumps(content))

    with pytest.raises(KeyFileError, match="does not belong"):
        load_key_ring(key_file)


def test_a_missing_key_file_is_a_key_file_error(tmp_path: Path) -> None:
    """A wrong path gives KeyFileError with the path, not a bare OSError."""
    with pytest.raises(KeyFileError, match="cannot read key file"):
        load_key_ring(tmp_path / "missing.key")


@posix_only
def test_the_relay_key_is_pinned_beside_the_key_file(tmp_path: Path) -> None:
    """The pinned relay key lives in {key_file}.relay-key, mode 0600, as base64."""
    key_file = tmp_path / "practice.key"
    relay_key = os.urandom(32)
    assert read_pinned_relay_key(key_file) is None

    pin_relay_key(key_file, relay_key)

    assert relay_key_path(key_file) == tmp_path / "practice.key.relay-key"
    assert read_pinned_relay_key(key_file) == relay_key
    assert base64.b64decode(relay_key_path(key_file).read_text().strip()) == relay_key
    assert mode_of(relay_key_path(key_file)) == 0o600
