"""create_app(settings): the one place where the relay is assembled."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape
from nacl.signing import SigningKey

from relay import mail, redis_connect, wakeups
from relay.appkeys import (
    ERROR_PAGE,
    MAIL_WORKER,
    METRICS,
    REDIS,
    SERVICE,
    SETTINGS,
    STORE,
    TEMPLATES,
    WAKEUPS,
)
from relay.background import background, sleep_unless
from relay.localtime import format_datetime
from relay.metrics import Metrics
from relay.sealing import DataCipher
from relay.service import RelayService
from relay.settings import Settings
from relay.store import Store
from relay.web import middleware, ops, pages, practice_api, public_api

log = logging.getLogger(__name__)

# A mail job in hand at shutdown gets this long to finish (SIGTERM to exit: within 10 s).
MAIL_SHUTDOWN_GRACE = 8.0


def create_app(settings: Settings, *, mail_sender: mail.Sender | None = None) -> web.Application:
    """The relay as an aiohttp application; Redis and workers start with the app."""
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[middleware.request_log, middleware.security_headers, middleware.errors],
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[WAKEUPS] = wakeups.Wakeups()
    app[TEMPLATES] = Environment(
        loader=PackageLoader("relay", "web/templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    app.cleanup_ctx.append(_redis_ctx)
    app.cleanup_ctx.append(_wakeups_ctx)
    app.cleanup_ctx.append(_service_ctx(mail_sender or mail.smtp_sender(settings.smtp)))
    app.cleanup_ctx.append(_housekeeping_ctx)
    app.on_shutdown.append(_answer_long_polls)

    app.add_routes(public_api.routes)
    app.add_routes(practice_api.routes)
    app.add_routes(ops.routes)
    if settings.metrics_port is None:
        app.router.add_get("/metrics", ops.metrics)
    pages.setup(app)
    app[ERROR_PAGE] = pages.error_page
    return app


def create_metrics_app(main_app: web.Application) -> web.Application:
    """/metrics alone, for RELAY_METRICS_PORT: scrapes need not reach the public port."""
    metrics_app = web.Application()
    metrics_app[SETTINGS] = main_app[SETTINGS]
    metrics_app[METRICS] = main_app[METRICS]
    metrics_app.router.add_get("/metrics", ops.metrics)
    return metrics_app


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    client = redis_connect.connect(app[SETTINGS].redis_url)
    app[REDIS] = client
    app[STORE] = Store(client)
    yield
    await client.aclose()


async def _wakeups_ctx(app: web.Application) -> AsyncIterator[None]:
    subscriber = redis_connect.connect(app[SETTINGS].redis_url, pubsub=True)
    listen = functools.partial(app[WAKEUPS].listen, subscriber)
    async with background(listen, name="wakeups"):
        yield
    await subscriber.aclose()


def _service_ctx(
    sender: mail.Sender,
) -> Callable[[web.Application], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def service_ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        cipher = DataCipher(settings.data_keys)
        worker = mail.MailWorker(
            store=app[STORE],
            cipher=cipher,
            settings=settings,
            metrics=app[METRICS],
            sender=sender,
            compose=_composer(settings),
        )
        app[MAIL_WORKER] = worker
        app[SERVICE] = RelayService(
            settings=settings,
            store=app[STORE],
            cipher=cipher,
            signing_key=SigningKey(settings.signing_key),
            metrics=app[METRICS],
            wakeups=app[WAKEUPS],
            mail_queued=worker.poke,
        )
        async with background(worker.run, name="mail-worker", grace=MAIL_SHUTDOWN_GRACE):
            yield

    return service_ctx


def _composer(settings: Settings) -> Callable[[dict[str, object]], EmailMessage]:
    environment = mail.templates()
    domain = urlsplit(settings.public_url).hostname or "localhost"

    def compose(job: dict[str, object]) -> EmailMessage:
        expires_at = datetime.fromisoformat(str(job["expires_at"]))
        zone = ZoneInfo(str(job["time_zone"]))
        return mail.confirmation_mail(
            environment,
            mail_from=settings.mail_from,
            to=str(job["to"]),
            practice_name=str(job["practice_name"]),
            link=str(job["link"]),
            expires_de=format_datetime(expires_at, zone, "de"),
            expires_en=format_datetime(expires_at, zone, "en"),
            domain=domain,
        )

    return compose


async def _housekeeping_ctx(app: web.Application) -> AsyncIterator[None]:
    async with background(functools.partial(_housekeeping, app), name="housekeeping"):
        yield


async def _housekeeping(app: web.Application, stop: asyncio.Event) -> None:
    """Counts expired bookings and refreshes the per-practice gauges."""
    store, metrics = app[STORE], app[METRICS]
    while not stop.is_set():
        try:
            now = datetime.now(UTC)
            slugs = await store.practice_slugs()
            for slug in slugs:
                expired = await store.sweep_expired(slug, now_ms=int(now.timestamp() * 1000))
                metrics.bookings.labels(event="expired").inc(expired)
            stats = await store.stats(slugs)
            metrics.set_inbox_stats(
                {
                    slug: (
                        s.pending,
                        s.inbox,
                        None
                        if s.oldest_arrival_ms is None
                        else max(0.0, now.timestamp() - s.oldest_arrival_ms / 1000),
                    )
                    for slug, s in stats.items()
                }
            )
        except Exception:  # Redis may be away for a while; try again next round
            metrics.redis_errors.inc()
            log.exception("housekeeping failed")
        await sleep_unless(stop, app[SETTINGS].housekeeping_interval)


async def _answer_long_polls(app: web.Application) -> None:
    app[WAKEUPS].close()
