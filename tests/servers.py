"""Server processes the tests start, watch, kill -9 and restart: redis-server, clusters, relays.

Every start waits for readiness with a deadline (tests/helpers.py READY_SECONDS) and, when
it gives up, says which server, what state it was waiting for and what it saw last; if the
process died, its exit code and the tail of its log.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import aiohttp
import redis

from relay.dev import free_port, redis_executable
from tests.helpers import READY_SECONDS, NotReady, wait_until, wait_until_async

_BUS_OFFSET = 10000  # Redis Cluster's bus port is the client port + 10000
_LOG_TAIL_LINES = 15


class ServerExited(AssertionError):
    """A server the test started is gone; the message carries its exit code and log tail."""


def _ephemeral_ports() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def server_port(*, with_bus: bool = False) -> int:
    """A free loopback port below the kernel's ephemeral range (its cluster bus port too).

    A port from bind(0) is ephemeral: between the probe and the server's own bind, any
    outgoing connection of the test run may take it, and the server dies with "Address
    already in use". Below the ephemeral range only listeners compete. Servers a test
    restarts on the same port need this as well.
    """
    low, _ = _ephemeral_ports()
    top = low - (_BUS_OFFSET if with_bus else 0)
    if top - 10000 < 1000:  # an unusual range: fall back to what the kernel offers
        return free_port()
    for _ in range(200):
        port = 10000 + secrets.randbelow(top - 10000)
        if _is_free(port) and (not with_bus or _is_free(port + _BUS_OFFSET)):
            return port
    raise RuntimeError(f"no free loopback port between 10000 and {top}")


@dataclass
class ServerProcess:
    """A child process with its log file, to explain why it is gone."""

    name: str
    command: list[str]
    log_file: Path
    env: dict[str, str] | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        log: IO[bytes]
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env
            )

    def check_running(self) -> None:
        """ServerExited with the exit code and the log's tail if the process is gone."""
        if self.process is None:
            raise ServerExited(f"{self.name} was never started")
        code = self.process.poll()
        if code is not None:
            raise ServerExited(f"{self.name} exited with code {code}; log:\n{self.log_tail()}")

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            lines = self.log_file.read_text(errors="replace").splitlines()
            return "\n".join(lines[-_LOG_TAIL_LINES:])
        return "(no log)"

    def kill(self) -> None:
        """kill -9, as a crash or the OOM killer would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit within 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()


class RedisProcess(ServerProcess):
    """A redis-server on 127.0.0.1 that a test can kill -9 and start again on its port."""

    def __init__(self, name: str, data_dir: Path, port: int, args: Sequence[str]) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.data_dir = data_dir
        super().__init__(
            f"{name} (127.0.0.1:{port})",
            [
                redis_executable(),
                *("--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir)),
                # No --logfile: the log goes to stdout, which start() sends to log_file.
                *("--save", ""),
                *args,
            ],
            data_dir / f"redis-{port}.log",
        )

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, **options: Any) -> redis.Redis:
        """A client with timeouts, so no check hangs on a stopped server; close it after."""
        return redis.Redis(port=self.port, socket_timeout=5, socket_connect_timeout=5, **options)

    def ping(self) -> bool:
        with contextlib.closing(self.client()) as client:
            return bool(client.ping())  # LOADING (AOF replay) raises BusyLoadingError

    def wait_ready(self, seconds: float = READY_SECONDS) -> None:
        wait_until(self.ping, f"{self.name} to answer PING", seconds=seconds, watch=[self])


def launch_redis(
    name: str, data_dir: Path, *args: str, with_bus: bool = False, attempts: int = 3
) -> RedisProcess:
    """A ready redis-server on a fresh port in its own folder under `data_dir`.

    Another process may still take the port between the probe and redis-server's bind; then
    it exits with "Address already in use" and we try another port instead of failing.
    """
    for attempt in range(1, attempts + 1):
        port = server_port(with_bus=with_bus)
        node = RedisProcess(name, data_dir / f"redis-{port}", port, args)
        node.start()
        try:
            node.wait_ready()
        except ServerExited as exited:
            if "in use" not in str(exited) or attempt == attempts:
                raise
            continue
        return node
    raise AssertionError("unreachable")


@dataclass
class LocalCluster:
    """A real Redis Cluster on loopback: masters, and replicas if asked for."""

    nodes: list[RedisProcess]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    def node(self, port: int) -> RedisProcess:
        (found,) = [node for node in self.nodes if node.port == port]
        return found

    def running(self) -> list[RedisProcess]:
        return [node for node in self.nodes if node.process and node.process.poll() is None]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def slot_owner(self, slot: int) -> tuple[int, list[int]]:
        """(master port, replica ports) serving `slot`, as a running node sees it.

        From CLUSTER NODES: CLUSTER SLOTS leaves out replicas that have not replicated
        anything yet."""
        with contextlib.closing(self.running()[0].client(decode_responses=True)) as client:
            view = client.cluster("nodes")
        for address, entry in view.items():
            if "master" in entry["flags"] and any(
                int(start) <= slot <= int(end) for start, end, *_ in entry["slots"]
            ):
                replicas = [
                    int(other.rpartition(":")[2])
                    for other, candidate in view.items()
                    if candidate["master_id"] == entry["node_id"]
                ]
                return int(address.rpartition(":")[2]), replicas
        raise AssertionError(f"no master serves slot {slot}: {view}")

    def wait_healthy(self, seconds: float = READY_SECONDS) -> None:
        """Every running node: cluster_state ok, the same view as the nodes themselves of
        who is master and who replicates whom, no running node flagged failing, and its own
        link to its master (if a replica) up."""
        running = self.running()
        for node in running:
            wait_until(
                functools.partial(_cluster_node_agrees, node, running),
                f"{node.name} to agree on a healthy cluster of {len(running)} running nodes",
                seconds=seconds,
                interval=0.2,
                watch=running,
            )


def _own_role(node: RedisProcess) -> tuple[str, str]:
    """(master|slave, master id or -) as the node says of itself."""
    with contextlib.closing(node.client(decode_responses=True)) as client:
        for entry in client.cluster("nodes").values():
            if "myself" in entry["flags"]:
                role = "slave" if "slave" in entry["flags"] else "master"
                return role, entry["master_id"]
    raise NotReady(f"{node.name} does not list itself")


def _cluster_node_agrees(node: RedisProcess, running: list[RedisProcess]) -> bool:
    with contextlib.closing(node.client(decode_responses=True)) as client:
        state = client.cluster("info")["cluster_state"]
        if state != "ok":
            raise NotReady(f"cluster_state={state}")
        view = client.cluster("nodes")  # "127.0.0.1:port" -> {"flags": "master,fail", ...}
        replication = client.info("replication")
    for other in running:
        entry = view.get(f"127.0.0.1:{other.port}")
        if entry is None:
            raise NotReady(f"{other.name} is not known")
        if "fail" in entry["flags"]:
            raise NotReady(f"{other.name} is flagged {entry['flags']}")
        role = "slave" if "slave" in entry["flags"] else "master"
        if (role, entry["master_id"]) != _own_role(other):
            raise NotReady(f"{other.name} seen as {entry['flags']} of {entry['master_id']}")
    if replication["role"] == "slave" and replication["master_link_status"] != "up":
        raise NotReady(f"link to its master is {replication['master_link_status']}")
    return True


def start_cluster(
    data_dir: Path, *, masters: int = 3, replicas: int = 0, node_timeout_ms: int = 5000
) -> LocalCluster:
    """Starts masters * (1 + replicas) cluster nodes, joins them, waits until healthy."""
    cluster = LocalCluster([])
    try:
        for index in range(masters * (1 + replicas)):
            cluster.nodes.append(
                launch_redis(
                    f"cluster node {index}",
                    data_dir,
                    *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
                    *("--cluster-node-timeout", str(node_timeout_ms)),
                    # Any replica may take over, however long it was cut off: the tests
                    # want a failover, not a cluster that waits for its dead master.
                    *("--cluster-replica-validity-factor", "0"),
                    *("--appendonly", "no"),
                    with_bus=True,
                )
            )
        _create_cluster(cluster.nodes, replicas)
        cluster.wait_healthy()
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _create_cluster(nodes: list[RedisProcess], replicas: int) -> None:
    created = subprocess.run(
        [
            shutil.which("redis-cli") or str(Path(redis_executable()).with_name("redis-cli")),
            *("--cluster", "create", *(f"127.0.0.1:{node.port}" for node in nodes)),
            *("--cluster-replicas", str(replicas), "--cluster-yes"),
        ],
        capture_output=True,
        text=True,
        timeout=READY_SECONDS,
        check=False,
    )
    if created.returncode != 0:
        raise AssertionError(
            f"redis-cli --cluster create failed ({created.returncode}):\n"
            f"{created.stdout[-2000:]}{created.stderr[-2000:]}"
        )


def crowd_limits(submissions: int) -> dict[str, str]:
    """RELAY_* abuse limits for a test whose patients all come from 127.0.0.1 and submit
    `submissions` bookings within seconds: to the relay that is one network and a flood,
    which it would first make solve proofs of work (429), then refuse. Each limit stays on
    (RELAY_POW keeps its default), ten times out of the test's reach."""
    reach = str(10 * submissions)
    return {
        "RELAY_SUBMIT_LIMIT": reach,
        "RELAY_SUBMIT_HARD_LIMIT": reach,
        "RELAY_FLOOD_RELAY": reach,
        "RELAY_FLOOD_PRACTICE": reach,
    }


