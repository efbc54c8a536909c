"""Redis memory per pending booking, before and after the compact layout, in one run.

    .venv/bin/python -m bench.memory_bench [--bookings 10000] [--practices 10]

Submits the bookings through the relay's own submit path (`RelayService.submit`, no HTTP)
against a real redis-server, twice on a flushed database:

- before: the layout of relays until the compact one, rebuilt here: the booking re-padded
  to the old fixed classes (2048 or 8192 bytes) and stored by a copy of the old submit
  script (booking hash, token key holding the booking id);
- after: the relay as it is (the booking one string under its token hash, its mail job
  one string holding the attempts and the job's ciphertext).

For each it prints `INFO used_memory` per booking with every mail queued, then again
after every mail job is settled as sent (claimed and marked done through the store, as the
worker does), and the keys of one booking with their encoding and `MEMORY USAGE` (zset
entries as their share of the zset). The abuse-limit logs the submissions leave behind
(relay/abuse/limits.py: per network and recipient, for their own windows) are measured apart
and deleted first. AOF is off: the figures are the data set alone.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

from aiohttp import web
from nacl.public import PrivateKey, SealedBox
from redis.asyncio import Redis

from bench.launch import NOEVICTION, Launcher
from relay.app import create_app
from relay.booking.service import RelayService
from relay.crypto import tokens
from relay.crypto.sealing import PAD_FLOOR
from relay.dev import free_port
from relay.practice import registry
from relay.settings import Settings, SmtpSettings
from relay.storage.store import (
    LIMITS_PREFIX,
    Admission,
    AdmissionTicket,
    NewBooking,
    Store,
    SubmitResult,
    booking_key,
    hold_key,
    mail_job_key,
    mail_queue_key,
    pending_key,
    practice_prefix,
    token_key,
    unpack_booking,
)
from relay.web.appkeys import SERVICE, STORE
from tests.legacy import OLD_SUBMIT, old_pad

BERLIN = ZoneInfo("Europe/Berlin")
DOCTORS = ("Dr. med. Anna Beispiel", "Dr. med. Bernd Muster")
TYPES = ("Erstgespräch", "Kontrolle")
TARGET_QUEUED, TARGET_SENT = 2600, 2000


class OldLayoutStore(Store):
    """The store with the submit of earlier relays: old padding, booking hash, token -> id.
    The bench holds the practices' private keys, so it can open and re-pad each box."""

    def __init__(self, redis: Any, practice_keys: dict[str, PrivateKey]) -> None:
        super().__init__(redis)
        self._practice_keys = practice_keys

    async def admit_and_submit(
        self, ticket: AdmissionTicket, booking: NewBooking
    ) -> tuple[Admission, SubmitResult | Literal["refused"]]:
        # Earlier relays admitted in a script of its own, before the practice's.
        admission = await self.admit(ticket)
        if admission.outcome != "ok":
            return admission, "refused"
        return admission, await self.submit(ticket.practice, booking)

    async def submit(self, practice: str, booking: NewBooking) -> SubmitResult:
        # The profile version and slot start of NewBooking: the old script knew neither.
        private_key = self._practice_keys[practice]
        padded = SealedBox(private_key).decrypt(booking.sealed)
        signed = padded[4 : 4 + int.from_bytes(padded[:4], "big")]
        old_sealed = SealedBox(private_key.public_key).encrypt(old_pad(signed))
        keys = [
            practice_prefix(practice) + "b:" + booking.booking_id,
            token_key(practice, booking.token_hash),
            mail_job_key(practice, booking.booking_id),
            mail_queue_key(practice),
            pending_key(practice),
        ]
        if booking.slot_id is not None:
            keys.append(hold_key(practice, booking.slot_id))
        args = [booking.booking_id, old_sealed, booking.summary, booking.token_hash]
        args += [booking.mail_job, booking.ttl, booking.now_ms]
        args += [booking.slot_id or "", booking.slot_end_ms or 0]
        assert await self.redis.eval(OLD_SUBMIT, len(keys), *keys, *args) == 1
        return "stored"


@dataclass
class Figures:
    """used_memory per booking: with every mail queued, with the abuse-limit logs of the
    submissions (deleted before the other two), with every mail sent."""

    queued: float
    limits: float
    sent: float
    keys: list[tuple[str, str, str, int, float]]


def booking(start: datetime, doctor: str, appointment_type: str, index: int) -> dict[str, Any]:
    return {
        "first_name": "Erika",
        "last_name": f"Mustermann-Lüdenscheidt{index}",
        "birth_date": "1980-01-02",
        "gender": "female",
        "insurance": "statutory",
        "new_patient": True,
        "note": "Kontrolle nach Behandlung, bitte vormittags.",
        "doctor": doctor,
        "appointment_type": appointment_type,
        "start": start.isoformat(),
        "email": f"erika.mustermann{index}@example.org",
        "phone": "+49 30 1234567",
        "consent": True,
    }


