"""What the relay does, independent of HTTP: submit, confirm, withdraw, deliver.

The HTML form and the JSON API both call `RelayService.submit`: one validator, one submit
path. This is also the only place where a booking exists in plaintext, as the validated
request inside `submit`; it is sealed before anything is written.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import orjson
from nacl.signing import SigningKey

from relay.abuse.limits import Limits
from relay.booking.answers import Answers
from relay.booking.browser_sealed import SealedRequest, is_browser_sealed, validate_sealed
from relay.booking.cancellation import Cancellations
from relay.booking.moves import Moves
from relay.booking.reminders import Reminders
from relay.booking.submission import BookingRequest, validate_booking
from relay.crypto import tokens
from relay.crypto.sealing import (
    DataCipher,
    EnvelopeSealer,
    decode_public_key,
    key_id,
    seal_booking,
)
from relay.crypto.tickets import TICKET_SECONDS, Ticket, Tickets
from relay.errors import (
    DecryptionFailed,
    PracticeNotFound,
    ProfileChanging,
    SlotTaken,
    TicketUsed,
    TokenGone,
    Unauthorized,
    ValidationFailed,
)
from relay.mail.jobs import mail_job_context, summary_context
from relay.ops.metrics import Metrics
from relay.practice.cache import CachedPractice, PracticeCache, PublicBody
from relay.practice.profile import Profile, parse_profile, profile_to_json
from relay.practice.slot_index import FreeSlots
from relay.rules.values import ErrorCode, utc_iso
from relay.settings import Settings
from relay.storage.store import Confirmed, InboxBatch, NewBooking, Outcome, Practice, Store
from relay.storage.wakeups import Wakeups

log = logging.getLogger(__name__)

MAX_WAIT = 60
MAX_LIMIT = 100


@dataclass(frozen=True)
class PublicProfile:
    practice: Practice
    profile: Profile
    # Sorted by start; a view over the profile's slot index (relay/practice/slot_index.py).
    free_slots: FreeSlots

    def to_json(self) -> dict[str, object]:
        body = profile_to_json(dataclasses.replace(self.profile, slots=tuple(self.free_slots)))
        body.pop("frame_ancestors", None)
        return {
            "slug": self.practice.slug,
            "public_key": base64.b64encode(self.practice.public_key).decode(),
            "key_id": key_id(self.practice.public_key),
            **body,
        }


@dataclass(frozen=True)
class Published:
    """A profile as stored by `PUT /api/v1/profile`, and the version it got."""

    profile: Profile
    version: int


@dataclass(frozen=True)
class Submitted:
    booking_id: str
    expires_at: datetime
    # Returned only so tests and `relay dev` need not parse mails; never logged or shown.
    token: str
    # For the sent page's "send the mail again", which asks RelayService.resend_token
    # (made only there: the JSON API needs none). Never logged or shown.
    email: str = dataclasses.field(default="", repr=False)
    # True when this was the same request again and its pending booking's mail was sent
    # again; False for a new booking (or a resend whose first mail was still queued).
    resent: bool = False


@dataclass(frozen=True)
class PendingView:
    """The decrypted confirmation-page summary: practice, doctor, type, time; no patient data."""

    practice: str
    summary: dict[str, object]
    expires_at: datetime
    booking_id: str = ""


@dataclass(frozen=True)
class Confirmation:
    """What confirming did, for the result page: with "confirmed" the booking's id and its
    decrypted summary (without the address), which the confirm script returned as it
    deleted them; for "already" neither."""

    outcome: Outcome
    booking_id: str | None = None
    summary: dict[str, object] | None = None


class RelayService:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        cipher: DataCipher,
        signing_key: SigningKey,
        metrics: Metrics,
        wakeups: Wakeups,
        mail_queued: Callable[[str], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.cipher = cipher
        self.signing_key = signing_key
        self.metrics = metrics
        self.wakeups = wakeups
        self._mail_queued = mail_queued
        self._clock = clock
        # Practice record, parsed profile and slot index per version (practice/cache.py).
        self.practices = PracticeCache(store)
        self.limits = Limits(settings=settings, store=store, metrics=metrics, clock=clock)
        self.tickets = Tickets(settings.signing_key)
        self.envelopes = EnvelopeSealer(time.monotonic)
        # Cancel links, calendar links, the mail after confirming (relay/booking/cancellation.py).
        self.cancellations = Cancellations(
            settings=settings,
            store=store,
            cipher=cipher,
            signing_key=signing_key,
            metrics=metrics,
            wakeups=wakeups,
            clock=clock,
        )
        # The practice's answers, the patient's reply and cancellation (relay/booking/answers.py).
        self.answers = Answers(
            settings=settings,
            store=store,
            cipher=cipher,
            signing_key=signing_key,
            metrics=metrics,
            wakeups=wakeups,
            practices=self.practices,
            cancel_token=lambda slug, booking_id, email: self.cancellations.cancel_token(
                self._token(slug, booking_id, email)
            ),
            mail_queued=mail_queued,
            clock=clock,
        )
        # Reminders the practice's client asks for (relay/booking/reminders.py).
        self.reminders = Reminders(
            settings=settings,
            store=store,
            cipher=cipher,
            metrics=metrics,
            practices=self.practices,
            answers=self.answers,
            cancel_token=lambda slug, booking_id, email: self.cancellations.cancel_token(
                self._token(slug, booking_id, email)
            ),
            mail_queued=mail_queued,
            clock=clock,
        )
        # Moving a booking to another slot in one step (relay/booking/moves.py).
        self.moves = Moves(
            settings=settings,
            store=store,
            cipher=cipher,
            signing_key=signing_key,
            metrics=metrics,
            wakeups=wakeups,
            practices=self.practices,
            clock=clock,
        )

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    # Patients

    async def profile(self, slug: str) -> PublicProfile:
        """The practice's public profile with the slots free right now: one round trip
        (the version and the held slots), two when the profile changed since."""
        cached, free = await self._free_slots(slug)
        return PublicProfile(cached.practice, cached.profile, free)

    async def profile_json(self, slug: str) -> PublicBody:
        """`GET /api/v1/practices/{practice}`: the public profile as JSON (and gzip) bytes."""
        cached, free = await self._free_slots(slug)
        return self.practices.public_json(cached, free)

    async def _free_slots(self, slug: str) -> tuple[CachedPractice, FreeSlots]:
        now = self.now()
        found = await self.store.availability(slug, now_ms=int(now.timestamp() * 1000))
        cached = await self.practices.at_version(slug, found.profile_version)
        return cached, cached.index.free(found.unavailable, now)

    async def practice_view(self, slug: str) -> CachedPractice:
        """The practice as this process has it cached (loaded if unknown): no round trip.
        Its version may be behind; the submit script checks it."""
        return await self.practices.current(slug)

    async def submit(
        self,
        slug: str,
        data: Mapping[str, object],
        *,
        client_network: str,
        lang: str,
        refused: Mapping[str, ErrorCode] | None = None,
        proof: str | None = None,
    ) -> Submitted:
        """Validates, signs, pads and seals a booking, and stores it pending confirmation.

        `refused`: errors the caller found beyond the validator's (the HTML form's
        contradictory choices); they refuse the booking together with the validator's.
        `proof`: a solved proof-of-work challenge (relay/abuse/pow.py), when the limits ask
        for one. The same address and slot as a pending booking resend its mail instead.
        """
        now = self.now()
        # The cached practice, not fetched first: the submit script checks its version.
        cached = await self.practices.current(slug)
        request = self._validated(data, cached, now, refused)
        # A browser-sealed booking's id came with its ticket, inside the blob too.
        booking_id = request.booking_id if isinstance(request, SealedRequest) else str(uuid.uuid4())
        # Names this submission in the limits' logs; unrelated to the booking id, so the
        # logs never link a booking to a network or an address.
        admission = os.urandom(16).hex()
        ticket = self.limits.ticket(
            slug,
            network=client_network,
            email=request.email,
            proof=proof,
            member=admission,
            blob_digest=request.blob_digest if isinstance(request, SealedRequest) else None,
        )
        # One round trip counts and stores the submission, unless the limits ask to be
        # checked before anything is sealed, so that refusals cost little.
        with_submit = self.limits.admit_with_submit()
        if not with_submit:
            await self.limits.admit_submission(ticket, proof=proof)
        token = self._token(slug, booking_id, request.email)
        _, token_hash = tokens.parse_token(token)
        expires_at = now + timedelta(seconds=self.settings.pending_ttl)
        # "stale": the profile or key changed since this process cached them. Then the
        # practice is loaded again and the booking checked and sealed again, once.
        for _attempt in range(2):
            practice, profile = cached.practice, cached.profile
            status = arrival_status(request, profile)
            sealed, blob = self._seal(
                request, booking_id, slug, practice, profile, now=now, lang=lang, status=status
            )
            booking = NewBooking(
                booking_id,
                sealed=sealed,
                summary=self.cipher.encrypt_json(
                    _summary(request, practice.name, profile.time_zone, lang, status),
                    context=summary_context(slug, booking_id),
                ),
                token_hash=token_hash,
                mail_job=self._mail_job(
                    slug,
                    booking_id,
                    request.email,
                    token,
                    practice=practice,
                    profile=profile,
                    expires_at=expires_at,
                    lang=lang,
                ),
                ttl=self.settings.pending_ttl,
                now_ms=int(now.timestamp() * 1000),
                profile_version=cached.version,
                slot_id=request.slot.id if request.slot else None,
                slot_start_ms=int(request.slot.start.timestamp() * 1000) if request.slot else None,
                slot_end_ms=int(request.slot.end.timestamp() * 1000) if request.slot else None,
                blob=blob,
                ticket_ttl=TICKET_SECONDS if blob else 0,
                attempt=admission,
                answer_within_ms=(
                    profile.answer_within_hours * 3_600_000
                    if request.slot and status == "proposed"
                    else 0
                ),
            )
            try:
                if with_submit:
                    admitted, stored = await self.store.admit_and_submit(ticket, booking)
                    # Raises a refusal (nothing was stored then). A re-run after "stale"
                    # finds the submission counted already and admits it.
                    self.limits.settle(admitted, proof=proof)
                else:
                    stored = await self.store.submit(slug, booking)
            except SlotTaken:
                # The patient's own pending request for this slot: send its mail again.
                resent = await self._resend_held(slug, request, practice, profile, admission)
                if resent is not None:
                    return resent
                await self.limits.refund(ticket)
                self.metrics.bookings.labels(event="slot_conflict").inc()
                raise
            except TicketUsed:
                # Nothing stored, nothing mailed: the admission is taken back.
                await self.limits.refund(ticket)
                self.metrics.bookings.labels(event="rejected").inc()
                raise
            if stored == "stored":
                break
            cached = await self.practices.reload(slug)
            try:
                request = self._validated(data, cached, now, refused)
            except ValidationFailed:
                await self.limits.refund(ticket)
                raise
        else:
            await self.limits.refund(ticket)
            raise ProfileChanging
        self.metrics.bookings.labels(event="submitted").inc()
        self._mail_queued(slug)
        return Submitted(booking_id, expires_at, token, request.email)

    def _seal(
        self,
        request: BookingRequest | SealedRequest,
        booking_id: str,
        slug: str,
        practice: Practice,
        profile: Profile,
        *,
        now: datetime,
        lang: str,
        status: ArrivalStatus,
    ) -> tuple[bytes, bytes]:
        """What the practice's inbox gets: the booking the relay sealed, or the envelope
        it signed around the blob the browser sealed; the blob (b"" for the first)."""
        if isinstance(request, SealedRequest):
            envelope = self.envelopes.seal(
                {
                    **request.envelope(
                        practice=slug,
                        submitted_at=now,
                        language=lang,
                        legal_basis=profile.legal_basis,
                    ),
                    "status": status,
                },
                signing_key=self.signing_key,
                practice_key=practice.public_key,
            )
            return envelope, request.blob
        document = request.document(
            booking_id=booking_id,
            practice=slug,
            submitted_at=now,
            consent_at=now,
            language=lang,
            legal_basis=profile.legal_basis,
        )
        document["status"] = status
        sealed = seal_booking(
            document, signing_key=self.signing_key, practice_key=practice.public_key
        )
        return sealed, b""

    def issue_ticket(self, practice: CachedPractice) -> Ticket:
        """A submit ticket for a booking the browser will seal (relay/crypto/tickets.py)."""
        return self.tickets.issue(practice.practice.slug, now=self._clock())

    def _validated(
        self,
        data: Mapping[str, object],
        cached: CachedPractice,
        now: datetime,
        refused: Mapping[str, ErrorCode] | None,
    ) -> BookingRequest | SealedRequest:
        try:
            if is_browser_sealed(data):
                return validate_sealed(
                    data,
                    cached.profile,
                    practice=cached.practice.slug,
                    public_key=cached.practice.public_key,
                    tickets=self.tickets,
                    now=now,
                )
            if cached.profile.sealing == "browser":
                refused = {**(refused or {}), "sealed": "browser_required"}
            return _validate(data, cached.profile, now=now, refused=refused or {})
        except ValidationFailed:
            self.metrics.bookings.labels(event="rejected").inc()
            raise

    async def _profile(self, practice: Practice) -> Profile:
        return (await self.practices.at_version(practice.slug, practice.profile_version)).profile

    # Resending the confirmation mail

    def _token(self, slug: str, booking_id: str, email: str) -> str:
        return f"{slug}.{self.limits.confirmation_secret(slug, booking_id, email)}"

    def _mail_job(
        self,
        slug: str,
        booking_id: str,
        email: str,
        token: str,
        *,
        practice: Practice,
        profile: Profile,
        expires_at: datetime,
        lang: str,
    ) -> bytes:
        return self.cipher.encrypt_json(
            {
                "to": email,
                # The language the patient booked in: the mail's, and its link's.
                "lang": lang,
                "practice_name": practice.name,
                # The token, not the link: the worker puts RELAY_PUBLIC_URL in front. Thirty
                # bytes less per queued job (bench/memory_bench.py).
                "token": token,
                "expires_at": utc_iso(expires_at),
                "time_zone": profile.time_zone,
            },
            context=mail_job_context(slug, booking_id),
        )

    def resend_token(self, slug: str, booking_id: str, email: str) -> str:
        """What the "sent" page keeps so the patient can have the mail sent again: the
        booking id and the address encrypted under the data keys. The relay stores
        nothing for it; only the relay can read it, and it only ever mails that address."""
        sealed = self.cipher.encrypt(email.encode(), context=_resend_context(slug, booking_id))
        return f"{booking_id}.{base64.urlsafe_b64encode(sealed).decode()}"

    async def resend(self, slug: str, resend_token: str, *, client_network: str) -> Submitted:
        """The "send the mail again" button of the sent page. TokenGone when the request
        is no longer pending (or the token is not the relay's)."""
        booking_id, _, sealed = resend_token.partition(".")
        try:
            email = self.cipher.decrypt(
                base64.urlsafe_b64decode(sealed.encode("ascii")),
                context=_resend_context(slug, booking_id),
            ).decode()
        except (DecryptionFailed, ValueError):
            await self.limits.guess_failed("confirm", client_network, str(uuid.uuid4()))
            raise TokenGone from None
        practice = await self.store.practice(slug)
        profile = await self._profile(practice)
        member = str(uuid.uuid4())
        await self.limits.admit_resend(email, member)
        resent = await self._resend(slug, booking_id, email, practice, profile)
        if resent is None or not resent.resent:
            # Nothing was mailed: the request is gone, or its mail is still on its way.
            await self.limits.forget_resend(email, member)
        if resent is None:
            raise TokenGone
        return resent

    async def _resend_held(
        self,
        slug: str,
        request: BookingRequest | SealedRequest,
        practice: Practice,
        profile: Profile,
        admission: str,
    ) -> Submitted | None:
        """The same request again (same address, same slot) while the first is pending:
        its mail goes out again instead of "slot taken", and the new one is dropped. The
        holder is the same patient when the token derived from the holder's booking id
        and this address leads to a pending booking."""
        if request.slot is None:
            return None
        holder = await self.store.slot_holder(slug, request.slot.id)
        if holder is None:
            return None
        resent = await self._resend(slug, holder, request.email, practice, profile)
        if resent is not None and not resent.resent:
            # Its mail is still on the way: nothing sent now, so nothing counted.
            await self.limits.forget_resend(request.email, admission)
        return resent

    async def _resend(
        self, slug: str, booking_id: str, email: str, practice: Practice, profile: Profile
    ) -> Submitted | None:
        """Queues the confirmation mail of a pending booking again; None if the booking
        is not pending (or not this address's). `resent` is False when its first mail
        was still queued, so none went out now."""
        token = self._token(slug, booking_id, email)
        _, token_hash = tokens.parse_token(token)
        try:
            found = await self.store.pending(slug, token_hash)
        except TokenGone:
            return None
        if found is None:
            return None
        now = self.now()
        expires_at = now + timedelta(milliseconds=found.expires_in_ms)
        # Sent again in the language of the booking, whichever page asked for it.
        summary = self._open_summary(slug, booking_id, found.summary)
        mail_job = self._mail_job(
            slug,
            booking_id,
            email,
            token,
            practice=practice,
            profile=profile,
            expires_at=expires_at,
            lang=str(summary.get("lang") or ""),
        )
        queued = await self.store.resend_mail(
            slug,
            booking_id,
            token_hash=token_hash,
            mail_job=mail_job,
            now_ms=int(now.timestamp() * 1000),
        )
        if queued < 0:
            return None
        if queued:
            self.metrics.bookings.labels(event="resent").inc()
            self._mail_queued(slug)
        return Submitted(booking_id, expires_at, token, email, resent=bool(queued))

    async def pending(self, token: str) -> PendingView | None:
        """The confirmation page's view; None if the booking was confirmed already."""
        slug, token_hash = tokens.parse_token(token)
        found = await self.store.pending(slug, token_hash)
        if found is None:
            return None
        summary = self._open_summary(slug, found.booking_id, found.summary)
        expires_at = self.now() + timedelta(milliseconds=found.expires_in_ms)
        return PendingView(slug, summary, expires_at, found.booking_id)

    def _open_summary(self, slug: str, booking_id: str, sealed: bytes) -> dict[str, object]:
        """A booking's summary as the pages show it: the patient's address, there only for
        the mail after confirming (relay/mail/jobs.py), taken out."""
        summary = self.cipher.decrypt_json(sealed, context=summary_context(slug, booking_id))
        summary.pop("to", None)
        return summary

    async def confirm(self, token: str) -> Outcome:
        """Hands the booking to the practice (see confirm_booking); the outcome only."""
        return (await self.confirm_booking(token)).outcome

    async def confirm_booking(self, token: str) -> Confirmation:
        """Hands the booking to the practice, writes its cancel record and queues the mail
        that says so, in one Redis round trip with nothing read before it; returns what
        the result page shows."""
        slug, token_hash = tokens.parse_token(token)
        now = self.now()
        after = self.cancellations.after_confirm(token)
        confirmed: Confirmed = await self.store.confirm(
            slug,
            token_hash,
            now_ms=int(now.timestamp() * 1000),
            confirmed_at=utc_iso(now),
            inbox_ttl=self.settings.inbox_ttl,
            pending_ttl=self.settings.pending_ttl,
            after=after,
        )
        if confirmed.outcome == "gone":
            raise TokenGone
        if confirmed.outcome != "confirmed" or confirmed.booking_id is None:
            return Confirmation(confirmed.outcome)
        self.metrics.bookings.labels(event="confirmed").inc()
        self.wakeups.wake(slug)
        if after is not None and after.cancel_link is not None:
            # The script queued the second mail: sent now, not at the watcher's next look.
            self._mail_queued(slug)
        summary = None
        if confirmed.summary is not None:
            summary = self._open_summary(slug, confirmed.booking_id, confirmed.summary)
        return Confirmation("confirmed", confirmed.booking_id, summary)

    async def withdraw(self, token: str) -> Outcome:
        slug, token_hash = tokens.parse_token(token)
        outcome, _ = await self.store.withdraw(slug, token_hash)
        if outcome == "gone":
            raise TokenGone
        if outcome == "withdrawn":
            self.metrics.bookings.labels(event="withdrawn").inc()
        return outcome

    # Practices

    async def authenticate(self, authorization: str | None) -> str:
        """The practice slug a bearer token belongs to."""
        scheme, _, credentials = (authorization or "").partition(" ")
        parts = tokens.split_token(credentials.strip())
        if scheme.lower() != "bearer" or parts is None:
            raise Unauthorized
        slug, secret = parts
        try:
            practice = await self.store.practice(slug)
        except PracticeNotFound:
            raise Unauthorized from None
        if not tokens.hashes_match(secret, practice.token_hash):
            raise Unauthorized
        return slug

    async def fetch_inbox(self, slug: str, *, wait: float, limit: int) -> InboxBatch:
        """Long poll: returns as soon as items are visible, or empty after `wait` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(max(wait, 0), MAX_WAIT)
        while True:
            with self.wakeups.waiter(slug) as changed:
                now_ms = int(self._clock() * 1000)
                batch = await self.store.fetch_inbox(
                    slug,
                    now_ms=now_ms,
                    visibility_ms=self.settings.inbox_visibility * 1000,
                    limit=min(max(limit, 1), MAX_LIMIT),
                )
                remaining = deadline - loop.time()
                if batch.items or remaining <= 0 or self.wakeups.closing:
                    self.metrics.bookings.labels(event="delivered").inc(len(batch.items))
                    return batch
                if batch.next_visible_ms is not None:
                    # An unacknowledged item comes back then: answer with it, not later.
                    remaining = min(remaining, max(batch.next_visible_ms - now_ms, 10) / 1000)
                self.metrics.long_polls.inc()
                try:
                    await asyncio.wait_for(changed.wait(), remaining)
                except TimeoutError:
                    pass
                finally:
                    self.metrics.long_polls.dec()

    async def ack(self, slug: str, booking_ids: list[str]) -> int:
        acknowledged = await self.store.ack(slug, booking_ids)
        self.metrics.bookings.labels(event="acknowledged").inc(acknowledged)
        return acknowledged

    async def put_profile(self, slug: str, data: object) -> Published:
        profile = parse_profile(data, now=self.now())
        version = await self.store.put_profile(slug, orjson.dumps(profile_to_json(profile)))
        return Published(profile, version)

    async def put_key(self, slug: str, public_key: object) -> None:
        if not isinstance(public_key, str):
            raise ValidationFailed({"public_key": "required"})
        try:
            raw = decode_public_key(public_key)
        except ValueError:
            raise ValidationFailed({"public_key": "invalid"}) from None
        # Moves the practice's version on: no process seals to the old key afterwards.
        await self.store.set_public_key(slug, raw)


def _validate(
    data: Mapping[str, object],
    profile: Profile,
    *,
    now: datetime,
    refused: Mapping[str, ErrorCode],
) -> BookingRequest:
    """validate_booking, refusing also for `refused`, with every error listed at once."""
    try:
        request = validate_booking(data, profile, now=now)
    except ValidationFailed as failed:
        raise ValidationFailed({**failed.errors, **refused}) from None
    if refused:
        raise ValidationFailed(dict(refused))
    return request


def _resend_context(slug: str, booking_id: str) -> bytes:
    return f"resend:{slug}:{booking_id}".encode()


# How a booking reaches the practice: booked, or a request it answers (docs/protocol.md).
ArrivalStatus = Literal["booked", "proposed"]


def arrival_status(request: BookingRequest | SealedRequest, profile: Profile) -> ArrivalStatus:
    """The status a booking reaches the practice with (docs/protocol.md): a published slot
    of a practice that books directly is booked; a wish, or a slot of a practice that
    confirms each request itself, is a request the practice answers."""
    if request.slot is not None and profile.confirmation == "direct":
        return "booked"
    return "proposed"


def _summary(
    request: BookingRequest | SealedRequest,
    practice_name: str,
    time_zone: str,
    lang: str,
    status: ArrivalStatus,
) -> dict[str, object]:
    """What the confirmation page shows: the appointment, not the patient. For a booking
    sealed in the browser that is what the relay knows: the slot's public data, or a
    wish's time frame without doctor or type.

    The practice's address and contact are not copied in: the pages read them from the
    profile, which keeps each pending booking small. `to`, the patient's address, is here
    only for the mail after confirming (relay/mail/jobs.py); RelayService takes it out
    before a page sees the summary.
    """
    zone = ZoneInfo(time_zone)
    return {
        "practice_name": practice_name,
        "doctor": request.doctor,
        "appointment_type": request.appointment_type,
        "start": request.start.astimezone(zone).isoformat(),
        "end": request.end.astimezone(zone).isoformat() if request.end else None,
        "time_zone": time_zone,
        "wish": request.slot is None,
        "kind": request.kind,
        "lang": lang,
        "status": status,
        "to": request.email,
    }
