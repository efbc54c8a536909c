"""Keep the relay's slots current while `run` delivers bookings.

The profile is rebuilt from the rules, the calendar and the bookings received, and
published at start and then every interval, in a task beside the inbox loop. A failure
here never stops delivery: a calendar that cannot be read, broken rules or an
unreachable relay leave the last published profile in place, say so in one line and are
tried again at the next interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from practice_client.calendar.busy import CalendarUnavailableError
from practice_client.calendar.opening_hours import RulesError
from practice_client.calendar.slots import (
    BuiltProfile,
    SlotSource,
    build_profile,
    relay_problems,
    summary_lines,
)
from practice_client.relay.api import (
    AuthError,
    RelayClient,
    RelayRequestError,
    RelayUnavailableError,
)
from practice_client.runner import ExitCode, RunConfig, run

log = logging.getLogger(__name__)


class Publisher:
    def __init__(
        self,
        relay_url: str,
        token: str,
        source: SlotSource,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.relay_url = relay_url
        self.token = token
        self.source = source
        self._clock = clock
        self.last_published: datetime | None = None

    async def publish_once(self) -> bool:
        """Build and publish the profile; False (logged in one line) if that failed."""
        try:
            built = await asyncio.to_thread(build_profile, self.source, self._clock())
        except CalendarUnavailableError as error:
            log.warning("%s; %s", error, self._kept())
            return False
        except RulesError as error:
            # One line, no traceback: the problem is in the file, and `publish` lists them all.
            log.error("the opening hours are not usable: %s; %s", error.problems[0], self._kept())  # noqa: TRY400
            return False
        try:
            async with RelayClient(self.relay_url, self.token) as relay:
                stored = await relay.put_profile(built.profile)
        except RelayRequestError as error:
            log.error("the relay refused the profile (%s); %s", error, self._kept())  # noqa: TRY400
            # The same lines as `publish`: each names the rules file's key and line to fix.
            errors = error.payload.get("errors") if isinstance(error.payload, dict) else None
            if isinstance(errors, dict):
                named = {str(path): str(message) for path, message in errors.items()}
                for problem in relay_problems(self.source.rules_file, built.profile, named):
                    log.error("%s", problem)  # noqa: TRY400 - the lines say it all
            return False
        except (RelayUnavailableError, AuthError) as error:
            log.warning("could not publish the slots (%s); %s", error, self._kept())
            return False
        self.last_published = self._clock()
        log.info("published %s", _one_line(built, stored))
        return True

    async def loop(self, every: float) -> None:
        """publish_once now and then every `every` seconds, until cancelled."""
        while True:
            try:
                await self.publish_once()
            except Exception as error:
                # A bug or a library failing in a way nobody foresaw must cost one round,
                # not publishing for the rest of the run (nor delivery, which goes on).
                log.error(  # noqa: TRY400 (one line; the message could quote calendar data)
                    "publishing failed unexpectedly (%s); %s", type(error).__name__, self._kept()
                )
            await asyncio.sleep(every)

    def _kept(self) -> str:
        if self.last_published is None:
            return "the relay keeps the slots it had; trying again later"
        return (
            "the relay keeps the slots published at "
            f"{self.last_published.astimezone():%Y-%m-%d %H:%M}; trying again later"
        )


def _one_line(built: BuiltProfile, stored: dict[str, object]) -> str:
    head = summary_lines(stored)[0]
    return (
        f"{head}; {built.busy_removed:,} slots busy in the calendar, "
        f"{built.booked_removed:,} taken by bookings received"
    )


async def run_with_publishing(
    config: RunConfig, *, once: bool, source: SlotSource, every: float
) -> int:
    """`run`, with the profile published at start and every `every` seconds beside it.

    With `once`: publish, then drain the inbox; a failed publish makes the exit code 1.
    """
    publisher = Publisher(config.relay_url, config.token, source)
    if once:
        published = await publisher.publish_once()
        code = await run(config, once=True)
        return ExitCode.FAILURE if code == ExitCode.OK and not published else code
    task = asyncio.create_task(publisher.loop(every), name="publisher")
    try:
        return await run(config, once=False)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
