"""How every bench starts its servers: redis-server, `relay serve`, and helpers of its own.

    with Launcher("terminrelay-sweep-") as launch:
        redis = launch.redis(*AOF, *NOEVICTION, core="1")
        relay = launch.relay(env_for(redis.url()), core="0")
        ...

Each server gets a free loopback port below the kernel's ephemeral range (server_port,
from tests/servers.py, as the tests' servers do), runs pinned to a core (`taskset -c`) if
asked, and is waited for by polling with a deadline (READY_SECONDS, tests/helpers.py): a
redis-server until it answers PING, a relay until /readyz answers 200. A server that exits
meanwhile fails the wait at once, with its exit code and the tail of its log. Leaving the
block, normally, by an exception, Ctrl-C or SIGTERM, stops every process it started, the
last first (SIGTERM, then SIGKILL after STOP_SECONDS), and removes the work folder it made.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any
from urllib.parse import urlsplit

import redis

from relay.dev import redis_executable
from tests.helpers import READY_SECONDS, NotReady, wait_until
from tests.servers import ServerExited, server_port

__all__ = [
    "AOF",
    "NOEVICTION",
    "READY_SECONDS",
    "RELAY_SERVE",
    "ROOT",
    "Child",
    "Launcher",
    "RedisServer",
    "RelayServer",
    "ServerExited",
    "http_status",
    "pinned",
    "server_port",
]

ROOT = Path(__file__).resolve().parent.parent
STOP_SECONDS = 15.0
_LOG_TAIL_LINES = 15
# redis-server's flags beside the launcher's own (--bind, --port, --dir, --save ""):
# AOF and noeviction together are production's (and relay/dev.py's start_redis_server's).
AOF = ("--appendonly", "yes")
NOEVICTION = ("--maxmemory-policy", "noeviction")
RELAY_SERVE = (sys.executable, "-m", "relay", "serve")

# Where a child's output goes: a log file, or what subprocess.Popen takes for stdout:
# None (the bench's own stdout and stderr) or subprocess.DEVNULL.
Output = Path | int | None
_DEFAULT_LOG: Any = object()


def pinned(core: str | None, command: Sequence[str]) -> list[str]:
    """`command` under `taskset -c core` (all its threads on that core), or as it is."""
    return list(command) if core is None else ["taskset", "-c", core, *command]


def http_status(url: str, *, timeout: float = 5.0) -> int:
    """The status of one GET of `url` on a fresh connection (no proxy, no retry)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request("GET", parts.path or "/")
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


