"""JSON log lines on stdout, and IP truncation so no log line holds a full client address.

One JSON object per line: `ts` (UTC, ISO 8601), `level`, `logger`, `event` (the message),
every attribute passed with `extra=` (`request_id`, `route`, `status`, ...) and, for a logged
exception, its traceback under `exc`. Log only route templates, never raw paths: a path can
hold a confirmation token.

No line may carry bytes of a request, so two rules hold for every record:
- an exception is written as its types and stack frames, never its message: messages
  quote input (`KeyError('<the key>')`, a parse error's bad header, an SMTP refusal's
  address);
- records of other libraries' loggers (aiohttp, asyncio, ...) keep only their logger,
  level and a fixed event: aiohttp's parse errors quote the request line and headers,
  asyncio's error reports hold reprs of protocols and tasks. Only the relay's own loggers,
  whose messages we write, keep their text and `extra=` fields.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import re
import sys
import traceback
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TextIO

import orjson

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


# What json.dumps(default=str) would write as str(): datetimes, dataclasses, subclasses.
_ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


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
        if record.exc_info and record.exc_info[1] is not None:
            entry["exc"] = exception_summary(record.exc_info[1])
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        try:
            # orjson: a fraction of json.dumps' cost, on every request's log line.
            return orjson.dumps(entry, default=str, option=_ORJSON_OPTIONS).decode()
        except orjson.JSONEncodeError:  # an int past 64 bits in an extra, say
            return json.dumps(entry, ensure_ascii=False, default=str)


# Loggers whose messages and extras are written by this project and hold no request data.
OWN_LOGGERS = ("relay", "practice_client")
# More causes and contexts than this are cut; a chain that long says nothing more.
_MAX_CHAIN = 8


def exception_summary(error: BaseException) -> str:
    """A traceback without messages: frames (file, line, function) and exception types.

    Chained causes come first, as Python prints them.
    """
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < _MAX_CHAIN:
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    blocks = []
    for link in reversed(chain):
        blocks.append("\n".join([*_frames(link.__traceback__), _type_name(link)]))
    return "\n(then)\n".join(blocks)


def _frames(tb: TracebackType | None) -> list[str]:
    if tb is None:
        return []
    lines = ["Traceback (most recent call last):"]
    for frame in traceback.extract_tb(tb):
        lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}')
    return lines


def _type_name(error: BaseException) -> str:
    kind = type(error)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    # An errno says what went wrong with a socket or file without quoting anything.
    if isinstance(error, OSError) and error.errno is not None:
        name += f" (errno {error.errno})"
    return name


class ForeignRecordFilter(logging.Filter):
    """Reduces records of other libraries' loggers to logger, level and a fixed event."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _is_own(record.name):
            return True
        error = record.exc_info[1] if record.exc_info else None
        for key in [k for k in vars(record) if k not in _RECORD_ATTRIBUTES]:
            delattr(record, key)  # extras: aiohttp's access log passes request headers here
        record.msg = "message withheld: it may quote request bytes"
        record.args = None
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        if error is not None:
            record.error = _type_name(error)
        return True


def _is_own(name: str) -> bool:
    return any(name == own or name.startswith(f"{own}.") for own in OWN_LOGGERS)


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
    # On the handler, not the loggers: it then sees every record that propagates to the
    # root, from any library's logger and its children.
    handler.addFilter(ForeignRecordFilter())
    root = logging.getLogger()
    for old_handler in list(root.handlers):
        root.removeHandler(old_handler)
    root.addHandler(handler)
    root.setLevel(level_name)
    # aiohttp's access log prints the raw path, which can hold a confirmation token; the
    # relay's request middleware logs its own line with the route template instead. (The
    # filter above would withhold its text anyway; this spares the empty lines.)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


# A dotted IPv4 address as ipaddress accepts it: four decimal octets, no leading zeros.
_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}"
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    re.ASCII,
)


def truncate_ip(address: str) -> str:
    """Return the client's network: IPv4 as /24, IPv6 as /48; "unknown" if unparseable.

    An IPv4-mapped IPv6 address (`::ffff:203.0.113.7`) counts as the IPv4 address.
    """
    address = address.strip()
    # Every request passes here: plain IPv4 by string operations (ipaddress costs several
    # microseconds), everything else through ipaddress, cached.
    if _IPV4.fullmatch(address):
        return address[: address.rindex(".")] + ".0/24"
    return _truncate_parsed(address)


@functools.lru_cache(maxsize=4096)
def _truncate_parsed(address: str) -> str:
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
