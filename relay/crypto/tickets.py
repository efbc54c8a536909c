"""Submit tickets: the relay's single-use permission to submit one browser-sealed booking.

A browser seals a booking before the relay sees it, so the booking id inside the sealed
blob must come from the relay first: the ticket carries it. Issuing one stores nothing (an
HMAC under a key derived from the relay's signing key); the submit script marks its id
used (relay/storage/lua/submit.lua), so a ticket books once. Format and rules:
docs/protocol.md, "Keys and tickets".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass

from relay.rules.values import InvalidValueError

TICKET_SECONDS = 15 * 60
_MAC_BYTES = 16


@dataclass(frozen=True)
class Ticket:
    ticket: str
    booking_id: str
    expires_at: int


class Tickets:
    def __init__(self, signing_key: bytes) -> None:
        self._key = hmac.new(signing_key, b"terminrelay submit ticket", hashlib.sha256).digest()

    def issue(self, practice: str, *, now: float) -> Ticket:
        booking_id = str(uuid.uuid4())
        expires_at = int(now) + TICKET_SECONDS
        mac = self._mac(practice, booking_id, expires_at)
        return Ticket(f"{booking_id}.{expires_at}.{mac}", booking_id, expires_at)

    def booking_id(self, practice: str, ticket: object, *, now: float) -> str:
        """The booking id a valid ticket of `practice` carries; InvalidValueError
        ("invalid" or "expired") otherwise. Whether it was used is the store's to say."""
        if not isinstance(ticket, str) or len(ticket) > 100:
            raise InvalidValueError("invalid")
        booking_id, _, rest = ticket.partition(".")
        expires, _, mac = rest.partition(".")
        if not expires.isascii() or not expires.isdigit():
            raise InvalidValueError("invalid")
        expected = self._mac(practice, booking_id, int(expires))
        if not hmac.compare_digest(mac.encode(), expected.encode()):
            raise InvalidValueError("invalid")
        if int(expires) < now:
            raise InvalidValueError("expired")
        return booking_id

    def _mac(self, practice: str, booking_id: str, expires_at: int) -> str:
        message = f"ticket\0{practice}\0{booking_id}\0{expires_at}".encode()
        digest = hmac.digest(self._key, message, "sha256")[:_MAC_BYTES]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
