"""A real three-master Redis Cluster on loopback, shared by two relay processes."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import redis

from practice_client.runner import RunConfig, run
from tests.conftest import RelayFactory, SmtpSink, free_port, link_in
from tests.helpers import booking_json, profile_json, put_profile, submit, wish_booking_json

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[list[int]]:
    """Three redis-server masters with cluster-enabled, joined by redis-cli."""
    data_dir = Path(tempfile.mkdtemp(prefix="terminrelay-cluster-"))
    ports = [cluster_port() for _ in range(3)]
    processes = [
        subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                f"nodes-{port}.conf",
                "--cluster-node-timeout",
                "5000",
                "--dir",
                str(data_dir),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        for port in ports:
            _wait_until(lambda p=port: redis.Redis(port=p).ping())
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        for port in ports:
            _wait_until(lambda p=port: redis.Redis(port=p).cluster("info")["cluster_state"] == "ok")
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
        shutil.rmtree(data_dir, ignore_errors=True)


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is valid and free too."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def _wait_until(check: object, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except redis.RedisError:
            pass
        time.sleep(0.1)
    raise AssertionError("redis cluster did not come up")


async def test_booking_life_across_two_relays_on_a_cluster(
    redis_cluster: list[int], relay_factory: RelayFactory, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """Submit and confirm on relay B wake a long poll on relay A; the client drains via B."""
    cluster_url = "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in redis_cluster)
    relay_a = await relay_factory(redis_url=cluster_url, inbox_visibility=1)
    relay_b = await relay_factory(redis_url=cluster_url, inbox_visibility=1)
    cluster = redis.RedisCluster(host="127.0.0.1", port=redis_cluster[0])
    cluster.flushall()

    # Given practices whose slots spread over the cluster's masters
    practices = [await relay_a.add_practice(slug) for slug in ("praxis-a", "praxis-b", "praxis-c")]
    owners = {cluster.cluster_keyslot(f"tr:{{{p.slug}}}:practice") // 5462 for p in practices}
    assert len(owners) >= 2, "the test practices should live on different masters"
    practice = practices[0]

    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay_b.url, practice.token, profile_json())

        # When a long poll waits on relay A
        poll = asyncio.create_task(
            _get_json(http, f"{relay_a.url}/api/v1/inbox?wait=30", practice.auth)
        )
        await asyncio.sleep(0.3)

        # And a patient submits and confirms on relay B
        booking = booking_json()
        assert (await submit(http, relay_b.url, practice.slug, booking)).status == 202
        link = link_in((await smtp_sink.wait_for(1))[0])
        started = time.monotonic()
        async with http.post(link, data={"action": "confirm"}) as confirmed:
            assert confirmed.status == 200

        # Then relay A's long poll answers at once
        answer = await asyncio.wait_for(poll, 10)
        assert time.monotonic() - started < 1.0
        assert len(answer["items"]) == 1

        # And the other practices, on other masters, get their mail too
        for other in practices[1:]:
            other_booking = wish_booking_json()
            assert (await submit(http, relay_a.url, other.slug, other_booking)).status == 202
        await smtp_sink.wait_for(3)

    # And once the poll's fetch is past its visibility timeout without an acknowledgement,
    # the practice client, talking to relay B, receives the item again and acknowledges it
    await asyncio.sleep(1.2)
    out_dir = tmp_path / "out"
    code = await run(
        RunConfig(relay_b.url, practice.token, practice.key_file, out_dir, wait=0), once=True
    )
    assert code == 0
    (written,) = out_dir.glob("*.json")
    assert json.loads(written.read_text())["last_name"] == booking["last_name"]
    assert cluster.zcard(f"tr:{{{practice.slug}}}:inbox") == 0

    # And every key of a practice sits in that practice's one slot
    for p in practices:
        slots = {cluster.cluster_keyslot(key) for key in cluster.scan_iter(f"tr:{{{p.slug}}}:*")}
        assert len(slots) == 1
    cluster.close()


async def _get_json(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> dict[str, list[object]]:
    async with http.get(url, headers=headers) as response:
        assert response.status == 200
        body: dict[str, list[object]] = await response.json()
        return body
