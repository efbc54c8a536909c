"""Domain errors, raised where the problem is found; web/middleware.py maps them to HTTP."""

from __future__ import annotations

from collections.abc import Mapping


class RelayError(Exception):
    """Base of every error the relay answers with a client-facing status."""


class SettingsError(RelayError):
    """A RELAY_* setting is missing or malformed; the message names the variable."""


class ValidationFailed(RelayError):
    """Input broke one or more rules.

    `errors` maps a field path ("birth_date", "slots[3].end") to a message code from
    `relay.web.error_messages.ERROR_MESSAGES` ("required", "too_long", ...), translated at the
    boundary.
    """

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__(", ".join(f"{field}: {code}" for field, code in errors.items()))
        self.errors = dict(errors)


class TicketUsed(ValidationFailed):
    """A browser-sealed submission's ticket let another booking in before."""

    def __init__(self) -> None:
        super().__init__({"ticket": "used"})


class PracticeNotFound(RelayError):
    """No practice is registered under this slug."""


class PracticeExists(RelayError):
    """A practice with this slug is registered already."""


class ProfileChanging(RelayError):
    """The practice's profile changed twice while one booking was being stored; the
    client may try again at once."""


class SlotTaken(RelayError):
    """The chosen slot is held by a pending booking or taken by a confirmed one."""


class BookingNotFound(RelayError):
    """No confirmed booking of this practice has this id and address, or its time has
    passed: the relay has nothing left to answer."""


class AnswerRefused(RelayError):
    """The practice's answer does not fit the booking's state (it was cancelled, declined,
    or is waiting for the patient's reply); `status` is that state, `why` says it."""

    def __init__(self, status: str, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


class RateLimited(RelayError):
    """Too many submissions from one client network."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


class ProofOfWorkRequired(RateLimited):
    """A submission needs a solved proof-of-work challenge, and none came (or it was
    invalid, expired or used before)."""


class RecipientLimited(RateLimited):
    """Enough confirmation mails went to this address within the hour."""


class Unauthorized(RelayError):
    """The practice API was called without a valid bearer token."""


class TokenGone(RelayError):
    """A confirmation token is withdrawn, expired or was never issued."""


class DecryptionFailed(RelayError):
    """Data at rest did not decrypt under any configured key (one opaque error, like Fernet)."""


class MoveRefused(RelayError):
    """This booking cannot be moved by its link: `why` is "wish" (a requested time, not a
    published slot), "pending" (the practice proposed a time; the patient answers that
    first) or "final" (cancelled or declined)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why
