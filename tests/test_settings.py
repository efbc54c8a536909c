"""Settings from RELAY_* variables: defaults, and one clear line naming a bad one."""

from __future__ import annotations

import base64
import secrets
import subprocess
import sys

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
