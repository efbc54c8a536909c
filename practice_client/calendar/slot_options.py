"""Command-line options naming where slots come from, shared by `publish` and `run`."""

from __future__ import annotations

import argparse
from pathlib import Path
from urllib.parse import urlsplit

from practice_client.calendar.busy import BusySource, CalDavCalendar, IcsFile
from practice_client.calendar.durations import parse_duration
from practice_client.calendar.opening_hours import RulesError, load_rules
from practice_client.calendar.slots import SlotSource
from practice_client.handover.caldav_write import CalendarTarget
from practice_client.i18n import gettext as _

# Publishing more often than this only loads the calendar server and the relay.
MIN_PUBLISH_EVERY_SECONDS = 60


def add_slot_source_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        _("slots from opening hours and a calendar (see docs/opening-hours.md)")
    )
    group.add_argument(
        "--rules", metavar="TOML", type=Path, help=_("opening-hours rules to build slots from")
    )
    calendars = group.add_mutually_exclusive_group()
    calendars.add_argument(
        "--busy-ics", metavar="FILE", type=Path, help=_("an .ics file whose events are busy times")
    )
    calendars.add_argument(
        "--caldav", metavar="URL", help=_("a CalDAV calendar (collection URL) of busy times")
    )
    group.add_argument("--caldav-user", metavar="NAME", help=_("CalDAV user name"))
    group.add_argument(
        "--caldav-password-file",
        metavar="FILE",
        type=Path,
        help=_("file holding the CalDAV password (one line; keep it private)"),
    )


def publish_every(text: str) -> float:
    """argparse type of --publish-every: "15m" -> 900.0 seconds."""
    try:
        seconds = parse_duration(text).total_seconds()
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if seconds < MIN_PUBLISH_EVERY_SECONDS:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_PUBLISH_EVERY_SECONDS // 60}m")
    return seconds


def slot_source(
    args: argparse.Namespace, bookings_dir: Path | None, *, writing: bool = False
) -> SlotSource | None:
    """The slot source the options name, or None without --rules.

    ValueError with a usage message for options that do not fit together. `writing`: the
    bookings go into a CalDAV calendar (`--format …,caldav`), so --caldav may name it
    without --rules.
    """
    calendar_options = [
        option
        for option, value in (
            ("--busy-ics", args.busy_ics),
            ("--caldav", args.caldav),
            ("--caldav-user", args.caldav_user),
            ("--caldav-password-file", args.caldav_password_file),
        )
        if value is not None
    ]
    if args.rules is None:
        if writing:  # --caldav names the calendar written to, not busy times
            calendar_options = [name for name in calendar_options if name == "--busy-ics"]
        if calendar_options:
            raise ValueError(f"{calendar_options[0]} needs --rules")
        return None
    if args.caldav is None and (args.caldav_user or args.caldav_password_file):
        raise ValueError("--caldav-user and --caldav-password-file need --caldav")
    calendar: BusySource | None = None
    if args.busy_ics is not None:
        calendar = IcsFile(args.busy_ics)
    elif args.caldav is not None:
        parts = urlsplit(args.caldav)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"--caldav must be an http:// or https:// URL, not {args.caldav!r}")
        calendar = CalDavCalendar(args.caldav, args.caldav_user, args.caldav_password_file)
    return SlotSource(args.rules, calendar, bookings_dir)


def calendar_target(
    args: argparse.Namespace, source: SlotSource | None, *, wanted: bool
) -> CalendarTarget | None:
    """The calendar the bookings are written to: the rules' [caldav.write] (completed
    from --caldav), or with `wanted` (`--format …,caldav`) the --caldav calendar; None if
    neither. ValueError (a usage message) when it is wanted and there is none, or the
    rules cannot be read."""
    busy = None
    if args.caldav is not None:
        parts = urlsplit(args.caldav)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"--caldav must be an http:// or https:// URL, not {args.caldav!r}")
        busy = CalDavCalendar(args.caldav, args.caldav_user, args.caldav_password_file)
    written = None
    if source is not None:
        try:
            written = load_rules(source.rules_file).calendar_write
        except RulesError as error:
            raise ValueError("; ".join(error.problems)) from error
    if written is not None:
        return written.target(busy)
    if not wanted:
        return None
    if busy is None:
        raise ValueError(
            "--format caldav needs a calendar: --caldav URL, or [caldav.write] in --rules"
        )
    return CalendarTarget(busy.url, busy.username, busy.password_file)
