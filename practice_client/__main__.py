"""Command line: practice-client keygen | run | answer | publish | rotate-key | check | show-key.

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

from practice_client import answering, commands
from practice_client import check as checking
from practice_client.calendar.opening_hours import RulesError, load_rules
from practice_client.calendar.slot_options import (
    add_slot_source_options,
    calendar_target,
    publish_every,
    slot_source,
)
from practice_client.calendar.slots import SlotSource
from practice_client.handover.caldav_write import CalendarWriter
from practice_client.handover.options import (
    add_handover_options,
    credential_token_file,
    handover,
    read_token_file,
)
from practice_client.handover.reminders import checked_days
from practice_client.handover.sink import CALENDAR_FORMAT, DEFAULT_FORMATS
from practice_client.i18n import gettext as _
from practice_client.i18n import translate_argparse
from practice_client.publisher import run_with_publishing
from practice_client.relay.keys import decode_key
from practice_client.relay.transparency import PAGE_CHECK_EVERY
from practice_client.runner import MAX_WAIT, ConfigError, ExitCode, RunConfig, run

log = logging.getLogger("practice_client")

_ENV = {
    "relay": "PRACTICE_RELAY",
    "token": "PRACTICE_TOKEN",
    "key_file": "PRACTICE_KEY_FILE",
    "out": "PRACTICE_OUT",
    "relay_key": "PRACTICE_RELAY_KEY",
    "token_file": "PRACTICE_TOKEN_FILE",
    # run and publish: slots from opening hours and a calendar
    "rules": "PRACTICE_RULES",
    "busy_ics": "PRACTICE_BUSY_ICS",
    "caldav": "PRACTICE_CALDAV",
    "caldav_user": "PRACTICE_CALDAV_USER",
    "caldav_password_file": "PRACTICE_CALDAV_PASSWORD_FILE",
    "publish_every": "PRACTICE_PUBLISH_EVERY",
    # run: hand-over
    "format": "PRACTICE_FORMAT",
    "exec_command": "PRACTICE_EXEC",
    "file_mode": "PRACTICE_FILE_MODE",
    "group": "PRACTICE_GROUP",
}
_PATHS = ("key_file", "out", "token_file", "rules", "busy_ics", "caldav_password_file")
_CALDAV = ("caldav", "caldav_user", "caldav_password_file")
_SLOT_SOURCE = ("rules", "busy_ics", *_CALDAV, "publish_every")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse would exit 2, which this program reserves for a rejected token.
        self.print_usage(sys.stderr)
        self.exit(ExitCode.FAILURE, _error_line(self.prog, message) + "\n")


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
        log.info(_("interrupted"))
        return ExitCode.OK
    except Exception as error:
        # Every expected failure has its exit code and message already; this is a bug.
        # Its message could quote data, so only its type is shown unless asked for.
        if getattr(args, "verbose", False):
            log.exception("internal error")
        else:
            log.error(_("internal error (%s); run with -v for details"), type(error).__name__)  # noqa: TRY400
        return ExitCode.FAILURE
    return code


def _build_parser() -> _Parser:
    translate_argparse()
    common = _Parser(add_help=False)
    _verbose_option(common)
    parser = _Parser(
        prog="practice-client",
        description=_("Fetch end-to-end encrypted bookings from a Terminrelay relay."),
    )
    _verbose_option(parser)
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    keygen = subcommands.add_parser("keygen", parents=[common], help=_("create a key file"))
    _key_file_option(keygen)
    keygen.set_defaults(command_parser=keygen, handler=_keygen, needs=("key_file",))

    running = subcommands.add_parser(
        "run",
        parents=[common],
        help=_("fetch, decrypt and write bookings"),
        description=_(
            "Fetch, decrypt and write bookings; check the relay's booking form page "
            "at start and every 6 hours."
        ),
        epilog=_(
            "exit codes: 0 done; 1 a local problem (key file, folder, a failed --exec); "
            "2 the token is rejected; 3 the relay is not trusted, or with --once an item was "
            "refused or a browser-sealed booking rejected ({id}.rejected.json written); "
            "4 the relay stayed unreachable"
        ),
    )
    _relay_options(running)
    _key_file_option(running)
    running.add_argument("--out", metavar="DIR", type=Path, help=_output_help())
    running.add_argument("--once", action="store_true", help=_("drain the inbox, then exit"))
    running.add_argument(
        "--relay-key",
        metavar="B64",
        help=_("the relay's signing key, as the operator gave it [%(variable)s]")
        % {"variable": _ENV["relay_key"]},
    )
    running.add_argument(
        "--wait",
        type=_wait_seconds,
        default=30,
        metavar="SECONDS",
        help=_("long-poll duration, 0..%(max)d (default 30)") % {"max": MAX_WAIT},
    )
    running.add_argument(
        "--publish-every",
        type=publish_every,
        metavar="DURATION",
        help=_("publish slots from --rules at start and then this often, e.g. 15m"),
    )
    add_slot_source_options(running)
    add_handover_options(running)
    running.set_defaults(
        command_parser=running,
        handler=_run,
        needs=("relay", "token", "key_file", "out"),
        # None until the environment had its say (PRACTICE_FORMAT); then json,ics.
        format=None,
    )

    publish = subcommands.add_parser(
        "publish", parents=[common], help=_("publish doctors, appointment types and slots")
    )
    publish.add_argument(
        "profile", metavar="PROFILE_JSON", type=Path, nargs="?", help=_("a hand-written profile")
    )
    _relay_options(publish)
    _key_file_option(publish, purpose=_("also check the relay publishes our key"))
    add_slot_source_options(publish)
    publish.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help=_("bookings received, to leave out [%(variable)s]") % {"variable": _ENV["out"]},
    )
    publish.add_argument(
        "--dry-run", action="store_true", help=_("with --rules: print the summary, publish nothing")
    )
    # --relay and --token are checked in _publish: --dry-run needs neither.
    publish.set_defaults(command_parser=publish, handler=_publish, needs=())

    rotate = subcommands.add_parser(
        "rotate-key", parents=[common], help=_("make a new key pair and upload its public half")
    )
    _relay_options(rotate)
    _key_file_option(rotate)
    rotate.set_defaults(
        command_parser=rotate, handler=_rotate_key, needs=("relay", "token", "key_file")
    )

    checking_parser = subcommands.add_parser(
        "check", parents=[common], help=_("check key file, token, relay, keys and output folder")
    )
    _relay_options(checking_parser)
    _key_file_option(checking_parser)
    checking_parser.add_argument("--out", metavar="DIR", type=Path, help=_output_help())
    checking_parser.add_argument(
        "--relay-key",
        metavar="B64",
        help=_("the relay's signing key [%(variable)s]") % {"variable": _ENV["relay_key"]},
    )
    checking_parser.set_defaults(
        command_parser=checking_parser,
        handler=_check,
        needs=("relay", "token", "key_file", "out"),
    )

    _answer_parser(subcommands, common)

    show = subcommands.add_parser("show-key", parents=[common], help=_("print the public key"))
    _key_file_option(show)
    show.set_defaults(command_parser=show, handler=_show_key, needs=("key_file",))
    return parser


def _answer_parser(subcommands: argparse._SubParsersAction[_Parser], common: _Parser) -> None:
    answering_parser = subcommands.add_parser(
        "answer",
        parents=[common],
        help=_("answer a booking: accept, decline, propose another time, cancel"),
        description=_(
            "Send the practice's answer to a booking in the output folder; the relay mails "
            "the patient in their language, and the booking's files follow."
        ),
        epilog=_(
            "exit codes: 0 answered; 1 the booking is not in the folder, the relay refused "
            "the answer (unknown booking, not fitting its state, invalid) or a local problem; "
            "2 the token is rejected; 4 the relay is unreachable"
        ),
    )
    answering_parser.add_argument("booking_id", metavar="BOOKING_ID", help=_("the booking's id"))
    answering_parser.add_argument(
        "answer", choices=answering.ANSWERS, metavar="accept|decline|propose|cancel"
    )
    answering_parser.add_argument(
        "--start", metavar="ISO", help=_("propose: the time proposed, e.g. 2026-12-10T09:00+01:00")
    )
    answering_parser.add_argument(
        "--reason",
        choices=answering.REASONS,
        help=_("the reason the patient is told (decline, propose, cancel)"),
    )
    answering_parser.add_argument("--doctor", help=_("propose: the doctor of the slot"))
    answering_parser.add_argument(
        "--type", dest="appointment_type", help=_("propose: the appointment type of the slot")
    )
    _relay_options(answering_parser)
    answering_parser.add_argument("--out", metavar="DIR", type=Path, help=_output_help())
    add_slot_source_options(answering_parser)
    add_handover_options(answering_parser)
    answering_parser.set_defaults(
        command_parser=answering_parser,
        handler=_answer,
        needs=("relay", "token", "out"),
        format=None,
    )


def _output_help() -> str:
    return _("output directory [%(variable)s]") % {"variable": _ENV["out"]}


def _verbose_option(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: a subcommand's default must not undo `practice-client -v run`.
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help=_("log debug details"),
    )


def _relay_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--relay",
        metavar="URL",
        help=_("relay base URL [%(variable)s]") % {"variable": _ENV["relay"]},
    )
    parser.add_argument(
        "--token",
        help=_(
            "practice token; better in %(variable)s or --token-file, as command lines "
            "are visible to other local users"
        )
        % {"variable": _ENV["token"]},
    )
    parser.add_argument(
        "--token-file",
        metavar="PATH",
        type=Path,
        help=_(
            "file holding the practice token [%(variable)s]; under systemd, "
            "$CREDENTIALS_DIRECTORY/token is read without this option"
        )
        % {"variable": _ENV["token_file"]},
    )


def _key_file_option(parser: argparse.ArgumentParser, purpose: str | None = None) -> None:
    # Not inside the f-string: Babel finds no message there before Python 3.12.
    label = purpose or _("key file")
    parser.add_argument(
        "--key-file",
        metavar="PATH",
        type=Path,
        help=f"{label} [{_ENV['key_file']}]",
    )


def _wait_seconds(text: str) -> int:
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            _("not a whole number of seconds: %(value)r") % {"value": text}
        ) from None
    if not 0 <= seconds <= MAX_WAIT:
        raise argparse.ArgumentTypeError(_("must be between 0 and %(max)d") % {"max": MAX_WAIT})
    return seconds


def _complete_from_environment(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fill options left out from PRACTICE_* variables; usage error if still missing."""
    if os.environ.get(_ENV["token"]) and os.environ.get(_ENV["token_file"]):
        # Which one would win is a guess: a stale token left beside a new file, or the reverse.
        parser.error(
            _("%(token)s and %(token_file)s both give the token: set one")
            % {"token": _ENV["token"], "token_file": _ENV["token_file"]}
        )
    _token_from_file(parser, args, credentials=False)  # --token-file beats PRACTICE_TOKEN
    overruled = _overruled_by_command_line(args)
    for name, variable in _ENV.items():
        if name in overruled:
            continue
        if getattr(args, name, "absent") is None and os.environ.get(variable):
            setattr(args, name, _from_environment(parser, name, os.environ[variable]))
    if getattr(args, "busy_ics", None) is not None and getattr(args, "caldav", None) is not None:
        parser.error(
            _("%(ics)s and %(caldav)s name two calendars: set one")
            % {"ics": _ENV["busy_ics"], "caldav": _ENV["caldav"]}
        )
    if getattr(args, "format", "absent") is None:
        args.format = ",".join(DEFAULT_FORMATS)
    _token_from_file(parser, args, credentials=True)
    for name in args.needs:
        if getattr(args, name) is None:
            parser.error(_required(name))
    if getattr(args, "relay", None) is not None:
        args.relay = _relay_url(parser, args.relay)
    if getattr(args, "relay_key", None) is not None:
        try:
            decode_key(args.relay_key)
        except ValueError as error:
            parser.error(f"--relay-key: {error}")


