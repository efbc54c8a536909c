"""The confirmation mail and the worker that sends it from the Redis queue.

The submit request only queues the job, so a slow or failing mail server never delays or
fails a booking. A job is a ciphertext under the relay's data keys holding the address,
the practice's name and the link; it carries the booking's TTL and disappears with it.
The mail itself names the practice and carries the link: no health data. A second kind,
queued when the patient confirms (relay/booking/cancellation.py), says the request was handed to
the practice and carries the appointment's time and the cancel link: no doctor, no type.
relay/mail/jobs.py says what each kind of job holds and opens it.

Throughput (see bench/mail_bench.py): the worker claims due jobs in batches, sends up to
`mail_concurrency` mails at once over kept-open SMTP connections (relay/mail/smtp_pool.py) and
records their outcomes in batches, so Redis costs a fraction of a round trip per mail. The
mail is built as bytes from parts rendered once per practice name: building it through
`EmailMessage` cost about 2.5 ms of CPU, most of it header folding and MIME encoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from relay.crypto.sealing import DataCipher
from relay.errors import DecryptionFailed
from relay.mail.compose import ConfirmationMail
from relay.mail.jobs import open_job
from relay.ops.background import sleep_unless
from relay.ops.metrics import Metrics
from relay.settings import Settings
from relay.storage.store import MailJob, MailSettlement, Store

log = logging.getLogger(__name__)

# A claimed job stays invisible to other workers this long; a worker that dies mid-send
# leaves the job to be retried after it. It must outlast a job's longest stay in hand:
# up to three rounds of SEND_TIMEOUT (the queue holds at most 3 x concurrency jobs).
CLAIM_LEASE_MS = 120_000
# The whole transaction of one mail, reconnects included.
SEND_TIMEOUT = 20.0
RETRY_CAP = 300.0


class MailTransport(Protocol):
    async def send(self, sender: str, recipient: str, message: bytes) -> None: ...

    async def close_idle(self, *, older_than: float = ...) -> None: ...


def retry_delay(attempts: int, base: float) -> float:
    """Exponential backoff with full jitter: retries of many jobs do not arrive together."""
    return random.uniform(base, max(base, min(RETRY_CAP, base * 2 ** (attempts - 1))))  # noqa: S311


async def watch_queue(
    store: Store,
    metrics: Metrics,
    stop: asyncio.Event,
    *,
    interval: float,
    on_due: Callable[[str], None] | None = None,
) -> None:
    """Every `interval` seconds: sets the queue-age gauge and calls `on_due` for each
    practice with due mail (jobs of other processes, retries that came due)."""
    while not stop.is_set():
        try:
            heads = await store.mail_queue_heads(await store.practice_slugs())
            now_ms = _now_ms()
            due = {slug: score for slug, score in heads.items() if score <= now_ms}
            oldest = min(due.values(), default=now_ms)
            metrics.mail_queue_age.set((now_ms - oldest) / 1000)
            if on_due is not None:
                for slug in due:
                    on_due(slug)
        except Exception:  # a Redis outage must not end the loop
            metrics.redis_errors.inc()
            log.exception("mail queue check failed")
        await sleep_unless(stop, interval)


Outcome = Literal["sent", "retried", "failed"]


@dataclass(frozen=True)
class _Settled:
    practice: str
    settlement: MailSettlement
    outcome: Outcome | None


class MailWorker:
    """Sends due confirmation mails; several relay processes may run one each.

    Tasks: one claims due jobs in batches into a local queue of at most 3 x concurrency,
    `concurrency` senders take from it, one records outcomes in batches, one watches the
    queue for jobs of other processes and due retries.
    """

    def __init__(
        self,
        *,
        store: Store,
        cipher: DataCipher,
        settings: Settings,
        metrics: Metrics,
        transport: MailTransport,
        mail: ConfirmationMail,
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._settings = settings
        self._metrics = metrics
        self._transport = transport
        self._mail = mail
        self._concurrency = settings.mail_concurrency
        self._capacity = 3 * settings.mail_concurrency
        self._jobs: asyncio.Queue[MailJob | None] = asyncio.Queue()
        self._in_hand = 0
        self._room = asyncio.Event()
        self._settled: list[_Settled] = []
        self._settled_added = asyncio.Event()
        self._closing = False
        self._poked: set[str] = set()
        self._wake = asyncio.Event()

    def poke(self, practice: str) -> None:
        """A job of `practice` was just queued here: send it now, not at the next sweep."""
        self._poked.add(practice)
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Runs until `stop` is set; the mails in hand are finished before it returns."""
        settler = asyncio.create_task(self._settle_loop(), name="mail-settle")
        try:
            async with asyncio.TaskGroup() as group:
                for number in range(self._concurrency):
                    group.create_task(self._send_loop(), name=f"mail-send-{number}")
                group.create_task(
                    watch_queue(
                        self._store,
                        self._metrics,
                        stop,
                        interval=self._settings.mail_poll_interval,
                        on_due=self.poke,
                    ),
                    name="mail-watch",
                )
                group.create_task(self._wake_on(stop), name="mail-stop")
                await self._claim_loop(stop)
                self._release_unstarted()
                for _ in range(self._concurrency):
                    self._jobs.put_nowait(None)
        finally:
            self._closing = True
            self._settled_added.set()
            try:
                await settler
            finally:
                await self._transport.close_idle(older_than=0)

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()
        self._room.set()

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            practices, self._poked = self._poked, set()
            for practice in sorted(practices):
                try:
                    await self._claim(practice, stop)
                except Exception:  # a Redis outage must not end the worker
                    self._metrics.redis_errors.inc()
                    log.exception("claiming mail jobs failed")
            if stop.is_set():
                return
            if not self._poked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.mail_poll_interval)
                await self._transport.close_idle()
            self._wake.clear()

    async def _claim(self, practice: str, stop: asyncio.Event) -> None:
        """Claims the practice's due jobs, a batch at a time, as room in hand allows."""
        while True:
            # Wait until a whole batch fits, so claims stay batched under load, unless the
            # senders have run dry.
            while not stop.is_set():
                room = self._capacity - self._in_hand
                if room >= self._concurrency or (room > 0 and self._jobs.empty()):
                    break
                self._room.clear()
                await self._room.wait()
            if stop.is_set():
                return
            jobs = await self._store.claim_mail(
                practice, now_ms=_now_ms(), lease_ms=CLAIM_LEASE_MS, limit=room
            )
            self._in_hand += len(jobs)
            for job in jobs:
                self._jobs.put_nowait(job)
            if len(jobs) < room:
                return

    def _release_unstarted(self) -> None:
        """At shutdown, jobs claimed but not started are due again at once, for any worker."""
        now_ms = _now_ms()
        while not self._jobs.empty():
            job = self._jobs.get_nowait()
            if job is not None:
                self._in_hand -= 1
                self._settle(job, MailSettlement(job.booking_id, "u", now_ms), None)

    async def _send_loop(self) -> None:
        while (job := await self._jobs.get()) is not None:
            try:
                settlement, outcome = await self._deliver(job)
            finally:
                self._in_hand -= 1
                self._room.set()
            self._settle(job, settlement, outcome)

    async def _deliver(self, job: MailJob) -> tuple[MailSettlement, Outcome]:
        try:
            values = open_job(self._cipher, job, public_url=self._settings.public_url)
        except DecryptionFailed:
            # Encrypted under a key no longer configured: it can never be sent.
            log.error(  # noqa: TRY400 - the traceback would say nothing more
                "mail job undecryptable, dropped", extra={"practice": job.practice}
            )
            return MailSettlement(job.booking_id, "d"), "failed"
        if values is None:
            # A booking summarised before the summary held the address: nobody to mail.
            log.error(
                "handed-over mail without an address, dropped", extra={"practice": job.practice}
            )
            return MailSettlement(job.booking_id, "d"), "failed"
        try:
            mail = self._mail.from_job(values)
            async with asyncio.timeout(SEND_TIMEOUT):
                await self._transport.send(self._mail.envelope_from, mail.recipient, mail.message)
        except Exception as error:  # any failure of one mail is that mail's alone
            extra = {
                "practice": job.practice,
                "attempts": job.attempts,
                # The error's type only: its text may hold the address.
                "error": type(error).__name__,
            }
            if job.attempts >= self._settings.mail_max_attempts:
                log.error("confirmation mail given up", extra=extra)  # noqa: TRY400 - no traceback, it may quote the address
                return MailSettlement(job.booking_id, "d"), "failed"
            log.warning("confirmation mail failed, will retry", extra=extra)
            delay = retry_delay(job.attempts, self._settings.mail_retry_base)
            return MailSettlement(job.booking_id, "r", _now_ms() + int(delay * 1000)), "retried"
        return MailSettlement(job.booking_id, "d"), "sent"

    def _settle(self, job: MailJob, settlement: MailSettlement, outcome: Outcome | None) -> None:
        self._settled.append(_Settled(job.practice, settlement, outcome))
        self._settled_added.set()

    async def _settle_loop(self) -> None:
        """Records outcomes in Redis, all that piled up during the last write in one call
        per practice; counts them once recorded. Returns once closing and written."""
        while True:
            await self._settled_added.wait()
            self._settled_added.clear()
            batch, self._settled = self._settled, []
            try:
                await self._record(batch)
            except Exception:
                self._metrics.redis_errors.inc()
                log.exception("recording mail outcomes failed")
                if not self._closing:
                    # Kept for the next try; claims expire only after CLAIM_LEASE_MS.
                    self._settled = batch + self._settled
                    await asyncio.sleep(1.0)
                    self._settled_added.set()
                    continue
            if self._closing and not self._settled:
                return

    async def _record(self, batch: list[_Settled]) -> None:
        by_practice: dict[str, list[MailSettlement]] = {}
        for item in batch:
            by_practice.setdefault(item.practice, []).append(item.settlement)
        for practice, settlements in by_practice.items():
            await self._store.finish_mail(practice, settlements)
        for item in batch:
            if item.outcome is not None:
                self._metrics.mail.labels(outcome=item.outcome).inc()


def _now_ms() -> int:
    return int(time.time() * 1000)
