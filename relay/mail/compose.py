"""The mails a patient receives, built as bytes from parts rendered once per practice.

The confirmation mail names the practice and carries the link: no health data. The
second, queued when the patient confirms (relay/booking/cancellation.py), says the
request was handed to the practice and carries the appointment's time and the cancel
link: no doctor, no type. Building the mail through `EmailMessage` cost about 2.5 ms
of CPU, most of it header folding and MIME encoding.

Each mail is in the one language the patient booked in (the job's `lang`; German for
none we speak). One not in German opens with a German line naming the practice, what
the mail is and its language, for the practice or a relative the patient shows it to.
"""

from __future__ import annotations

import binascii
import functools
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.policy import SMTP
from email.utils import format_datetime as rfc5322_date
from email.utils import parseaddr
from zoneinfo import ZoneInfo

from babel import Locale
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import escape

from relay.i18n.catalogs import N_, texts
from relay.i18n.languages import BABEL_LOCALES, DEFAULT_LANGUAGE, direction, known
from relay.i18n.templates import gettext_context, isolate
from relay.practice.localtime import format_datetime, format_day
from relay.rules.text import one_line

# Placeholders rendered into the per-practice parts, replaced per mail. NUL never occurs
# in a template, a name or a link, and HTML escaping leaves it alone. The templates only
# print them (inside a translated sentence at most), never filter them.
_LINK = "\0link\0"
_EXPIRES = "\0expires\0"
# The second mail's, after confirming (relay/booking/cancellation.py).
_TIME = "\0time\0"
_UNTIL = "\0until\0"
# "Choose another time" (relay/booking/moves.py), in the second mail.
_MOVE = "\0move\0"

# The German line atop a mail in another language, for the practice or a relative the
# patient shows it to; `language` is the mail's language named in German (CLDR's
# "Türkisch", "Arabisch", …). German in every mail, hence not in the catalogs: no
# translation of it would ever be shown, yet scripts/i18n check would ask each language
# for one.
_GERMAN_LINES = {
    "confirm": "Terminanfrage bei %(practice)s: Bestätigungslink",
    "handed": "Terminanfrage bei %(practice)s: an die Praxis übergeben",
    "booked": "Termin bei %(practice)s: gebucht",
    "answer": "Terminanfrage bei %(practice)s: Antwort der Praxis",
    "reminder": "Termin bei %(practice)s: Erinnerung",
}
# The reasons a practice may give with an answer (relay/booking/answers.py), each a fixed,
# translated sentence: a free text is where health data would leak into a mailbox.
REASONS = {
    "no_free_time": N_("The practice has no free time for this request."),
    "doctor_unavailable": N_("The doctor is not available at this time."),
    "please_call": N_("Please call the practice."),
    "referral_needed": N_("The practice needs a referral for this appointment."),
}
# The subject of the mail for each answer of the practice (relay/booking/answers.py).
_ANSWER_SUBJECTS = {
    # Translators: The subjects of the mails with the practice's answer; keep them short.
    "accept": N_("Appointment confirmed – %(practice)s"),
    "decline": N_("Your appointment request was declined – %(practice)s"),
    "propose": N_("The practice proposes another time – %(practice)s"),
    "cancel": N_("Appointment cancelled by the practice – %(practice)s"),
}
_GERMAN_LANGUAGE = " (diese E-Mail ist auf %(language)s)"
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


# Subjects are in the patient's language only, and short: the German line is the first
# line of the body, which mail clients show as the preview below the subject.
def subject(practice_name: str, lang: str = DEFAULT_LANGUAGE) -> str:
    # Translators: The confirmation mail's subject; keep it short.
    return texts(lang).gettext(
        "Please confirm your appointment request – %(practice)s", practice=practice_name
    )


def handed_subject(practice_name: str, lang: str = DEFAULT_LANGUAGE) -> str:
    # Translators: The subject of the mail sent after the patient confirmed; keep it short.
    return texts(lang).gettext(
        "Your appointment request was handed to %(practice)s", practice=practice_name
    )