@dataclass
class RelayProcess(ServerProcess):
    """`python -m relay serve` configured only by RELAY_* variables, on a fixed port so a
    restarted relay keeps the public URL in the mails already sent."""

    port: int = 0

    @classmethod
    def create(cls, log_file: Path, port: int, env: dict[str, str]) -> RelayProcess:
        return cls(
            f"relay serve (127.0.0.1:{port})",
            [sys.executable, "-m", "relay", "serve"],
            log_file,
            env={**env, "RELAY_PORT": str(port)},
            port=port,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_ready(self, seconds: float = READY_SECONDS) -> None:
        async with aiohttp.ClientSession() as http:

            async def ready() -> bool:
                async with http.get(f"{self.url}/readyz") as answer:
                    if answer.status != 200:
                        raise NotReady(f"/readyz answered {answer.status}")
                    return True

            await wait_until_async(
                ready, f"{self.name} to answer /readyz with 200", seconds=seconds, watch=[self]
            )


# --- Radicale, a CalDAV server ----------------------------------------------------------

RADICALE_USER = "praxis"


@dataclass
class Radicale:
    """A Radicale CalDAV server on loopback with one htpasswd user and its password file."""

    process: ServerProcess
    url: str
    password: str
    password_file: Path
    user: str = RADICALE_USER

    @property
    def calendar_url(self) -> str:
        return f"{self.url}/{self.user}/praxis/"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": aiohttp.encode_basic_auth(self.user, self.password)}

    def request(self, method: str, url: str, body: str | None = None) -> int:
        """One authenticated request (blocking); its status."""
        parts = urlsplit(url)
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        headers = dict(self.auth)
        if body is not None:
            headers["Content-Type"] = "text/calendar; charset=utf-8"
        try:
            connection.request(method, parts.path, body=body and body.encode(), headers=headers)
            answer = connection.getresponse()
            answer.read()
            return answer.status
        finally:
            connection.close()

    def make_calendar(self) -> None:
        status = self.request("MKCALENDAR", self.calendar_url)
        assert status == 201, f"MKCALENDAR {self.calendar_url} answered {status}"

    def put_event(self, name: str, calendar: str) -> None:
        """Stores (or replaces) `{name}.ics` in the calendar."""
        status = self.request("PUT", f"{self.calendar_url}{name}.ics", calendar)
        assert status in (201, 204), f"PUT {name}.ics answered {status}"


def ics(*events: str) -> str:
    """A VCALENDAR of VEVENTs given as their property lines, with CRLF line ends."""
    body = "".join(
        f"BEGIN:VEVENT\nDTSTAMP:20260101T000000Z\n{event.strip()}\nEND:VEVENT\n" for event in events
    )
    return f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n{body}END:VCALENDAR\n".replace(
        "\n", "\r\n"
    )


