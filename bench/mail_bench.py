"""Complete bookings per second: submits at full speed, each confirmation mail received by
an aiosmtpd sink; the relay pinned to one core, everything else on the other.

    .venv/bin/python -m bench.mail_bench [--seconds 10] [--clients 50] [--mail-concurrency 8]
                                         [--mode inline|separate]

`inline`: `relay serve` sends the mails itself. `separate`: `relay serve` with
RELAY_MAIL_WORKER=off plus `relay mail-worker`, both on the relay's core. Prints the
submit rate, the complete-booking rate (bookings whose mail arrived, over the time until
the last one arrived), the wait from submit to mail, the oldest queue entry seen (Redis
polled every 0.25 s, and the relay's gauge), the relay's CPU per booking, and the cost of
building one mail the old way (EmailMessage) and the new (ConfirmationMail). Needs two
cores and `taskset`; figures on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import os
import re
import secrets
import signal
import statistics
import sys
import tempfile
import threading
import time
import timeit
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime as rfc5322_date
from email.utils import make_msgid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiosmtpd.controller import Controller
from aiosmtplib.email import flatten_message
from nacl.public import PrivateKey
from redis.asyncio import Redis

from bench.launch import Launcher, http_status, server_port
from bench.unlimited import UNLIMITED
from relay.i18n.templates import gettext_context
from relay.mail import compose as mail
from relay.mail.compose import ConfirmationMail
from relay.practice import registry
from relay.practice.localtime import format_datetime
from relay.storage.store import Store, mail_queue_key

RELAY_CORE, LOAD_CORE = "0", "1"
SLUG = "bench"
PRACTICE_NAME = "Praxis Dr. Müller-Lüdenscheidt"


# The sink: a separate process on the load core, recording when each recipient's mail came.


class RecordingSink:
    def __init__(self) -> None:
        self.received: list[tuple[str, float]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        now = time.time()
        self.received.extend((rcpt, now) for rcpt in envelope.rcpt_tos)
        return "250 OK"


def run_sink(port: int, out: Path) -> None:
    sink = RecordingSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    controller.start()
    print("ready", flush=True)
    signal.sigwait({signal.SIGTERM})
    controller.stop()
    out.write_text(json.dumps(sink.received))


# The old way of building a mail, kept here only to measure it against the new one.


def _values(job: dict[str, str], expires: str) -> dict[str, Any]:
    return {
        "practice_name": job["practice_name"],
        "link": job["link"],
        "expires": expires,
        "lang": "de",
        "dir": "ltr",
    }


def _render(environment: Any, name: str, values: dict[str, Any]) -> str:
    context = gettext_context("de") if name.endswith(".html") else mail.plain_gettext_context("de")
    return str(environment.get_template(name).render({**values, **context}))


def old_mail(job: dict[str, str], environment: Any) -> bytes:
    expires_at = datetime.fromisoformat(job["expires_at"])
    values = _values(job, format_datetime(expires_at, ZoneInfo(job["time_zone"]), "de"))
    message = EmailMessage()
    message["Subject"] = mail.subject(job["practice_name"])
    message["From"] = "termine@relay.test"
    message["To"] = job["to"]
    message["Date"] = rfc5322_date(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain="relay.test")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(_render(environment, "confirm.txt", values))
    message.add_alternative(_render(environment, "confirm.html", values), subtype="html")
    return flatten_message(message, cte_type="7bit")


def old_mail_smtp_policy(job: dict[str, str], environment: Any) -> bytes:
    """As above, but built with policy=SMTP and flattened by the email package itself."""
    values = _values(job, job["expires_at"])
    message = EmailMessage(policy=SMTP)
    message["Subject"] = mail.subject(job["practice_name"])
    message["From"] = "termine@relay.test"
    message["To"] = job["to"]
    message.set_content(_render(environment, "confirm.txt", values))
    message.add_alternative(_render(environment, "confirm.html", values), subtype="html")
    return message.as_bytes()


def build_costs() -> None:
    job = {
        "to": "erika1@example.org",
        "practice_name": PRACTICE_NAME,
        "link": "https://termine.example.org/c/bench." + secrets.token_urlsafe(32),
        "expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "time_zone": "Europe/Berlin",
        "lang": "de",
    }
    environment = mail.templates()
    new = ConfirmationMail(mail_from="termine@relay.test", domain="relay.test")
    rows = [
        ("EmailMessage (before)", lambda: old_mail(job, environment)),
        ("EmailMessage, policy=SMTP", lambda: old_mail_smtp_policy(job, environment)),
        ("ConfirmationMail (now)", lambda: new.from_job(job)),
    ]
    print("Building one confirmation mail (median of 5 x 200, this process, unpinned):")
    for name, build in rows:
        build()
        cost = statistics.median(timeit.repeat(build, number=200, repeat=5)) / 200
        print(f"  {name:28} {cost * 1e6:7.0f} us")


# The run.


def booking(index: int) -> dict[str, object]:
    return {
        "first_name": "Erika",
        "last_name": f"Mustermann{index}",
        "birth_date": "1980-01-02",
        "gender": "female",
        "insurance": "statutory",
        "new_patient": True,
        "note": "Kontrolle nach Behandlung, bitte vormittags.",
        "start": (datetime.now(UTC) + timedelta(days=2)).isoformat(timespec="seconds"),
        "email": f"erika{index}@example.org",
        "phone": "+49 30 1234567",
        "consent": True,
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(args: argparse.Namespace, work: Path) -> None:
    """Starts Redis and the sink on the load core, the relay on its own core, then loads."""
    sink_out = work / "received.json"
    with Launcher(work=work) as launch:
        redis_server = launch.redis(core=LOAD_CORE)
        smtp_port = server_port()
        sink = launch.process(
            "smtp sink",
            [sys.executable, "-m", "bench.mail_bench", "sink", str(smtp_port), str(sink_out)],
            core=LOAD_CORE,
        )
        sink.wait_for(lambda: "ready" in sink.log_text(), "say it is ready")
        redis_url = redis_server.url()
        asyncio.run(register(redis_url))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RELAY_")},
            "RELAY_REDIS_URL": redis_url,
            "RELAY_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "RELAY_MAIL_FROM": "termine@relay.test",
            "RELAY_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "RELAY_DATA_KEYS": base64.b64encode(secrets.token_bytes(32)).decode(),
            **UNLIMITED,
            "RELAY_LOG_LEVEL": "WARNING",
            "RELAY_MAIL_CONCURRENCY": str(args.mail_concurrency),
            "RELAY_MAIL_WORKER": "off" if args.mode == "separate" else "inline",
        }
        # The relay's own output (warnings and errors only) goes to this terminal.
        serve = launch.relay(env, core=RELAY_CORE, output=None)
        pids = [serve.pid]
        if args.mode == "separate":
            # The worker's /metrics, on a port of its own, says when it runs.
            metrics_port = server_port()
            worker = launch.process(
                "relay mail-worker",
                [sys.executable, "-m", "relay", "mail-worker"],
                env={**env, "RELAY_METRICS_PORT": str(metrics_port)},
                core=RELAY_CORE,
                output=None,
            )
            worker.wait_for(
                lambda: http_status(f"http://127.0.0.1:{metrics_port}/metrics") == 200,
                "serve /metrics",
            )
            pids.append(worker.pid)
        figures = asyncio.run(load(args, serve.url, redis_url, pids))
        sink.stop()
        report(args, figures, dict(json.loads(sink_out.read_text())))


async def register(redis_url: str) -> None:
    raw = Redis.from_url(redis_url)
    await registry.add_practice(
        Store(raw), SLUG, name=PRACTICE_NAME, public_key=bytes(PrivateKey.generate().public_key)
    )
    await raw.aclose()


@dataclass
class Figures:
    submitted: dict[str, float] = field(default_factory=dict)
    started: float = 0.0
    submit_seconds: float = 0.0
    drained: float = 0.0
    oldest_seen: float = 0.0
    gauge: str = "missing"
    cpu: list[float] = field(default_factory=list)


async def load(args: argparse.Namespace, url: str, redis_url: str, pids: list[int]) -> Figures:
    """Submits from `args.clients` connections for `args.seconds`, then waits for the
    mail queue to drain; watches the queue's oldest entry all along."""
    figures = Figures()
    raw = Redis.from_url(redis_url)
    counter = itertools.count()
    stop_at = time.monotonic() + args.seconds
    endpoint = f"{url}/api/v1/practices/{SLUG}/bookings"

    async def client(http: aiohttp.ClientSession) -> None:
        while time.monotonic() < stop_at:
            index = next(counter)
            started = time.time()
            async with http.post(endpoint, json=booking(index)) as response:
                await response.read()
                if response.status != 202:
                    raise SystemExit(f"submit answered {response.status}")
            figures.submitted[f"erika{index}@example.org"] = started

    async def watch_queue(done: asyncio.Event) -> None:
        while not done.is_set():
            head = await raw.zrange(mail_queue_key(SLUG), 0, 0, withscores=True)
            if head:
                figures.oldest_seen = max(
                    figures.oldest_seen, time.time() - float(head[0][1]) / 1000
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 0.25)

    cpu_before = [cpu_seconds(pid) for pid in pids]
    done = asyncio.Event()
    watcher = asyncio.create_task(watch_queue(done))
    figures.started = time.time()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.clients)) as http:
        await asyncio.gather(*(client(http) for _ in range(args.clients)))
        figures.submit_seconds = time.time() - figures.started
        deadline = time.monotonic() + 60
        while await raw.zcard(mail_queue_key(SLUG)) and time.monotonic() < deadline:  # noqa: ASYNC110 - Redis offers no event to wait on
            await asyncio.sleep(0.1)
        figures.drained = time.time()
        async with http.get(f"{url}/metrics") as response:
            gauge = re.search(
                r"^terminrelay_mail_queue_oldest_age_seconds (\S+)$",
                await response.text(),
                re.MULTILINE,
            )
            figures.gauge = gauge.group(1) if gauge else "missing"
    done.set()
    await watcher
    figures.cpu = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu_before, strict=True)]
    await raw.aclose()
    return figures


