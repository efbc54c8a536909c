"""Settings, read once from RELAY_* variables into a frozen dataclass.

Every error names the variable, so a bad deployment fails at start with one clear line.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from relay.errors import SettingsError

MAX_PENDING_TTL = 3600
REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "redis+sentinel")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    use_tls: bool = False
    start_tls: bool = False


@dataclass(frozen=True)
class Settings:
    redis_url: str
    smtp: SmtpSettings
    mail_from: str
    signing_key: bytes = field(repr=False)
    data_keys: tuple[bytes, ...] = field(repr=False)
    public_url: str = "http://127.0.0.1:8080"
    host: str = "127.0.0.1"
    port: int = 8080
    pending_ttl: int = MAX_PENDING_TTL
    inbox_ttl: int = 14 * 24 * 3600
    inbox_visibility: int = 120
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    log_level: str = "INFO"
    metrics_token: str | None = field(default=None, repr=False)
    metrics_port: int | None = None
    submit_limit: int = 20
    submit_window: int = 600
    max_body_bytes: int = 64 * 1024
    # How often the mail worker looks for due jobs of other relay processes; jobs of this
    # process are sent at once.
    mail_poll_interval: float = 1.0
    mail_max_attempts: int = 8
    mail_retry_base: float = 5.0
    # How often expired bookings are counted and per-practice gauges refreshed.
    housekeeping_interval: float = 15.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Settings for `relay serve`; SettingsError names the first bad variable."""
        reader = _Reader(env)
        settings = cls(
            redis_url=reader.redis_url(),
            smtp=reader.smtp(),
            mail_from=reader.mail_from(),
            signing_key=reader.key("RELAY_SIGNING_KEY"),
            data_keys=reader.data_keys(),
            public_url=reader.public_url(),
            host=reader.text("RELAY_HOST", "127.0.0.1"),
            port=reader.port("RELAY_PORT", 8080),
            pending_ttl=reader.integer("RELAY_PENDING_TTL", MAX_PENDING_TTL, 1, MAX_PENDING_TTL),
            inbox_ttl=reader.integer("RELAY_INBOX_TTL", 14 * 24 * 3600, 60, 90 * 24 * 3600),
            inbox_visibility=reader.integer("RELAY_INBOX_VISIBILITY", 120, 1, 3600),
            trusted_proxies=reader.networks("RELAY_TRUSTED_PROXIES"),
            log_level=reader.choice("RELAY_LOG_LEVEL", "INFO", LOG_LEVELS),
            metrics_token=reader.optional("RELAY_METRICS_TOKEN"),
            metrics_port=reader.optional_port("RELAY_METRICS_PORT"),
            submit_limit=reader.integer("RELAY_SUBMIT_LIMIT", 20, 1, 100_000),
        )
        if settings.metrics_port is not None and settings.metrics_port == settings.port:
            raise SettingsError("RELAY_METRICS_PORT: must differ from RELAY_PORT")
        return settings


def redis_url_from_env(env: Mapping[str, str]) -> str:
    """Only RELAY_REDIS_URL, for the `practice` commands."""
    return _Reader(env).redis_url()


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def optional(self, name: str) -> str | None:
        value = self._env.get(name, "").strip()
        return value or None

    def required(self, name: str) -> str:
        value = self.optional(name)
        if value is None:
            raise SettingsError(f"{name}: missing (see .env.example)")
        return value

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name}: {raw!r} is not a whole number") from None
        if not low <= value <= high:
            raise SettingsError(f"{name}: {value} is outside {low}..{high}")
        return value

    def port(self, name: str, default: int) -> int:
        return self.integer(name, default, 0, 65535)

    def optional_port(self, name: str) -> int | None:
        return None if self.optional(name) is None else self.port(name, 0)

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = (self.optional(name) or default).upper()
        if value not in choices:
            raise SettingsError(f"{name}: {value!r} is not one of {', '.join(choices)}")
        return value

    def redis_url(self) -> str:
        url = self.required("RELAY_REDIS_URL")
        scheme = urlsplit(url).scheme
        if scheme not in REDIS_SCHEMES:
            raise SettingsError(
                f"RELAY_REDIS_URL: scheme {scheme!r} is not one of {', '.join(REDIS_SCHEMES)}"
            )
        if scheme == "redis+sentinel" and not urlsplit(url).path.strip("/"):
            raise SettingsError("RELAY_REDIS_URL: a sentinel URL ends in /{service name}")
        return url

    def public_url(self) -> str:
        url = self.text("RELAY_PUBLIC_URL", "http://127.0.0.1:8080").rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SettingsError(f"RELAY_PUBLIC_URL: {url!r} is not an http(s) URL")
        return url

    def mail_from(self) -> str:
        address = self.required("RELAY_MAIL_FROM")
        if "@" not in address or any(c.isspace() for c in address.strip("<> ")):
            raise SettingsError(f"RELAY_MAIL_FROM: {address!r} is not an e-mail address")
        return address

    def smtp(self) -> SmtpSettings:
        url = self.required("RELAY_SMTP_URL")
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise SettingsError("RELAY_SMTP_URL: expected smtp://[user:pass@]host[:port]")
        query = parse_qs(parts.query)
        start_tls = query.get("starttls", ["false"])[0].lower() in ("1", "true", "yes")
        try:
            port = parts.port
        except ValueError:
            raise SettingsError("RELAY_SMTP_URL: the port is not a number") from None
        use_tls = parts.scheme == "smtps"
        if use_tls and start_tls:
            raise SettingsError("RELAY_SMTP_URL: smtps:// and starttls=true exclude each other")
        return SmtpSettings(
            host=parts.hostname,
            port=port or (465 if use_tls else 587 if start_tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=use_tls,
            start_tls=start_tls,
        )

    def key(self, name: str) -> bytes:
        return _decode_key(name, self.required(name))

    def data_keys(self) -> tuple[bytes, ...]:
        raw = self.required("RELAY_DATA_KEYS")
        return tuple(_decode_key("RELAY_DATA_KEYS", part) for part in raw.split(",") if part)

    def networks(self, name: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        raw = self.optional(name) or ""
        try:
            return tuple(
                ipaddress.ip_network(part.strip(), strict=False)
                for part in raw.split(",")
                if part.strip()
            )
        except ValueError as error:
            raise SettingsError(f"{name}: {error}") from None


def _decode_key(name: str, text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SettingsError(f"{name}: not valid base64") from None
    if len(raw) != 32:
        raise SettingsError(f"{name}: a key has 32 bytes, this one {len(raw)}")
    return raw
