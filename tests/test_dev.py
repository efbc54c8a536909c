"""`relay dev`: one command starts the whole system; Ctrl-C leaves nothing behind."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import free_port, subprocess_env
from tests.helpers import READY_SECONDS, wait_until_async, wish_booking_json

pytestmark = pytest.mark.slow

LINK = re.compile(r"confirmation link: (\S+)")


async def read_until(stream: asyncio.StreamReader, pattern: re.Pattern[str]) -> re.Match[str]:
    seen = []
    while True:
        try:
            line = (await asyncio.wait_for(stream.readline(), READY_SECONDS)).decode()
        except TimeoutError:
            raise AssertionError(
                f"relay dev printed nothing matching {pattern.pattern!r} for {READY_SECONDS:.0f} s:"
                "\n" + "".join(seen)
            ) from None
        if not line:
            raise AssertionError("relay dev ended early:\n" + "".join(seen))
        seen.append(line)
        if found := pattern.search(line):
            return found


async def test_relay_dev_books_end_to_end_and_stops_cleanly(tmp_path: Path) -> None:
    """A booking made against `relay dev` arrives as files; SIGINT stops every process."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "relay",
        "dev",
        "--port",
        str(port),
        "--dir",
        str(tmp_path / "dev"),
        stdout=asyncio.subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=subprocess_env(),
    )
    assert process.stdout is not None
    try:
        url = (await read_until(process.stdout, re.compile(r"Booking form\s+(\S+)"))).group(1)
        assert url == f"http://127.0.0.1:{port}/p/demo"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/api/v1/practices/demo") as profile:
                slot = (await profile.json())["slots"][0]
            booking = {**wish_booking_json(), **slot}
            del booking["end"]
            async with http.post(
                f"http://127.0.0.1:{port}/api/v1/practices/demo/bookings", json=booking
            ) as submitted:
                assert submitted.status == 202, await submitted.text()
            link = (await read_until(process.stdout, LINK)).group(1)
            async with http.post(link, data={"action": "confirm"}) as confirmed:
                assert confirmed.status == 200
        bookings = tmp_path / "dev" / "bookings"

        async def arrived() -> list[Path]:
            return list(bookings.glob("*.json"))

        (written,) = await wait_until_async(arrived, f"the confirmed booking in {bookings}")
        assert json.loads(written.read_text())["email"] == booking["email"]
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), 15)
    assert process.returncode == 0
    leftovers = await asyncio.to_thread(
        subprocess.run,
        ["pgrep", "-f", f"redis-server.*{tmp_path}"],
        capture_output=True,
        check=False,
    )
    assert leftovers.stdout == b""
