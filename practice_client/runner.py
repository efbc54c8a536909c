"""The delivery loop: check the relay's keys, long-poll, open, write, acknowledge.

Log lines name booking ids and counts only: never a field of a booking.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import TypeVar

from practice_client.api import AuthError, InboxItem, RelayClient, RelayRequestError
from practice_client.envelope import EnvelopeError, open_item
from practice_client.keys import (
    KeyFileError,
    KeyRing,
    decode_key,
    encode_key,
    load_key_ring,
    pin_relay_key,
    read_pinned_relay_key,
    relay_key_path,
)
from practice_client.retry import (
    RelayUnreachableError,
    RetryPolicy,
    StopRequestedError,
    call_with_retries,
    until_stopped,
)
from practice_client.sink import BookingSink

T = TypeVar("T")

log = logging.getLogger(__name__)

MAX_WAIT = 60
MAX_LIMIT = 100


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1  # usage, key file, output directory, profile: something to fix locally
    TOKEN_REJECTED = 2  # the practice token is wrong; retrying will not fix it
    REFUSED = 3  # the relay's keys are not the ones we trust
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
    return ExitCode.FAILURE, str(failure)


async def _run(config: RunConfig, *, once: bool, stop: asyncio.Event) -> int:
    slug = practice_slug(config.token)
    if config.relay_key is not None:
        try:
            decode_key(config.relay_key)
        except ValueError as error:
            raise ConfigError(f"--relay-key is not a relay key: {error}") from error
    ring = load_key_ring(config.key_file)
    sink = BookingSink(config.out_dir)
    sink.prepare()
    async with RelayClient(config.relay_url, config.token) as relay:
        delivery = _Delivery(config, relay, sink, slug, ring, once=once, stop=stop)
        return await delivery.loop()


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
        self.write_failures = 0
        self._key_file_stamp = _stamp(config.key_file)

    async def loop(self) -> int:
        refused: set[str] = set()
        while True:
            relay_key = await self._call(self._check_relay)
            wait = 0 if self.once else self.config.wait
            started = time.monotonic()
            log.debug("polling the inbox (wait %d s)", wait)
            items = await self._call(
                functools.partial(self.relay.fetch_inbox, wait=wait, limit=self.config.limit)
            )
            log.debug("the inbox handed out %d item(s)", len(items))
            if not items:
                if self.once:
                    return self._once_result()
                await self._pause_if_too_quick(started, wait)
                continue
            delivered = self._deliver(items, relay_key)
            if delivered:
                await self._call(functools.partial(self.relay.ack, delivered), interruptible=False)
                log.info("acknowledged %d booking(s)", len(delivered))
            elif self.once and all(item.id in refused for item in items):
                # Only items refused before come back: draining is done, not stuck.
                return self._once_result()
            refused.update(item.id for item in items if item.id not in delivered)
            if self.stop.is_set():
                raise StopRequestedError

    def _once_result(self) -> int:
        if self.write_failures:
            log.error("%d booking(s) could not be written", self.write_failures)
            return ExitCode.FAILURE
        return ExitCode.OK

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

    def _deliver(self, items: Sequence[InboxItem], relay_key: bytes) -> list[str]:
        """Open and write each item; the ids that may be acknowledged."""
        delivered = []
        for item in items:
            document = self._open(item, relay_key)
            if document is not None and self._write(item, document):
                delivered.append(item.id)
        return delivered

    def _open(self, item: InboxItem, relay_key: bytes) -> dict[str, object] | None:
        try:
            return self._open_with_ring(item, relay_key)
        except EnvelopeError as rejection:
            reason = rejection.reason
        # A rotation beside us may have sealed this item to a key we have not loaded yet.
        if self._reload_keys():
            try:
                return self._open_with_ring(item, relay_key)
            except EnvelopeError as rejection:
                reason = rejection.reason
        log.error("REFUSED booking %s: %s; it is neither written nor acknowledged", item.id, reason)
        return None

    def _open_with_ring(self, item: InboxItem, relay_key: bytes) -> dict[str, object]:
        return open_item(
            item.id, item.sealed, keys=self.ring, relay_key=relay_key, practice=self.slug
        )

    def _write(self, item: InboxItem, document: dict[str, object]) -> bool:
        document["confirmed_at"] = item.confirmed_at
        try:
            written = self.sink.write(document)
        except (OSError, ValueError) as error:
            self.write_failures += 1
            log.error(  # noqa: TRY400 - the reason is enough; a traceback would not help
                "could not write booking %s to %s (%s); not acknowledged",
                item.id,
                self.sink.out_dir,
                getattr(error, "strerror", None) or error,
            )
            return False
        if written:
            log.info("wrote booking %s", item.id)
        else:
            log.info("booking %s was written before; acknowledging it again", item.id)
        return True


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
