"""The one-shot commands: keygen, publish, rotate-key. Each returns its exit code."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from practice_client.calendar.busy import CalendarUnavailableError
from practice_client.calendar.opening_hours import RulesError
from practice_client.calendar.slots import (
    SlotSource,
    body_size,
    build_profile,
    relay_problems,
    summary_lines,
)
from practice_client.relay.api import AuthError, RelayClient, RelayRequestError
from practice_client.relay.keys import (
    KeyFileError,
    KeyPair,
    KeyRing,
    create_key_file,
    load_key_ring,
    save_key_ring,
)
from practice_client.relay.retry import RelayUnreachableError, RetryPolicy, call_with_retries
from practice_client.runner import (
    ConfigError,
    ExitCode,
    TokenError,
    UntrustedRelayError,
    explain_failure,
    fetch_practice_key,
    practice_slug,
)

T = TypeVar("T")
# Turns the relay's 422 errors (profile path -> message) into lines naming where to fix them.
Locate = Callable[[Mapping[str, str]], list[str]]

log = logging.getLogger(__name__)

_FAILURES = (
    AuthError,
    KeyFileError,
    OSError,
    RelayRequestError,
    RelayUnreachableError,
    TokenError,
    UntrustedRelayError,
)


def keygen(key_file: Path) -> int:
    pair = KeyPair.generate()
    try:
        create_key_file(key_file, pair)
    except FileExistsError:
        return _fail(
            f"key file {key_file} exists already; refusing to overwrite it "
            "(it may hold the only copy of a private key)"
        )
    except OSError as error:
        return _fail(f"cannot create key file {key_file}: {error.strerror or error}")
    print(f"created key file {key_file} (mode 0600): keep it private and back it up")
    print("public key (register it with `relay practice add ... --public-key`):")
    print(pair.public_key_b64)
    return ExitCode.OK


def read_profile(profile_file: Path) -> dict[str, Any]:
    """The profile JSON object in `profile_file`; ConfigError with a clear message if not."""
    try:
        profile = json.loads(profile_file.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(
            f"cannot read profile {profile_file}: {error.strerror or error}"
        ) from error
    except ValueError as error:
        raise ConfigError(f"profile {profile_file} is not JSON: {error}") from error
    if not isinstance(profile, dict):
        raise ConfigError(f"profile {profile_file} must be a JSON object")
    return profile


async def publish(
    relay_url: str,
    token: str,
    profile: dict[str, Any],
    key_file: Path | None = None,
    *,
    policy: RetryPolicy | None = None,
    locate: Locate | None = None,
) -> int:
    """PUT the profile; with `key_file`, also check the key the relay publishes for us.

    `locate` words the relay's refusals for the file the profile was built from.
    """
    try:
        return await _publish(
            relay_url, token, profile, key_file, policy or RetryPolicy(), locate=locate
        )
    except _FAILURES as error:
        return _explained(error, relay_url)


async def _publish(
    relay_url: str,
    token: str,
    profile: dict[str, Any],
    key_file: Path | None,
    policy: RetryPolicy,
    *,
    locate: Locate | None,
) -> int:
    slug = practice_slug(token)
    ring = load_key_ring(key_file) if key_file is not None else None
    async with RelayClient(relay_url, token) as relay:
        try:
            stored = await _retrying(
                functools.partial(relay.put_profile, profile), relay_url, policy
            )
        except RelayRequestError as error:
            if error.status == 413:
                return _fail(_too_large(profile))
            if error.status != 422:
                raise
            count = _print_errors(error.payload, locate)
            return _fail(
                f"the relay rejected the profile (HTTP 422, {count} problem(s) listed above); "
                "nothing changed on the relay"
            )
        # A summary, not the profile: thousands of slot lines tell staff nothing. The
        # relay answers with its own counts (slots already begun are dropped).
        print("\n".join(summary_lines(profile)))
        print(f"published as version {stored.get('version')}: {stored.get('slots')} slots offered")
        if ring is not None:
            published = await _retrying(
                functools.partial(fetch_practice_key, relay, slug), relay_url, policy
            )
            _require_own_key(ring, published)
    log.info("profile published")
    return ExitCode.OK


def _too_large(profile: dict[str, Any]) -> str:
    slots = profile.get("slots")
    count = len(slots) if isinstance(slots, list) else 0
    return (
        f"the relay refused the profile as too large ({count:,} slots, "
        f"{body_size(profile):,} bytes): offer fewer days (horizon_days) or fewer slots"
    )


async def publish_rules(
    relay_url: str | None,
    token: str | None,
    source: SlotSource,
    key_file: Path | None = None,
    *,
    dry_run: bool = False,
    policy: RetryPolicy | None = None,
) -> int:
    """Build the profile from opening hours, calendar and bookings; publish it (or not)."""
    try:
        built = await asyncio.to_thread(build_profile, source, datetime.now(UTC))
    except RulesError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return _fail(f"{len(error.problems)} problem(s) in the opening hours; nothing published")
    except CalendarUnavailableError as error:
        return _fail(f"{error}; nothing published, the relay keeps the slots it had")
    calendar = (
        f"{built.busy_removed:,} slots busy in the calendar" if source.calendar else "no calendar"
    )
    received = (
        f"{built.booked_removed:,} taken by bookings received"
        if source.bookings_dir
        else "no output folder for received bookings"
    )
    print(f"{calendar}, {received}; profile of {body_size(built.profile):,} bytes")
    if dry_run:
        print("\n".join(summary_lines(built.profile)))
        print("not published (--dry-run)")
        return ExitCode.OK
    if relay_url is None or token is None:
        return _fail("--relay and --token are needed to publish")
    return await publish(
        relay_url,
        token,
        built.profile,
        key_file,
        policy=policy,
        locate=functools.partial(relay_problems, source.rules_file, built.profile),
    )


def _print_errors(payload: object, locate: Locate | None) -> int:
    """One line per problem the relay names, `path: message` (with `locate`, the rules
    file's line and key instead of the path); how many there were."""
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if isinstance(errors, dict):
        named = {str(path): str(message) for path, message in errors.items()}
        lines = locate(named) if locate is not None else [f"{p}: {m}" for p, m in named.items()]
    elif isinstance(errors, list):
        lines = [str(entry) for entry in errors]
    else:
        lines = [f"(the relay's answer names no problem: {json.dumps(payload)[:200]})"]
    for line in lines:
        print(line)
    return len(lines)


async def rotate_key(
    relay_url: str, token: str, key_file: Path, *, policy: RetryPolicy | None = None
) -> int:
    """Add a new key pair to the key file and upload its public half.

    If the relay still publishes an older key of ours, a previous rotation wrote the key
    file but did not reach the relay: then the newest key is uploaded, no new one made.
    """
    try:
        return await _rotate_key(relay_url, token, key_file, policy or RetryPolicy())
    except _FAILURES as error:
        return _explained(error, relay_url)


async def _rotate_key(relay_url: str, token: str, key_file: Path, policy: RetryPolicy) -> int:
    slug = practice_slug(token)
    ring = load_key_ring(key_file)
    async with RelayClient(relay_url, token) as relay:
        published = await _retrying(
            functools.partial(fetch_practice_key, relay, slug), relay_url, policy
        )
        ring = _ring_to_upload(ring, published, key_file)
        try:
            await _retrying(
                functools.partial(relay.put_key, ring.current.public_key_b64), relay_url, policy
            )
        except _FAILURES as error:
            code, message = explain_failure(error, relay_url)
            return _fail(
                f"{message}. The new key is saved in {key_file}, but the relay does not "
                "have it yet: run `practice-client rotate-key` again to upload it",
                code,
            )
    print("the relay now seals new bookings to the new key; older keys stay in the key file")
    print(ring.current.public_key_b64)
    return ExitCode.OK


def _ring_to_upload(ring: KeyRing, published: bytes, key_file: Path) -> KeyRing:
    """The ring whose newest key is to be uploaded, saved before any upload."""
    if published != ring.current.public_key and ring.holds(published):
        log.warning("a previous rotation did not reach the relay; uploading its key now")
        return ring
    if not ring.holds(published):
        log.warning("the relay publishes a key that is not in the key file; replacing it")
    # Saved first: a key the relay seals to but nobody holds would lose every booking.
    rotated = ring.with_newest(KeyPair.generate())
    save_key_ring(key_file, rotated)
    log.info("added a new key pair to %s (%d keys)", key_file, len(rotated.pairs))
    return rotated


def _require_own_key(ring: KeyRing, published: bytes) -> None:
    if published != ring.current.public_key:
        raise UntrustedRelayError(
            "the relay publishes a public key for this practice that is not ours: "
            "bookings would be sealed to someone else"
        )


async def _retrying(
    operation: Callable[[], Awaitable[T]], relay_url: str, policy: RetryPolicy
) -> T:
    return await call_with_retries(
        operation, policy=policy, stop=asyncio.Event(), give_up=True, relay_url=relay_url
    )


def _explained(failure: Exception, relay_url: str) -> int:
    code, message = explain_failure(failure, relay_url)
    return _fail(message, code)


def _fail(message: str, code: int = ExitCode.FAILURE) -> int:
    log.error("%s", message)
    return code
