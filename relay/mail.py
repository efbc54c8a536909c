"""The confirmation mail and the worker that sends it from the Redis queue.

The submit request only queues the job, so a slow or failing mail server never delays or
fails a booking. A job is a ciphertext under the relay's data keys holding the address,
the practice's name and the link; it carries the booking's TTL and disappears with it.
The mail itself names the practice and carries the link: no health data. A second kind,
queued when the patient confirms (relay/cancellation.py), says the request was handed to
the practice and carries the appointment's time and the cancel link: no doctor, no type.
relay/mail_jobs.py says what each kind of job holds and opens it.

Throughput (see bench/mail_bench.py): the worker claims due jobs in batches, sends up to
`mail_concurrency` mails at once over kept-open SMTP connections (relay/smtp_pool.py) and
records their outcomes in batches, so Redis costs a fraction of a round trip per mail. The
mail is built as bytes from parts rendered once per practice name: building it through
`EmailMessage` cost about 2.5 ms of CPU, most of it header folding and MIME encoding.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import functools
import logging
import random
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.policy import SMTP
from email.utils import format_datetime as rfc5322_date
from email.utils import parseaddr
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import escape

from relay.background import sleep_unless
from relay.errors import DecryptionFailed
from relay.localtime import format_datetime, format_day
from relay.mail_jobs import open_job
from relay.metrics import Metrics
from relay.sealing import DataCipher
from relay.settings import Settings
from relay.store import MailJob, MailSettlement, Store
from relay.text import one_line

log = logging.getLogger(__name__)

# A claimed job stays invisible to other workers this long; a worker that dies mid-send
# leaves the job to be retried after it. It must outlast a job's longest stay in hand:
# up to three rounds of SEND_TIMEOUT (the queue holds at most 3 x concurrency jobs).
CLAIM_LEASE_MS = 120_000
# The whole transaction of one mail, reconnects included.
SEND_TIMEOUT = 20.0
RETRY_CAP = 300.0

# Placeholders rendered into the per-practice parts, replaced per mail. NUL never occurs
# in a template, a name or a link, and HTML escaping leaves it alone.
_LINK = "\0link\0"
_EXPIRES_DE = "\0expires_de\0"
_EXPIRES_EN = "\0expires_en\0"
# The second mail's, after confirming (relay/cancellation.py).
_TIME_DE = "\0time_de\0"
_TIME_EN = "\0time_en\0"
_UNTIL_DE = "\0until_de\0"
_UNTIL_EN = "\0until_en\0"
# "=_" can never occur in quoted-printable text ("=" is always written "=3D"), so one
# boundary serves every mail without scanning the body for it.
_BOUNDARY = "=_terminrelay-alternative"


def templates() -> Environment:
    return Environment(
        loader=PackageLoader("relay", "web/templates/mail"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def subject(practice_name: str) -> str:
    return (
        f"Bitte bestätigen Sie Ihre Terminanfrage – {practice_name} / "
        "Please confirm your appointment request"
    )


def handed_subject(practice_name: str) -> str:
    return (
        f"Ihre Terminanfrage ist bei {practice_name} / "
        "Your appointment request reached the practice"
    )


@dataclass(frozen=True)
class Mail:
    recipient: str
    message: bytes


# A body as quoted-printable lines: bytes already encoded, or a line with placeholders,
# encoded per mail. QP is line by line, so encoding lines apart gives the same bytes.
_Body = tuple[bytes | str, ...]


@dataclass(frozen=True)
class _PracticeParts:
    subject: str
    text: _Body
    html: _Body


class ConfirmationMail:
    """Builds confirmation mails as the bytes sent over SMTP: German first, English below,
    plain text with an HTML alternative, both quoted-printable UTF-8 (7-bit clean, so no
    server extension is needed). Subject and bodies are rendered and folded once per
    practice name; per mail only the link, the expiry and a few headers go in."""

    def __init__(self, *, mail_from: str, domain: str, cache_size: int = 1024) -> None:
        self.envelope_from = parseaddr(mail_from)[1] or mail_from
        self._environment = templates()
        self._from = _fold("From", mail_from)
        # Message-IDs must be ASCII: an internationalized host name goes in as punycode.
        self._domain = domain.encode("idna").decode("ascii")
        self._parts = functools.lru_cache(maxsize=cache_size)(self._render_parts)
        self._handed_parts = functools.lru_cache(maxsize=cache_size)(self._render_handed)
        self._expiry = functools.lru_cache(maxsize=256)(_expiry_texts)

    def from_job(self, job: Mapping[str, object]) -> Mail:
        """The mail for a decrypted queue job: the confirmation mail, or with `"kind":
        "handed"` the one after confirming (relay/cancellation.py)."""
        if job.get("kind") == "handed":
            return self._handed_from_job(job)
        expires_de, expires_en = self._expiry(str(job["expires_at"]), str(job["time_zone"]))
        return self.build(
            to=str(job["to"]),
            practice_name=str(job["practice_name"]),
            link=str(job["link"]),
            expires_de=expires_de,
            expires_en=expires_en,
        )

    def build(
        self, *, to: str, practice_name: str, link: str, expires_de: str, expires_en: str
    ) -> Mail:
        if _breaks_header(to):
            raise ValueError("a line break in the recipient address")
        values = {_LINK: link, _EXPIRES_DE: expires_de, _EXPIRES_EN: expires_en}
        return self._assemble(to, self._parts(practice_name), values)

    def _handed_from_job(self, job: Mapping[str, object]) -> Mail:
        zone = ZoneInfo(str(job["time_zone"]))
        start = datetime.fromisoformat(str(job["start"]))
        end = datetime.fromisoformat(str(job["end"])) if job.get("end") else None
        wish = bool(job.get("wish"))
        until = str(job.get("cancel_until") or "")
        until_de, until_en = self._expiry(until, str(job["time_zone"])) if until else ("", "")
        return self.build_handed(
            to=str(job["to"]),
            practice_name=str(job["practice_name"]),
            link=str(job.get("link") or ""),
            time_de=_appointment_text(start, end, zone, "de", wish=wish),
            time_en=_appointment_text(start, end, zone, "en", wish=wish),
            until_de=until_de,
            until_en=until_en,
        )

    def build_handed(
        self,
        *,
        to: str,
        practice_name: str,
        link: str,
        time_de: str,
        time_en: str,
        until_de: str,
        until_en: str,
    ) -> Mail:
        """The mail after confirming: handed to the practice, when, and the cancel link
        (none once the appointment has begun). No doctor, no type of appointment."""
        if _breaks_header(to):
            raise ValueError("a line break in the recipient address")
        values = {
            _LINK: link,
            _TIME_DE: time_de,
            _TIME_EN: time_en,
            _UNTIL_DE: until_de,
            _UNTIL_EN: until_en,
        }
        return self._assemble(to, self._handed_parts(practice_name, bool(link)), values)

    def _assemble(self, to: str, parts: _PracticeParts, values: Mapping[str, str]) -> Mail:
        text = _fill(parts.text, values)
        html = _fill(parts.html, {name: escape(value) for name, value in values.items()})
        head = (
            f"{parts.subject}{self._from}To: {to}\r\n"
            f"Date: {rfc5322_date(datetime.now(UTC))}\r\n"
            f"Message-ID: <{secrets.token_hex(16)}@{self._domain}>\r\n"
            "Auto-Submitted: auto-generated\r\n"
            "MIME-Version: 1.0\r\n"
            f'Content-Type: multipart/alternative; boundary="{_BOUNDARY}"\r\n'
            "\r\n"
            f"--{_BOUNDARY}\r\n"
        )
        message = b"".join(
            (
                head.encode("ascii"),
                _PART_HEAD % b"plain",
                text,
                # The text ends with a line break; the CRLF before "--" is the boundary's.
                b"\r\n\r\n--" + _BOUNDARY.encode() + b"\r\n",
                _PART_HEAD % b"html",
                html,
                b"\r\n\r\n--" + _BOUNDARY.encode() + b"--\r\n",
            )
        )
        return Mail(to, message)

    def _render_parts(self, practice_name: str) -> _PracticeParts:
        # Names are checked when registered and published (relay/text.py), but one stored
        # before that check must still give every patient a mail, not a failing job.
        practice_name = one_line(practice_name)
        values: dict[str, object] = {
            "practice_name": practice_name,
            "link": _LINK,
            "expires_de": _EXPIRES_DE,
            "expires_en": _EXPIRES_EN,
        }
        return self._render_template("confirm", subject(practice_name), values)

    def _render_handed(self, practice_name: str, with_link: bool) -> _PracticeParts:
        practice_name = one_line(practice_name)
        values: dict[str, object] = {
            "practice_name": practice_name,
            "with_link": with_link,
            "link": _LINK,
            "time_de": _TIME_DE,
            "time_en": _TIME_EN,
            "until_de": _UNTIL_DE,
            "until_en": _UNTIL_EN,
        }
        return self._render_template("handed", handed_subject(practice_name), values)

    def _render_template(
        self, template: str, subject_text: str, values: dict[str, object]
    ) -> _PracticeParts:
        """Subject folded and both bodies encoded once; per mail only placeholders change."""
        return _PracticeParts(
            subject=_fold("Subject", subject_text),
            text=_body(self._environment.get_template(f"{template}.txt").render(values)),
            html=_body(self._environment.get_template(f"{template}.html").render(values)),
        )


_PART_HEAD = (
    b'Content-Type: text/%s; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
)


def _fold(name: str, value: str) -> str:
    """The header folded for SMTP: RFC 2047 encoded words for non-ASCII, CRLF endings."""
    if _breaks_header(value):
        raise ValueError(f"a line break in the {name} header")
    # Through a header object, as EmailMessage does: SMTP.fold(name, str) leaves a short
    # non-ASCII value unencoded.
    return str(SMTP.header_factory(name, value).fold(policy=SMTP))


def _breaks_header(value: str) -> bool:
    return "\r" in value or "\n" in value


def _quoted_printable(text: str) -> bytes:
    return binascii.b2a_qp(text.encode(), istext=True).replace(b"\n", b"\r\n")


def _body(rendered: str) -> _Body:
    """Encodes every line without a placeholder now, runs of them joined."""
    lines: list[bytes | str] = []
    for line in rendered.split("\n"):
        if "\0" in line:
            lines.append(line)
        elif lines and isinstance(lines[-1], bytes):
            lines[-1] += b"\r\n" + _quoted_printable(line)
        else:
            lines.append(_quoted_printable(line))
    return tuple(lines)


def _fill(body: _Body, values: Mapping[str, str]) -> bytes:
    """The body's bytes with the values in: only the few lines that hold one are encoded."""
    encoded = []
    for line in body:
        if isinstance(line, bytes):
            encoded.append(line)
            continue
        filled = line
        for placeholder, value in values.items():
            filled = filled.replace(placeholder, value)
        encoded.append(_quoted_printable(filled))
    return b"\r\n".join(encoded)


def _appointment_text(
    start: datetime, end: datetime | None, zone: ZoneInfo, lang: str, *, wish: bool
) -> str:
    """'Termin: Dienstag, 1. Dezember 2026, 09:00–09:20 Uhr' and the like."""
    local = start.astimezone(zone)
    day = format_day(local.date(), lang)
    clock = f"{local.hour:02d}:{local.minute:02d}"
    if end is not None and end.astimezone(zone).date() == local.date():
        finish = end.astimezone(zone)
        clock += f"–{finish.hour:02d}:{finish.minute:02d}"
    if lang == "de":
        return f"{'Wunschtermin' if wish else 'Termin'}: {day}, {clock} Uhr"
    return f"{'Requested time' if wish else 'Appointment'}: {day}, {clock}"


def _expiry_texts(expires_at: str, time_zone: str) -> tuple[str, str]:
    # Every mail of the same second shares its expiry: cached, Babel runs once for them.
    moment = datetime.fromisoformat(expires_at)
    zone = ZoneInfo(time_zone)
    return format_datetime(moment, zone, "de"), format_datetime(moment, zone, "en")


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
