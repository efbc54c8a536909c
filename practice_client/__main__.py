"""Command line: practice-client keygen | run | publish | rotate-key.

Every option may also come from a PRACTICE_* environment variable; the command line wins.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import sys
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from practice_client import commands
from practice_client.keys import decode_key
from practice_client.runner import MAX_WAIT, ConfigError, ExitCode, RunConfig, run

log = logging.getLogger("practice_client")

_ENV = {
    "relay": "PRACTICE_RELAY",
    "token": "PRACTICE_TOKEN",
    "key_file": "PRACTICE_KEY_FILE",
    "out": "PRACTICE_OUT",
    "relay_key": "PRACTICE_RELAY_KEY",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse would exit 2, which this program reserves for a rejected token.
        self.print_usage(sys.stderr)
        self.exit(ExitCode.FAILURE, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        _configure_logging(verbose=getattr(args, "verbose", False))
        _complete_from_environment(args.command_parser, args)
    except SystemExit as leaving:  # --help, or a usage error already explained
        return leaving.code if isinstance(leaving.code, int) else ExitCode.FAILURE
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:  # Windows has no SIGINT handler in the event loop
        log.info("interrupted")
        return ExitCode.OK
    return code


def _build_parser() -> _Parser:
    common = _Parser(add_help=False)
    _verbose_option(common)
    parser = _Parser(
        prog="practice-client",
        description="Fetch end-to-end encrypted bookings from a Terminrelay relay.",
    )
    _verbose_option(parser)
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    keygen = subcommands.add_parser("keygen", parents=[common], help="create a key file")
    _key_file_option(keygen)
    keygen.set_defaults(command_parser=keygen, handler=_keygen, needs=("key_file",))

    running = subcommands.add_parser(
        "run", parents=[common], help="fetch, decrypt and write bookings"
    )
    _relay_options(running)
    _key_file_option(running)
    running.add_argument(
        "--out", metavar="DIR", type=Path, help=f"output directory [{_ENV['out']}]"
    )
    running.add_argument("--once", action="store_true", help="drain the inbox, then exit")
    running.add_argument(
        "--relay-key",
        metavar="B64",
        help=f"the relay's signing key, as the operator gave it [{_ENV['relay_key']}]",
    )
    running.add_argument(
        "--wait",
        type=_wait_seconds,
        default=30,
        metavar="SECONDS",
        help=f"long-poll duration, 0..{MAX_WAIT} (default 30)",
    )
    running.set_defaults(
        command_parser=running, handler=_run, needs=("relay", "token", "key_file", "out")
    )

    publish = subcommands.add_parser(
        "publish", parents=[common], help="publish doctors, appointment types and slots"
    )
    publish.add_argument("profile", metavar="PROFILE_JSON", type=Path)
    _relay_options(publish)
    _key_file_option(publish, purpose="also check the relay publishes our key")
    publish.set_defaults(command_parser=publish, handler=_publish, needs=("relay", "token"))

    rotate = subcommands.add_parser(
        "rotate-key", parents=[common], help="make a new key pair and upload its public half"
    )
    _relay_options(rotate)
    _key_file_option(rotate)
    rotate.set_defaults(
        command_parser=rotate, handler=_rotate_key, needs=("relay", "token", "key_file")
    )
    return parser


def _verbose_option(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: a subcommand's default must not undo `practice-client -v run`.
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log debug details"
    )


def _relay_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--relay", metavar="URL", help=f"relay base URL [{_ENV['relay']}]")
    parser.add_argument(
        "--token",
        help=f"practice token; better in {_ENV['token']}, as command lines are visible to "
        "other local users",
    )


def _key_file_option(parser: argparse.ArgumentParser, purpose: str = "key file") -> None:
    parser.add_argument(
        "--key-file", metavar="PATH", type=Path, help=f"{purpose} [{_ENV['key_file']}]"
    )


def _wait_seconds(text: str) -> int:
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None
    if not 0 <= seconds <= MAX_WAIT:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_WAIT}")
    return seconds


def _complete_from_environment(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fill options left out from PRACTICE_* variables; usage error if still missing."""
    for name, variable in _ENV.items():
        if getattr(args, name, "absent") is None and os.environ.get(variable):
            value = os.environ[variable]
            setattr(args, name, Path(value) if name in ("key_file", "out") else value)
    for name in args.needs:
        if getattr(args, name) is None:
            option = "--" + name.replace("_", "-")
            parser.error(f"{option} is required (or set {_ENV[name]})")
    if getattr(args, "relay", None) is not None:
        args.relay = _relay_url(parser, args.relay)
    if getattr(args, "relay_key", None) is not None:
        try:
            decode_key(args.relay_key)
        except ValueError as error:
            parser.error(f"--relay-key: {error}")


def _relay_url(parser: argparse.ArgumentParser, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        parser.error(f"--relay must be an http:// or https:// URL, not {url!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        log.warning("the relay URL is not https: the practice token travels unencrypted")
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _configure_logging(*, verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if verbose else logging.INFO)


def _keygen(args: argparse.Namespace) -> int:
    return commands.keygen(args.key_file)


def _run(args: argparse.Namespace) -> int:
    config = RunConfig(
        relay_url=args.relay,
        token=args.token,
        key_file=args.key_file,
        out_dir=args.out,
        relay_key=args.relay_key,
        wait=args.wait,
    )
    return asyncio.run(run(config, once=args.once))


def _publish(args: argparse.Namespace) -> int:
    try:
        profile = commands.read_profile(args.profile)
    except ConfigError as error:
        return _fail(str(error))
    return asyncio.run(commands.publish(args.relay, args.token, profile, args.key_file))


def _rotate_key(args: argparse.Namespace) -> int:
    return asyncio.run(commands.rotate_key(args.relay, args.token, args.key_file))


def _fail(message: str) -> int:
    log.error("%s", message)
    return ExitCode.FAILURE


if __name__ == "__main__":
    sys.exit(main())
