"""`relay practice ...` and `relay keys new` as real commands against a real Redis."""

from __future__ import annotations

import base64
import subprocess
import sys

from nacl.public import PrivateKey

from relay.settings import Settings
from tests.conftest import subprocess_env


def relay_command(
    redis_url: str | None, *args: str, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """`python -m relay ARGS` as a real process, with RELAY_REDIS_URL only if given."""
    env = subprocess_env(RELAY_REDIS_URL=redis_url) if redis_url else subprocess_env()
    return subprocess.run(
        [sys.executable, "-m", "relay", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=check,
    )


def public_key() -> str:
    return base64.b64encode(bytes(PrivateKey.generate().public_key)).decode()


def test_practice_add_list_token_remove(redis_url: str) -> None:
    """A practice is added (token as last line), listed, re-tokened and removed."""
    key = public_key()
    added = relay_command(
        redis_url, "practice", "add", "praxis-nord", "--name", "Praxis Nord", "--public-key", key
    )
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip().splitlines()[-1]
    assert token.startswith("praxis-nord.")

    again = relay_command(
        redis_url, "practice", "add", "praxis-nord", "--name", "X", "--public-key", key
    )
    assert again.returncode == 1
    assert "exists already" in again.stderr

    listed = relay_command(redis_url, "practice", "list")
    assert listed.stdout.splitlines() == [f"praxis-nord\tPraxis Nord\t{key}"]

    renewed = relay_command(redis_url, "practice", "token", "praxis-nord")
    new_token = renewed.stdout.strip().splitlines()[-1]
    assert new_token.startswith("praxis-nord.")
    assert new_token != token

    removed = relay_command(redis_url, "practice", "remove", "praxis-nord")
    assert removed.returncode == 0
    assert relay_command(redis_url, "practice", "list").stdout == ""
    missing = relay_command(redis_url, "practice", "remove", "praxis-nord")
    assert missing.returncode == 1
    assert "no practice praxis-nord" in missing.stderr


def test_practice_add_rejects_bad_input(redis_url: str) -> None:
    """A bad key or slug is refused with a message and nothing is registered."""
    bad_key = relay_command(
        redis_url, "practice", "add", "praxis", "--name", "P", "--public-key", "abc"
    )
    assert bad_key.returncode == 1
    assert "--public-key" in bad_key.stderr
    bad_slug = relay_command(
        redis_url, "practice", "add", "Praxis Süd", "--name", "P", "--public-key", public_key()
    )
    assert bad_slug.returncode == 1
    assert "slug" in bad_slug.stderr
    assert relay_command(redis_url, "practice", "list").stdout == ""


def test_practice_commands_need_only_the_redis_url(redis_url: str) -> None:
    """Without RELAY_REDIS_URL the practice commands name it and exit 2."""
    result = relay_command(None, "practice", "list")
    assert result.returncode == 2
    assert result.stderr.strip() == "relay: RELAY_REDIS_URL: missing (see .env.example)"


def test_keys_new_prints_usable_settings() -> None:
    """`relay keys new` prints a signing key and a data key that the settings accept."""
    result = relay_command(None, "keys", "new", check=True)
    values = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert set(values) == {"RELAY_SIGNING_KEY", "RELAY_DATA_KEYS"}
    settings = Settings.from_env(
        {
            **values,
            "RELAY_REDIS_URL": "redis://127.0.0.1:1/0",
            "RELAY_SMTP_URL": "smtp://127.0.0.1:25",
            "RELAY_MAIL_FROM": "a@example.org",
        }
    )
    assert len(settings.signing_key) == 32
    second = relay_command(None, "keys", "new", check=True)
    assert second.stdout != result.stdout
