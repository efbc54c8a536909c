"""Real servers for the tests: redis-server, an aiosmtpd SMTP sink, the relay on loopback."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email
import email.policy
import logging
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import redis
from aiohttp import web
from aiosmtpd.controller import Controller
from nacl.public import PrivateKey

from practice_client.relay.keys import KeyPair, create_key_file
from relay.app import create_app
from relay.dev import free_port, start_redis_server
from relay.practice import registry
from relay.settings import Settings, SmtpSettings
from relay.web.appkeys import METRICS, SERVICE, STORE
from relay.web.server import RelayRunner
from tests.helpers import READY_SECONDS, wait_until
from tests.servers import Radicale, ServerExited, ServerProcess, launch_radicale

# The practice client speaks the locale's language (practice_client/i18n.py). The tests
# assert its English words, in this process and in every client they start, so the locale
# is English here whatever the machine's; tests of German set LANG for their subprocess.
for _variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
    os.environ.pop(_variable, None)
os.environ["LANG"] = "C.UTF-8"

# The database the tests use; the flush before each test hits exactly this one.
TEST_DB = 3
LINK = re.compile(r"https?://[^\s\"<>]+/c/[A-Za-z0-9._~-]+")


@dataclass(frozen=True)
class RedisServer:
    host: str
    port: int
    data_dir: Path

    def url(self, db: int = TEST_DB) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    def client(self, db: int = TEST_DB) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, db=db)


def start_redis(data_dir: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    """relay dev's redis-server, with every write synced so the files on disk are complete."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not on PATH: run the README's test command")
    for attempt in range(1, 4):
        log_file = data_dir / f"redis-server-{attempt}.log"
        process, port = start_redis_server(
            data_dir, "--appendfsync", "always", "--logfile", str(log_file), *extra
        )
        watched = ServerProcess(f"redis-server (127.0.0.1:{port})", [], log_file, process=process)

        def ping(port: int = port) -> bool:
            with contextlib.closing(redis.Redis(port=port, socket_timeout=5)) as client:
                return bool(client.ping())

        try:
            wait_until(ping, f"{watched.name} to answer PING", watch=[watched])
        except ServerExited as exited:
            # The free port was taken before redis-server bound it: try another one.
            if "in use" in str(exited) and attempt < 3:
                continue
            raise
        except AssertionError:
            process.kill()
            process.wait()
            raise
        return process, port
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the session, with AOF on, in a private directory."""
    data_dir = Path(tempfile.mkdtemp(prefix="terminrelay-redis-"))
    process, port = start_redis(data_dir)
    yield RedisServer("127.0.0.1", port, data_dir)
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The test database's URL, flushed before the test."""
    client = redis_server.client()
    client.flushdb()
    assert client.dbsize() == 0
    client.close()
    return redis_server.url()


class SmtpSink:
    """A real SMTP server (aiosmtpd) on loopback that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.fail_next = 0
        # Seconds each DATA command takes, to hold a mail "in hand" during a test.
        self.delay = 0.0
        # DATA commands under way, so a test can wait until a mail is in hand.
        self.receiving = 0
        self._lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    @property
    def settings(self) -> SmtpSettings:
        return SmtpSettings(host="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.receiving += 1
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.receiving -= 1
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return "451 4.3.0 try again later"
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.envelopes.clear()
            self.fail_next = 0
            self.delay = 0.0

    async def wait_for(self, count: int = 1, seconds: float = READY_SECONDS) -> list[EmailMessage]:
        """The mails received once there are at least `count` (the mail worker is a
        background loop: on a loaded machine it may take a while)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            await asyncio.sleep(0.02)
        raise AssertionError(
            f"gave up after {seconds:.0f} s waiting for {count} mails at the SMTP sink "
            f"(127.0.0.1:{self.port}); got {len(self.messages)}"
        )


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.controller.start()
    yield sink
    sink.controller.stop()


@pytest.fixture
def smtp_sink(smtp_server: SmtpSink) -> SmtpSink:
    smtp_server.clear()
    return smtp_server


def link_in(message: EmailMessage) -> str:
    """The confirmation link of a mail, from its plain-text part."""
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    found = LINK.search(body.get_content())
    assert found, "no confirmation link in the mail"
    return found.group(0)