class Child:
    """A process a bench started, from the repository's root, with its output's place."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        output: Output,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.output = output
        self.env = dict(env) if env is not None else None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    def start(self) -> None:
        log: IO[bytes]
        if isinstance(self.output, Path):
            with self.output.open("ab") as log:
                self.process = subprocess.Popen(
                    self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT
                )
        else:
            self.process = subprocess.Popen(
                self.command, stdout=self.output, stderr=self.output, env=self.env, cwd=ROOT
            )

    def log_text(self) -> str:
        """What the child wrote so far, if it writes to a log file."""
        if isinstance(self.output, Path):
            with contextlib.suppress(OSError):
                return self.output.read_text(errors="replace")
        return ""

    def check_running(self) -> None:
        """ServerExited with the exit code and the log's tail if the process is gone."""
        if self.process is None:
            raise ServerExited(f"{self.name} was never started")
        code = self.process.poll()
        if code is not None:
            tail = "\n".join(self.log_text().splitlines()[-_LOG_TAIL_LINES:]) or "(no log)"
            raise ServerExited(f"{self.name} exited with code {code}; log:\n{tail}")

    def wait_for(
        self, check: Callable[[], object], what: str, *, seconds: float = READY_SECONDS
    ) -> None:
        """Polls `check` until it is true (NotReady or a connection error: not yet), at
        most `seconds`; fails at once if the process exits meanwhile."""
        wait_until(check, f"{self.name} to {what}", seconds=seconds, watch=[self])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within STOP_SECONDS. Idempotent."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class RedisServer(Child):
    """A redis-server on 127.0.0.1:`port` (and a unix socket if asked), data in `data_dir`."""

    def __init__(
        self,
        name: str,
        data_dir: Path,
        port: int,
        args: Sequence[str],
        *,
        core: str | None,
        unix_socket: bool,
    ) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.data_dir = data_dir
        self.socket = data_dir / "redis.sock" if unix_socket else None
        command = [
            redis_executable(),
            *("--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir)),
            *("--save", ""),
        ]
        if self.socket is not None:
            command += ["--unixsocket", str(self.socket), "--unixsocketperm", "700"]
        # No --logfile: the log goes to stdout, which start() sends to the log file.
        super().__init__(
            f"{name} (127.0.0.1:{port})",
            pinned(core, [*command, *args]),
            output=data_dir / f"redis-{port}.log",
        )

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def socket_url(self, db: int = 0) -> str:
        assert self.socket is not None, f"{self.name} has no unix socket"
        return f"unix://{self.socket}?db={db}"

    def ping(self) -> bool:
        """PONG over TCP; LOADING (an AOF being replayed) raises, which means not yet."""
        client = redis.Redis(port=self.port, socket_timeout=5, socket_connect_timeout=5)
        with contextlib.closing(client):
            return bool(client.ping())

    def wait_ready(self, *, seconds: float = READY_SECONDS) -> None:
        self.wait_for(self.ping, "answer PING", seconds=seconds)


class RelayServer(Child):
    """A relay process (`relay serve` or bench/serve_relay.py) on 127.0.0.1:`port`."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        port: int,
        *,
        env: Mapping[str, str],
        output: Output,
    ) -> None:
        self.port = port
        super().__init__(
            f"{name} (127.0.0.1:{port})",
            command,
            output=output,
            env={**env, "RELAY_PORT": str(port)},
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        status = http_status(f"{self.url}/readyz")
        if status != 200:
            raise NotReady(f"/readyz answered {status}")
        return True

    def wait_ready(self, *, seconds: float = READY_SECONDS) -> None:
        self.wait_for(self.ready, "answer /readyz with 200", seconds=seconds)


class Launcher(contextlib.ExitStack):
    """Starts a bench's servers and stops them all when the `with` block ends.

    The work folder holds the servers' data and logs: `work` if given (left in place),
    else a fresh temp folder named `prefix`..., removed at the end.
    """

    def __init__(self, prefix: str = "terminrelay-bench-", *, work: Path | None = None) -> None:
        super().__init__()
        self._prefix = prefix
        self._given = work
        self.work = work or Path()

    def __enter__(self) -> Launcher:
        super().__enter__()
        if self._given is None:
            self.work = Path(tempfile.mkdtemp(prefix=self._prefix))
            self.callback(shutil.rmtree, self.work, ignore_errors=True)
        self._exit_on_sigterm()
        return self

    def _exit_on_sigterm(self) -> None:
        """SIGTERM (`timeout`, `kill`) ends the bench like Ctrl-C: through the `with` block's
        end, so no server is left behind. Only where SIGTERM still has its default action."""
        main = threading.current_thread() is threading.main_thread()
        if not main or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return

        def leave(signum: int, frame: FrameType | None) -> None:
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, leave)
        self.callback(signal.signal, signal.SIGTERM, signal.SIG_DFL)

    def start(self, child: Child) -> Child:
        """Starts `child`; it is stopped when the block ends (or earlier by `.stop()`)."""
        self.callback(child.stop)
        child.start()
        return child

    def _log(self, name: str) -> Path:
        return self.work / (re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-") + ".log")

    def process(
        self,
        name: str,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        core: str | None = None,
        output: Output = _DEFAULT_LOG,
    ) -> Child:
        """Any other child (a bare app, a sink, a mail worker); wait for it with
        `.wait_for(check, what)`. Its output goes to `name`.log in the work folder
        unless `output` says otherwise."""
        if output is _DEFAULT_LOG:
            output = self._log(name)
        child = Child(name, pinned(core, command), output=output, env=env)
        self.start(child)
        return child

    def redis(
        self,
        *args: str,
        core: str | None = None,
        unix_socket: bool = False,
        name: str = "redis-server",
        seconds: float = READY_SECONDS,
        attempts: int = 3,
    ) -> RedisServer:
        """A redis-server that answers PING: --bind 127.0.0.1, a free port, its data in
        the work folder, no RDB snapshots (--save ""), then `args` (AOF, NOEVICTION, ...).

        Another process may take the port between the probe and redis-server's bind; it
        then exits with "Address already in use" and another port is tried.
        """
        for attempt in range(1, attempts + 1):
            port = server_port()
            server = RedisServer(
                name, self.work / f"redis-{port}", port, args, core=core, unix_socket=unix_socket
            )
            self.start(server)
            try:
                server.wait_ready(seconds=seconds)
            except ServerExited as exited:
                if "in use" not in str(exited) or attempt == attempts:
                    raise
                continue
            return server
        raise AssertionError("unreachable")

    def relay(
        self,
        env: Mapping[str, str],
        *,
        command: Sequence[str] = RELAY_SERVE,
        port: int | None = None,
        core: str | None = None,
        name: str = "relay serve",
        output: Output = _DEFAULT_LOG,
        wait: bool = True,
        seconds: float = READY_SECONDS,
    ) -> RelayServer:
        """`command` (`python -m relay serve` unless told) configured by `env` and
        RELAY_PORT=`port` (a free one unless given), and, unless `wait` is false, waited
        for until /readyz answers 200. Its output goes to a log file in the work folder
        unless `output` says otherwise."""
        port = server_port() if port is None else port
        if output is _DEFAULT_LOG:
            output = self._log(f"{name}-{port}")
        relay = RelayServer(name, pinned(core, command), port, env=env, output=output)
        self.start(relay)
        if wait:
            relay.wait_ready(seconds=seconds)
        return relay