def _overruled_by_command_line(args: argparse.Namespace) -> set[str]:
    """Options a variable must not set because the command line chose otherwise: a
    hand-written PROFILE_JSON instead of --rules, one calendar instead of the other."""
    if getattr(args, "profile", None) is not None:
        return set(_SLOT_SOURCE)
    if getattr(args, "busy_ics", None) is not None:
        return set(_CALDAV)
    if getattr(args, "caldav", None) is not None:
        return {"busy_ics"}
    return set()


def _from_environment(parser: argparse.ArgumentParser, name: str, value: str) -> object:
    """A variable's value converted as argparse converts the option; usage error naming the
    variable if it does not fit."""
    if name in _PATHS:
        return Path(value)
    if name == "publish_every":
        try:
            return publish_every(value)
        except argparse.ArgumentTypeError as error:
            parser.error(f"{_ENV[name]}: {error}")
    return value


def _token_from_file(
    parser: argparse.ArgumentParser, args: argparse.Namespace, *, credentials: bool
) -> None:
    """Without a token yet: --token-file (or PRACTICE_TOKEN_FILE), then with `credentials`
    systemd's $CREDENTIALS_DIRECTORY/token."""
    if getattr(args, "token", "absent") is not None:
        return
    path = args.token_file or (credential_token_file() if credentials else None)
    if path is not None:
        try:
            args.token = read_token_file(path)
        except ValueError as error:
            parser.error(str(error))


