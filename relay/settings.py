"""Settings, read once from RELAY_* variables into a frozen dataclass.

Every error names the variable, so a bad deployment fails at start with one clear line.
Each secret (SECRET_SETTINGS) may instead come from a file named by the same variable with
`_FILE` appended (Docker and Kubernetes secrets, systemd credentials); giving both is an
error naming both.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from relay.errors import SettingsError
from relay.rules.contact import email_problem, phone_problem, web_url_problem
from relay.rules.text import single_line_problem

MAX_PENDING_TTL = 3600
REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "redis+sentinel")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAIL_WORKER_MODES = ("INLINE", "OFF")
EVENT_LOOPS = ("AUTO", "ASYNCIO", "UVLOOP")
POW_MODES = ("AUTO", "ALWAYS", "OFF")
# Settings that also read from `{name}_FILE`: the keys, and the URLs that carry passwords.
SECRET_SETTINGS = (
    "RELAY_SIGNING_KEY",
    "RELAY_DATA_KEYS",
    "RELAY_SMTP_URL",
    "RELAY_REDIS_URL",
    "RELAY_METRICS_TOKEN",
)
# A secret file is a key, a token or a URL: anything larger is the wrong file.
MAX_SECRET_FILE_BYTES = 64 * 1024


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    use_tls: bool = False
    start_tls: bool = False


@dataclass(frozen=True)
class OperatorSettings:
    """Who runs the relay, for the privacy notices (RELAY_OPERATOR_*, RELAY_IMPRINT_URL,
    RELAY_LOG_RETENTION_DAYS, ...). All optional, so a test or dev relay starts without
    them; `relay serve` names the missing ones in one warning line at start-up."""

    name: str | None = None
    address: str | None = None
    email: str | None = None
    phone: str | None = None
    # Contact of the operator's data protection officer, if one is appointed.
    data_protection_officer: str | None = None
    imprint_url: str | None = None
    # Days the operator's log pipeline keeps the relay's (truncated-IP) request logs.
    log_retention_days: int | None = None
    # Who delivers the confirmation mails (name, seat); unset: "the operator's mail server".
    mail_provider: str | None = None
    # Transfers outside the EU/EEA and their safeguard; unset: there are none.
    third_country_transfer: str | None = None
    # The operator's supervisory authority (competent for the server logs).
    supervisory_authority_name: str | None = None
    supervisory_authority_url: str | None = None

    def missing_variables(self) -> list[str]:
        """Settings every privacy notice needs that are not set (for the start-up warning)."""
        required = {
            "RELAY_OPERATOR_NAME": self.name,
            "RELAY_OPERATOR_ADDRESS": self.address,
            "RELAY_OPERATOR_EMAIL": self.email,
            "RELAY_IMPRINT_URL": self.imprint_url,
            "RELAY_LOG_RETENTION_DAYS": self.log_retention_days,
        }
        return [name for name, value in required.items() if value is None]


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
    # How long a wish (no published slot) can be cancelled by its link, in hours.
    wish_cancel_hours: int = 14 * 24
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    log_level: str = "INFO"
    metrics_token: str | None = field(default=None, repr=False)
    metrics_port: int | None = None
    # Abuse limits (relay/abuse/limits.py). Per client network (/24, /48) in a sliding window:
    # up to submit_limit submissions need nothing, up to submit_hard_limit (at least
    # submit_limit) need a proof of work, beyond that none is taken until the window
    # slides. Without JavaScript, or with RELAY_POW=off, submit_limit is the limit.
    submit_limit: int = 20
    submit_window: int = 600
    submit_hard_limit: int = 200
    # Confirmation mails to one address (normalised, counted under a keyed hash) per
    # recipient_window, across all networks and relay processes; resends count too.
    recipient_limit: int = 3
    recipient_window: int = 3600
    # Proof of work: "auto" asks for it past a soft limit or in a flood, "always" on every
    # submission, "off" never (`relay pow` overrides it for all processes at once).
    pow: str = "auto"
    # ALTCHA maxnumber at the lowest pressure: Chromium with its CPU throttled 4x solves
    # it on the page's thread within 2.6 s in 95 % of cases, in the Web Worker pow.js uses
    # within 1 s (bench/abuse_bench.py); each doubling of a flood's pressure doubles it,
    # up to 8 times.
    pow_difficulty: int = 500_000
    # Submissions per minute, relay-wide and to one practice, above which every
    # submission needs a proof of work.
    flood_relay: int = 600
    flood_practice: int = 30
    # Failed confirmation or practice tokens per client network per guess_window before
    # further failures answer 429 (successes are never counted or refused).
    guess_limit: int = 30
    guess_window: int = 600
    max_body_bytes: int = 64 * 1024
    # PUT /api/v1/profile alone (RELAY_MAX_PROFILE_BYTES), after gzip decompression: a
    # calendar of 6 weeks x 5 doctors is about 450 KB of JSON, 5,000 slots about 700 KB.
    max_profile_bytes: int = 1024 * 1024
    # RELAY_EVENT_LOOP: "auto" (uvloop when installed), "asyncio" or "uvloop".
    event_loop: str = "auto"
    # How often the mail worker looks for due jobs of other relay processes; jobs of this
    # process are sent at once.
    mail_poll_interval: float = 1.0
    mail_max_attempts: int = 8
    mail_retry_base: float = 5.0
    # Confirmation mails in flight at once, each on its own kept-open SMTP connection.
    mail_concurrency: int = 8
    # "inline": `relay serve` sends the mails itself; "off": it only queues them and
    # a separate `relay mail-worker` process sends them.
    mail_worker: str = "inline"
    # How often expired bookings are counted and per-practice gauges refreshed.
    housekeeping_interval: float = 15.0
    # Redis connections one relay process opens for requests (RELAY_REDIS_MAX_CONNECTIONS).
    # One process is one event loop: Redis answers a command in microseconds, the Python
    # around it costs far more, so a few dozen connections already keep the loop busy and
    # more would only queue inside Redis instead of here. 50 per process also leaves
    # Redis's 10,000 clients for 150+ processes. Requests beyond it wait in line.
    redis_max_connections: int = 50
    # Seconds a request waits for a free connection, and keeps retrying a Redis that went
    # away (RELAY_REDIS_POOL_TIMEOUT). Longer than a Redis restart or a Sentinel failover
    # with short timeouts, shorter than a patient's patience and the proxy's read timeout;
    # past it the request gets 503 with Retry-After instead of hanging.
    redis_pool_timeout: int = 10
    operator: OperatorSettings = OperatorSettings()

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
            wish_cancel_hours=reader.integer("RELAY_WISH_CANCEL_HOURS", 14 * 24, 1, 90 * 24),
            trusted_proxies=reader.networks("RELAY_TRUSTED_PROXIES"),
            log_level=reader.choice("RELAY_LOG_LEVEL", "INFO", LOG_LEVELS),
            metrics_token=reader.optional("RELAY_METRICS_TOKEN"),
            metrics_port=reader.optional_port("RELAY_METRICS_PORT"),
            submit_limit=reader.integer("RELAY_SUBMIT_LIMIT", 20, 1, 100_000),
            submit_window=reader.integer("RELAY_SUBMIT_WINDOW", 600, 1, 86_400),
            submit_hard_limit=reader.integer("RELAY_SUBMIT_HARD_LIMIT", 200, 1, 1_000_000),
            recipient_limit=reader.integer("RELAY_RECIPIENT_LIMIT", 3, 1, 1000),
            pow=reader.choice("RELAY_POW", "auto", POW_MODES).lower(),
            pow_difficulty=reader.integer("RELAY_POW_DIFFICULTY", 500_000, 1000, 10_000_000),
            flood_relay=reader.integer("RELAY_FLOOD_RELAY", 600, 1, 10_000_000),
            flood_practice=reader.integer("RELAY_FLOOD_PRACTICE", 30, 1, 1_000_000),
            guess_limit=reader.integer("RELAY_GUESS_LIMIT", 30, 1, 1_000_000),
            mail_concurrency=reader.integer("RELAY_MAIL_CONCURRENCY", 8, 1, 256),
            mail_worker=reader.choice("RELAY_MAIL_WORKER", "inline", MAIL_WORKER_MODES).lower(),
            redis_max_connections=reader.integer("RELAY_REDIS_MAX_CONNECTIONS", 50, 2, 10_000),
            redis_pool_timeout=reader.integer("RELAY_REDIS_POOL_TIMEOUT", 10, 1, 60),
            max_profile_bytes=reader.integer(
                "RELAY_MAX_PROFILE_BYTES", 1024 * 1024, 64 * 1024, 64 * 1024 * 1024
            ),
            event_loop=reader.choice("RELAY_EVENT_LOOP", "auto", EVENT_LOOPS).lower(),
            operator=reader.operator(),
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
        if name in SECRET_SETTINGS:
            path = self._env.get(f"{name}_FILE", "").strip()
            if path and value:
                raise SettingsError(f"{name} and {name}_FILE: give one of them, not both")
            if path:
                return _read_secret(f"{name}_FILE", path)
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

    def line(self, name: str, max_length: int = 300) -> str | None:
        """Optional one-line text shown to patients (the privacy notice)."""
        value = self.optional(name)
        if value is None:
            return None
        if len(value) > max_length:
            raise SettingsError(f"{name}: longer than {max_length} characters")
        problem = single_line_problem(value)
        if problem is not None:
            raise SettingsError(f"{name}: {problem.describe()}")
        return value

    def contact(self, name: str, problem: Callable[[str], str | None], what: str) -> str | None:
        value = self.line(name)
        if value is not None and problem(value) is not None:
            raise SettingsError(f"{name}: {value!r} is not {what}")
        return value

    def operator(self) -> OperatorSettings:
        retention = self.optional("RELAY_LOG_RETENTION_DAYS")
        return OperatorSettings(
            name=self.line("RELAY_OPERATOR_NAME", 200),
            address=self.line("RELAY_OPERATOR_ADDRESS"),
            email=self.contact("RELAY_OPERATOR_EMAIL", email_problem, "an e-mail address"),
            phone=self.contact("RELAY_OPERATOR_PHONE", phone_problem, "a phone number"),
            data_protection_officer=self.line("RELAY_OPERATOR_DPO"),
            imprint_url=self.contact("RELAY_IMPRINT_URL", web_url_problem, "an http(s) URL"),
            log_retention_days=None
            if retention is None
            else self.integer("RELAY_LOG_RETENTION_DAYS", 0, 1, 3650),
            mail_provider=self.line("RELAY_OPERATOR_MAIL_PROVIDER"),
            third_country_transfer=self.line("RELAY_THIRD_COUNTRY_TRANSFER", 1000),
            supervisory_authority_name=self.line("RELAY_SUPERVISORY_AUTHORITY_NAME", 200),
            supervisory_authority_url=self.contact(
                "RELAY_SUPERVISORY_AUTHORITY_URL", web_url_problem, "an http(s) URL"
            ),
        )

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
        # A file may hold one key a line as well as the comma-separated list.
        raw = self.required("RELAY_DATA_KEYS").replace("\n", ",")
        return tuple(
            _decode_key("RELAY_DATA_KEYS", part) for part in raw.split(",") if part.strip()
        )

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


def _read_secret(name: str, path: str) -> str:
    """The text of a secret file, without its trailing newline; SettingsError names `name`
    and the path (never the content)."""
    try:
        with open(path, "rb") as file:
            raw = file.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as error:
        raise SettingsError(f"{name}: cannot read {path}: {error.strerror}") from None
    if len(raw) > MAX_SECRET_FILE_BYTES:
        raise SettingsError(f"{name}: {path} is larger than {MAX_SECRET_FILE_BYTES} bytes")
    try:
        text = raw.decode().rstrip("\r\n").strip()
    except UnicodeDecodeError:
        raise SettingsError(f"{name}: {path} is not UTF-8 text") from None
    if not text:
        raise SettingsError(f"{name}: {path} is empty")
    return text


def _decode_key(name: str, text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SettingsError(f"{name}: not valid base64") from None
    if len(raw) != 32:
        raise SettingsError(f"{name}: a key has 32 bytes, this one {len(raw)}")
    return raw
