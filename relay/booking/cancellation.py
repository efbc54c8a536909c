"""After confirming: the cancel link, the calendar link, the "handed over" mail; and the
patient's cancellation itself.

What the relay keeps for a confirmed booking is one key, `tr:{p}:x:{hash of the cancel
token}` (relay/storage/store.py): the booking id and, for a published slot, the slot's id (public
profile data, so that cancelling offers the slot again), expiring when the appointment
starts (a wish: RELAY_WISH_CANCEL_HOURS after confirming). No name, no address, no time.

- **Cancel token** `{slug}.{secret}`, like the confirmation token. The secret is derived
  from the confirmation token under a relay key, not drawn: confirming twice (a retry, a
  double click, the "already confirmed" page) gives the same link without storing it.
- **Calendar link** `/calendar/{sealed}.ics`: the appointment from the encrypted summary,
  sealed again under the data keys *into the link itself*, valid for a day. The relay
  stores nothing for it; the download is built from the link alone (relay/web/cancel.py).
- **The second mail** ("your request was handed to the practice") is queued by the confirm
  script, put together from the booking's encrypted summary and the cancel link the page
  encrypted (relay/mail/jobs.py): confirming is one round trip, nothing is read first. It
  names the practice, the time and the cancel link; not the doctor or the type of
  appointment (docs/protocol.md says why).
- **Cancelling**, and what the practice answers, is relay/booking/answers.py's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from nacl.signing import SigningKey

from relay.crypto import tokens
from relay.crypto.sealing import DataCipher
from relay.errors import DecryptionFailed, TokenGone
from relay.mail.jobs import cancel_link_context, is_wish
from relay.mail.move_links import MOVE_PARAM, seal_appointment, summary_appointment
from relay.ops.metrics import Metrics
from relay.settings import Settings
from relay.storage.store import AfterConfirm, Store
from relay.storage.wakeups import Wakeups

CANCEL_PATH = "/x/"
CALENDAR_PATH = "/calendar/"
# The calendar link works for a day: long enough for a page left open on a phone, short
# enough that a link copied out of a browser's history soon shows nothing.
CALENDAR_LINK_SECONDS = 24 * 3600
# The "handed to the practice" mail is tried for as long as a confirmation mail could be.
HANDED_MAIL_TTL = 3600
# What the calendar link carries (short keys keep the link short).
_CALENDAR_FIELDS = (
    "practice_name",
    "doctor",
    "appointment_type",
    "start",
    "end",
    "time_zone",
    "kind",
    "lang",
    "status",
)
_SECRET_BYTES = 24


def calendar_context() -> bytes:
    return b"calendar link"


@dataclass(frozen=True)
class ConfirmedLinks:
    """What the result page offers after confirming, as paths on the relay; None where
    there is nothing to offer."""

    cancel_path: str | None
    calendar_path: str | None
    # "Choose another time" (relay/booking/moves.py): a published slot's booking only.
    move_path: str | None = None


@dataclass(frozen=True)
class CalendarEntry:
    """A calendar link opened: the appointment (the summary's fields), its stable uid and
    the cancel link, if the booking had one."""

    practice: str
    uid: str
    appointment: dict[str, object]
    cancel_url: str | None


class Cancellations:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        cipher: DataCipher,
        signing_key: SigningKey,
        metrics: Metrics,
        wakeups: Wakeups,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.cipher = cipher
        self.signing_key = signing_key
        self.metrics = metrics
        self.wakeups = wakeups
        self._clock = clock
        self._token_key = hmac.new(
            settings.signing_key, b"terminrelay cancel token", hashlib.sha256
        ).digest()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    # At confirmation

    def cancel_token(self, confirmation_token: str) -> str:
        """The cancel token belonging to a confirmation token (one of the relay's)."""
        parts = tokens.split_token(confirmation_token)
        if parts is None:
            raise TokenGone
        return self._cancel_token(*parts)

    def _cancel_token(self, slug: str, secret: str) -> str:
        """The cancel token belonging to a confirmation token's parts."""
        message = f"{slug}\0{secret}".encode()
        digest = hmac.digest(self._token_key, message, "sha256")[:_SECRET_BYTES]
        return f"{slug}.{base64.urlsafe_b64encode(digest).decode()}"

    def cancel_until(self, summary: Mapping[str, object], now: datetime) -> datetime | None:
        """Until when the booking may be cancelled by its link: the start of a published
        slot; a wish, whose time the practice has yet to agree, for a set time. None if
        that has passed already."""
        if is_wish(summary):
            return now + timedelta(hours=self.settings.wish_cancel_hours)
        start = datetime.fromisoformat(str(summary["start"]))
        return start if start > now else None

    def after_confirm(self, confirmation_token: str) -> AfterConfirm | None:
        """What the confirm script also writes: the cancel record and the second mail.
        Made from the token alone, before confirming, as the page reads nothing first: the
        script takes the cancel record's end from the booking (its slot's start; a wish:
        `wish_cancel_hours` after confirming) and the second mail's address and time from
        the booking's summary; the page adds the cancel link, encrypted."""
        parts = tokens.split_token(confirmation_token)
        if parts is None:
            return None
        cancel_token = self._cancel_token(*parts)
        cancel_link = self.cipher.encrypt_json(
            {"link": f"{self.settings.public_url}{CANCEL_PATH}{cancel_token}"},
            context=cancel_link_context(parts[0]),
        )
        return AfterConfirm(
            cancel_token_hash=tokens.parse_token(cancel_token)[1],
            wish_cancel_ms=self.settings.wish_cancel_hours * 3_600_000,
            cancel_link=cancel_link,
            mail_ttl=HANDED_MAIL_TTL,
        )

    def links(
        self,
        confirmation_token: str,
        *,
        booking_id: str | None,
        summary: Mapping[str, object] | None,
    ) -> ConfirmedLinks:
        """The result page's cancel and calendar links. Without the summary (a second
        click) only the cancel link, which the token alone gives."""
        parts = tokens.split_token(confirmation_token)
        if parts is None:
            return ConfirmedLinks(None, None)
        cancel_path = f"{CANCEL_PATH}{self._cancel_token(*parts)}"
        if summary is None or booking_id is None:
            return ConfirmedLinks(cancel_path, None)
        now = self.now()
        until = self.cancel_until(summary, now)
        cancel_url = f"{self.settings.public_url}{cancel_path}" if until is not None else ""
        calendar_path = self.calendar_path(parts[0], booking_id, summary, cancel_url)
        shown_cancel = cancel_path if until is not None else None
        move_path = None
        if until is not None and not is_wish(summary):
            move_path = (
                f"{cancel_path}/move?{MOVE_PARAM}={self._move_param(parts[0], booking_id, summary)}"
            )
        return ConfirmedLinks(shown_cancel, calendar_path, move_path)

    def calendar_path(
        self, practice: str, booking_id: str, summary: Mapping[str, object], cancel_url: str
    ) -> str:
        """A calendar link for the appointment (the summary's fields), valid for a day."""
        entry = {field: summary.get(field) for field in _CALENDAR_FIELDS}
        entry["kind"] = "wish" if is_wish(summary) else "slot"
        sealed = self.cipher.encrypt_json(
            {
                "practice": practice,
                "uid": calendar_uid(booking_id),
                "appointment": entry,
                "cancel_url": cancel_url,
                "expires": int(self._clock()) + CALENDAR_LINK_SECONDS,
            },
            context=calendar_context(),
        )
        blob = base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()
        return f"{CALENDAR_PATH}{blob}.ics"

    def _move_param(self, practice: str, booking_id: str, summary: Mapping[str, object]) -> str:
        return seal_appointment(self.cipher, practice, summary_appointment(booking_id, summary))

    def calendar_entry(self, blob: str) -> CalendarEntry:
        """The appointment a calendar link carries; TokenGone if it is not the relay's
        or older than a day."""
        try:
            sealed = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
            opened = self.cipher.decrypt_json(sealed, context=calendar_context())
            expires = int(str(opened["expires"]))
            appointment = opened["appointment"]
        except (DecryptionFailed, binascii.Error, ValueError, KeyError):
            raise TokenGone from None
        if expires < self._clock() or not isinstance(appointment, dict):
            raise TokenGone
        return CalendarEntry(
            practice=str(opened["practice"]),
            uid=str(opened["uid"]),
            appointment=appointment,
            cancel_url=str(opened.get("cancel_url") or "") or None,
        )


def calendar_uid(booking_id: str) -> str:
    """`str(uuid.uuid5(uuid.NAMESPACE_URL, f"terminrelay:{booking_id}"))`, the calendar
    event's stable uid, without building a UUID object on every confirmation."""
    # SHA-1 because RFC 4122 says so for version 5: it names, it protects nothing.
    name = _UID_NAMESPACE + booking_id.encode()
    digest = bytearray(hashlib.sha1(name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    hex_ = digest.hex()
    return f"{hex_[:8]}-{hex_[8:12]}-{hex_[12:16]}-{hex_[16:20]}-{hex_[20:]}"


_UID_NAMESPACE = uuid.NAMESPACE_URL.bytes + b"terminrelay:"
