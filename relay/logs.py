"""JSON log lines on stdout, and IP truncation so no log line holds a full client address.

One JSON object per line: `ts` (UTC, ISO 8601), `level`, `logger`, `event` (the message),
every attribute passed with `extra=` (`request_id`, `route`, `status`, ...) and, for a logged
exception, its text under `exc`. Log only route templates, never raw paths: a path can
hold a confirmation token.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

LEVEL_VARIABLE = "RELAY_LOG_LEVEL"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Attributes every LogRecord carries; anything else on a record came in through `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",  # added to LogRecord in Python 3.12
}

# Lines keep these keys; an `extra=` of the same name is dropped rather than let it
# overwrite the timestamp or level a log pipeline filters on.
_CORE_KEYS = ("ts", "level", "logger", "event", "exc", "stack")


class JsonFormatter(logging.Formatter):
    """Format a record as one line of JSON; newlines inside values are escaped."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in _CORE_KEYS:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str, stream: TextIO | None = None) -> None:
    """Send every log record as a JSON line to `stream` (stdout by default) at `level`.

    Replaces the root logger's handlers, so calling it twice leaves one handler.
    """
    level_name = level.strip().upper()
    if level_name not in LEVELS:
        raise ValueError(
            f"{LEVEL_VARIABLE}: unknown level {level!r}; use one of {', '.join(LEVELS)}"
        )
    handler = logging.StreamHandler(sys.stdout if stream is None else stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old_handler in list(root.handlers):
        root.removeHandler(old_handler)
    root.addHandler(handler)
    root.setLevel(level_name)
    # aiohttp's access log prints the raw path, which can hold a confirmation token; the
    # relay's request middleware logs its own line with the route template instead.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def truncate_ip(address: str) -> str:
    """Return the client's network: IPv4 as /24, IPv6 as /48; "unknown" if unparseable.

    An IPv4-mapped IPv6 address (`::ffff:203.0.113.7`) counts as the IPv4 address.
    """
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        # A zone id ("%eth0") names a host interface, not part of the network: drop it.
        mapped = ip.ipv4_mapped
        ip = mapped if mapped is not None else ipaddress.IPv6Address(ip.packed)
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network((ip, prefix), strict=False))
