"""Wakes long polls the moment a practice's inbox changes, on any relay process.

One pattern subscription per process listens to `tr:wake:*`; the confirm script publishes
there. Waiters are plain asyncio events, so a thousand open long polls cost one Redis
connection, not a thousand. Pub/sub can drop a message when the connection breaks, so
waiters also wake at their deadline and re-read the inbox: a lost message costs latency,
never a booking.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from redis.exceptions import RedisError

from relay.ops.background import sleep_unless
from relay.storage.store import WAKE_CHANNEL_PREFIX

log = logging.getLogger(__name__)


class Wakeups:
    def __init__(self) -> None:
        self._waiters: defaultdict[str, set[asyncio.Event]] = defaultdict(set)
        self._closing = asyncio.Event()

    @contextlib.contextmanager
    def waiter(self, practice: str) -> Iterator[asyncio.Event]:
        """An event set when `practice`'s inbox may have changed, or when the relay stops.
        Register it before reading the inbox, so no change slips in between."""
        event = asyncio.Event()
        if self._closing.is_set():
            event.set()
        self._waiters[practice].add(event)
        try:
            yield event
        finally:
            self._waiters[practice].discard(event)
            if not self._waiters[practice]:
                del self._waiters[practice]

    @property
    def open_waiters(self) -> int:
        return sum(len(events) for events in self._waiters.values())

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    def wake(self, practice: str) -> None:
        for event in self._waiters.get(practice, ()):
            event.set()

    def close(self) -> None:
        """Answers every open long poll now (shutdown), and every later one at once."""
        self._closing.set()
        for events in self._waiters.values():
            for event in events:
                event.set()

    async def listen(self, subscriber: Any, stop: asyncio.Event) -> None:
        """Runs until `stop`, reconnecting with a short pause when Redis goes away."""
        while not stop.is_set():
            try:
                async with subscriber.pubsub() as pubsub:
                    await pubsub.psubscribe(WAKE_CHANNEL_PREFIX + "*")
                    # Anything confirmed while we were away: wake everyone to re-read.
                    self._wake_all()
                    async for message in pubsub.listen():
                        if message["type"] == "pmessage":
                            self.wake(message["data"].decode())
            except (RedisError, OSError) as error:
                if stop.is_set():
                    return
                log.warning("wake-up subscription lost, reconnecting", extra={"error": str(error)})
                await sleep_unless(stop, 1)

    def _wake_all(self) -> None:
        for practice in list(self._waiters):
            self.wake(practice)
