"""The delivery loop: check the relay's keys, long-poll, open, write, acknowledge.

Beside it, the relay's booking form page is checked at start and every few hours
(practice_client/relay/transparency.py): a failure is an error line, never a reason to stop
delivering.

Log lines name booking ids and counts only: never a field of a booking.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import TypeVar

from practice_client.handover.caldav_write import CalendarSync, CalendarWriter
from practice_client.handover.changes import RescheduleMismatch
from practice_client.handover.files import DirectoryBusyError, DurableBatch, FileAccess
from practice_client.handover.hooks import Hook
from practice_client.handover.moments import iso_time
from practice_client.handover.sink import DEFAULT_FORMATS, BookingSink, usable_booking_id
from practice_client.os_errors import explain_os_error
from practice_client.relay.api import AuthError, InboxItem, RelayClient, RelayRequestError
from practice_client.relay.confirmed_at import checked_confirmed_at
from practice_client.relay.envelope import (
    BOOKING,
    CANCELLATION,
    ENVELOPE,
    NOTICES,
    RESCHEDULE,
    EnvelopeError,
    document_type,
    open_item,
)
from practice_client.relay.inner import (
    SEALED_BY_RELAY,
    SealedPartRejected,
    legal_members,
    open_sealed_part,
)
from practice_client.relay.keys import (
    KeyFileError,
    KeyRing,
    decode_key,
    encode_key,
    load_key_ring,
    pin_relay_key,
    read_pinned_relay_key,
    relay_key_path,
)
from practice_client.relay.reminding import Reminders
from practice_client.relay.retry import (
    RelayUnreachableError,
    RetryPolicy,
    StopRequestedError,
    call_with_retries,
    until_stopped,
)
from practice_client.relay.transparency import check_form_page

T = TypeVar("T")
# What an opened item asks of the sink: a booking to write, a cancellation to apply, or a
# browser-sealed booking whose sealed part was refused, to write as {id}.rejected.json.
REJECTED = "rejected"

log = logging.getLogger(__name__)

MAX_WAIT = 60
MAX_LIMIT = 100


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1  # usage, key file, output directory, profile: something to fix locally
    TOKEN_REJECTED = 2  # the practice token is wrong; retrying will not fix it
    REFUSED = 3  # the relay's keys are not the ones we trust, or (--once) an item was refused
    # (--once) a browser-sealed booking was written as {id}.rejected.json. The same status
    # as REFUSED, as docs/protocol.md says: either way staff must look at the log now.
    REJECTED = 3
    UNREACHABLE = 4  # the relay stayed unavailable (only where giving up is allowed)


class UntrustedRelayError(Exception):
    """The relay is not what we trust; carrying on would be unsafe."""


class ConfigError(Exception):
    """A setting is unusable; the message names it."""


class TokenError(Exception):
    """The practice token is malformed or names a practice the relay does not know."""


@dataclass(frozen=True)
class RunConfig:
    relay_url: str
    token: str
    key_file: Path
    out_dir: Path
    relay_key: str | None = None  # base64, pinned explicitly on the command line
    wait: int = 30
    limit: int = MAX_LIMIT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    formats: tuple[str, ...] = DEFAULT_FORMATS
    access: FileAccess = field(default_factory=FileAccess)
    hook: Hook | None = None  # --exec: run per booking; acknowledged only if it succeeds
    # Seconds between checks of the booking form page (transparency.py), the first at
    # start; None: not checked. With `require_sealing` a page that does not seal in the
    # browser is a problem (the practice's sealing is "browser").
    page_check_every: float | None = None
    require_sealing: bool = False
    # The practice's CalDAV calendar (formats hold "caldav"): written beside delivery.
    calendar: CalendarWriter | None = None
    # The practice's reminder days (`[reminders] days_before` of --rules); None: the
    # relay's profile says (reminding.py). False `reminders`: none are asked for.
    reminder_days: tuple[int, ...] | None = None
    reminders: bool = True


@dataclass(frozen=True)
class _Opened:
    """An item that opened: what it asks for (BOOKING, CANCELLATION, REJECTED), its
    document (the booking, the notice, the rejection record) and the booking it concerns
    (its own id, or the booking a cancellation cancels)."""

    item: InboxItem
    document: dict[str, object]
    booking_id: str
    kind: str


def practice_slug(token: str) -> str:
    """The practice's slug: the part of the token before the first '.'."""
    slug, dot, secret = token.partition(".")
    if not slug or not dot or not secret:
        raise TokenError("the practice token is malformed (expected {slug}.{secret})")
    return slug


