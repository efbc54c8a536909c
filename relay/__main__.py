"""relay serve | mail-worker | dev | practice add|list|remove|token | pow | keys new"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import logging
import os
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from aiohttp import web

from relay.app import create_app, create_metrics_app, run_mail_worker
from relay.crypto.sealing import decode_public_key
from relay.dev import run_dev
from relay.errors import PracticeExists, PracticeNotFound, SettingsError, ValidationFailed
from relay.ops.logs import configure_logging
from relay.practice import registry
from relay.settings import Settings, redis_url_from_env
from relay.storage import connect as redis_connect
from relay.storage.store import Store
from relay.web.server import RelayRunner

log = logging.getLogger("relay")

# aiohttp waits this long for open requests at shutdown; long polls are answered at once,
# so this bounds only slow clients. With the mail grace it keeps exit within 10 s.
SHUTDOWN_TIMEOUT = 1.5


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except SettingsError as error:
        print(f"relay: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relay", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="command")

    serve = commands.add_parser("serve", help="run the relay with settings from RELAY_*")
    serve.set_defaults(run=_serve)

    mail_worker = commands.add_parser(
        "mail-worker", help="send confirmation mails only (beside serve with RELAY_MAIL_WORKER=off)"
    )
    mail_worker.set_defaults(run=_mail_worker)

    dev = commands.add_parser("dev", help="the whole system on this machine, no setup")
    dev.add_argument("--dir", default="terminrelay-dev", help="where keys and bookings go")
    dev.add_argument("--port", type=int, default=8080)
    dev.set_defaults(run=_dev)

    practice = commands.add_parser("practice", help="register and manage practices")
    practice_commands = practice.add_subparsers(required=True, metavar="action")
    add = practice_commands.add_parser("add", help="register a practice, print its token")
    add.add_argument("slug")
    add.add_argument("--name", required=True)
    add.add_argument("--public-key", required=True, help="the practice's key, base64")
    add.set_defaults(run=_practice_add)
    listing = practice_commands.add_parser("list", help="list registered practices")
    listing.set_defaults(run=_practice_list)
    remove = practice_commands.add_parser("remove", help="delete a practice and its inbox")
    remove.add_argument("slug")
    remove.set_defaults(run=_practice_remove)
    token = practice_commands.add_parser("token", help="issue a new token (old one stops)")
    token.add_argument("slug")
    token.set_defaults(run=_practice_token)

    pow_mode = commands.add_parser(
        "pow", help="proof of work for all relay processes: always|auto|off, or default"
    )
    pow_mode.add_argument(
        "mode",
        nargs="?",
        choices=("always", "auto", "off", "default"),
        help="always: every submission (during an attack); default: RELAY_POW again; "
        "none: show the mode in force",
    )
    pow_mode.set_defaults(run=_pow)

    keys = commands.add_parser("keys", help="generate relay keys")
    keys_commands = keys.add_subparsers(required=True, metavar="action")
    new = keys_commands.add_parser("new", help="print fresh RELAY_SIGNING_KEY, RELAY_DATA_KEYS")
    new.set_defaults(run=_keys_new)
    return parser


def _serve(args: argparse.Namespace) -> int:
    settings = Settings.from_env(os.environ)
    configure_logging(settings.log_level)
    _run(serve(settings), settings.event_loop)
    return 0


def _run(main: Coroutine[Any, Any, None], event_loop: str) -> None:
    """asyncio.run on RELAY_EVENT_LOOP's loop: uvloop if asked for, or with "auto" when it
    is installed (bench/table.py measures what it buys)."""
    factory = None
    if event_loop != "asyncio":
        try:
            import uvloop  # noqa: PLC0415 - optional, imported only where chosen
        except ImportError:
            if event_loop == "uvloop":
                raise SettingsError("RELAY_EVENT_LOOP: uvloop is not installed") from None
        else:
            factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main)


def _mail_worker(args: argparse.Namespace) -> int:
    settings = Settings.from_env(os.environ)
    configure_logging(settings.log_level)
    asyncio.run(mail_worker(settings))
    return 0


async def mail_worker(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Sends confirmation mails until SIGTERM/SIGINT (or `stop`), finishing those in hand."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    log.info("mail worker running", extra={"concurrency": settings.mail_concurrency})
    try:
        await run_mail_worker(settings, stop)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        log.info("mail worker stopped")


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Runs until SIGTERM/SIGINT (or `stop`): stop accepting, answer long polls, finish the
    mail in hand, exit."""
    app = create_app(settings)
    # RelayRunner: parse errors get a fixed answer and never reach a log with their bytes.
    runners: list[web.AppRunner] = [
        RelayRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
    ]
    if settings.metrics_port is not None:
        runners.append(RelayRunner(create_metrics_app(app), access_log=None))
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await runners[0].setup()
        # A burst of new connections (a newsletter, the proxy opening many at once) must
        # wait in the kernel's accept queue, not be dropped: a dropped SYN costs the client
        # a 1 s retransmit, the health check's fresh connection included. The kernel caps
        # this at net.core.somaxconn (4096 by default).
        await web.TCPSite(runners[0], settings.host, settings.port, backlog=4096).start()
        if settings.metrics_port is not None:
            await runners[1].setup()
            await web.TCPSite(runners[1], settings.host, settings.metrics_port).start()
        # What start-up made (modules, templates, translations) lives as long as the
        # process: kept out of the cyclic collector's sight, a full collection scans only
        # what requests made, and stops pausing every request for tens of ms.
        gc.collect()
        gc.freeze()
        log.info(
            "listening",
            extra={
                "host": settings.host,
                "port": settings.port,
                "metrics_port": settings.metrics_port,
                "public_url": settings.public_url,
            },
        )
        missing = settings.operator.missing_variables()
        if missing:
            # One line at every start, naming what the privacy notices cannot state.
            log.warning(
                "privacy notice incomplete: %s not set",
                ", ".join(missing),
                extra={"missing": missing},
            )
        await stop.wait()
        log.info("stopping: answering open long polls, finishing the mail in hand")
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        log.info("stopped")


