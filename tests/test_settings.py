"""Settings from RELAY_* variables: defaults, and one clear line naming a bad one."""

from __future__ import annotations

import base64
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from relay.errors import SettingsError
from relay.settings import Settings
from tests.conftest import subprocess_env


def key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def valid_env() -> dict[str, str]:
    return {
        "RELAY_REDIS_URL": "redis://127.0.0.1:6379/0",
        "RELAY_SMTP_URL": "smtp://mailer:s%40cret@mail.example.org:2525?starttls=true",
        "RELAY_MAIL_FROM": "termine@example.org",
        "RELAY_SIGNING_KEY": key(),
        "RELAY_DATA_KEYS": f"{key()},{key()}",
    }


def test_valid_environment_gives_settings_with_defaults() -> None:
    """A minimal environment parses; optional settings take the SPEC's defaults."""
    settings = Settings.from_env(valid_env())
    assert settings.public_url == "http://127.0.0.1:8080"
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.pending_ttl == 3600
    assert settings.inbox_ttl == 1209600
    assert settings.trusted_proxies == ()
    assert len(settings.data_keys) == 2
    smtp = settings.smtp
    assert (smtp.host, smtp.port, smtp.username, smtp.password) == (
        "mail.example.org",
        2525,
        "mailer",
        "s@cret",
    )
    assert smtp.start_tls
    assert not smtp.use_tls
    assert "s@cret" not in repr(settings)
    assert settings.data_keys[0] not in repr(settings).encode()


def test_redis_pool_settings_default_and_parse() -> None:
    """The Redis pool size and queue timeout have deliberate defaults and can be set."""
    defaults = Settings.from_env(valid_env())
    assert (defaults.redis_max_connections, defaults.redis_pool_timeout) == (50, 10)
    env = valid_env() | {"RELAY_REDIS_MAX_CONNECTIONS": "200", "RELAY_REDIS_POOL_TIMEOUT": "30"}
    chosen = Settings.from_env(env)
    assert (chosen.redis_max_connections, chosen.redis_pool_timeout) == (200, 30)


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("RELAY_REDIS_URL", "", "RELAY_REDIS_URL: missing"),
        ("RELAY_REDIS_URL", "http://x", "RELAY_REDIS_URL: scheme"),
        ("RELAY_REDIS_URL", "redis+sentinel://a:26379", "RELAY_REDIS_URL: a sentinel"),
        ("RELAY_SMTP_URL", "mail.example.org", "RELAY_SMTP_URL"),
        ("RELAY_SMTP_URL", "smtps://h:465?starttls=true", "RELAY_SMTP_URL: smtps"),
        ("RELAY_MAIL_FROM", "nobody", "RELAY_MAIL_FROM"),
        ("RELAY_SIGNING_KEY", "not base64!", "RELAY_SIGNING_KEY: not valid base64"),
        ("RELAY_SIGNING_KEY", base64.b64encode(b"short").decode(), "RELAY_SIGNING_KEY: a key"),
        ("RELAY_DATA_KEYS", "", "RELAY_DATA_KEYS: missing"),
        ("RELAY_PENDING_TTL", "7200", "RELAY_PENDING_TTL: 7200 is outside 1..3600"),
        ("RELAY_PENDING_TTL", "soon", "RELAY_PENDING_TTL: 'soon' is not a whole number"),
        ("RELAY_PORT", "99999", "RELAY_PORT"),
        ("RELAY_PUBLIC_URL", "ftp://x", "RELAY_PUBLIC_URL"),
        ("RELAY_TRUSTED_PROXIES", "10.0.0.0/8,nonsense", "RELAY_TRUSTED_PROXIES"),
        ("RELAY_LOG_LEVEL", "LOUD", "RELAY_LOG_LEVEL"),
        ("RELAY_REDIS_MAX_CONNECTIONS", "1", "RELAY_REDIS_MAX_CONNECTIONS: 1 is outside"),
        ("RELAY_REDIS_MAX_CONNECTIONS", "many", "RELAY_REDIS_MAX_CONNECTIONS: 'many' is not"),
        ("RELAY_REDIS_POOL_TIMEOUT", "0", "RELAY_REDIS_POOL_TIMEOUT: 0 is outside 1..60"),
        ("RELAY_REDIS_POOL_TIMEOUT", "2.5", "RELAY_REDIS_POOL_TIMEOUT: '2.5' is not"),
    ],
)
def test_each_bad_setting_is_named(name: str, value: str, fragment: str) -> None:
    """A missing or malformed setting raises an error whose message starts with its name."""
    env = valid_env()
    env[name] = value
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert str(raised.value).startswith(name)
    assert fragment in str(raised.value)