async def run(config: RunConfig, *, once: bool, stop: asyncio.Event | None = None) -> int:
    """Deliver bookings until the inbox is empty (`once`) or until stopped; the exit code.

    Without `stop`, SIGINT and SIGTERM stop the loop.
    """
    own_stop = stop is None
    stop = stop or asyncio.Event()
    failure: Exception
    with _stopping_on_signals(stop) if own_stop else contextlib.nullcontext():
        try:
            return await _run(config, once=once, stop=stop)
        except StopRequestedError:
            log.info("stopped")
            return ExitCode.OK
        except _EXPECTED_FAILURES as error:
            failure = error
    code, message = explain_failure(failure, config.relay_url)
    log.error("%s", message)
    return code


_EXPECTED_FAILURES = (
    TokenError,
    AuthError,
    UntrustedRelayError,
    RelayUnreachableError,
    ConfigError,
    KeyFileError,
    OSError,
    RelayRequestError,
    DirectoryBusyError,
)


def explain_failure(failure: Exception, relay_url: str) -> tuple[ExitCode, str]:
    """Exit code and log line for a failure that ends the run; never a traceback."""
    if isinstance(failure, TokenError | AuthError):
        return ExitCode.TOKEN_REJECTED, str(failure)
    if isinstance(failure, UntrustedRelayError):
        return ExitCode.REFUSED, f"REFUSING TO CONTINUE: {failure}"
    if isinstance(failure, RelayUnreachableError):
        return ExitCode.UNREACHABLE, f"giving up: {failure}"
    if isinstance(failure, RelayRequestError):
        return ExitCode.FAILURE, f"the relay at {relay_url} answered {failure}"
    if isinstance(failure, OSError):
        return ExitCode.FAILURE, explain_os_error(failure)
    return ExitCode.FAILURE, str(failure)


async def _run(config: RunConfig, *, once: bool, stop: asyncio.Event) -> int:
    slug = practice_slug(config.token)
    if config.relay_key is not None:
        try:
            decode_key(config.relay_key)
        except ValueError as error:
            raise ConfigError(f"--relay-key is not a relay key: {error}") from error
    ring = load_key_ring(config.key_file)
    sink = BookingSink(config.out_dir, formats=config.formats, access=config.access)
    with sink.claimed() as stale_temps:
        if stale_temps:
            log.warning(
                "removed %d temporary file(s) an interrupted run left in %s",
                stale_temps,
                config.out_dir,
            )
        calendar = None if config.calendar is None else CalendarSync(config.calendar)
        if calendar is not None and not once:
            calendar.start()
        async with RelayClient(config.relay_url, config.token) as relay:
            delivery = _Delivery(config, relay, sink, slug, ring, once=once, stop=stop)
            delivery.calendar = calendar
            if config.reminders:
                delivery.reminders = Reminders(
                    relay,
                    config.out_dir,
                    slug,
                    days=config.reminder_days,
                    access=config.access,
                    retry=config.retry,
                )
            try:
                code = await delivery.loop()
                if once and delivery.reminders is not None:
                    # After the relay's keys were checked and the inbox drained: what was
                    # moved or cancelled just now is not reminded of.
                    await delivery.reminders.send_once()
                return code
            finally:
                await delivery.stop_page_checks()
                if delivery.reminders is not None:
                    await delivery.reminders.stop()
                if calendar is not None:
                    # --once: what was written goes to the calendar before the exit; a
                    # calendar that cannot be written changes no exit code.
                    await (calendar.write_all() if once else calendar.stop())


