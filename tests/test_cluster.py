"""A real three-master Redis Cluster on loopback, shared by two relay processes."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import redis

from practice_client.runner import RunConfig, run
from tests.conftest import RelayFactory, SmtpSink, link_in
from tests.helpers import (
    READY_SECONDS,
    booking_json,
    profile_json,
    put_profile,
    submit,
    wish_booking_json,
)
from tests.servers import LocalCluster, start_cluster

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[LocalCluster]:
    """Three redis-server masters with cluster-enabled, joined by redis-cli."""
    data_dir = Path(tempfile.mkdtemp(prefix="terminrelay-cluster-"))
    cluster = start_cluster(data_dir, masters=3)
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


async def test_booking_life_across_two_relays_on_a_cluster(
    redis_cluster: LocalCluster, relay_factory: RelayFactory, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """Submit and confirm on relay B wake a long poll on relay A; the client drains via B."""
    relay_a = await relay_factory(redis_url=redis_cluster.url, inbox_visibility=1)
    relay_b = await relay_factory(redis_url=redis_cluster.url, inbox_visibility=1)
    cluster = redis.RedisCluster(host="127.0.0.1", port=redis_cluster.nodes[0].port)
    cluster.flushall()

    # Given practices whose slots spread over the cluster's masters
    practices = [await relay_a.add_practice(slug) for slug in ("praxis-a", "praxis-b", "praxis-c")]
    owners = {
        redis_cluster.slot_owner(cluster.cluster_keyslot(f"tr:{{{p.slug}}}:practice"))[0]
        for p in practices
    }
    assert len(owners) >= 2, "the test practices should live on different masters"
    practice = practices[0]

    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay_b.url, practice.token, profile_json())

        # When a long poll waits on relay A
        poll = asyncio.create_task(
            _get_json(http, f"{relay_a.url}/api/v1/inbox?wait=60", practice.auth)
        )
        waiting = b"terminrelay_inbox_long_polls_open 1.0"
        assert waiting in await relay_a.metrics_show(waiting, seconds=READY_SECONDS)

        # And a patient submits and confirms on relay B
        booking = booking_json()
        assert (await submit(http, relay_b.url, practice.slug, booking)).status == 202
        link = link_in((await smtp_sink.wait_for(1))[0])
        started = time.monotonic()
        async with http.post(link, data={"action": "confirm"}) as confirmed:
            assert confirmed.status == 200

        # Then relay A's long poll answers when woken, long before its 60 s deadline (the
        # bound is loose on purpose: CI's two cores are shared; only the wake-up matters)
        answer = await asyncio.wait_for(poll, 30)
        assert time.monotonic() - started < 15
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


async def test_housekeeping_gauges_work_on_a_cluster(
    redis_cluster: LocalCluster, relay_factory: RelayFactory
) -> None:
    """On a cluster the flood gauges (one MGET under the limits' hash tag) and the Redis
    memory gauges (INFO memory of every master) are set without a Redis error."""
    relay = await relay_factory(redis_url=redis_cluster.url, housekeeping_interval=0.2)
    await relay.add_practice("praxis-gauge")

    body = await relay.metrics_show(b'terminrelay_practice_flood_pressure{practice="praxis-gauge"}')

    assert b'terminrelay_practice_flood_pressure{practice="praxis-gauge"} 0.0' in body
    assert b"terminrelay_redis_errors_total 0.0" in body
    assert b"terminrelay_redis_evicting 0.0" in body
