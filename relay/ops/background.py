"""Background loops that stop when asked, even if a library swallows a cancellation.

redis-py can turn a cancellation that lands inside a command into a TimeoutError, which a
retrying loop would catch and carry on from. So each loop gets a `stop` event it checks
between rounds; cancellation only interrupts what it is waiting on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any


@contextlib.asynccontextmanager
async def background(
    loop: Callable[[asyncio.Event], Coroutine[Any, Any, None]], *, name: str, grace: float = 0
) -> AsyncIterator[None]:
    """Runs `loop(stop)` while the block runs; on exit sets `stop`, allows `grace` seconds
    to finish the work in hand, then cancels until the loop has returned."""
    stop = asyncio.Event()
    task = asyncio.create_task(loop(stop), name=name)
    try:
        yield
    finally:
        stop.set()
        if grace > 0:
            await asyncio.wait({task}, timeout=grace)
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.5)
        with contextlib.suppress(asyncio.CancelledError):
            task.result()


async def sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Waits `seconds`, or less when `stop` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
