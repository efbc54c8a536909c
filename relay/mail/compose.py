"""The mails a patient receives, built as bytes from parts rendered once per practice.

The confirmation mail names the practice and carries the link: no health data. The
second, queued when the patient confirms (relay/booking/cancellation.py), says the
request was handed to the practice and carries the appointment's time and the cancel
link: no doctor, no type. Building the mail through `EmailMessage` cost about 2.5 ms
of CPU, most of it header folding and MIME encoding.
"""

from __future__ import annotations

import binascii
import functools
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.policy import SMTP
from email.utils import format_datetime as rfc5322_date
from email.utils import parseaddr
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import escape

from relay.practice.localtime import format_datetime, format_day
from relay.rules.text import one_line

# Placeholders rendered into the per-practice parts, replaced per mail. NUL never occurs
# in a template, a name or a link, and HTML escaping leaves it alone.
_LINK = "\0link\0"
_EXPIRES_DE = "\0expires_de\0"
_EXPIRES_EN = "\0expires_en\0"
# The second mail's, after confirming (relay/booking/cancellation.py).
_TIME_DE = "\0time_de\0"
_TIME_EN = "\0time_en\0"
_UNTIL_DE = "\0until_de\0"
_UNTIL_EN = "\0until_en\0"
# "=_" can never occur in quoted-printable text ("=" is always written "=3D"), so one
# boundary serves every mail without scanning the body for it.
_BOUNDARY = "=_terminrelay-alternative"


def templates() -> Environment:
    return Environment(
        loader=PackageLoader("relay", "web/templates/mail"),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )


def subject(practice_name: str) -> str:
    return (
        f"Bitte bestätigen Sie Ihre Terminanfrage – {practice_name} / "
        "Please confirm your appointment request"
    )


def handed_subject(practice_name: str) -> str:
    return (
        f"Ihre Terminanfrage ist bei {practice_name} / "
        "Your appointment request reached the practice"
    )


@dataclass(frozen=True)
class Mail:
    recipient: str
    message: bytes


# A body as quoted-printable lines: bytes already encoded, or a line with placeholders,
# encoded per mail. QP is line by line, so encoding lines apart gives the same bytes.
_Body = tuple[bytes | str, ...]


@dataclass(frozen=True)
class _PracticeParts:
    subject: str
    text: _Body
    html: _Body


class ConfirmationMail:
    """Builds confirmation mails as the bytes sent over SMTP: German first, English below,
    plain text with an HTML alternative, both quoted-printable UTF-8 (7-bit clean, so no
    server extension is needed). Subject and bodies are rendered and folded once per
    practice name; per mail only the link, the expiry and a few headers go in."""

    def __init__(self, *, mail_from: str, domain: str, cache_size: int = 1024) -> None:
        self.envelope_from = parseaddr(mail_from)[1] or mail_from
        self._environment = templates()
        self._from = _fold("From", mail_from)
        # Message-IDs must be ASCII: an internationalized host name goes in as punycode.
        self._domain = domain.encode("idna").decode("ascii")
        self._parts = functools.lru_cache(maxsize=cache_size)(self._render_parts)
        self._handed_parts = functools.lru_cache(maxsize=cache_size)(self._render_handed)
        self._expiry = functools.lru_cache(maxsize=256)(_expiry_texts)

    def from_job(self, job: Mapping[str, object]) -> Mail:
        """The mail for a decrypted queue job: the confirmation mail, or with `"kind":
        "handed"` the one after confirming (relay/booking/cancellation.py)."""
        if job.get("kind") == "handed":
            return self._handed_from_job(job)
        expires_de, expires_en = self._expiry(str(job["expires_at"]), str(job["time_zone"]))
        return self.build(
            to=str(job["to"]),
            practice_name=str(job["practice_name"]),
            link=str(job["link"]),
            expires_de=expires_de,
            expires_en=expires_en,
        )

    def build(
        self, *, to: str, practice_name: str, link: str, expires_de: str, expires_en: str
    ) -> Mail:
        if _breaks_header(to):
            raise ValueError("a line break in the recipient address")
        values = {_LINK: link, _EXPIRES_DE: expires_de, _EXPIRES_EN: expires_en}
        return self._assemble(to, self._parts(practice_name), values)

    def _handed_from_job(self, job: Mapping[str, object]) -> Mail:
        zone = ZoneInfo(str(job["time_zone"]))
        start = datetime.fromisoformat(str(job["start"]))
        end = datetime.fromisoformat(str(job["end"])) if job.get("end") else None
        wish = bool(job.get("wish"))
        until = str(job.get("cancel_until") or "")
        until_de, until_en = self._expiry(until, str(job["time_zone"])) if until else ("", "")
        return self.build_handed(
            to=str(job["to"]),
            practice_name=str(job["practice_name"]),
            link=str(job.get("link") or ""),
            time_de=_appointment_text(start, end, zone, "de", wish=wish),
            time_en=_appointment_text(start, end, zone, "en", wish=wish),
            until_de=until_de,
            until_en=until_en,
        )

    def build_handed(
        self,
        *,
        to: str,
        practice_name: str,
        link: str,
        time_de: str,
        time_en: str,
        until_de: str,
        until_en: str,
    ) -> Mail:
        """The mail after confirming: handed to the practice, when, and the cancel link
        (none once the appointment has begun). No doctor, no type of appointment."""
        if _breaks_header(to):
            raise ValueError("a line break in the recipient address")
        values = {
            _LINK: link,
            _TIME_DE: time_de,
            _TIME_EN: time_en,
            _UNTIL_DE: until_de,
            _UNTIL_EN: until_en,
        }
        return self._assemble(to, self._handed_parts(practice_name, bool(link)), values)

    def _assemble(self, to: str, parts: _PracticeParts, values: Mapping[str, str]) -> Mail:
        text = _fill(parts.text, values)
        html = _fill(parts.html, {name: escape(value) for name, value in values.items()})
        head = (
            f"{parts.subject}{self._from}To: {to}\r\n"
            f"Date: {rfc5322_date(datetime.now(UTC))}\r\n"
            f"Message-ID: <{secrets.token_hex(16)}@{self._domain}>\r\n"
            "Auto-Submitted: auto-generated\r\n"
            "MIME-Version: 1.0\r\n"
            f'Content-Type: multipart/alternative; boundary="{_BOUNDARY}"\r\n'
            "\r\n"
            f"--{_BOUNDARY}\r\n"
        )
        message = b"".join(
            (
                head.encode("ascii"),
                _PART_HEAD % b"plain",
                text,
                # The text ends with a line break; the CRLF before "--" is the boundary's.
                b"\r\n\r\n--" + _BOUNDARY.encode() + b"\r\n",
                _PART_HEAD % b"html",
                html,
                b"\r\n\r\n--" + _BOUNDARY.encode() + b"--\r\n",
            )
        )
        return Mail(to, message)

    def _render_parts(self, practice_name: str) -> _PracticeParts:
        # Names are checked when registered and published (relay/rules/text.py), but one stored
        # before that check must still give every patient a mail, not a failing job.
        practice_name = one_line(practice_name)
        values: dict[str, object] = {
            "practice_name": practice_name,
            "link": _LINK,
            "expires_de": _EXPIRES_DE,
            "expires_en": _EXPIRES_EN,
        }
        return self._render_template("confirm", subject(practice_name), values)

    def _render_handed(self, practice_name: str, with_link: bool) -> _PracticeParts:
        practice_name = one_line(practice_name)
        values: dict[str, object] = {
            "practice_name": practice_name,
            "with_link": with_link,
            "link": _LINK,
            "time_de": _TIME_DE,
            "time_en": _TIME_EN,
            "until_de": _UNTIL_DE,
            "until_en": _UNTIL_EN,
        }
        return self._render_template("handed", handed_subject(practice_name), values)

    def _render_template(
        self, template: str, subject_text: str, values: dict[str, object]
    ) -> _PracticeParts:
        """Subject folded and both bodies encoded once; per mail only placeholders change."""
        return _PracticeParts(
            subject=_fold("Subject", subject_text),
            text=_body(self._environment.get_template(f"{template}.txt").render(values)),
            html=_body(self._environment.get_template(f"{template}.html").render(values)),
        )