def booked_subject(practice_name: str, lang: str = DEFAULT_LANGUAGE) -> str:
    # Translators: The subject of the mail after confirming a time that is booked at once.
    return texts(lang).gettext("Your appointment at %(practice)s is booked", practice=practice_name)


def plain_gettext_context(lang: str) -> dict[str, Callable[..., str]]:
    """gettext for the plain-text parts: as `gettext_context`, but nothing HTML-escaped."""
    t = texts(lang)
    return {"gettext": t.gettext, "_": t.gettext, "ngettext": t.ngettext, "pgettext": t.pgettext}


@functools.cache
def language_in_german(lang: str) -> str:
    """'Türkisch', 'Arabisch', …: CLDR's German name of a language."""
    return str(Locale.parse(BABEL_LOCALES["de"]).languages[lang])


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
    """Builds confirmation mails as the bytes sent over SMTP, in the patient's language:
    plain text with an HTML alternative, both quoted-printable UTF-8 (7-bit clean, so no
    server extension is needed). Subject and bodies are rendered and folded once per
    practice name and language; per mail only the link, the times and a few headers go
    in."""

    def __init__(self, *, mail_from: str, domain: str, cache_size: int = 1024) -> None:
        self.envelope_from = parseaddr(mail_from)[1] or mail_from
        self._environment = templates()
        self._from = _fold("From", mail_from)
        # Message-IDs must be ASCII: an internationalized host name goes in as punycode.
        self._domain = domain.encode("idna").decode("ascii")
        self._parts = functools.lru_cache(maxsize=cache_size)(self._render_parts)
        self._handed_parts = functools.lru_cache(maxsize=cache_size)(self._render_handed)
        self._expiry = functools.lru_cache(maxsize=256)(_expiry_text)

    def from_job(self, job: Mapping[str, object]) -> Mail:
        """The mail for a decrypted queue job: the confirmation mail, or with `"kind":
        "handed"` the one after confirming (relay/booking/cancellation.py). In the job's
        `lang`; German for a job without one (queued by an earlier relay)."""
        lang = known(str(job.get("lang") or DEFAULT_LANGUAGE))
        if job.get("kind") == "handed":
            return self._handed_from_job(job, lang)
        if job.get("kind") == "answer":
            return self.build_answer(job, lang)
        if job.get("kind") == "reminder":
            return self.build_reminder(job, lang)
        return self.build(
            to=str(job["to"]),
            practice_name=str(job["practice_name"]),
            link=str(job["link"]),
            expires=self._expiry(str(job["expires_at"]), str(job["time_zone"]), lang),
            lang=lang,
        )

    def build(self, *, to: str, practice_name: str, link: str, expires: str, lang: str) -> Mail:
        if _breaks_header(to):
            raise ValueError("a line break in the recipient address")
        lang = known(lang)
        values = {_LINK: link, _EXPIRES: expires}
        return self._assemble(to, lang, self._parts(practice_name, lang), values)

    def _handed_from_job(self, job: Mapping[str, object], lang: str) -> Mail:
        zone = ZoneInfo(str(job["time_zone"]))
        start = datetime.fromisoformat(str(job["start"]))
        end = datetime.fromisoformat(str(job["end"])) if job.get("end") else None
        wish = bool(job.get("wish"))
        until = str(job.get("cancel_until") or "")
        return self.build_handed(
            to=str(job["to"]),
            practice_name=str(job["practice_name"]),
            link=str(job.get("link") or ""),
            move_link=str(job.get("move_link") or ""),
            time=_appointment_text(start, end, zone, lang, wish=wish),
            until=self._expiry(until, str(job["time_zone"]), lang) if until else "",
            lang=lang,
            booked=job.get("status") == "booked",
        )

    def build_handed(
        self,
        *,
        to: str,
        practice_name: str,
        link: str,
        time: str,
        until: str,
        lang: str,
        booked: bool = False,
        move_link: str = "",
    ) -> Mail:
        """The mail after confirming: booked, or handed to the practice to answer; when;
        and the cancel link (none once the appointment has begun). No doctor, no type of
        appointment."""
        if _breaks_header(to):
            raise ValueError("a line break in the recipient address")
        lang = known(lang)
        values = {_LINK: link, _TIME: time, _UNTIL: until, _MOVE: move_link}
        parts = self._handed_parts(practice_name, lang, bool(link), booked, bool(move_link))
        return self._assemble(to, lang, parts, values)

    def build_answer(self, job: Mapping[str, object], lang: str) -> Mail:
        """The practice's answer (relay/booking/answers.py): the practice, the time, a
        fixed reason, the patient's link or the practice's form. No doctor, no type.
        Rendered whole per mail: answers are few, unlike confirmations."""
        to, answer = str(job["to"]), str(job["answer"])
        if _breaks_header(to):
            raise ValueError("a line break in the recipient address")
        practice_name = one_line(str(job["practice_name"]))
        day = clock = ""
        if job.get("start"):
            zone = ZoneInfo(str(job["time_zone"]))
            end = datetime.fromisoformat(str(job["end"])) if job.get("end") else None
            day, clock = _day_and_clock(datetime.fromisoformat(str(job["start"])), end, zone, lang)
        reason = REASONS.get(str(job.get("reason") or ""))
        values: dict[str, object] = {
            "answer": answer,
            "day": day,
            "clock": clock,
            "reason": texts(lang).gettext(reason) if reason else "",
            "link": str(job.get("link") or ""),
            "move_link": str(job.get("move_link") or ""),
            "book_again": str(job.get("book_again") or ""),
        }
        subject_text = texts(lang).gettext(_ANSWER_SUBJECTS[answer], practice=practice_name)
        parts = self._render_template(
            "answer", subject_text, values, practice_name=practice_name, lang=lang
        )
        return self._assemble(to, lang, parts, {})

    def build_reminder(self, job: Mapping[str, object], lang: str) -> Mail:
        """A reminder (relay/booking/reminders.py): the practice, the date and time, its
        address, the cancel link and the one-click opt-out (RFC 8058 headers as well). No
        doctor, no type. Rendered whole per mail, as answers are."""
        to, stop = str(job["to"]), str(job["stop"])
        if _breaks_header(to) or _breaks_header(stop):
            raise ValueError("a line break in the recipient address or a link")
        practice_name = one_line(str(job["practice_name"]))
        zone = ZoneInfo(str(job["time_zone"]))
        end = datetime.fromisoformat(str(job["end"])) if job.get("end") else None
        day, clock = _day_and_clock(datetime.fromisoformat(str(job["start"])), end, zone, lang)
        address = job.get("address")
        values: dict[str, object] = {
            "day": day,
            "clock": clock,
            "address": [one_line(str(line)) for line in address]
            if isinstance(address, list)
            else [],
            "phone": one_line(str(job.get("phone") or "")),
            "link": str(job["link"]),
            "stop": stop,
            "move_link": str(job.get("move_link") or ""),
        }
        subject_text = texts(lang).gettext(
            # Translators: The subject of a reminder; %(day)s is a full date.
            "Reminder: your appointment at %(practice)s on %(day)s",
            practice=practice_name,
            day=day,
        )
        parts = self._render_template(
            "reminder", subject_text, values, practice_name=practice_name, lang=lang
        )
        # RFC 2369 and RFC 8058: mail programs offer "unsubscribe", one click posting to
        # the opt-out page (relay/web/reminders.py), which needs no confirmation then.
        headers = (
            f"List-Unsubscribe: <{stop}>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        )
        return self._assemble(to, lang, parts, {}, headers=headers)

    def _assemble(
        self,
        to: str,
        lang: str,
        parts: _PracticeParts,
        values: Mapping[str, str],
        *,
        headers: str = "",
    ) -> Mail:
        text = _fill(parts.text, values)
        html = _fill(parts.html, {name: escape(value) for name, value in values.items()})
        head = (
            f"{parts.subject}{self._from}To: {to}\r\n"
            f"Date: {rfc5322_date(datetime.now(UTC))}\r\n"
            f"Message-ID: <{secrets.token_hex(16)}@{self._domain}>\r\n"
            "Auto-Submitted: auto-generated\r\n"
            f"{headers}"
            # RFC 3282: the language of the mail's audience (the German line aside).
            f"Content-Language: {lang}\r\n"
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

    def _render_parts(self, practice_name: str, lang: str) -> _PracticeParts:
        # Names are checked when registered and published (relay/rules/text.py), but one stored
        # before that check must still give every patient a mail, not a failing job.
        practice_name = one_line(practice_name)
        values: dict[str, object] = {"link": _LINK, "expires": _EXPIRES}
        return self._render_template(
            "confirm", subject(practice_name, lang), values, practice_name=practice_name, lang=lang
        )

    def _render_handed(
        self, practice_name: str, lang: str, with_link: bool, booked: bool, with_move: bool = False
    ) -> _PracticeParts:
        practice_name = one_line(practice_name)
        values: dict[str, object] = {
            "booked": booked,
            "with_link": with_link,
            "with_move": with_move,
            "move": _MOVE,
            "link": _LINK,
            "time": _TIME,
            "until": _UNTIL,
        }
        return self._render_template(
            "handed",
            (booked_subject if booked else handed_subject)(practice_name, lang),
            values,
            practice_name=practice_name,
            lang=lang,
            german_line="booked" if booked else "handed",
        )

    def _render_template(
        self,
        template: str,
        subject_text: str,
        values: dict[str, object],
        *,
        practice_name: str,
        lang: str,
        german_line: str | None = None,
    ) -> _PracticeParts:
        """Subject folded and both bodies encoded once; per mail only placeholders change."""
        common = {**values, "practice_name": practice_name, "lang": lang, "dir": direction(lang)}
        text_values = {**common, **plain_gettext_context(lang)}
        html_values = {**common, **gettext_context(lang)}
        if lang != "de":
            german_line = _GERMAN_LINES[german_line or template] + _GERMAN_LANGUAGE
            language = language_in_german(lang)
            text_values["german_line"] = german_line % {
                "practice": practice_name,
                "language": language,
            }
            html_values["german_line"] = escape(german_line) % {
                "practice": isolate(practice_name),
                "language": language,
            }
        return _PracticeParts(
            subject=_fold("Subject", subject_text),
            text=_body(self._environment.get_template(f"{template}.txt").render(text_values)),
            html=_body(self._environment.get_template(f"{template}.html").render(html_values)),
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


def _day_and_clock(
    start: datetime, end: datetime | None, zone: ZoneInfo, lang: str
) -> tuple[str, str]:
    """('Dienstag, 1. Dezember 2026', '09:00–09:20') and the like."""
    local = start.astimezone(zone)
    day = format_day(local.date(), lang)
    clock = f"{local.hour:02d}:{local.minute:02d}"
    if end is not None and end.astimezone(zone).date() == local.date():
        finish = end.astimezone(zone)
        clock += f"–{finish.hour:02d}:{finish.minute:02d}"
    return day, clock


def _appointment_text(
    start: datetime, end: datetime | None, zone: ZoneInfo, lang: str, *, wish: bool
) -> str:
    """'Termin: Dienstag, 1. Dezember 2026, 09:00–09:20 Uhr' and the like."""
    day, clock = _day_and_clock(start, end, zone, lang)
    t = texts(lang)
    if wish:
        # Translators: %(day)s is a full date ("Tuesday, 1 December 2026"), %(time)s "09:00–09:20".
        return t.gettext("Preferred time: %(day)s, %(time)s", day=day, time=clock)
    # Translators: %(day)s is a full date ("Tuesday, 1 December 2026"), %(time)s "09:00–09:20".
    return t.gettext("Appointment: %(day)s, %(time)s", day=day, time=clock)


def _expiry_text(moment: str, time_zone: str, lang: str) -> str:
    # Every mail of the same second shares its expiry: cached, Babel runs once for them.
    return format_datetime(datetime.fromisoformat(moment), ZoneInfo(time_zone), lang)
