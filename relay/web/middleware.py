"""The one boundary where domain errors become HTTP answers, plus headers and request logs."""

from __future__ import annotations

import functools
import ipaddress
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from redis.exceptions import (
    ClusterError,
    RedisClusterException,
    RedisError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from relay.booking.fields import FIELD_NAMES, field
from relay.errors import (
    AnswerRefused,
    BookingNotFound,
    PracticeExists,
    PracticeNotFound,
    ProfileChanging,
    ProofOfWorkRequired,
    RateLimited,
    RecipientLimited,
    RelayError,
    SlotTaken,
    TokenGone,
    Unauthorized,
    ValidationFailed,
)
from relay.ops.logs import truncate_ip
from relay.storage.connect import as_redis_error
from relay.web.appkeys import ERROR_PAGE, METRICS, SETTINGS
from relay.web.error_messages import error_message
from relay.web.language import request_language

log = logging.getLogger("relay.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Everything the pages need is served by the relay itself; nothing inline, nothing foreign.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors {frame_ancestors}"
)
# Handlers that allow embedding (the booking form) put the practice's origins here.
FRAME_ANCESTORS = web.RequestKey("frame_ancestors", str)
CLIENT_NETWORK = web.RequestKey("client_network", str)
REQUEST_ID = web.RequestKey("request_id", str)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})