def _with_store(action: Callable[[Store], Awaitable[int]]) -> int:
    url = redis_url_from_env(os.environ)

    async def run() -> int:
        client: Any = redis_connect.connect(url)
        try:
            return await action(Store(client))
        finally:
            await client.aclose()

    try:
        return asyncio.run(run())
    except PracticeNotFound as error:
        print(f"relay: no practice {error}", file=sys.stderr)
        return 1
    except PracticeExists as error:
        print(f"relay: practice {error} exists already", file=sys.stderr)
        return 1
    except ValidationFailed as error:
        print(f"relay: invalid {', '.join(error.errors)}", file=sys.stderr)
        return 1


def _practice_add(args: argparse.Namespace) -> int:
    # Checked before Redis is reached, and said in one line the operator can act on.
    problem = registry.name_problem(args.name)
    if problem is not None:
        print(
            f"relay: --name {problem}; a practice name is one line of visible text",
            file=sys.stderr,
        )
        return 1
    try:
        public_key = decode_public_key(args.public_key)
    except ValueError as error:
        print(f"relay: --public-key: {error}", file=sys.stderr)
        return 1

    async def add(store: Store) -> int:
        token = await registry.add_practice(store, args.slug, name=args.name, public_key=public_key)
        print(f"registered practice {args.slug}; its token (shown once):")
        print(token)
        return 0

    return _with_store(add)


def _pow(args: argparse.Namespace) -> int:
    """Sets the proof-of-work mode in Redis, which every relay process reads on each
    submission: no restart, no process left behind."""

    async def pow_mode(store: Store) -> int:
        if args.mode is not None:
            await store.set_pow_mode(None if args.mode == "default" else args.mode)
        mode = await store.pow_mode()
        print(f"proof of work: {mode}" if mode else "proof of work: as RELAY_POW says")
        return 0

    return _with_store(pow_mode)


def _practice_list(args: argparse.Namespace) -> int:
    async def listing(store: Store) -> int:
        for practice in await registry.list_practices(store):
            key = base64.b64encode(practice.public_key).decode()
            print(f"{practice.slug}\t{practice.name}\t{key}")
        return 0

    return _with_store(listing)


def _practice_remove(args: argparse.Namespace) -> int:
    async def remove(store: Store) -> int:
        await store.remove_practice(args.slug)
        print(f"removed practice {args.slug} and everything it held")
        return 0

    return _with_store(remove)


def _practice_token(args: argparse.Namespace) -> int:
    async def token(store: Store) -> int:
        print(f"new token for {args.slug} (the old one no longer works):")
        print(await registry.new_token(store, args.slug))
        return 0

    return _with_store(token)


def _keys_new(args: argparse.Namespace) -> int:
    print(f"RELAY_SIGNING_KEY={base64.b64encode(secrets.token_bytes(32)).decode()}")
    print(f"RELAY_DATA_KEYS={base64.b64encode(secrets.token_bytes(32)).decode()}")
    return 0


def _dev(args: argparse.Namespace) -> int:
    return asyncio.run(run_dev(directory=args.dir, port=args.port))


if __name__ == "__main__":
    sys.exit(main())