@contextlib.contextmanager
def _stopping_on_signals(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Windows and threads other than the main one cannot install handlers; there
        # Ctrl-C arrives as KeyboardInterrupt, which __main__ turns into a clean exit.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


class _Delivery:
    def __init__(
        self,
        config: RunConfig,
        relay: RelayClient,
        sink: BookingSink,
        slug: str,
        ring: KeyRing,
        *,
        once: bool,
        stop: asyncio.Event,
    ) -> None:
        self.config = config
        self.relay = relay
        self.sink = sink
        self.slug = slug
        self.ring = ring
        self.once = once
        self.stop = stop
        self.relay_key: bytes | None = None  # trusted after the first check
        self.counts = _Counts()
        self.write_failures = 0
        self.hook_failures = 0
        self.hooked: set[str] = set()  # bookings whose hook succeeded in this run
        self.refused: dict[str, str] = {}  # item id (or a stand-in) -> reason, logged once
        self.rejected: set[str] = set()  # written as {id}.rejected.json (now or before)
        self._page_checks: asyncio.Task[None] | None = None
        self._page_checked = False
        self.in_flight: int | None = None  # as of the last inbox answer
        self._key_file_stamp = _stamp(config.key_file)
        self.calendar: CalendarSync | None = None
        self.reminders: Reminders | None = None

    async def loop(self) -> int:
        """Poll, open and stage a batch while the one before is made durable.

        A batch's commit waits on the disk, in a thread; meanwhile the next batch is
        fetched, opened and staged, which needs the processor. Its commit starts only
        after the one before is durable and acknowledged, and a batch touching a booking
        of the one in flight (a redelivery, a cancellation) waits for it before staging,
        so each batch sees the files of the one before as a serial run would.
        """
        undelivered: set[str] = set()
        previous: _Commit | None = None
        stop_after = False  # --once: a batch of items that had all failed before came back
        try:
            while True:
                relay_key = await self._call(self._check_relay)
                await self._start_page_checks()
                if self.reminders is not None and not self.once:
                    self.reminders.start()  # once the relay is known to be ours
                wait = 0 if self.once else self.config.wait
                started = time.monotonic()
                log.debug("polling the inbox (wait %d s)", wait)
                answer = await self._call(
                    functools.partial(self.relay.fetch_inbox, wait=wait, limit=self.config.limit)
                )
                items = answer.items
                log.debug("the inbox handed out %d item(s)", len(items))
                if not items and previous is not None:
                    # Our own batch, unacknowledged yet, counted as in flight: finish it and
                    # ask again, so that the count means other clients only.
                    stop_after |= await self._finished(previous, undelivered)
                    previous = None
                    continue
                if previous is not None and not previous.item_ids.isdisjoint(i.id for i in items):
                    # Handed out again before the batch in flight was acknowledged (a relay
                    # without a visibility timeout): what that batch acknowledged is done.
                    stop_after |= await self._finished(previous, undelivered)
                    items = [item for item in items if item.id not in previous.acknowledged]
                    previous = None
                    if not items:
                        continue
                self.in_flight = answer.in_flight
                self.counts.fetched += len(items)
                if not items:
                    if self.once:
                        return self._once_result()
                    await self._pause_if_too_quick(started, wait)
                    continue
                opened = self._open_all(items, relay_key)
                if previous is not None and previous.touches(opened):
                    stop_after |= await self._finished(previous, undelivered)
                    previous = None
                repeated = all(item.id in undelivered for item in items)
                commit = await self._stage(items, opened)
                if previous is not None:
                    stop_after |= await self._finished(previous, undelivered)
                previous = self._start(commit, repeated=repeated)
                if stop_after:
                    # Draining is done, not stuck; what was fetched meanwhile is finished too.
                    await self._finished(previous, undelivered)
                    previous = None
                    return self._once_result()
                if self.stop.is_set():
                    raise StopRequestedError
        finally:
            if previous is not None:
                # Whatever ends the loop, a staged batch is made durable and acknowledged.
                await previous.done()

    async def stop_page_checks(self) -> None:
        if self._page_checks is not None:
            self._page_checks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._page_checks

    async def _start_page_checks(self) -> None:
        """Once the relay is known to be ours: check its form page now (`--once`) or now
        and every page_check_every seconds beside delivery."""
        every = self.config.page_check_every
        if every is None or self._page_checked:
            return
        self._page_checked = True
        if self.once:
            await self._check_page()
        else:
            self._page_checks = asyncio.create_task(self._page_check_loop(every))

    async def _page_check_loop(self, every: float) -> None:
        while True:
            await self._check_page()
            await asyncio.sleep(every)

    async def _check_page(self) -> None:
        """One check of the form page, logged: one error line per problem found."""
        try:
            report = await check_form_page(
                self.relay,
                self.slug,
                self.ring.current.public_key,
                require_sealing=self.config.require_sealing,
            )
        except Exception as error:
            # A bug or a library failing unforeseen must cost one check, never delivery.
            log.error(  # noqa: TRY400 (one line; the message could quote the page)
                "the booking form page could not be checked (%s)", type(error).__name__
            )
            return
        for problem in report.problems:
            log.error("%s", problem)
        if report.ok:
            log.info("%s", report.summary())

    async def _finished(self, commit: _Commit, undelivered: set[str]) -> bool:
        """Wait for a batch's commit and acknowledgement; whether `--once` may stop:
        nothing of it was delivered and its items had all failed before in this run."""
        delivered = await commit.done()
        undelivered.update(item_id for item_id in commit.item_ids if item_id not in delivered)
        # Only items that failed before came back: draining is done, not stuck.
        return self.once and not delivered and commit.repeated

    def _once_result(self) -> int:
        self._summarise()
        if self.write_failures:
            log.error("%d booking(s) could not be written", self.write_failures)
        if self.hook_failures:
            log.error("the --exec command failed for %d booking(s)", self.hook_failures)
        if self.rejected:
            log.error(
                "REJECTED %d browser-sealed booking(s) (see above): written as "
                "{id}.rejected.json with whom to call back",
                len(self.rejected),
            )
        # A refusal outranks a local write failure: it may mean the relay is attacking.
        if self.refused:
            log.error(
                "REFUSED %d item(s) (see above); they stay in the relay's inbox",
                len(self.refused),
            )
            return ExitCode.REFUSED
        if self.rejected:
            return ExitCode.REJECTED
        return ExitCode.FAILURE if self.write_failures or self.hook_failures else ExitCode.OK

    def _summarise(self) -> None:
        counts = self.counts
        if counts.fetched == 0 and not self.in_flight:
            log.info("inbox empty")
        if self.in_flight:
            # Fetched by another client (or an earlier run that did not acknowledge): the
            # relay hands them out again when its visibility timeout runs out.
            log.info("%d item(s) in flight elsewhere", self.in_flight)
        in_flight = "unknown" if self.in_flight is None else str(self.in_flight)
        log.info(
            "summary: %d written, %d cancelled, %d refused, %d already there, "
            "%s in flight elsewhere, %d not written, %d hook failures, %d rejected, "
            "%d replies, %d rescheduled",
            counts.written,
            counts.cancelled,
            len(self.refused),
            counts.already_there,
            in_flight,
            self.write_failures,
            self.hook_failures,
            counts.rejected,
            counts.replies,
            counts.rescheduled,
        )

    async def _call(
        self, operation: Callable[[], Awaitable[T]], *, interruptible: bool = True
    ) -> T:
        return await call_with_retries(
            operation,
            policy=self.config.retry,
            stop=self.stop,
            give_up=self.once,
            relay_url=self.config.relay_url,
            interruptible=interruptible,
        )

    async def _pause_if_too_quick(self, started: float, wait: int) -> None:
        # A relay answering long polls at once (shutting down, misconfigured) must not
        # turn this loop into a busy one.
        if wait > 0 and time.monotonic() - started < 1.0:
            await until_stopped(asyncio.sleep(self.config.retry.delay(1) + 0.5), self.stop)

    async def _check_relay(self) -> bytes:
        """The trusted relay key, after checking both keys the relay publishes."""
        published = _published_key(await self.relay.relay_key(), "relay key")
        if self.relay_key is None:
            self.relay_key = self._trusted_relay_key(published)
        elif published != self.relay_key:
            raise UntrustedRelayError(
                f"the relay now publishes the signing key {encode_key(published)}, "
                f"not the pinned {encode_key(self.relay_key)}"
            )
        await self._check_practice_key()
        return self.relay_key

    def _trusted_relay_key(self, published: bytes) -> bytes:
        if self.config.relay_key is not None:
            given = decode_key(self.config.relay_key)
            if given != published:
                raise UntrustedRelayError(
                    f"the relay publishes the signing key {encode_key(published)}, "
                    f"not the one given with --relay-key ({encode_key(given)})"
                )
            if read_pinned_relay_key(self.config.key_file) != given:
                pin_relay_key(self.config.key_file, given)
                log.info("pinned the relay key from --relay-key")
            return given
        pinned = read_pinned_relay_key(self.config.key_file)
        if pinned is None:
            pin_relay_key(self.config.key_file, published)
            log.warning(
                "first contact: pinned the relay signing key %s in %s; compare it with "
                "the one your relay operator gave you",
                encode_key(published),
                relay_key_path(self.config.key_file),
            )
            return published
        if pinned != published:
            raise UntrustedRelayError(
                f"the relay publishes the signing key {encode_key(published)}, not the "
                f"pinned {encode_key(pinned)} ({relay_key_path(self.config.key_file)}); "
                "if the operator really changed it, run once with --relay-key"
            )
        return pinned

    async def _check_practice_key(self) -> None:
        published = await fetch_practice_key(self.relay, self.slug)
        if published == self.ring.current.public_key:
            return
        # `rotate-key` may have run beside us: a newer key file may match.
        self._reload_keys()
        if published == self.ring.current.public_key:
            return
        hint = (
            " (it is an older key of ours: a key rotation did not reach the relay; "
            "run `practice-client rotate-key` again)"
            if self.ring.holds(published)
            else ""
        )
        raise UntrustedRelayError(
            "the relay publishes a public key for this practice that is not ours: "
            f"bookings would be sealed to someone else{hint}"
        )

    def _reload_keys(self) -> bool:
        """Read the key file again if it changed since; whether it did."""
        stamp = _stamp(self.config.key_file)
        if stamp == self._key_file_stamp:
            return False
        self.ring = load_key_ring(self.config.key_file)
        self._key_file_stamp = stamp
        log.info("reloaded key file: %d key(s)", len(self.ring.pairs))
        return True

    def _open_all(self, items: Sequence[InboxItem], relay_key: bytes) -> list[_Opened]:
        """The items that open, each with its document and the booking it concerns."""
        return [opened for item in items if (opened := self._open(item, relay_key)) is not None]

    async def _stage(
        self,
        items: Sequence[InboxItem],
        opened: list[_Opened],
    ) -> _Commit:
        """Stage the opened items' files in a batch, for `_start` to commit.

        The files of all items go to disk together (one DurableBatch), so a batch costs
        two directory syncs instead of two per file; nothing is acknowledged, and no hook
        run, before `commit` has made them durable.
        """
        delivered: list[str] = []
        batch = self.sink.batch()
        staged: list[_Staged] = []
        for step_of in opened:
            item, document, booking_id = step_of.item, step_of.document, step_of.booking_id
            if booking_id in batch:
                # A booking and its cancellation in one batch: what the second does depends
                # on the files of the first, so those go to disk first.
                delivered += await self._complete(batch, staged)
                batch, staged = self.sink.batch(), []
            if step_of.kind in NOTICES:
                step = self._stage_notice(batch, item, document)
            elif step_of.kind == REJECTED:
                step = self._stage_reject(batch, item, document)
            else:
                step = self._stage_write(batch, item, document)
            if step is not None:
                staged.append(step)
        return _Commit(items, batch, staged, delivered)

    def _start(self, commit: _Commit, *, repeated: bool) -> _Commit:
        commit.repeated = repeated
        commit.task = asyncio.create_task(self._commit_and_acknowledge(commit))
        return commit

    async def _commit_and_acknowledge(self, commit: _Commit) -> list[str]:
        delivered = commit.delivered + await self._complete(commit.batch, commit.staged)
        if delivered:
            await self._call(functools.partial(self.relay.ack, delivered), interruptible=False)
            log.info("acknowledged %d booking(s)", len(delivered))
        commit.acknowledged = frozenset(delivered)
        return delivered

    async def _complete(self, batch: DurableBatch, staged: list[_Staged]) -> list[str]:
        """Commit the batch, then report and run the hook for what it holds; the ids
        that may be acknowledged."""
        if not staged:
            return []
        try:
            # In a thread: fsyncs wait on the disk, and the loop keeps answering signals.
            failed = await asyncio.to_thread(batch.commit)
        except OSError as sync_error:
            failed = {step.booking_id: sync_error for step in staged}
        if self.calendar is not None:
            self.calendar.wake()  # the versions just made durable
        if self.reminders is not None:
            self.reminders.wake()  # a new booking, a move, a cancellation
        delivered = []
        for step in staged:
            failure = failed.get(step.booking_id)
            if failure is not None:
                self.write_failures += 1
                log.error(
                    "could not %s %s: %s; not acknowledged",
                    step.failing,
                    step.booking_id,
                    explain_os_error(failure, "write"),
                )
                continue
            if step.report is not None:
                step.report()
            if step.event is None or await self._run_hook(
                step.item_id, step.booking_id, event=step.event
            ):
                delivered.append(step.item_id)
        return delivered

    async def _run_hook(self, item_id: str, booking_id: str, *, event: str) -> bool:
        """Whether the item may be acknowledged: no hook, or it succeeded (now or before)."""
        hook = self.config.hook
        if hook is None or item_id in self.hooked:
            return True
        paths = (
            [self.sink.rejected_path(booking_id)]
            if event == REJECTED
            else self.sink.files(booking_id)
        )
        result = await hook.run(booking_id, paths, event=event)
        if not result.ok:
            self.hook_failures += 1
            log.error(
                "the --exec command failed for %sbooking %s (%s); not acknowledged, so it is "
                "delivered and the command run again later",
                {
                    "cancellation": "the cancellation of ",
                    "reply": "the patient's reply about ",
                    RESCHEDULE: "the move of ",
                    REJECTED: "the rejection of ",
                }.get(event, ""),
                booking_id,
                result.problem,
            )
            return False
        self.hooked.add(item_id)
        log.debug("the --exec command succeeded for booking %s (%s)", booking_id, event)
        return True

    def _stage_notice(
        self, batch: DurableBatch, item: InboxItem, notice: dict[str, object]
    ) -> _Staged | None:
        """Stage a patient's notice (a cancellation, a reply to a proposal, a move to
        another slot) about a booking; None if it cannot be applied. Its hook event is the
        notice's type."""
        booking_id, event = str(notice["booking_id"]), str(notice["type"])
        what = f"the {event} of booking"
        try:
            outcome = self.sink.stage_notice(batch, notice)
            booking = self.sink.read_booking(booking_id) if outcome.startswith("applied") else {}
        except RescheduleMismatch as mismatch:
            # Signed by the relay yet contradicting the booking: refused like any item that
            # breaks the protocol, so that it stays in the inbox for staff to look at.
            self._refuse(item.id, str(mismatch))
            return None
        except (OSError, ValueError) as error:
            self.write_failures += 1
            reason = explain_os_error(error, "write") if isinstance(error, OSError) else error
            log.error(  # noqa: TRY400 - the reason is enough; a traceback would not help
                "could not apply %s %s: %s; not acknowledged", what, booking_id, reason
            )
            return None
        failing = f"apply {what}"
        if outcome == "applied":
            report = functools.partial(self._report_notice, booking_id, booking, notice)
            # The hook sees the booking's files, now saying what the notice changed.
            return _Staged(item.id, booking_id, failing, event, report)
        if outcome == "kept":
            report = functools.partial(self._report_kept, booking_id, notice)
            return _Staged(item.id, booking_id, failing, None, report)
        self.counts.already_there += 1
        if outcome == "kept_before":
            return _Staged(item.id, booking_id, failing, None)
        log.info("%s %s was applied before", what.capitalize(), booking_id)
        return _Staged(item.id, booking_id, failing, event)

    def _report_notice(
        self, booking_id: str, booking: dict[str, object], notice: dict[str, object]
    ) -> None:
        formats = ", ".join(name for name in ("json", "ics", "fhir") if name in self.sink.formats)
        if notice["type"] == CANCELLATION:
            self.counts.cancelled += 1
            done, shown = "cancelled by the patient", appointment_time(booking)
        elif notice["type"] == RESCHEDULE:
            self.counts.rescheduled += 1
            previous = {"start": booking.get("previous_start"), "end": booking.get("previous_end")}
            moved_from = appointment_time(previous)
            done = f"moved by the patient ({booking.get('status')}) from {moved_from}"
            shown = appointment_time(booking)
        else:
            self.counts.replies += 1
            accepted = notice["reply"] == "accept"
            done = f"{'accepted' if accepted else 'declined'} by the patient at the proposed time"
            shown = appointment_time(notice if accepted else booking)
        log.info("booking %s %s (%s): %s", booking_id, done, formats, shown)

    def _report_kept(self, booking_id: str, notice: dict[str, object]) -> None:
        if notice["type"] == CANCELLATION:
            self.counts.cancelled += 1
        elif notice["type"] == RESCHEDULE:
            self.counts.rescheduled += 1
        else:
            self.counts.replies += 1
        log.info(
            "the patient's %s of booking %s came before the booking; it is kept and applied "
            "when the booking comes",
            notice["type"],
            booking_id,
        )

    def _open(self, item: InboxItem, relay_key: bytes) -> _Opened | None:
        if not usable_booking_id(item.id):
            # The id goes into log lines and file names: a relay-chosen string with line
            # breaks or megabytes in it must reach neither.
            digest = hashlib.sha256(item.id.encode("utf-8", "replace")).hexdigest()[:12]
            self._refuse(f"(malformed id, sha256 {digest}…)", "the item id is not a booking id")
            return None
        outcome = self._open_with_ring(item, relay_key)
        # A rotation beside us may have sealed this item (or the browser its sealed part)
        # to a key we have not loaded yet: never reject what the newer key file opens.
        if not isinstance(outcome, _Opened) and self._reload_keys():
            outcome = self._open_with_ring(item, relay_key)
        if isinstance(outcome, EnvelopeError):
            self._refuse(item.id, outcome.reason)
            return None
        if isinstance(outcome, SealedPartRejected):
            return _Opened(item, outcome.record, item.id, REJECTED)
        return outcome

    def _refuse(self, shown_id: str, reason: str) -> None:
        """Log a refused item once per run: its id and a reason, never booking content."""
        if shown_id in self.refused:
            return
        self.refused[shown_id] = reason
        log.error(
            "REFUSED booking %s: %s; it is neither written nor acknowledged", shown_id, reason
        )

    def _open_with_ring(
        self, item: InboxItem, relay_key: bytes
    ) -> _Opened | EnvelopeError | SealedPartRejected:
        """The opened item, or why it is refused (EnvelopeError) or rejected."""
        try:
            document = open_item(
                item.id,
                item.sealed,
                keys=self.ring,
                relay_key=relay_key,
                practice=self.slug,
                boxed=item.blob is not None,
            )
            kind = document_type(document)
            if kind in NOTICES:
                return _Opened(item, document, str(document["booking_id"]), kind)
            if kind == ENVELOPE:
                booking = open_sealed_part(document, item.blob, self.ring)
                return _Opened(item, booking, item.id, BOOKING)
        except (EnvelopeError, SealedPartRejected) as failure:
            return failure
        # Protocol 1: whatever the signed document says, the relay sealed it.
        document["sealed_by"] = SEALED_BY_RELAY
        document.update(legal_members(document, reminder=document.get("reminder") is True))
        return _Opened(item, document, item.id, BOOKING)

    def _stage_reject(
        self, batch: DurableBatch, item: InboxItem, record: dict[str, object]
    ) -> _Staged | None:
        """Stage {id}.rejected.json for a browser-sealed booking whose sealed part was
        refused; None when it cannot be written. Its hook event is `rejected`."""
        record["confirmed_at"] = checked_confirmed_at(item.confirmed_at, record.get("submitted_at"))
        failing = "write the rejection of booking"
        try:
            written = self.sink.stage_reject(batch, record)
            rejected_before = not written and self.sink.rejected_path(item.id).exists()
        except (OSError, ValueError) as error:
            self.write_failures += 1
            reason = explain_os_error(error, "write") if isinstance(error, OSError) else error
            log.error(  # noqa: TRY400 - the reason is enough; a traceback would not help
                "could not write the rejection of booking %s: %s; not acknowledged", item.id, reason
            )
            return None
        if written:
            report = functools.partial(self._report_rejected, item.id, str(record["reason"]))
            return _Staged(item.id, item.id, failing, REJECTED, report)
        self.counts.already_there += 1
        log.info("booking %s was written before; acknowledging it again", item.id)
        if rejected_before:
            return _Staged(
                item.id, item.id, failing, REJECTED, functools.partial(self.rejected.add, item.id)
            )
        # Written as a booking before: a relay repeating an id with another sealed part.
        event = "cancellation" if self._says_cancelled(item.id) else "booking"
        return _Staged(item.id, item.id, failing, event)

    def _report_rejected(self, booking_id: str, reason: str) -> None:
        self.counts.rejected += 1
        self.rejected.add(booking_id)
        # The id and the reason: the record holds whom to call back, the log line nothing
        # of the patient.
        log.error(
            "REJECTED booking %s: %s; written as %s.rejected.json, with whom to call back",
            booking_id,
            reason,
            booking_id,
        )

    def _stage_write(
        self, batch: DurableBatch, item: InboxItem, document: dict[str, object]
    ) -> _Staged | None:
        """Stage a booking's files; None when it cannot be written. Its hook event is
        `booking`, or `cancellation` when its cancellation came first."""
        # Unsigned, so checked, and re-rendered rather than copied (confirmed_at.py).
        document["confirmed_at"] = checked_confirmed_at(
            item.confirmed_at, document.get("submitted_at")
        )
        if document["confirmed_at"] is None:
            log.warning(
                "booking %s: the relay sent no plausible confirmation time; "
                "written with confirmed_at null",
                item.id,
            )
        try:
            kept = self.sink.kept_notices(item.id)
            written = self.sink.stage_write(batch, document, kept=kept)
        except (OSError, ValueError) as error:
            self.write_failures += 1
            reason = explain_os_error(error, "write") if isinstance(error, OSError) else error
            log.error(  # noqa: TRY400 - the reason is enough; a traceback would not help
                "could not write booking %s: %s; not acknowledged", item.id, reason
            )
            return None
        if not written:
            self.counts.already_there += 1
            log.info("booking %s was written before; acknowledging it again", item.id)
            # A redelivery: the hook runs again with the event of what the files say.
            event = "cancellation" if self._says_cancelled(item.id) else "booking"
            return _Staged(item.id, item.id, "write booking", event)
        report = functools.partial(
            self._report_written, item.id, document, kept=[str(n["type"]) for n in kept]
        )
        event = str(kept[-1]["type"]) if kept else "booking"
        return _Staged(item.id, item.id, "write booking", event, report)

    def _report_written(
        self, booking_id: str, document: dict[str, object], *, kept: list[str]
    ) -> None:
        self.counts.written += 1
        # Id and time only: the log may go to a journal that others can read.
        log.info(
            "booking %s written (%s)%s: %s",
            booking_id,
            ", ".join(name for name in ("json", "ics", "fhir") if name in self.sink.formats),
            f" with the patient's {' and '.join(kept)}, which came first" if kept else "",
            appointment_time(document),
        )

    def _says_cancelled(self, booking_id: str) -> bool:
        try:
            return self.sink.read_booking(booking_id).get("status") == "cancelled"
        except (OSError, ValueError):
            return False


class _Commit:
    """A staged batch; once started, a task commits it in a thread, then reports, runs the
    hook and acknowledges, while the next batch is fetched and staged."""

    def __init__(
        self,
        items: Sequence[InboxItem],
        batch: DurableBatch,
        staged: list[_Staged],
        delivered: list[str],
    ) -> None:
        self.batch = batch
        self.staged = staged
        self.delivered = delivered  # committed already (a booking and its cancellation)
        self.item_ids = frozenset(item.id for item in items)
        # The bookings whose files the batch writes or reads.
        self.bookings = frozenset(step.booking_id for step in staged)
        self.repeated = False  # its items had all failed before in this run
        self.acknowledged: frozenset[str] = frozenset()  # once done
        self.task: asyncio.Task[list[str]] | None = None

    def touches(self, opened: list[_Opened]) -> bool:
        """Whether items of a later batch concern a booking of this one."""
        return any(item.booking_id in self.bookings for item in opened)

    async def done(self) -> list[str]:
        """The ids acknowledged, once the batch is durable and they are."""
        if self.task is None:
            raise RuntimeError("the batch was never started")
        return await self.task


@dataclass(frozen=True)
class _Staged:
    """An item whose files are staged in a batch (or were there already), until the batch
    is durable: then it is reported, its hook run, and it may be acknowledged."""

    item_id: str
    booking_id: str
    failing: str  # what could not be done if the commit fails: "write booking", …
    event: str | None  # TERMINRELAY_EVENT for the hook; None: no hook (nothing to show)
    report: Callable[[], None] | None = None  # counts and the log line, once durable


@dataclass
class _Counts:
    """What a run did, for the summary of `--once`."""

    fetched: int = 0
    written: int = 0
    cancelled: int = 0  # cancellations by patients, applied or kept for their booking
    replies: int = 0  # patients' replies to proposals, applied or kept
    rescheduled: int = 0  # patients' moves to another slot, applied or kept
    already_there: int = 0
    rejected: int = 0  # browser-sealed bookings written as {id}.rejected.json


def appointment_time(document: dict[str, object]) -> str:
    """`2026-12-01 09:00-09:20 +01:00`, in the booking's own offset; never a name."""
    start, end = iso_time(document.get("start")), iso_time(document.get("end"))
    if start is None:
        return "no appointment time (a request without a time)"
    text = start.strftime("%Y-%m-%d %H:%M")
    if end is not None and end.date() == start.date() and end.utcoffset() == start.utcoffset():
        text += end.strftime("-%H:%M")
    # isoformat with minutes ends in the offset, e.g. +01:00, or nothing if there is none
    return f"{text} {start.isoformat(timespec='minutes')[16:] or '(no offset)'}"


async def fetch_practice_key(relay: RelayClient, slug: str) -> bytes:
    """The public key the relay seals this practice's bookings to."""
    try:
        answer = await relay.practice_public_key(slug)
    except RelayRequestError as error:
        if error.status == 404:
            raise TokenError(
                f"the relay knows no practice {slug!r} (the part of the token before the "
                "first '.'); check the practice token"
            ) from error
        raise
    return _published_key(answer, "practice public key")


def _published_key(text: str, what: str) -> bytes:
    try:
        return decode_key(text)
    except ValueError as error:
        raise UntrustedRelayError(f"the relay publishes a malformed {what}: {error}") from error


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size
