"""Retrying relay calls with exponential backoff and full jitter, stoppable at any wait."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from practice_client.relay.api import RelayUnavailableError

T = TypeVar("T")

log = logging.getLogger(__name__)


class StopRequestedError(Exception):
    """SIGINT/SIGTERM arrived while waiting; the caller winds down cleanly."""


class RelayUnreachableError(Exception):
    """The relay stayed unavailable for every allowed attempt."""


@dataclass(frozen=True)
class RetryPolicy:
    start: float = 0.5
    cap: float = 30.0
    # Attempts before giving up, where giving up is allowed (`--once`, one-shot commands).
    attempts: int = 5

    def delay(self, failures: int) -> float:
        """Full jitter: uniform in [0, min(cap, start * 2**(failures - 1))].

        Many practices retrying in lock step after a relay restart would hit it together;
        full jitter spreads them out.
        """
        ceiling = min(self.cap, self.start * 2 ** max(failures - 1, 0))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret


async def until_stopped(operation: Awaitable[T], stop: asyncio.Event) -> T:
    """Await `operation`, cancelling it and raising StopRequestedError as soon as `stop` is set."""
    task = asyncio.ensure_future(operation)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((task, stopped), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, stopped):
            pending.cancel()
        await asyncio.gather(task, stopped, return_exceptions=True)
    if task.cancelled():
        raise StopRequestedError
    return task.result()


async def call_with_retries(
    operation: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    stop: asyncio.Event,
    give_up: bool,
    relay_url: str,
    interruptible: bool = True,
) -> T:
    """Call `operation` until it does not raise RelayUnavailableError.

    With `give_up`, RelayUnreachableError follows `policy.attempts` failures; otherwise
    it retries forever.
    Waits between attempts always end early on `stop`; the call itself only when
    `interruptible` (an acknowledgement in flight is better finished).
    """
    failures = 0
    while True:
        try:
            if interruptible:
                return await until_stopped(operation(), stop)
            return await operation()
        except RelayUnavailableError as error:
            failures += 1
            if give_up and failures >= policy.attempts:
                raise RelayUnreachableError(
                    f"the relay at {relay_url} is unreachable after {failures} tries "
                    f"(last: {error})"
                ) from error
            delay = policy.delay(failures)
            log.warning("relay at %s unavailable (%s); retrying in %.1f s", relay_url, error, delay)
            await until_stopped(asyncio.sleep(delay), stop)
