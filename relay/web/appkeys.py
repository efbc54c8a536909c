"""The typed keys under which the app holds its shared objects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from jinja2 import Environment

from relay.booking.service import RelayService
from relay.mail.worker import MailWorker
from relay.ops.metrics import Metrics
from relay.settings import Settings
from relay.storage.store import Store
from relay.storage.wakeups import Wakeups

SETTINGS = web.AppKey("settings", Settings)
REDIS = web.AppKey("redis", Any)
# A separate tiny Redis client for /readyz, so readiness never queues behind requests.
REDIS_PROBE: web.AppKey[Any] = web.AppKey("redis_probe")
STORE = web.AppKey("store", Store)
METRICS = web.AppKey("metrics", Metrics)
WAKEUPS = web.AppKey("wakeups", Wakeups)
SERVICE = web.AppKey("service", RelayService)
MAIL_WORKER = web.AppKey("mail_worker", MailWorker)
TEMPLATES = web.AppKey("templates", Environment)
# How the error boundary renders a page for browsers; the pages module provides it.
ErrorPage = Callable[[web.Request, int], web.Response]
ERROR_PAGE: web.AppKey[ErrorPage] = web.AppKey("error_page")
