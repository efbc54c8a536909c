"""One Redis round trip per step: submit and confirm run one script in the practice's slot,
with the practice taken from the process's cache and its version checked inside that
script (relay/practice/cache.py). Counted by a real redis-server's MONITOR."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
import pytest
from nacl.public import PrivateKey
from redis.asyncio import Redis

from relay.storage.store import Store, pending_key
from tests.conftest import PracticeHandle, RelayFactory, RunningRelay
from tests.helpers import (
    READY_SECONDS,
    booking_json,
    profile_json,
    put_profile,
    slot_times,
    submit,
)

# No background loop touches Redis while a test counts: mails only queue, and the queue
# watcher and housekeeping look once at start, before the practice exists.
_HANDSHAKE = frozenset({"HELLO", "SELECT", "CLIENT", "AUTH", "PING"})
QUIET = {"mail_worker": "off", "mail_poll_interval": 3600.0, "housekeeping_interval": 3600.0}


@dataclass
class Commands:
    """Commands Redis received from clients (not from inside scripts), in order."""

    seen: list[list[str]] = field(default_factory=list)

    def touching(self, slug: str) -> list[list[str]]:
        """Those naming a key of the practice's slot (its hash tag)."""
        tag = "{" + slug + "}"
        return [command for command in self.seen if any(tag in arg for arg in command)]


@contextlib.asynccontextmanager
async def counted(redis_url: str) -> AsyncIterator[Commands]:
    """MONITOR for the block; waits until Redis reported everything up to its end."""
    commands = Commands()
    marker = f"end-of-count-{secrets.token_hex(4)}"
    monitor_client = Redis.from_url(redis_url)
    async with monitor_client.monitor() as monitor:

        async def collect() -> None:
            while True:
                info: dict[str, Any] = dict(await monitor.next_command())
                words = str(info["command"]).split()
                if marker in words:
                    return
                # Connection set-up (a new pooled connection, the marker's client) is not
                # a step's work.
                if info["client_type"] != "lua" and words[0].upper() not in _HANDSHAKE:
                    commands.seen.append(words)

        collector = asyncio.create_task(collect())
        try:
            yield commands
        finally:
            async with Redis.from_url(redis_url) as other:
                await other.echo(marker)
            try:
                await asyncio.wait_for(collector, READY_SECONDS)
            except TimeoutError:
                raise AssertionError(
                    f"gave up after {READY_SECONDS:.0f} s waiting for MONITOR to show {marker}"
                ) from None
    await monitor_client.aclose()


def form_of(booking: dict[str, Any]) -> dict[str, str]:
    return {
        key: ("true" if value is True else "false" if value is False else str(value))
        for key, value in booking.items()
    }


async def practice_with_profile(relay: RunningRelay) -> PracticeHandle:
    practice = await relay.add_practice()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        # Warm up: the practice in this process's cache, the scripts in Redis's.
        response = await submit(http, relay.url, practice.slug, _wish())
        assert response.status == 202
        submitted = await relay.service.submit(
            practice.slug, _wish(), client_network="198.51.100.0/24", lang="de"
        )
        async with http.post(
            f"{relay.url}/c/{submitted.token}", data={"action": "confirm"}
        ) as confirmed:
            assert confirmed.status == 200
        async with http.get(f"{relay.url}/api/v1/practices/{practice.slug}") as profile:
            assert profile.status == 200
    return practice


def _wish() -> dict[str, Any]:
    """A wish (no slot), so repeated submits never compete for a slot."""
    return booking_json(slot_times(days_ahead=3)[0][0], appointment_type="Kontrolle")


async def test_json_submit_is_one_round_trip(relay_factory: RelayFactory, redis_url: str) -> None:
    """On one Redis node a JSON submit is one command: the script that counts it against
    the abuse limits and stores it (Store.admit_and_submit)."""
    relay = await relay_factory(**QUIET)
    practice = await practice_with_profile(relay)
    async with aiohttp.ClientSession() as http, counted(redis_url) as commands:
        response = await submit(http, relay.url, practice.slug, _wish())
        assert response.status == 202
    assert scripts(commands) == [Store._admit_and_submit.sha], commands.seen
    assert any("{limits}" in arg for arg in commands.seen[0])


async def test_after_a_refusal_submissions_are_admitted_before_they_are_sealed(
    relay_factory: RelayFactory, redis_url: str
) -> None:
    """Once a limit refused a submission, the process checks the limits first (a refusal
    then costs no sealing) and stores in a second script, as it always does on a Cluster;
    the refused submission stored nothing."""
    relay = await relay_factory(submit_limit=1, pow="off", **QUIET)
    practice = await practice_with_profile(relay)
    pending_before = await relay.store.redis.zcard(pending_key(practice.slug))
    async with aiohttp.ClientSession() as http:
        async with counted(redis_url) as commands:
            refused = await submit(http, relay.url, practice.slug, _wish())
            assert refused.status == 429
        assert scripts(commands) == [Store._admit_and_submit.sha]
        relay.service.limits.policy = replace(relay.service.limits.policy, soft_limit=2)
        async with counted(redis_url) as commands:
            accepted = await submit(http, relay.url, practice.slug, _wish())
            assert accepted.status == 202
        assert scripts(commands) == [Store._admit.sha, Store._submit.sha]
    # The accepted one, not the refused one.
    assert await relay.store.redis.zcard(pending_key(practice.slug)) == pending_before + 1


