"""RELAY_REDIS_URL to a redis-py asyncio client: plain, TLS, unix socket, cluster, sentinel.

`redis+cluster://[:password@]host:port[,host:port...][?tls=true]` and
`redis+sentinel://[:password@]host:port[,host:port...]/{service}[?tls=true]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel

# Short timeouts: a long poll must never hang on a dead Redis, and readiness checks need a
# quick answer. Blocking reads do not exist in this relay, so 5 s is generous.
_TIMEOUTS: dict[str, Any] = {"socket_connect_timeout": 5, "socket_timeout": 5}


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


class _SentinelMaster(Redis):
    """The master found through Sentinel; closing it closes the sentinel connections too,
    which redis-py leaves open otherwise."""

    watched_by: Sentinel

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        for sentinel_client in self.watched_by.sentinels:
            await sentinel_client.aclose()


def connect(url: str, *, pubsub: bool = False) -> Any:
    """A client for `url`; the caller closes it with `aclose()`.

    A pub/sub client waits on its socket indefinitely, so it gets no read timeout but a
    health check instead; redis-py's async cluster client has no pub/sub, and Redis Cluster
    broadcasts classic PUBLISH to every node, so for a cluster it is a plain client of the
    first node named in the URL.
    """
    timeouts = {"socket_connect_timeout": 5, "health_check_interval": 15} if pubsub else _TIMEOUTS
    scheme = urlsplit(url).scheme
    if scheme == "redis+cluster" and pubsub:
        cluster = _parse_multi_host(url)
        host, port = cluster.hosts[0]
        return Redis(
            host=host,
            port=port,
            username=cluster.username,
            password=cluster.password,
            ssl=cluster.tls,
            **timeouts,
        )
    if scheme == "redis+cluster":
        cluster = _parse_multi_host(url)
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in cluster.hosts],
            username=cluster.username,
            password=cluster.password,
            ssl=cluster.tls,
            **timeouts,
        )
    if scheme == "redis+sentinel":
        sentinel_url = _parse_multi_host(url)
        connection_kwargs = {
            "username": sentinel_url.username,
            "password": sentinel_url.password,
            "ssl": sentinel_url.tls,
            **timeouts,
        }
        sentinel = Sentinel(sentinel_url.hosts, **_TIMEOUTS)  # type: ignore[no-untyped-call]
        client = sentinel.master_for(
            sentinel_url.path, redis_class=_SentinelMaster, **connection_kwargs
        )
        client.watched_by = sentinel
        return client
    return Redis.from_url(url, **timeouts)