def report(args: argparse.Namespace, figures: Figures, received: dict[str, float]) -> None:
    submitted, started = figures.submitted, figures.started
    waits = sorted(received[r] - submitted[r] for r in submitted if r in received)
    last = max(received.values(), default=started + 1)
    count = len(submitted)
    print(
        f"\n{args.mode}, mail concurrency {args.mail_concurrency}, {args.clients} clients, "
        f"{args.seconds:.0f} s of submits at full speed"
    )
    print(
        f"  submits: {count} in {figures.submit_seconds:.1f} s "
        f"= {count / figures.submit_seconds:.0f}/s"
    )
    print(
        f"  complete bookings (mail received): {len(waits)} of {count}, last mail "
        f"{last - started:.1f} s after the first submit = {len(waits) / (last - started):.0f}/s"
    )
    if waits:
        print(
            f"  submit to mail received: p50 {statistics.median(waits) * 1000:.0f} ms, "
            f"p99 {waits[int(0.99 * (len(waits) - 1))] * 1000:.0f} ms, max {waits[-1]:.2f} s"
        )
    print(
        f"  oldest mail queue entry seen: {figures.oldest_seen:.2f} s; queue drained "
        f"{figures.drained - started - figures.submit_seconds:.1f} s after the last submit; "
        f"gauge then {figures.gauge}"
    )
    per_booking = ", ".join(f"{cpu / max(count, 1) * 1e6:.0f}" for cpu in figures.cpu)
    busy = sum(figures.cpu) / (figures.drained - started)
    print(
        f"  relay CPU per booking (serve[, mail-worker]): {per_booking} us; "
        f"the relay's core was busy {busy:.0%} of the run"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--mail-concurrency", type=int, default=8)
    parser.add_argument("--mode", choices=("inline", "separate"), default="inline")
    parser.add_argument("--skip-build-costs", action="store_true")
    args = parser.parse_args()
    if not args.skip_build_costs:
        build_costs()
    os.sched_setaffinity(0, {int(LOAD_CORE)})
    with tempfile.TemporaryDirectory(prefix="terminrelay-mail-bench-") as work:
        run(args, Path(work))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "sink":
        threading.current_thread().name = "sink"
        run_sink(int(sys.argv[2]), Path(sys.argv[3]))
    else:
        main()
