"""RELAY_REDIS_URL to a redis-py asyncio client: plain, TLS, unix socket, cluster, sentinel.

`redis+cluster://[:password@]host:port[,host:port...][?tls=true]` and
`redis+sentinel://[:password@]host:port[,host:port...]/{service}[?tls=true]`.

Two promises live here (issue 7):

- **Backpressure.** A request that finds every Redis connection busy waits in line for up
  to `pool_timeout` seconds instead of failing: a `BlockingConnectionPool` for plain and
  sentinel URLs, an admission gate in front of the cluster client (redis-py's async
  cluster client has no blocking pool; it raises MaxConnectionsError at once). If the wait
  runs out, the pool's ConnectionError becomes a clean 503 with Retry-After.
- **Recovery.** A command that loses its connection (Redis restarted, a failover, a
  stale pooled socket) reconnects and runs again with jittered exponential backoff, for
  up to `patience` seconds per command. Every command the relay sends is safe to run
  twice; each script in relay/storage/lua/ says why in its header.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, TypeVar, cast
from urllib.parse import parse_qs, unquote, urlsplit

from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import EqualJitterBackoff, NoBackoff

T = TypeVar("T")

# Short socket timeouts: a long poll must never hang on a dead Redis, and no command of
# this relay blocks on the server, so 5 s is generous for any single round trip.
_TIMEOUTS: dict[str, Any] = {"socket_connect_timeout": 5, "socket_timeout": 5}

# See Settings.redis_max_connections and Settings.redis_pool_timeout for the reasoning.
DEFAULT_MAX_CONNECTIONS = 50
DEFAULT_POOL_TIMEOUT = 10.0
# The readiness probe's own pool: one PING at a time is all /readyz needs, and a second
# connection covers a probe that overlaps the previous one timing out.
PROBE_CONNECTIONS = 2
# Connections a cluster node may open beyond the gate's limit, for the pipelines of the
# background loops (mail worker, housekeeping), which do not pass the gate.
_CLUSTER_HEADROOM = 4
# Backoff between attempts: 50 ms doubling up to 1 s, each wait between half and all of
# that (jitter, so many relay processes do not reconnect in step).
_BACKOFF_BASE = 0.05
_BACKOFF_CAP = 1.0
_RETRYABLE = (redis_errors.ConnectionError, redis_errors.TimeoutError)
# What a cluster answers while a failover is under way, beyond lost connections: the
# cluster is down or a master is (ClusterDownError, MasterDownError), redirections ran out
# ("TTL exhausted", ClusterError), a slot is for a moment in no node's hands
# (SlotNotCoveredError, which redis-py does not derive from RedisError), a slot is being
# migrated (TryAgainError). Nothing ran, so running the command again is safe.
_CLUSTER_RETRYABLE = (
    *_RETRYABLE,
    redis_errors.ClusterError,
    redis_errors.SlotNotCoveredError,
    redis_errors.TryAgainError,
)
# Where redis-py's async connection and cluster code and asyncio's transports live: a
# plain AttributeError or TypeError raised there means a socket was closed under the
# command or the cluster layout was being replaced under it (see as_redis_error).
_CLIENT_INTERNALS = frozenset(
    {
        ("asyncio", "connection.py"),
        ("asyncio", "cluster.py"),
        ("asyncio", "streams.py"),
        ("asyncio", "selector_events.py"),
        ("asyncio", "sslproto.py"),
    }
)

# When the current command's patience runs out. redis-py nests retry loops (a command's
# loop around a reconnect's loop); the inner loops share the outermost one's deadline, so
# the total stays bounded instead of multiplying.
_patience_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "redis_patience_deadline", default=None
)


def as_redis_error(error: BaseException) -> BaseException:
    """`error`, or a redis ConnectionError when it is the sign of a connection closed under
    a command.

    redis-py lets a socket torn down mid-command surface as AttributeError ("'NoneType'
    object has no attribute 'writelines'": the writer was dropped) or TypeError (asyncio's
    transport half closed, redis-py issue 4287) instead of ConnectionError. The cluster
    client causes it itself in a failover: on CLUSTERDOWN it disconnects every connection
    of every node, including those other commands are writing to at that moment, e.g. the
    abuse limits' script on a healthy master; and while it replaces its layout a node
    lookup can come back empty (redis-py issue 3835). Only errors raised inside that code
    are translated; the same types from anywhere else are bugs."""
    if not isinstance(error, AttributeError | TypeError):
        return error
    frame = error.__traceback__
    if frame is None:
        return error
    while frame.tb_next is not None:
        frame = frame.tb_next
    where = PurePath(frame.tb_frame.f_code.co_filename).parts[-2:]
    if where not in _CLIENT_INTERNALS:
        return error
    lost = redis_errors.ConnectionError("connection closed while in use")
    lost.__cause__ = error
    return lost


class PatientRetry(Retry):
    """redis-py's Retry, bounded by time instead of by count: attempts go on with jittered
    backoff until `patience` seconds have passed since the outermost attempt of this
    command began. Then the last error is raised, and the middleware answers 503 + Retry-After."""

    def __init__(
        self,
        patience: float,
        supported_errors: tuple[type[Exception], ...] = _RETRYABLE,
    ) -> None:
        super().__init__(
            EqualJitterBackoff(cap=_BACKOFF_CAP, base=_BACKOFF_BASE),
            retries=max(1, int(patience / _BACKOFF_BASE)),
            # redis-py before 8.2 annotates RedisError types only, yet catches whatever
            # is listed (SlotNotCoveredError is no RedisError); Any fits both typings.
            supported_errors=cast(Any, supported_errors),
        )
        self.patience = patience

    async def call_with_retry(
        self,
        do: Callable[[], Awaitable[T]],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        deadline = _patience_deadline.get()
        token = None
        if deadline is None:
            deadline = time.monotonic() + self.patience
            token = _patience_deadline.set(deadline)
        self._backoff.reset()  # type: ignore[no-untyped-call]
        failures = 0
        try:
            while True:
                try:
                    return await do()
                except Exception as raised:
                    error = as_redis_error(raised)
                    if not isinstance(error, self._supported_errors) or (
                        is_retryable is not None and not is_retryable(error)
                    ):
                        if error is raised:
                            raise
                        raise error from raised
                    failures += 1
                    await (fail(error, failures) if with_failure_count else fail(error))
                    pause = self._backoff.compute(failures)
                    if time.monotonic() + pause > deadline:
                        if error is raised:
                            raise
                        raise error from raised
                    await asyncio.sleep(pause)
        finally:
            if token is not None:
                _patience_deadline.reset(token)


@dataclass(frozen=True)
class PoolLimits:
    """How many connections one client opens, how long a command waits for a free one,
    and how long it keeps retrying a Redis that went away."""

    max_connections: int = DEFAULT_MAX_CONNECTIONS
    pool_timeout: float = DEFAULT_POOL_TIMEOUT
    patience: float = DEFAULT_POOL_TIMEOUT


# /readyz must tell the truth quickly: its own two connections, no retries, and a short
# wait, so it neither queues behind a burst of requests nor hides an outage.
PROBE_LIMITS = PoolLimits(max_connections=PROBE_CONNECTIONS, pool_timeout=1.0, patience=0.0)


@dataclass(frozen=True)
class _MultiHostUrl:
    hosts: list[tuple[str, int]]
    username: str | None
    password: str | None
    path: str
    tls: bool


def _parse_multi_host(url: str) -> _MultiHostUrl:
    parts = urlsplit(url)
    credentials, _, hostlist = parts.netloc.rpartition("@")
    username, _, password = credentials.partition(":")
    hosts = []
    for host_port in hostlist.split(","):
        host, _, port = host_port.rpartition(":")
        hosts.append((host.strip("[]"), int(port)))
    tls = parse_qs(parts.query).get("tls", ["false"])[0].lower() in ("1", "true", "yes")
    return _MultiHostUrl(
        hosts=hosts,
        username=unquote(username) or None,
        password=unquote(password) or None,
        path=parts.path.strip("/"),
        tls=tls,
    )


def _sentinel(hosts: list[tuple[str, int]]) -> Sentinel:
    # Sentinel's constructor has no annotations before redis-py 8.2 (an untyped call to
    # mypy) and has them since; called through a typed name, it checks with both.
    sentinel_class: Callable[..., Sentinel] = Sentinel
    return sentinel_class(hosts, **_TIMEOUTS)


class _SentinelMaster(Redis):
    """The master found through Sentinel; closing it closes the sentinel connections too,
    which redis-py leaves open otherwise."""

    watched_by: Sentinel

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        for sentinel_client in self.watched_by.sentinels:
            await sentinel_client.aclose()


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """Sentinel's master discovery with the blocking pool's queueing: SentinelConnectionPool
    only adds discovery on top of ConnectionPool, BlockingConnectionPool only overrides
    get_connection and release, so the two combine by inheritance."""


class _QueueingCluster(RedisCluster):
    """RedisCluster with a wait for a free connection and time-bounded retries.

    redis-py's async cluster client raises MaxConnectionsError as soon as a node's
    connections are all busy, and retries a lost node without any pause. The gate admits
    at most `max_connections` commands at once (so no node exceeds its limit) and lets the
    rest wait up to `pool_timeout`; PatientRetry re-runs a command whose node went away,
    after the client re-reads the cluster layout, so a failover is ridden out.
    """

    def __init__(self, *, limits: PoolLimits, **kwargs: Any) -> None:
        super().__init__(
            max_connections=limits.max_connections + _CLUSTER_HEADROOM,
            # One immediate re-read of the layout per attempt; the pauses are ours.
            retry=Retry(NoBackoff(), 1),
            **kwargs,
        )
        self._gate = asyncio.Semaphore(limits.max_connections)
        self._gate_timeout = limits.pool_timeout
        self._patience = PatientRetry(limits.patience, supported_errors=_CLUSTER_RETRYABLE)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            async with asyncio.timeout(self._gate_timeout):
                await self._gate.acquire()
        except TimeoutError:
            raise redis_errors.ConnectionError("No connection available.") from None
        try:
            return await self._patience.call_with_retry(
                lambda: super(_QueueingCluster, self).execute_command(*args, **kwargs),
                _no_cleanup,
            )
        finally:
            self._gate.release()


async def _no_cleanup(error: Exception) -> None:
    """The cluster client already dropped the failed node's connections."""


