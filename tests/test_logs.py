"""JSON log lines and IP truncation (relay/ops/logs.py)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from relay.ops.logs import configure_logging, truncate_ip


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put the root and aiohttp.access loggers back as they were after each test."""
    root = logging.getLogger()
    access = logging.getLogger("aiohttp.access")
    handlers, level, access_level = list(root.handlers), root.level, access.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    access.setLevel(access_level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Each line written to `stream`, parsed as JSON."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def fail() -> None:
    """Raise the error the exception test logs."""
    raise RuntimeError("redis gone")


def test_each_record_is_one_json_line_with_its_extras() -> None:
    """A record becomes one JSON object with ts, level, logger, event and every extra."""
    stream = io.StringIO()
    configure_logging("INFO", stream)

    logging.getLogger("relay.web").info(
        "request",
        extra={
            "request_id": "r-1",
            "route": "/c/{token}",
            "method": "POST",
            "status": 303,
            "duration_ms": 12.5,
            "client": "203.0.113.0/24",
        },
    )

    [line] = lines(stream)
    assert line["level"] == "INFO"
    assert line["logger"] == "relay.web"
    assert line["event"] == "request"
    assert line["request_id"] == "r-1"
    assert line["route"] == "/c/{token}"
    assert line["method"] == "POST"
    assert line["status"] == 303
    assert line["duration_ms"] == 12.5
    assert line["client"] == "203.0.113.0/24"
    assert "exc" not in line


def test_timestamp_is_utc_iso() -> None:
    """`ts` is an ISO 8601 timestamp in UTC, close to now."""
    stream = io.StringIO()
    configure_logging("INFO", stream)

    logging.getLogger("relay").info("tick")

    stamp = datetime.fromisoformat(lines(stream)[0]["ts"])
    assert stamp.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - stamp) < timedelta(seconds=10)


def test_message_arguments_are_formatted_into_the_event() -> None:
    """%-style arguments are merged into `event`, not left as separate fields."""
    stream = io.StringIO()
    configure_logging("INFO", stream)

    logging.getLogger("relay").info("swept %d practices", 3)

    assert lines(stream)[0]["event"] == "swept 3 practices"


def test_exception_text_goes_under_exc_and_stays_on_one_line() -> None:
    """A logged exception's traceback is under `exc` without its message (messages can
    quote request bytes), and the record is still one line."""
    stream = io.StringIO()
    configure_logging("INFO", stream)

    try:
        fail()
    except RuntimeError:
        logging.getLogger("relay.store").exception("sweep failed")

    [line] = lines(stream)
    assert line["level"] == "ERROR"
    assert line["exc"].endswith("RuntimeError")
    assert "redis gone" not in line["exc"]
    assert "Traceback" in line["exc"]


def test_extras_cannot_overwrite_core_fields() -> None:
    """An extra named like a core field does not replace the record's own value."""
    stream = io.StringIO()
    configure_logging("INFO", stream)

    logging.getLogger("relay").warning("careful", extra={"level": "DEBUG", "ts": "then"})

    [line] = lines(stream)
    assert line["level"] == "WARNING"
    assert line["ts"] != "then"


def test_values_json_cannot_represent_are_written_as_text() -> None:
    """An extra like a datetime is written as its string, not a crash."""
    stream = io.StringIO()
    configure_logging("INFO", stream)
    moment = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    logging.getLogger("relay").info("expired", extra={"at": moment})

    assert lines(stream)[0]["at"] == str(moment)


def test_level_filters_records() -> None:
    """Records below the configured level are dropped."""
    stream = io.StringIO()
    configure_logging("warning", stream)

    logging.getLogger("relay").info("quiet")
    logging.getLogger("relay").warning("loud")

    assert [line["event"] for line in lines(stream)] == ["loud"]


def test_configuring_twice_leaves_one_handler() -> None:
    """A second call replaces the first handler instead of doubling every line."""
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", first)
    configure_logging("INFO", second)

    logging.getLogger("relay").info("once")

    assert first.getvalue() == ""
    assert [line["event"] for line in lines(second)] == ["once"]
    assert len(logging.getLogger().handlers) == 1


def test_default_stream_is_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a stream, lines go to stdout."""
    configure_logging("INFO")

    logging.getLogger("relay").info("to stdout")

    out = capsys.readouterr().out
    assert json.loads(out.splitlines()[-1])["event"] == "to stdout"


def test_aiohttp_access_log_is_silenced() -> None:
    """aiohttp's access lines (raw paths, which can hold tokens) are not written."""
    stream = io.StringIO()
    configure_logging("DEBUG", stream)

    logging.getLogger("aiohttp.access").info('GET /c/secret-token HTTP/1.1" 200')

    assert "secret-token" not in stream.getvalue()


@pytest.mark.parametrize("level", ["verbose", "", "20", "INFOO"])
def test_invalid_level_names_the_setting(level: str) -> None:
    """An unknown level raises ValueError naming RELAY_LOG_LEVEL."""
    with pytest.raises(ValueError, match="RELAY_LOG_LEVEL"):
        configure_logging(level, io.StringIO())


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("198.51.100.255", "198.51.100.0/24"),
        ("2001:db8:abcd:12:3456::1", "2001:db8:abcd::/48"),
        ("::1", "::/48"),
        ("::ffff:203.0.113.9", "203.0.113.0/24"),
        ("::ffff:cb00:7109", "203.0.113.0/24"),
        ("fe80::1%eth0", "fe80::/48"),
        (" 192.0.2.1 ", "192.0.2.0/24"),
    ],
)
def test_truncate_ip_keeps_only_the_network(address: str, network: str) -> None:
    """IPv4 is cut to /24, IPv6 to /48, IPv4-mapped IPv6 counts as IPv4."""
    assert truncate_ip(address) == network


@pytest.mark.parametrize(
    "address", ["", "garbage", "203.0.113", "203.0.113.7:443", "[2001:db8::1]", "1.2.3.4/24"]
)
def test_truncate_ip_answers_unknown_for_garbage(address: str) -> None:
    """Anything that is not one IP address becomes "unknown"."""
    assert truncate_ip(address) == "unknown"
