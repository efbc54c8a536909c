"""RELAY_REDIS_URL as redis+sentinel://: the relay finds the master through a real Sentinel."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import redis

from tests.conftest import RelayFactory, SmtpSink, free_port, link_in
from tests.helpers import submit, wish_booking_json

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sentinel_port() -> Iterator[int]:
    """A redis-server master and one redis-server in sentinel mode watching it."""
    data_dir = Path(tempfile.mkdtemp(prefix="terminrelay-sentinel-"))
    master, sentinel = free_port(), free_port()
    config = data_dir / "sentinel.conf"
    config.write_text(
        f"port {sentinel}\nbind 127.0.0.1\ndir {data_dir}\n"
        f"sentinel monitor terminrelay 127.0.0.1 {master} 1\n"
        "sentinel down-after-milliseconds terminrelay 5000\n"
    )
    processes = [
        subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(master),
                "--save",
                "",
                "--dir",
                str(data_dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            ["redis-server", str(config), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                found = redis.Redis(port=sentinel).sentinel_get_master_addr_by_name("terminrelay")
                if found and int(found[1]) == master:
                    break
            except redis.RedisError:
                pass
            time.sleep(0.1)
        else:
            pytest.fail("sentinel did not come up")
        yield sentinel
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(data_dir, ignore_errors=True)


async def test_relay_works_through_sentinel(
    sentinel_port: int, relay_factory: RelayFactory, smtp_sink: SmtpSink
) -> None:
    """Submit, mail and confirm work with the master found through Sentinel."""
    relay = await relay_factory(redis_url=f"redis+sentinel://127.0.0.1:{sentinel_port}/terminrelay")
    practice = await relay.add_practice()
    booking = wish_booking_json()
    async with aiohttp.ClientSession() as http:
        assert (await submit(http, relay.url, practice.slug, booking)).status == 202
        link = link_in((await smtp_sink.wait_for(1))[0])
        async with http.post(link, data={"action": "confirm"}) as confirmed:
            assert confirmed.status == 200
        async with http.get(f"{relay.url}/api/v1/inbox?wait=0", headers=practice.auth) as inbox:
            assert len((await inbox.json())["items"]) == 1
        async with http.get(f"{relay.url}/readyz") as ready:
            assert ready.status == 200