def connect(url: str, *, limits: PoolLimits | None = None, pubsub: bool = False) -> Any:
    """A client for `url`; the caller closes it with `aclose()`.

    `limits` bound the connections and say how long a command waits for one and retries
    a lost Redis (PROBE_LIMITS for readiness). A pub/sub client waits on its socket
    indefinitely, so it gets no read timeout but a health check instead, and its own
    reconnect loop (relay/storage/wakeups.py); redis-py's async cluster client has no pub/sub, and
    Redis Cluster broadcasts classic PUBLISH to every node, so for a cluster it is a plain
    client of the first node named in the URL.
    """
    scheme = urlsplit(url).scheme
    if pubsub:
        return _pubsub_client(url, scheme)
    limits = limits or PoolLimits()
    patience: dict[str, Any] = {"retry": PatientRetry(limits.patience)}
    if scheme == "redis+cluster":
        cluster = _parse_multi_host(url)
        return _QueueingCluster(
            limits=limits,
            startup_nodes=[ClusterNode(host, port) for host, port in cluster.hosts],
            username=cluster.username,
            password=cluster.password,
            ssl=cluster.tls,
            **_TIMEOUTS,
        )
    if scheme == "redis+sentinel":
        sentinel_url = _parse_multi_host(url)
        sentinel = _sentinel(sentinel_url.hosts)
        client = sentinel.master_for(
            sentinel_url.path,
            redis_class=_SentinelMaster,
            connection_pool_class=_BlockingSentinelPool,
            username=sentinel_url.username,
            password=sentinel_url.password,
            ssl=sentinel_url.tls,
            max_connections=limits.max_connections,
            timeout=limits.pool_timeout,
            **patience,
            **_TIMEOUTS,
        )
        client.watched_by = sentinel
        return client
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=limits.max_connections,
        timeout=limits.pool_timeout,
        **patience,
        **_TIMEOUTS,
    )
    return Redis.from_pool(pool)


