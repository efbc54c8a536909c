"""The confirmation mail and the worker that sends it from the Redis queue.

The submit request only queues the job, so a slow or failing mail server never delays or
fails a booking. A job is a ciphertext under the relay's data keys holding the address,
the practice's name and the link; it carries the booking's TTL and disappears with it.
The mail itself names the practice and carries the link: no health data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import aiosmtplib
from jinja2 import Environment, PackageLoader, select_autoescape

from relay.errors import DecryptionFailed
from relay.metrics import Metrics
from relay.sealing import DataCipher
from relay.settings import Settings, SmtpSettings
from relay.store import MailJob, Store

log = logging.getLogger(__name__)

Sender = Callable[[EmailMessage], Awaitable[None]]

# A claimed job stays invisible to other workers this long; a worker that dies mid-send
# leaves the job to be retried after it.
CLAIM_LEASE_MS = 60_000
SEND_TIMEOUT = 20.0
RETRY_CAP = 300.0


def mail_job_context(practice: str, booking_id: str) -> bytes:
    return f"mail:{practice}:{booking_id}".encode()


def templates() -> Environment:
    return Environment(
        loader=PackageLoader("relay", "web/templates/mail"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def confirmation_mail(
    environment: Environment,
    *,
    mail_from: str,
    to: str,
    practice_name: str,
    link: str,
    expires_de: str,
    expires_en: str,
    domain: str,
) -> EmailMessage:
    """German first, English below, as plain text with an HTML alternative."""
    values = {
        "practice_name": practice_name,
        "link": link,
        "expires_de": expires_de,
        "expires_en": expires_en,
    }
    message = EmailMessage()
    message["Subject"] = (
        f"Bitte bestätigen Sie Ihre Terminanfrage – {practice_name} / "
        "Please confirm your appointment request"
    )
    message["From"] = mail_from
    message["To"] = to
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(environment.get_template("confirm.txt").render(values))
    message.add_alternative(environment.get_template("confirm.html").render(values), subtype="html")
    return message


def smtp_sender(smtp: SmtpSettings) -> Sender:
    async def send(message: EmailMessage) -> None:
        await aiosmtplib.send(
            message,
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username,
            password=smtp.password,
            use_tls=smtp.use_tls,
            start_tls=smtp.start_tls,
            timeout=SEND_TIMEOUT,
        )

    return send


def retry_delay(attempts: int, base: float) -> float:
    """Exponential backoff with full jitter: retries of many jobs do not arrive together."""
    return random.uniform(base, max(base, min(RETRY_CAP, base * 2 ** (attempts - 1))))  # noqa: S311


class MailWorker:
    """Sends due confirmation mails; several relay processes may run one each."""

    def __init__(
        self,
        *,
        store: Store,
        cipher: DataCipher,
        settings: Settings,
        metrics: Metrics,
        sender: Sender,
        compose: Callable[[dict[str, object]], EmailMessage],
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._settings = settings
        self._metrics = metrics
        self._send = sender
        self._compose = compose
        self._poked: set[str] = set()
        self._wake = asyncio.Event()

    def poke(self, practice: str) -> None:
        """A job of `practice` was just queued here: send it now, not at the next sweep."""
        self._poked.add(practice)
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Runs until `stop` is set; the job in hand is finished before it returns."""
        next_sweep = 0.0
        while not stop.is_set():
            practices, self._poked = self._poked, set()
            try:
                if time.monotonic() >= next_sweep:
                    # Jobs queued by other relay processes, and retries that came due.
                    practices |= set(
                        await self._store.practices_with_due_mail(
                            await self._store.practice_slugs(), now_ms=_now_ms()
                        )
                    )
                    next_sweep = time.monotonic() + self._settings.mail_poll_interval
                for practice in sorted(practices):
                    await self._send_due(practice, stop)
            except Exception:  # a Redis outage must not end the worker
                self._metrics.redis_errors.inc()
                log.exception("mail worker cycle failed")
            if stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.mail_poll_interval)
            self._wake.clear()

    async def _send_due(self, practice: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            jobs = await self._store.claim_mail(
                practice, now_ms=_now_ms(), lease_ms=CLAIM_LEASE_MS, limit=10
            )
            if not jobs:
                return
            for job in jobs:
                await self._deliver(job)

    async def _deliver(self, job: MailJob) -> None:
        try:
            values = self._cipher.decrypt_json(
                job.payload, context=mail_job_context(job.practice, job.booking_id)
            )
        except DecryptionFailed:
            # Encrypted under a key no longer configured: it can never be sent.
            log.error(  # noqa: TRY400 - the traceback would say nothing more
                "mail job undecryptable, dropped", extra={"practice": job.practice}
            )
            self._metrics.mail.labels(outcome="failed").inc()
            await self._store.mail_done(job.practice, job.booking_id)
            return
        try:
            await self._send(self._compose(values))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            if job.attempts >= self._settings.mail_max_attempts:
                self._metrics.mail.labels(outcome="failed").inc()
                log.error(  # noqa: TRY400 - the error's type is logged; its text may hold the address
                    "confirmation mail given up",
                    extra={
                        "practice": job.practice,
                        "attempts": job.attempts,
                        "error": type(error).__name__,
                    },
                )
                await self._store.mail_done(job.practice, job.booking_id)
                return
            self._metrics.mail.labels(outcome="retried").inc()
            log.warning(
                "confirmation mail failed, will retry",
                extra={
                    "practice": job.practice,
                    "attempts": job.attempts,
                    "error": type(error).__name__,
                },
            )
            due = _now_ms() + int(retry_delay(job.attempts, self._settings.mail_retry_base) * 1000)
            await self._store.mail_retry_at(job.practice, job.booking_id, due_ms=due)
            return
        self._metrics.mail.labels(outcome="sent").inc()
        await self._store.mail_done(job.practice, job.booking_id)


def _now_ms() -> int:
    return int(time.time() * 1000)
