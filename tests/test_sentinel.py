"""RELAY_REDIS_URL as redis+sentinel://: the relay finds the master through a real Sentinel."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import redis

from relay.dev import redis_executable
from tests.conftest import RelayFactory, SmtpSink, link_in
from tests.helpers import NotReady, submit, wait_until, wish_booking_json
from tests.servers import ServerProcess, launch_redis, server_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sentinel_port() -> Iterator[int]:
    """A redis-server master and one redis-server in sentinel mode watching it."""
    data_dir = Path(tempfile.mkdtemp(prefix="terminrelay-sentinel-"))
    servers: list[ServerProcess] = []
    try:
        master = launch_redis("sentinel's master", data_dir)
        servers.append(master)
        port = server_port()
        config = data_dir / "sentinel.conf"
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {data_dir}\n"
            f"sentinel monitor terminrelay 127.0.0.1 {master.port} 1\n"
            "sentinel down-after-milliseconds terminrelay 5000\n"
        )
        sentinel = ServerProcess(
            f"redis sentinel (127.0.0.1:{port})",
            [redis_executable(), str(config), "--sentinel"],
            data_dir / "sentinel.log",
        )
        sentinel.start()
        servers.append(sentinel)

        def watches_master() -> bool:
            with contextlib.closing(redis.Redis(port=port, socket_timeout=5)) as client:
                found = client.sentinel_get_master_addr_by_name("terminrelay")
            if not isinstance(found, tuple) or int(found[1]) != master.port:
                raise NotReady(f"master of 'terminrelay' is {found}")
            return True

        wait_until(
            watches_master, f"{sentinel.name} to name {master.name} as master", watch=servers
        )
        yield port
    finally:
        for server in servers:
            server.stop()
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
