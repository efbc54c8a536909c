"""create_app(settings): the one place where the relay is assembled."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape
from nacl.signing import SigningKey

from relay.booking.service import RelayService
from relay.crypto.sealing import DataCipher
from relay.i18n.templates import isolate_numbers
from relay.mail import worker as mail
from relay.mail.compose import ConfirmationMail
from relay.mail.smtp_pool import SmtpPool
from relay.ops.background import background, sleep_unless
from relay.ops.metrics import Metrics
from relay.settings import Settings
from relay.storage import connect as redis_connect
from relay.storage import wakeups
from relay.storage.store import Store
from relay.web import (
    cancel,
    cors,
    form_texts,
    middleware,
    move,
    openapi,
    ops,
    pages,
    practice_api,
    privacy,
    public_api,
    reminders,
    server,
)
from relay.web.appkeys import (
    ERROR_PAGE,
    MAIL_WORKER,
    METRICS,
    REDIS,
    REDIS_PROBE,
    SERVICE,
    SETTINGS,
    STORE,
    TEMPLATES,
    WAKEUPS,
)

log = logging.getLogger(__name__)

# A mail job in hand at shutdown gets this long to finish (SIGTERM to exit: within 10 s).
MAIL_SHUTDOWN_GRACE = 8.0


def create_app(settings: Settings) -> web.Application:
    """The relay as an aiohttp application; Redis and workers start with the app."""
    app = web.Application(
        # Body, request line and header limits: see relay/web/server.py.
        client_max_size=settings.max_body_bytes,
        handler_args=server.HANDLER_ARGS,
        middlewares=[
            middleware.request_log,
            middleware.security_headers,
            # Outside `errors`: the CORS headers go on its error answers too.
            cors.cors,
            middleware.errors,
        ],
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[WAKEUPS] = wakeups.Wakeups()
    app[TEMPLATES] = Environment(
        loader=PackageLoader("relay", "web/templates"),
        autoescape=select_autoescape(["html"]),
        # gettext and its kin come with each render's context (relay/i18n/templates.py).
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        # The templates ship with the package: no stat() of the file on every render.
        auto_reload=False,
    )
    app[TEMPLATES].filters["isolate_numbers"] = isolate_numbers
    app.cleanup_ctx.append(_redis_ctx)
    app.cleanup_ctx.append(_wakeups_ctx)
    app.cleanup_ctx.append(_service_ctx)
    app.cleanup_ctx.append(_housekeeping_ctx)
    app.on_shutdown.append(_answer_long_polls)

    app.add_routes(public_api.routes)
    app.add_routes(form_texts.routes)
    app.add_routes(practice_api.routes)
    app.add_routes(ops.routes)
    app.add_routes(openapi.routes)
    if settings.metrics_port is None:
        app.router.add_get("/metrics", ops.metrics)
    pages.setup(app)
    privacy.setup(app)
    cancel.setup(app)
    reminders.setup(app)
    move.setup(app)
    app[ERROR_PAGE] = pages.error_page
    return app


def create_metrics_app(main_app: web.Application) -> web.Application:
    """/metrics alone, for RELAY_METRICS_PORT: scrapes need not reach the public port."""
    metrics_app = web.Application(handler_args=server.HANDLER_ARGS)
    metrics_app[SETTINGS] = main_app[SETTINGS]
    metrics_app[METRICS] = main_app[METRICS]
    metrics_app.router.add_get("/metrics", ops.metrics)
    return metrics_app


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    limits = redis_connect.PoolLimits(
        max_connections=settings.redis_max_connections,
        pool_timeout=settings.redis_pool_timeout,
        patience=settings.redis_pool_timeout,
    )
    client = redis_connect.connect(settings.redis_url, limits=limits)
    probe = redis_connect.connect(settings.redis_url, limits=redis_connect.PROBE_LIMITS)
    app[REDIS] = client
    app[REDIS_PROBE] = probe
    app[STORE] = Store(client)
    yield
    await probe.aclose()
    await client.aclose()


async def _wakeups_ctx(app: web.Application) -> AsyncIterator[None]:
    subscriber = redis_connect.connect(app[SETTINGS].redis_url, pubsub=True)
    listen = functools.partial(app[WAKEUPS].listen, subscriber)
    async with background(listen, name="wakeups"):
        yield
    await subscriber.aclose()


async def _service_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    cipher = DataCipher(settings.data_keys)
    mail_queued: Callable[[str], None] = _sent_elsewhere
    if settings.mail_worker == "inline":
        worker = create_mail_worker(settings, store=app[STORE], cipher=cipher, metrics=app[METRICS])
        app[MAIL_WORKER] = worker
        mail_queued = worker.poke
        mail_loop = worker.run
    else:
        # RELAY_MAIL_WORKER=off: `relay mail-worker` sends; this process still reports
        # the queue's age, since this is where /metrics is scraped.
        mail_loop = functools.partial(
            mail.watch_queue, app[STORE], app[METRICS], interval=settings.mail_poll_interval
        )
    app[SERVICE] = RelayService(
        settings=settings,
        store=app[STORE],
        cipher=cipher,
        signing_key=SigningKey(settings.signing_key),
        metrics=app[METRICS],
        wakeups=app[WAKEUPS],
        mail_queued=mail_queued,
    )
    async with background(mail_loop, name="mail-worker", grace=MAIL_SHUTDOWN_GRACE):
        yield


def _sent_elsewhere(practice: str) -> None:
    """The separate worker finds the job at its next look at the queue."""


def create_mail_worker(
    settings: Settings, *, store: Store, cipher: DataCipher, metrics: Metrics
) -> mail.MailWorker:
    """The queue worker with its SMTP connection pool, for `relay serve` or `mail-worker`."""
    return mail.MailWorker(
        store=store,
        cipher=cipher,
        settings=settings,
        metrics=metrics,
        transport=SmtpPool(
            settings.smtp, size=settings.mail_concurrency, timeout=mail.SEND_TIMEOUT
        ),
        mail=ConfirmationMail(
            mail_from=settings.mail_from,
            domain=urlsplit(settings.public_url).hostname or "localhost",
        ),
    )


async def run_mail_worker(settings: Settings, stop: asyncio.Event) -> None:
    """`relay mail-worker`: the worker alone until `stop`, then the mails in hand are
    finished. Serves /metrics on RELAY_METRICS_PORT when set."""
    client = redis_connect.connect(settings.redis_url)
    metrics = Metrics()
    worker = create_mail_worker(
        settings, store=Store(client), cipher=DataCipher(settings.data_keys), metrics=metrics
    )
    metrics_app = web.Application()
    metrics_app[SETTINGS] = settings
    metrics_app[METRICS] = metrics
    metrics_app.router.add_get("/metrics", ops.metrics)
    runner = server.RelayRunner(metrics_app, access_log=None)
    try:
        if settings.metrics_port is not None:
            await runner.setup()
            await web.TCPSite(runner, settings.host, settings.metrics_port).start()
        async with background(worker.run, name="mail-worker", grace=MAIL_SHUTDOWN_GRACE):
            await stop.wait()
    finally:
        await runner.cleanup()
        await client.aclose()


async def _housekeeping_ctx(app: web.Application) -> AsyncIterator[None]:
    async with background(functools.partial(_housekeeping, app), name="housekeeping"):
        yield


async def _housekeeping(app: web.Application, stop: asyncio.Event) -> None:
    """Counts expired bookings and refreshes the per-practice gauges."""
    store, metrics = app[STORE], app[METRICS]
    adopted_holds = False
    while not stop.is_set():
        try:
            now = datetime.now(UTC)
            slugs = await store.practice_slugs()
            if not adopted_holds:
                # Once per start: slot holds written before the held set existed.
                await store.adopt_legacy_holds()
                adopted_holds = True
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
            # Read both before setting either: a scrape sees one round's values.
            relay_rate, practice_rates = await store.flood_rates(
                slugs, now_ms=int(now.timestamp() * 1000)
            )
            memory = await store.memory_use()
            settings = app[SETTINGS]
            metrics.set_redis_memory(memory)
            metrics.set_flood(
                relay_rate / settings.flood_relay,
                {slug: rate / settings.flood_practice for slug, rate in practice_rates.items()},
            )
        except Exception:  # Redis may be away for a while; try again next round
            metrics.redis_errors.inc()
            log.exception("housekeeping failed")
        await sleep_unless(stop, app[SETTINGS].housekeeping_interval)


async def _answer_long_polls(app: web.Application) -> None:
    app[WAKEUPS].close()
