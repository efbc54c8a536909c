"""Wake-ups between relay processes survive a Redis node that is gone for good."""

from __future__ import annotations

import asyncio
import contextlib

from relay.dev import free_port
from relay.storage import connect as redis_connect
from relay.storage.store import wake_channel
from relay.storage.wakeups import Wakeups
from tests.conftest import RedisServer
from tests.helpers import wait_until_async


async def test_cluster_subscriber_moves_past_a_dead_node(redis_server: RedisServer) -> None:
    """Given a cluster URL whose first node is dead, a published wake-up still reaches a
    waiting long poll through the next node."""
    dead = free_port()
    url = f"redis+cluster://127.0.0.1:{dead},{redis_server.host}:{redis_server.port}"
    subscriber = redis_connect.connect(url, pubsub=True)
    wakeups = Wakeups()
    stop = asyncio.Event()
    listener = asyncio.create_task(wakeups.listen(subscriber, stop))
    publisher = redis_server.client()
    try:
        with wakeups.waiter("praxis") as woken:

            async def delivered() -> bool:
                # Published until someone hears it: the listener subscribes after its retry.
                if publisher.publish(wake_channel("praxis"), "praxis") == 0:
                    return False
                await asyncio.sleep(0)
                return woken.is_set()

            await wait_until_async(delivered, "a wake-up delivered through the live node")
    finally:
        stop.set()
        listener.cancel()  # as relay/ops/background.py does: listen() blocks on the socket
        publisher.close()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await subscriber.aclose()