def new_settings(redis_url: str, smtp: SmtpSettings, port: int, **overrides: Any) -> Settings:
    """Test settings: fresh keys, quick mail polling; `overrides` replace any field."""
    settings = Settings(
        redis_url=redis_url,
        smtp=smtp,
        mail_from="termine@relay.test",
        signing_key=secrets.token_bytes(32),
        data_keys=(secrets.token_bytes(32),),
        public_url=f"http://127.0.0.1:{port}",
        host="127.0.0.1",
        port=port,
        mail_poll_interval=0.2,
        # Many tests submit dozens of bookings within a second, which to the relay is a
        # flood asking for proofs of work; tests/test_limits.py sets its own thresholds.
        flood_relay=1_000_000,
        flood_practice=1_000_000,
    )
    return replace(settings, **overrides)


@dataclass
class PracticeHandle:
    slug: str
    name: str
    token: str
    private_key: PrivateKey
    key_file: Path

    @property
    def public_key_b64(self) -> str:
        return base64.b64encode(bytes(self.private_key.public_key)).decode()

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class RunningRelay:
    url: str
    settings: Settings
    app: web.Application
    runner: web.AppRunner
    tmp: Path

    @property
    def store(self) -> Any:
        return self.app[STORE]

    @property
    def service(self) -> Any:
        return self.app[SERVICE]

    async def add_practice(
        self, slug: str = "praxis-test", name: str = "Praxis Dr. Beispiel"
    ) -> PracticeHandle:
        """Registers a practice with a fresh key pair, written as a practice-client key file."""
        key_file = self.tmp / f"{slug}.key"
        private_key = create_key_file(key_file, KeyPair.generate()).current.private_key
        token = await registry.add_practice(
            self.store, slug, name=name, public_key=bytes(private_key.public_key)
        )
        return PracticeHandle(slug, name, token, private_key, key_file)

    async def stop(self) -> None:
        await self.runner.cleanup()

    async def metrics_show(self, sample: bytes, seconds: float = 5.0) -> bytes:
        """The metrics text once it contains `sample` (or at the deadline, for the assert)."""
        deadline = time.monotonic() + seconds
        while True:
            body, _ = self.app[METRICS].render()
            if sample in body or time.monotonic() > deadline:
                return body
            await asyncio.sleep(0.05)


RelayFactory = Callable[..., Awaitable[RunningRelay]]


async def start_relay(
    redis_url: str, smtp: SmtpSettings, tmp: Path, **overrides: Any
) -> RunningRelay:
    """A relay with test settings (new_settings) serving on loopback; stop() it after."""
    port = overrides.pop("port", None) or free_port()
    settings = new_settings(redis_url, smtp, port, **overrides)
    app = create_app(settings)
    runner = RelayRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return RunningRelay(f"http://127.0.0.1:{port}", settings, app, runner, tmp)


@pytest.fixture
async def relay_factory(
    redis_url: str, smtp_sink: SmtpSink, tmp_path: Path
) -> AsyncIterator[RelayFactory]:
    """Starts real relays (aiohttp over loopback) with test settings; stops them after."""
    started: list[RunningRelay] = []

    async def start(**overrides: Any) -> RunningRelay:
        smtp = overrides.pop("smtp", smtp_sink.settings)
        url = overrides.pop("redis_url", redis_url)
        running = await start_relay(url, smtp, tmp_path, **overrides)
        started.append(running)
        return running

    yield start
    for running in reversed(started):
        with contextlib.suppress(RuntimeError):
            await running.stop()


@pytest.fixture
async def relay(relay_factory: RelayFactory) -> RunningRelay:
    return await relay_factory()


@pytest.fixture
async def practice(relay: RunningRelay) -> PracticeHandle:
    return await relay.add_practice()


@pytest.fixture(autouse=True)
def _restore_client_logging() -> Iterator[None]:
    """practice-client's main() points its log handler at the test's stderr; undone after,
    so one test's handler never writes into another's closed stream."""
    logger = logging.getLogger("practice_client")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Loopback traffic must never be sent to a proxy configured on the machine.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    """One Radicale for a module (CalDAV); each test makes its own calendar in it. Modules
    that need one per test define their own `radicale`."""
    server = launch_radicale(tmp_path_factory.mktemp("caldav"), subprocess_env())
    yield server
    server.process.stop()