def client_address(
    request: web.Request,
    trusted_proxies: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> str:
    """The client's address: X-Forwarded-For is believed only from a trusted proxy,
    read from the right, skipping further trusted proxies."""
    peer = request.remote or ""
    chain = [peer]
    if _is_trusted(peer, trusted_proxies):
        forwarded = request.headers.get("X-Forwarded-For", "")
        chain = [peer, *reversed([hop.strip() for hop in forwarded.split(",") if hop.strip()])]
    for hop in chain:
        if not _is_trusted(hop, trusted_proxies):
            return hop
    return chain[-1]


@functools.lru_cache(maxsize=4096)
def _is_trusted(
    address: str, trusted: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> bool:
    # Cached: the proxy's own address comes with every request (`trusted` is the
    # settings' tuple); parsing it each time costs microseconds.
    if not trusted:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def json_error(status: int, body: dict[str, object], **headers: str) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


def error_response(request: web.Request, error: RelayError) -> web.StreamResponse:
    """Maps a domain error to its status; pages render their own, the API gets JSON."""
    if isinstance(error, ValidationFailed):
        return json_error(422, {"errors": translated(error, request_language(request))})
    if isinstance(error, AnswerRefused):
        return json_error(409, {"error": error.why, "status": error.status})
    status, message = _STATUS[type(error)]
    headers = {}
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, ProfileChanging):
        headers["Retry-After"] = "1"
    if isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="terminrelay"'
    if is_api(request):
        return json_error(status, {"error": message}, **headers)
    response = request.app[ERROR_PAGE](request, status)
    response.headers.update(headers)
    return response


def translated(error: ValidationFailed, lang: str) -> dict[str, str]:
    """Message codes as sentences in the request's language, one per field."""
    return {
        path: error_message(code, lang, field=field(path) if path in FIELD_NAMES else None)
        for path, code in error.errors.items()
    }


_STATUS: dict[type[RelayError], tuple[int, str]] = {
    PracticeNotFound: (404, "unknown practice"),
    BookingNotFound: (
        404,
        "no confirmed booking of this practice has this id and address, or its time has passed",
    ),
    PracticeExists: (409, "practice exists"),
    SlotTaken: (409, "this slot is no longer available"),
    RateLimited: (429, "too many requests, try again later"),
    ProofOfWorkRequired: (429, "proof of work required: GET /api/v1/challenge"),
    RecipientLimited: (429, "confirmation requests for this address are already waiting"),
    Unauthorized: (401, "missing or invalid practice token"),
    TokenGone: (410, "this link is withdrawn, expired or unknown"),
    ProfileChanging: (503, "the practice is updating its calendar, try again"),
}


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RelayError as error:
        return error_response(request, error)
    except (RedisError, RedisClusterException) as error:
        # redis-py's cluster client raises some errors (SlotNotCoveredError) outside RedisError.
        return redis_failure(request, error)
    except web.HTTPException as http_error:
        if http_error.status < 400:
            raise
        kept = {k: v for k, v in http_error.headers.items() if k in ("Allow", "Retry-After")}
        if is_api(request):
            return json_error(http_error.status, {"error": http_error.reason.lower()}, **kept)
        # A page for the browser rather than aiohttp's plain "400: reason".
        page = request.app[ERROR_PAGE](request, http_error.status)
        page.headers.update(kept)
        return page
    except Exception as error:
        lost = as_redis_error(error)
        if lost is not error:
            # A connection closed under a command that is not retried (a pipeline):
            # redis-py raised AttributeError or TypeError for it (see as_redis_error).
            return redis_failure(request, lost)
        # Last resort only: every known bad input is refused where it is read (bodies.py,
        # the validators). The type and the request id find the bug; the message and the
        # traceback's values could quote the request, so neither is logged.
        log.error(  # noqa: TRY400 - a traceback could carry request bytes
            "unhandled error",
            extra={"request_id": request.get(REQUEST_ID), "error": type(error).__name__},
        )
        if is_api(request):
            return json_error(500, {"error": "internal error"})
        return request.app[ERROR_PAGE](request, 500)


# What Redis answers while it is away or failing over, once the retries are spent: an
# expected state with a clean answer, logged without a traceback.
_UNAVAILABLE = (
    RedisConnectionError,
    RedisTimeoutError,
    ClusterError,
    TryAgainError,
    SlotNotCoveredError,
)


def redis_failure(request: web.Request, error: BaseException) -> web.StreamResponse:
    """503 with Retry-After for any Redis failure: a request can succeed later."""
    request.app[METRICS].redis_errors.inc()
    if isinstance(error, _UNAVAILABLE):
        # No free connection within RELAY_REDIS_POOL_TIMEOUT, Redis stayed away or the
        # cluster kept failing over longer than the retries cover.
        log.warning("redis unavailable", extra={"error": type(error).__name__})
    else:
        log.error("redis error", exc_info=error)
    if is_api(request):
        return json_error(503, {"error": "temporarily unavailable"}, **{"Retry-After": "5"})
    page = request.app[ERROR_PAGE](request, 503)
    page.headers["Retry-After"] = "5"
    return page


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as http_error:
        response = http_error
        _add_security_headers(request, response)
        raise
    _add_security_headers(request, response)
    return response


def _add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    frame_ancestors = request.get(FRAME_ANCESTORS) or "'none'"
    headers = response.headers
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.format(
        frame_ancestors=frame_ancestors
    )
    # Confirmation links carry tokens: never leak them to another site.
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), interest-cohort=()"
    if frame_ancestors == "'none'":
        headers["X-Frame-Options"] = "DENY"
    if not request.path.startswith("/static/"):
        headers.setdefault("Cache-Control", "no-store")


@web.middleware
async def request_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One log line and one latency sample per request, keyed by route template: the raw
    path can hold a confirmation token and must not reach a log."""
    started = time.perf_counter()
    # aiohttp admits any token as a method; only known ones reach a log line or a label.
    method = request.method if request.method in KNOWN_METHODS else "other"
    request_id = uuid.uuid4().hex[:16]
    request[REQUEST_ID] = request_id
    network = truncate_ip(client_address(request, request.app[SETTINGS].trusted_proxies))
    request[CLIENT_NETWORK] = network
    status = 500
    try:
        response = await handler(request)
    except web.HTTPException as http_error:
        status = http_error.status
        raise
    else:
        status = response.status
        response.headers["X-Request-ID"] = request_id
        return response
    finally:
        duration = time.perf_counter() - started
        route = _route_template(request)
        request.app[METRICS].request_seconds.labels(
            route=route, method=method, status=str(status)
        ).observe(duration)
        log.info(
            "request",
            extra={
                "request_id": request_id,
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(duration * 1000, 1),
                "client": network,
            },
        )


def _route_template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    if resource is None:
        return "unmatched"
    return resource.canonical