def profile(first: datetime, slots: int) -> dict[str, Any]:
    return {
        "name": "Gemeinschaftspraxis Dr. Beispiel",
        "time_zone": "Europe/Berlin",
        "doctors": list(DOCTORS),
        "appointment_types": [{"name": name, "minutes": 20} for name in TYPES],
        "slots": [
            {
                "start": (first + timedelta(minutes=20 * i)).isoformat(),
                "end": (first + timedelta(minutes=20 * (i + 1))).isoformat(),
                "doctor": DOCTORS[i % 2],
                "appointment_type": TYPES[i % 2],
            }
            for i in range(slots)
        ],
        "accept_wishes": True,
    }


async def used_memory(raw: Redis) -> int:
    return int((await raw.info("memory"))["used_memory"])


async def submit_all(
    service: RelayService, slugs: Sequence[str], first: datetime, bookings: int
) -> tuple[str, str]:
    """Submits `bookings` bookings spread over the practices; the first one's slug and
    token hash, to list its keys."""
    per_practice = -(-bookings // len(slugs))
    first_token = ""
    for index in range(bookings):
        slot = index // len(slugs)
        start = first + timedelta(minutes=20 * slot)
        data = booking(start, DOCTORS[slot % 2], TYPES[slot % 2], index)
        # Every booking from its own network, as real bookings come: each network's
        # sliding log then holds one entry, not all of them.
        network = f"10.{index >> 8 & 255}.{index & 255}.0/24"
        submitted = await service.submit(
            slugs[index % len(slugs)], data, client_network=network, lang="de"
        )
        if index == 0:
            first_token = submitted.token
        assert slot < per_practice
    slug, secret = first_token.split(".", 1)
    return slug, tokens.token_hash(secret)


async def drop_limit_logs(raw: Redis) -> None:
    """Deletes the abuse-limit logs (relay/abuse/limits.py): they follow networks and recipients
    for their own windows, not bookings, and are counted apart."""
    keys = [key async for key in raw.scan_iter(match=LIMITS_PREFIX + "*", count=1000)]
    for start in range(0, len(keys), 500):
        await raw.delete(*keys[start : start + 500])


async def settle_mail(store: Store, slugs: Sequence[str]) -> None:
    """Every queued mail claimed and marked sent, as the worker does after sending."""
    for slug in slugs:
        while jobs := await store.claim_mail(slug, now_ms=2**50, lease_ms=60_000, limit=500):
            for job in jobs:
                await store.mail_done(slug, job.booking_id)


async def booking_keys(raw: Redis, slug: str, token_hash: str) -> list[bytes]:
    """The keys of one booking: named by its token hash or id, or holding its id (hold)."""
    old_token = cast(bytes | None, await raw.get(token_key(slug, token_hash)))
    if old_token is not None:  # before: the token key leads to the booking id
        booking_id = old_token.decode()
    else:
        value = cast(bytes, await raw.get(booking_key(slug, token_hash)))
        booking_id = unpack_booking(value).booking_id
    own_names = (booking_key(slug, token_hash), token_key(slug, token_hash))
    found: list[bytes] = []
    async for key in raw.scan_iter(match=practice_prefix(slug) + "*", count=1000):
        name = cast(bytes, key).decode()
        if (
            name in own_names
            or name.endswith(booking_id)
            or (":h:" in name and await raw.get(key) == booking_id.encode())
        ):
            found.append(key)
    return sorted(found)


async def key_table(
    raw: Redis, slug: str, token_hash: str
) -> list[tuple[str, str, str, int, float]]:
    rows: list[tuple[str, str, str, int, float]] = []
    for key in await booking_keys(raw, slug, token_hash):
        kind = cast(bytes, await raw.type(key)).decode()
        encoding = cast(bytes, await raw.object("encoding", key)).decode()
        name = key.decode().split(":", 2)[2].split(":")[0]
        usage = float(await raw.memory_usage(key, samples=0) or 0)
        rows.append((name, kind, encoding, await payload_bytes(raw, key, kind), usage))
    # The practice's indexes (mail queue, pending, held slots...): one entry per booking.
    async for zset in raw.scan_iter(match=practice_prefix(slug) + "*", _type="zset"):
        entries = await raw.zcard(zset)
        usage = float(await raw.memory_usage(zset, samples=0) or 0)
        encoding = cast(bytes, await raw.object("encoding", zset)).decode()
        member = cast(list[bytes], await raw.zrange(zset, 0, 0))[0]
        name = cast(bytes, zset).decode().rsplit(":", 1)[1] + " (1 entry)"
        rows.append((name, "zset", encoding, len(member) + 8, usage / entries))
    return rows


async def payload_bytes(raw: Redis, key: bytes, kind: str) -> int:
    if kind == "string":
        return int(await raw.strlen(key))
    if kind == "hash":
        return sum(len(k) + len(v) for k, v in (await raw.hgetall(key)).items())
    return 0


async def run_layout(
    app: web.Application,
    raw: Redis,
    *,
    old: bool,
    bookings: int,
    practices: int,
) -> Figures:
    await raw.flushdb()
    service = app[SERVICE]
    store = app[STORE]
    slugs = [f"praxis-{index:02d}" for index in range(practices)]
    practice_keys = {slug: PrivateKey.generate() for slug in slugs}
    first = datetime.now(BERLIN).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    slots = -(-bookings // practices)
    for slug, private_key in practice_keys.items():
        await registry.add_practice(
            store, slug, name="Gemeinschaftspraxis Dr. Beispiel",
            public_key=bytes(private_key.public_key),
        )  # fmt: skip
        await service.put_profile(slug, profile(first, slots))
    service.store = OldLayoutStore(raw, practice_keys) if old else store
    try:
        baseline = await used_memory(raw)
        slug, token_hash = await submit_all(service, slugs, first, bookings)
        with_limits = await used_memory(raw)
        await drop_limit_logs(raw)
        queued = await used_memory(raw)
        booking_kind = await raw.type(booking_key(slug, token_hash))
        assert (booking_kind == b"none") == old, "the layout is not the one measured"
        keys = await key_table(raw, slug, token_hash)
        await settle_mail(store, slugs)
        sent = await used_memory(raw)
    finally:
        service.store = store
    return Figures(
        (queued - baseline) / bookings,
        (with_limits - queued) / bookings,
        (sent - baseline) / bookings,
        keys,
    )


def print_figures(name: str, figures: Figures) -> None:
    print(f"\n{name}: keys of one pending booking, mail queued")
    print(f"  {'key':16} {'type':6} {'encoding':10} {'payload B':>9} {'MEMORY USAGE B':>14}")
    for key, kind, encoding, payload, usage in figures.keys:
        print(f"  {key:16} {kind:6} {encoding:10} {payload:9d} {usage:14.0f}")
    total = sum(row[4] for row in figures.keys)
    print(f"  {'total':45} {total:9.0f}")


def unlimited(bookings: int) -> dict[str, Any]:
    """Abuse limits that let every submission of the bench through without a proof of work."""
    wanted: dict[str, Any] = {
        "pow": "off",
        "submit_limit": 10 * bookings,
        "submit_hard_limit": 10 * bookings,
        "recipient_limit": 10 * bookings,
        "flood_relay": 10 * bookings,
        "flood_practice": 10 * bookings,
    }
    known = {field.name for field in fields(Settings)}
    return {name: value for name, value in wanted.items() if name in known}


async def measure(redis_url: str, bookings: int, practices: int) -> None:
    settings = Settings(
        redis_url=redis_url,
        smtp=SmtpSettings("127.0.0.1", free_port()),
        mail_from="bench@relay.test",
        signing_key=secrets.token_bytes(32),
        data_keys=(secrets.token_bytes(32),),
        public_url="https://termine.example.org",
        mail_worker="off",
        **unlimited(bookings),
    )
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    raw = Redis.from_url(redis_url)
    try:
        started = time.perf_counter()
        before = await run_layout(app, raw, old=True, bookings=bookings, practices=practices)
        after = await run_layout(app, raw, old=False, bookings=bookings, practices=practices)
        elapsed = time.perf_counter() - started
    finally:
        await raw.aclose()
        await runner.cleanup()
    print_figures("before (booking hash, pad classes 2048/8192)", before)
    print_figures(
        f"after (booking string under its token hash, floor {PAD_FLOOR} + Padmé,"
        " mail job one string)",
        after,
    )
    print(
        f"\nRedis used_memory per pending booking ({bookings} bookings, {practices} practices,"
        f" {elapsed:.0f} s)"
    )
    print(f"  {'layout':8} {'mail queued':>12} {'mail sent':>10} {'abuse-limit logs':>17}")
    for name, figures in (("before", before), ("after", after)):
        print(f"  {name:8} {figures.queued:10.0f} B {figures.sent:8.0f} B {figures.limits:15.0f} B")
    print(f"  {'target':8} {TARGET_QUEUED:10d} B {TARGET_SENT:8d} B")
    print(
        "  (abuse-limit logs: the sliding logs of each booking's network and recipient, kept"
        " for their windows; every booking here comes from its own network)"
    )


def main(bookings: int, practices: int) -> None:
    with Launcher("terminrelay-memory-bench-") as launch:
        # AOF off: the figures are the data set alone.
        redis_server = launch.redis(*NOEVICTION, "--appendonly", "no")
        asyncio.run(measure(redis_server.url(), bookings, practices))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bookings", type=int, default=10_000)
    parser.add_argument("--practices", type=int, default=10)
    arguments = parser.parse_args()
    main(arguments.bookings, arguments.practices)