def scripts(commands: Commands) -> list[str]:
    """The SHAs of the scripts the clients ran."""
    return [c[1] for c in commands.seen if c[0].upper() == "EVALSHA"]


async def test_form_submit_is_one_round_trip_in_the_practice_slot(
    relay_factory: RelayFactory, redis_url: str
) -> None:
    """The HTML form's submit reads no practice or holds before its one script."""
    relay = await relay_factory(**QUIET)
    practice = await practice_with_profile(relay)
    async with (
        aiohttp.ClientSession() as http,
        counted(redis_url) as commands,
        http.post(f"{relay.url}/p/{practice.slug}", data=form_of(_wish())) as response,
    ):
        assert response.status == 200, await response.text()
    practice_commands = commands.touching(practice.slug)
    assert [c[0].upper() for c in practice_commands] == ["EVALSHA"], practice_commands


@pytest.mark.parametrize("kind", ["slot", "wish"])
async def test_confirm_is_one_script_and_nothing_else(
    relay_factory: RelayFactory, redis_url: str, kind: str
) -> None:
    """Confirming a slot or a wish is one command, the confirm script: nothing is read
    before it (no booking, practice, profile or holds), yet the result page shows the
    appointment, the cancel record is written and the second mail queued."""
    relay = await relay_factory(**QUIET)
    practice = await practice_with_profile(relay)
    booking = _wish() if kind == "wish" else booking_json(slot_times()[1][0])
    submitted = await relay.service.submit(
        practice.slug, booking, client_network="192.0.2.0/24", lang="de"
    )
    async with (
        aiohttp.ClientSession() as http,
        counted(redis_url) as commands,
        http.post(f"{relay.url}/c/{submitted.token}", data={"action": "confirm"}) as response,
    ):
        assert response.status == 200
        page = await response.text()
    assert [c[0].upper() for c in commands.seen] == ["EVALSHA"], commands.seen
    assert not any(
        arg.endswith((":practice", ":held", ":profile")) for c in commands.seen for arg in c
    )
    # The appointment's doctor, from the summary the script returned; the cancel link
    assert booking["doctor"] in page
    assert "/x/" in page
    raw = Redis.from_url(redis_url)
    try:
        prefix = f"tr:{{{practice.slug}}}:"
        assert await raw.exists(prefix + f"m:{submitted.booking_id}.h")
        assert [key async for key in raw.scan_iter(prefix + "x:*")]
    finally:
        await raw.aclose()


async def test_profile_reads_are_one_round_trip(
    relay_factory: RelayFactory, redis_url: str
) -> None:
    """The form page and the profile API read version and holds in one command."""
    relay = await relay_factory(**QUIET)
    practice = await practice_with_profile(relay)
    async with aiohttp.ClientSession() as http, counted(redis_url) as commands:
        async with http.get(f"{relay.url}/p/{practice.slug}") as page:
            assert page.status == 200
        async with http.get(f"{relay.url}/api/v1/practices/{practice.slug}") as api:
            assert api.status == 200
    practice_commands = commands.touching(practice.slug)
    assert [c[0].upper() for c in practice_commands] == ["EVALSHA", "EVALSHA"]


async def test_a_profile_published_through_another_relay_is_found_stale_and_reloaded(
    relay_factory: RelayFactory, redis_url: str
) -> None:
    """Given relay A caching a practice, when relay B publishes a new profile, then A's
    next submit is refused as stale by the script, reloads once and stores the booking."""
    relay_a = await relay_factory(**QUIET)
    relay_b = await relay_factory(**QUIET)
    practice = await practice_with_profile(relay_a)
    cached_before = await relay_a.service.practice_view(practice.slug)
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay_b.url, practice.token, profile_json(count=5))
        async with counted(redis_url) as commands:
            response = await submit(http, relay_a.url, practice.slug, _wish())
            assert response.status == 202
    practice_commands = commands.touching(practice.slug)
    # The submit script ("stale"), the practice loaded again, the submit script again.
    assert [c[0].upper() for c in practice_commands] == ["EVALSHA"] * 3, practice_commands
    cached_after = await relay_a.service.practice_view(practice.slug)
    assert cached_after.version == cached_before.version + 1
    assert len(cached_after.profile.slots) == 5


async def test_a_key_rotated_through_another_relay_is_used_for_the_next_booking(
    relay_factory: RelayFactory,
) -> None:
    """A key rotation moves the version on: A seals the next booking to the new key."""
    relay_a = await relay_factory(**QUIET)
    relay_b = await relay_factory(**QUIET)
    practice = await practice_with_profile(relay_a)
    new_key = PrivateKey.generate()
    async with aiohttp.ClientSession() as http:
        async with http.put(
            f"{relay_b.url}/api/v1/key",
            json={"public_key": base64.b64encode(bytes(new_key.public_key)).decode()},
            headers=practice.auth,
        ) as rotated:
            assert rotated.status == 200
        response = await submit(http, relay_a.url, practice.slug, _wish())
        assert response.status == 202
    cached = await relay_a.service.practice_view(practice.slug)
    assert cached.practice.public_key == bytes(new_key.public_key)