_PART_HEAD = (
    b'Content-Type: text/%s; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
)


def _fold(name: str, value: str) -> str:
    """The header folded for SMTP: RFC 2047 encoded words for non-ASCII, CRLF endings."""
    if _breaks_header(value):
        raise ValueError(f"a line break in the {name} header")
    # Through a header object, as EmailMessage does: SMTP.fold(name, str) leaves a short
    # non-ASCII value unencoded.
    return str(SMTP.header_factory(name, value).fold(policy=SMTP))


def _breaks_header(value: str) -> bool:
    return "\r" in value or "\n" in value


def _quoted_printable(text: str) -> bytes:
    return binascii.b2a_qp(text.encode(), istext=True).replace(b"\n", b"\r\n")


def _body(rendered: str) -> _Body:
    """Encodes every line without a placeholder now, runs of them joined."""
    lines: list[bytes | str] = []
    for line in rendered.split("\n"):
        if "\0" in line:
            lines.append(line)
        elif lines and isinstance(lines[-1], bytes):
            lines[-1] += b"\r\n" + _quoted_printable(line)
        else:
            lines.append(_quoted_printable(line))
    return tuple(lines)


def _fill(body: _Body, values: Mapping[str, str]) -> bytes:
    """The body's bytes with the values in: only the few lines that hold one are encoded."""
    encoded = []
    for line in body:
        if isinstance(line, bytes):
            encoded.append(line)
            continue
        filled = line
        for placeholder, value in values.items():
            filled = filled.replace(placeholder, value)
        encoded.append(_quoted_printable(filled))
    return b"\r\n".join(encoded)


def _appointment_text(
    start: datetime, end: datetime | None, zone: ZoneInfo, lang: str, *, wish: bool
) -> str:
    """'Termin: Dienstag, 1. Dezember 2026, 09:00–09:20 Uhr' and the like."""
    local = start.astimezone(zone)
    day = format_day(local.date(), lang)
    clock = f"{local.hour:02d}:{local.minute:02d}"
    if end is not None and end.astimezone(zone).date() == local.date():
        finish = end.astimezone(zone)
        clock += f"–{finish.hour:02d}:{finish.minute:02d}"
    if lang == "de":
        return f"{'Wunschtermin' if wish else 'Termin'}: {day}, {clock} Uhr"
    return f"{'Requested time' if wish else 'Appointment'}: {day}, {clock}"


def _expiry_texts(expires_at: str, time_zone: str) -> tuple[str, str]:
    # Every mail of the same second shares its expiry: cached, Babel runs once for them.
    moment = datetime.fromisoformat(expires_at)
    zone = ZoneInfo(time_zone)
    return format_datetime(moment, zone, "de"), format_datetime(moment, zone, "en")