def _relay_url(parser: argparse.ArgumentParser, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        parser.error(_("--relay must be an http:// or https:// URL, not %(url)r") % {"url": url})
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        log.warning(_("the relay URL is not https: the practice token travels unencrypted"))
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
    writing = CALENDAR_FORMAT in args.format.lower()
    # Told before the rules are read: a mistake in how they were given comes first.
    if (args.rules is None) != (args.publish_every is None):
        return _usage_error(
            args,
            _("--publish-every and --rules go together (%(every)s, %(rules)s)")
            % {"every": _ENV["publish_every"], "rules": _ENV["rules"]},
        )
    try:
        source = slot_source(args, bookings_dir=args.out, writing=writing)
        target = calendar_target(args, source, wanted=writing)
    except ValueError as error:
        return _usage_error(args, str(error))
    try:
        handing_over = handover(args, calendar=target is not None)
    except ValueError as error:
        return _usage_error(args, str(error))
    config = RunConfig(
        relay_url=args.relay,
        token=args.token,
        key_file=args.key_file,
        out_dir=args.out,
        relay_key=args.relay_key,
        wait=args.wait,
        formats=handing_over.formats,
        access=handing_over.access,
        hook=handing_over.hook,
        page_check_every=PAGE_CHECK_EVERY,
        require_sealing=_requires_browser_sealing(source),
        calendar=None if target is None else CalendarWriter(target, args.out),
        reminder_days=_reminder_days(source),
    )
    if source is not None:
        return asyncio.run(
            run_with_publishing(config, once=args.once, source=source, every=args.publish_every)
        )
    return asyncio.run(run(config, once=args.once))


def _answer(args: argparse.Namespace) -> int:
    writing = CALENDAR_FORMAT in args.format.lower()
    try:
        source = slot_source(args, bookings_dir=args.out, writing=writing)
        target = calendar_target(args, source, wanted=writing)
        handing_over = handover(args, calendar=target is not None)
    except ValueError as error:
        return _usage_error(args, str(error))
    settings = answering.AnswerSettings(
        relay_url=args.relay,
        token=args.token,
        out_dir=args.out,
        formats=handing_over.formats,
        access=handing_over.access,
        hook=handing_over.hook,
        calendar=None if target is None else CalendarWriter(target, args.out),
    )
    given = answering.Answer(
        args.booking_id,
        args.answer,
        start=args.start,
        reason=args.reason,
        doctor=args.doctor,
        appointment_type=args.appointment_type,
    )
    return asyncio.run(answering.answer(settings, given))


def _reminder_days(source: SlotSource | None) -> tuple[int, ...] | None:
    """The rules' reminder days (`[reminders] days_before`), or None: then the relay's
    profile names them (practice_client/relay/reminding.py). Read by name, so rules from before
    reminders (no such member) fall back to the profile."""
    if source is None:
        return None
    try:
        rules = load_rules(source.rules_file)
    except RulesError:
        return None  # publishing names the file's problems
    return checked_days(rules.reminder_days)


def _requires_browser_sealing(source: SlotSource | None) -> bool:
    """Whether the rules ask that only the browser seal (`sealing = "browser"`): then a
    form page that does not seal in the browser is a problem the page check names."""
    if source is None:
        return False
    try:
        return load_rules(source.rules_file).sealing == "browser"
    except RulesError:
        return False  # publishing names the file's problems, at start and every round


def _publish(args: argparse.Namespace) -> int:
    try:
        source = slot_source(args, bookings_dir=args.out)
    except ValueError as error:
        return _usage_error(args, str(error))
    if (source is None) == (args.profile is None):
        return _usage_error(args, _("give either PROFILE_JSON or --rules"))
    missing = [name for name in ("relay", "token") if getattr(args, name) is None]
    if missing and not (args.dry_run and source is not None):
        return _usage_error(args, _required(missing[0]))
    if source is not None:
        return asyncio.run(
            commands.publish_rules(
                args.relay, args.token, source, args.key_file, dry_run=args.dry_run
            )
        )
    try:
        profile = commands.read_profile(args.profile)
    except ConfigError as error:
        return _fail(str(error))
    return asyncio.run(commands.publish(args.relay, args.token, profile, args.key_file))


def _rotate_key(args: argparse.Namespace) -> int:
    return asyncio.run(commands.rotate_key(args.relay, args.token, args.key_file))


def _check(args: argparse.Namespace) -> int:
    return asyncio.run(
        checking.check(args.relay, args.token, args.key_file, args.out, relay_key=args.relay_key)
    )


def _show_key(args: argparse.Namespace) -> int:
    return checking.show_key(args.key_file)


def _usage_error(args: argparse.Namespace, message: str) -> int:
    """What argparse's error() prints, as a return value: handlers run outside its reach."""
    args.command_parser.print_usage(sys.stderr)
    print(_error_line(args.command_parser.prog, message), file=sys.stderr)
    return ExitCode.FAILURE


def _error_line(prog: str, message: str) -> str:
    return _("%(prog)s: error: %(message)s") % {"prog": prog, "message": message}


def _required(name: str) -> str:
    option = "--" + name.replace("_", "-")
    return _("%(option)s is required (or set %(variable)s)") % {
        "option": option,
        "variable": _ENV[name],
    }


def _fail(message: str) -> int:
    log.error("%s", message)
    return ExitCode.FAILURE


if __name__ == "__main__":
    sys.exit(main())