def test_relay_serve_with_a_bad_setting_prints_one_line_and_exits() -> None:
    """`relay serve` with a bad setting stops at once with one line naming it, exit 2."""
    env = subprocess_env(**{**valid_env(), "RELAY_PENDING_TTL": "7200"})
    result = subprocess.run(
        [sys.executable, "-m", "relay", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "relay: RELAY_PENDING_TTL: 7200 is outside 1..3600"
    ]


SECRETS = ("RELAY_SIGNING_KEY", "RELAY_DATA_KEYS", "RELAY_SMTP_URL", "RELAY_REDIS_URL")


@pytest.mark.parametrize("name", SECRETS)
def test_each_secret_reads_from_its_file(name: str, tmp_path: Path) -> None:
    """A secret given as `{name}_FILE` (a Docker secret, say) is read from the file, its
    trailing newline stripped, and gives the same settings as the variable."""
    env = valid_env()
    secret_file = tmp_path / "secret"
    secret_file.write_text(env[name] + "\n")
    from_file = {**env, f"{name}_FILE": str(secret_file)}
    del from_file[name]

    assert Settings.from_env(from_file) == Settings.from_env(env)


def test_metrics_token_reads_from_its_file(tmp_path: Path) -> None:
    """RELAY_METRICS_TOKEN_FILE gives the token without the file's trailing newline."""
    token_file = tmp_path / "metrics-token"
    token_file.write_text("s3cret-token\r\n")

    settings = Settings.from_env({**valid_env(), "RELAY_METRICS_TOKEN_FILE": str(token_file)})

    assert settings.metrics_token == "s3cret-token"


def test_data_keys_file_may_hold_one_key_a_line(tmp_path: Path) -> None:
    """A data keys file with one key a line gives the keys in their order, as commas do."""
    env = valid_env()
    first, second = env.pop("RELAY_DATA_KEYS").split(",")
    keys_file = tmp_path / "data-keys"
    keys_file.write_text(f"{first}\n{second}\n")

    settings = Settings.from_env({**env, "RELAY_DATA_KEYS_FILE": str(keys_file)})

    assert settings.data_keys == (base64.b64decode(first), base64.b64decode(second))


@pytest.mark.parametrize("name", [*SECRETS, "RELAY_METRICS_TOKEN"])
def test_a_secret_and_its_file_together_are_refused(name: str, tmp_path: Path) -> None:
    """Both `{name}` and `{name}_FILE` is an error naming both: which one would win is a
    guess the relay does not make."""
    secret_file = tmp_path / "secret"
    secret_file.write_text("anything\n")
    env = {**valid_env(), name: "inline", f"{name}_FILE": str(secret_file)}

    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)

    assert str(raised.value) == f"{name} and {name}_FILE: give one of them, not both"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(None, "cannot read"), (b"\n", "is empty"), (b"\xff\xfe", "not UTF-8")],
)
def test_a_bad_secret_file_is_named_without_its_content(
    content: bytes | None, fragment: str, tmp_path: Path
) -> None:
    """A missing, empty or binary secret file names the variable and the path."""
    secret_file = tmp_path / "signing-key"
    if content is not None:
        secret_file.write_bytes(content)
    env = {**valid_env(), "RELAY_SIGNING_KEY_FILE": str(secret_file)}
    del env["RELAY_SIGNING_KEY"]

    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)

    assert str(raised.value).startswith(f"RELAY_SIGNING_KEY_FILE: {secret_file}") or str(
        raised.value
    ).startswith(f"RELAY_SIGNING_KEY_FILE: cannot read {secret_file}")
    assert fragment in str(raised.value)


def test_relay_serve_with_a_secret_and_its_file_prints_one_line(tmp_path: Path) -> None:
    """`relay serve` given both RELAY_SIGNING_KEY and RELAY_SIGNING_KEY_FILE stops with
    one line naming both, no traceback, exit 2."""
    key_file = tmp_path / "signing-key"
    key_file.write_text(key() + "\n")
    env = subprocess_env(**{**valid_env(), "RELAY_SIGNING_KEY_FILE": str(key_file)})
    result = subprocess.run(
        [sys.executable, "-m", "relay", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "relay: RELAY_SIGNING_KEY and RELAY_SIGNING_KEY_FILE: give one of them, not both"
    ]
