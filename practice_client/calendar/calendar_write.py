"""The rules' `[caldav.write]` table: which CalDAV calendar receives the bookings
(practice_client/handover/caldav_write.py writes them) and what its events show.

```toml
[caldav.write]
url = "https://cloud.example.org/remote.php/dav/calendars/praxis/termine/"  # default: --caldav
username = "praxis"                                 # default: --caldav-user
password_file = "/etc/terminrelay/caldav-password"  # default: --caldav-password-file
summary = "{time} {type} {initials}"                # time, type, doctor, initials (, name)
details = "minimal"                                 # "full": the name and every field
```

Without `url` the bookings go into the calendar the busy times come from (`--caldav`),
with its credentials unless the table names others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from practice_client.calendar.busy import CalDavCalendar
from practice_client.calendar.rules_details import Problems
from practice_client.handover.caldav_write import (
    DEFAULT_SUMMARY,
    DETAILS,
    CalendarTarget,
    Details,
    summary_problem,
)

_KEYS = ("url", "username", "password_file", "summary", "details")
_MAX_SUMMARY = 200


@dataclass(frozen=True)
class CalendarWriteRules:
    """`[caldav.write]` as the file gives it; `target` completes it from --caldav."""

    url: str | None = None
    username: str | None = None
    password_file: Path | None = None
    summary: str = DEFAULT_SUMMARY
    details: Details = "minimal"

    def target(self, busy: CalDavCalendar | None) -> CalendarTarget:
        """Where to write; ValueError when neither the table nor --caldav names a URL."""
        url = self.url or (busy.url if busy is not None else None)
        if url is None:
            raise ValueError(
                "[caldav.write] names no url, and there is no --caldav calendar to write to"
            )
        inherits = self.url is None or (busy is not None and busy.url == url)
        return CalendarTarget(
            url,
            self.username or (busy.username if inherits and busy else None),
            self.password_file or (busy.password_file if inherits and busy else None),
            self.summary,
            self.details,
        )


def read_calendar_write(value: object, problems: Problems) -> CalendarWriteRules | None:
    """The `[caldav]` table's `write` part; None if there is none."""
    if value is None:
        return None
    after = problems.table_line("caldav")
    if not isinstance(value, Mapping) or set(value) - {"write"}:
        problems.problem("caldav", "holds only a [caldav.write] table", after=after)
        return None
    table = value.get("write")
    after = problems.table_line("caldav.write")
    if not isinstance(table, Mapping):
        problems.problem("caldav.write", "must be a table ([caldav.write])", after=after)
        return None
    ok = True
    for key in table:
        if key not in _KEYS:
            problems.problem(
                f"caldav.write.{key}", f"unknown key (known: {', '.join(_KEYS)})", after=after
            )
            ok = False
    texts: dict[str, str | None] = {}
    for key in ("url", "username", "password_file", "summary", "details"):
        item = table.get(key)
        if item is not None and (not isinstance(item, str) or not item.strip()):
            problems.problem(f"caldav.write.{key}", "must be a text in quotes", after=after)
            ok = False
            item = None
        texts[key] = item
    url = texts["url"]
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.problem(
                "caldav.write.url", "must be an http:// or https:// URL", hint=url, after=after
            )
            ok = False
    details = texts["details"] or "minimal"
    if details not in DETAILS:
        choices = ", ".join(f'"{choice}"' for choice in DETAILS)
        problems.problem(
            "caldav.write.details", f"must be one of {choices}", hint=details, after=after
        )
        return None
    summary = texts["summary"] or DEFAULT_SUMMARY
    problem = summary_problem(summary, details)
    if len(summary) > _MAX_SUMMARY:
        problem = f"at most {_MAX_SUMMARY} characters"
    if problem is not None:
        problems.problem("caldav.write.summary", problem, after=after)
        ok = False
    if not ok:
        return None
    password_file = texts["password_file"]
    return CalendarWriteRules(
        url=url,
        username=texts["username"],
        password_file=Path(password_file) if password_file else None,
        summary=summary,
        details="full" if details == "full" else "minimal",
    )