def _pubsub_client(url: str, scheme: str) -> Any:
    timeouts: dict[str, Any] = {"socket_connect_timeout": 5, "health_check_interval": 15}
    if scheme == "redis+cluster":
        cluster = _parse_multi_host(url)
        return _RotatingSubscriber(
            [
                Redis(
                    host=host,
                    port=port,
                    username=cluster.username,
                    password=cluster.password,
                    ssl=cluster.tls,
                    **timeouts,
                )
                for host, port in cluster.hosts
            ]
        )
    if scheme == "redis+sentinel":
        sentinel_url = _parse_multi_host(url)
        sentinel = _sentinel(sentinel_url.hosts)
        client = sentinel.master_for(
            sentinel_url.path,
            redis_class=_SentinelMaster,
            username=sentinel_url.username,
            password=sentinel_url.password,
            ssl=sentinel_url.tls,
            **timeouts,
        )
        client.watched_by = sentinel
        return client
    return Redis.from_url(url, **timeouts)


class _RotatingSubscriber:
    """Pub/sub over the cluster nodes named in the URL, one at a time.

    Redis Cluster broadcasts classic PUBLISH to every node, so any node will do; each new
    subscription (the wake-up listener makes one after every failure) takes the next node,
    so a node that is gone for good costs one reconnect, not every wake-up after it.
    """

    def __init__(self, nodes: list[Redis]) -> None:
        self._nodes = nodes
        self._next = 0

    def pubsub(self) -> Any:
        node = self._nodes[self._next % len(self._nodes)]
        self._next += 1
        return node.pubsub()

    async def aclose(self) -> None:
        for node in self._nodes:
            await node.aclose()