def _answers_propfind(port: int, user: str, password: str) -> bool:
    """Radicale is up and takes our user: an authenticated PROPFIND gets 207 Multi-Status."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        token = aiohttp.encode_basic_auth(user, password)
        connection.request("PROPFIND", f"/{user}/", headers={"Authorization": token, "Depth": "0"})
        status = connection.getresponse().status
    finally:
        connection.close()
    if status != 207:
        raise NotReady(f"PROPFIND answered {status}")
    return True


def launch_radicale(directory: Path, env: dict[str, str] | None = None) -> Radicale:
    """A ready Radicale with htpasswd auth, its config and storage in `directory`/radicale
    (blocking; stop it with `.process.stop()`). The password file is beside that folder."""
    home = directory / "radicale"
    home.mkdir()
    password = secrets.token_urlsafe(16)
    (home / "users").write_text(f"{RADICALE_USER}:{password}\n", encoding="utf-8")
    password_file = directory / "caldav-password"
    password_file.write_text(password + "\n", encoding="utf-8")
    port = server_port()
    config = home / "config"
    config.write_text(
        f"""[server]
hosts = 127.0.0.1:{port}
[auth]
type = htpasswd
htpasswd_filename = {home / "users"}
htpasswd_encryption = plain
delay = 0
[storage]
filesystem_folder = {home / "collections"}
[rights]
type = owner_only
[web]
type = none
[logging]
level = warning
""",
        encoding="utf-8",
    )
    process = ServerProcess(
        f"radicale (127.0.0.1:{port})",
        [sys.executable, "-m", "radicale", "--config", str(config)],
        home / "radicale.log",
        env=env,
    )
    process.start()
    try:
        wait_until(
            lambda: _answers_propfind(port, RADICALE_USER, password),
            f"Radicale on port {port} to answer an authenticated PROPFIND with 207",
            watch=[process],
        )
    except BaseException:
        process.stop()
        raise
    return Radicale(process, f"http://127.0.0.1:{port}", password, password_file)
