"""What the relay does, independent of HTTP: submit, confirm, withdraw, deliver.

The HTML form and the JSON API both call `RelayService.submit`: one validator, one submit
path. This is also the only place where a booking exists in plaintext, as the validated
request inside `submit`; it is sealed before anything is written.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from nacl.signing import SigningKey

from relay import tokens
from relay.booking import BookingRequest, validate_booking
from relay.errors import (
    PracticeNotFound,
    RateLimited,
    SlotTaken,
    TokenGone,
    Unauthorized,
    ValidationFailed,
)
from relay.mail import mail_job_context
from relay.metrics import Metrics
from relay.profile import (
    Profile,
    Slot,
    free_slots,
    parse_profile,
    profile_from_json,
    profile_to_json,
)
from relay.sealing import DataCipher, decode_public_key, seal_booking
from relay.settings import Settings
from relay.store import InboxItem, Outcome, Practice, Store
from relay.wakeups import Wakeups

log = logging.getLogger(__name__)

MAX_WAIT = 60
MAX_LIMIT = 100


def summary_context(practice: str, booking_id: str) -> bytes:
    return f"summary:{practice}:{booking_id}".encode()


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class PublicProfile:
    practice: Practice
    profile: Profile
    free_slots: list[Slot]

    def to_json(self) -> dict[str, object]:
        body = profile_to_json(dataclasses.replace(self.profile, slots=tuple(self.free_slots)))
        body.pop("frame_ancestors", None)
        return {
            "slug": self.practice.slug,
            "public_key": base64.b64encode(self.practice.public_key).decode(),
            **body,
        }


@dataclass(frozen=True)
class Submitted:
    booking_id: str
    expires_at: datetime
    # Returned only so tests and `relay dev` need not parse mails; never logged or shown.
    token: str


@dataclass(frozen=True)
class PendingView:
    """The decrypted confirmation-page summary: practice, doctor, type, time; no patient data."""

    practice: str
    summary: dict[str, object]
    expires_at: datetime


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
        self._profiles: dict[str, tuple[int, Profile]] = {}
        self._bucket_salt = hashlib.sha256(
            b"terminrelay rate bucket\0" + settings.data_keys[0]
        ).digest()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    # Patients

    async def profile(self, slug: str) -> PublicProfile:
        """The practice's public profile with the slots free right now."""
        practice = await self.store.practice(slug)
        profile = await self._profile(practice)
        unavailable = await self.store.unavailable_slots(slug, [s.id for s in profile.slots])
        return PublicProfile(practice, profile, free_slots(profile, unavailable, self.now()))

    async def submit(
        self, slug: str, data: Mapping[str, object], *, client_network: str, lang: str
    ) -> Submitted:
        """Validates, signs, pads and seals a booking, and stores it pending confirmation."""
        now = self.now()
        practice = await self.store.practice(slug)
        profile = await self._profile(practice)
        try:
            request = validate_booking(data, profile, now=now)
        except ValidationFailed:
            self.metrics.bookings.labels(event="rejected").inc()
            raise
        await self._count_submission(client_network, now)

        booking_id = str(uuid.uuid4())
        token = tokens.new_confirmation_token(slug)
        _, token_hash = _parse_token(token)
        expires_at = now + timedelta(seconds=self.settings.pending_ttl)
        sealed = seal_booking(
            request.document(
                booking_id=booking_id, practice=slug, submitted_at=now, consent_at=now
            ),
            signing_key=self.signing_key,
            practice_key=practice.public_key,
        )
        summary = self.cipher.encrypt_json(
            _summary(request, practice.name, profile.time_zone, lang),
            context=summary_context(slug, booking_id),
        )
        mail_job = self.cipher.encrypt_json(
            {
                "to": request.email,
                "practice_name": practice.name,
                "link": f"{self.settings.public_url}/c/{token}",
                "expires_at": utc_iso(expires_at),
                "time_zone": profile.time_zone,
            },
            context=mail_job_context(slug, booking_id),
        )
        try:
            await self.store.submit(
                slug,
                booking_id,
                sealed=sealed,
                summary=summary,
                token_hash=token_hash,
                mail_job=mail_job,
                ttl=self.settings.pending_ttl,
                now_ms=int(now.timestamp() * 1000),
                slot_id=request.slot.id if request.slot else None,
                slot_end_ms=int(request.slot.end.timestamp() * 1000) if request.slot else None,
            )
        except SlotTaken:
            self.metrics.bookings.labels(event="slot_conflict").inc()
            raise
        self.metrics.bookings.labels(event="submitted").inc()
        self._mail_queued(slug)
        return Submitted(booking_id, expires_at, token)

    async def _profile(self, practice: Practice) -> Profile:
        # Parsing a profile with thousands of slots costs milliseconds; every submit needs
        # it, while it changes a few times a day.
        cached = self._profiles.get(practice.slug)
        if cached is not None and cached[0] == practice.profile_version:
            return cached[1]
        profile = profile_from_json(json.loads(await self.store.profile(practice.slug)))
        self._profiles[practice.slug] = (practice.profile_version, profile)
        return profile

    async def _count_submission(self, client_network: str, now: datetime) -> None:
        # The bucket is a keyed hash of the client's network: Redis never holds an address.
        bucket = hashlib.sha256(self._bucket_salt + client_network.encode()).hexdigest()
        hits, retry_after = await self.store.count_hit(
            bucket[:32], window=self.settings.submit_window, now_s=int(now.timestamp())
        )
        if hits > self.settings.submit_limit:
            raise RateLimited(retry_after)

    async def pending(self, token: str) -> PendingView | None:
        """The confirmation page's view; None if the booking was confirmed already."""
        slug, token_hash = _parse_token(token)
        found = await self.store.pending(slug, token_hash)
        if found is None:
            return None
        summary = self.cipher.decrypt_json(
            found.summary, context=summary_context(slug, found.booking_id)
        )
        expires_at = self.now() + timedelta(milliseconds=found.expires_in_ms)
        return PendingView(slug, summary, expires_at)

    async def confirm(self, token: str) -> Outcome:
        slug, token_hash = _parse_token(token)
        now = self.now()
        outcome, _ = await self.store.confirm(
            slug,
            token_hash,
            now_ms=int(now.timestamp() * 1000),
            confirmed_at=utc_iso(now),
            inbox_ttl=self.settings.inbox_ttl,
            pending_ttl=self.settings.pending_ttl,
        )
        if outcome == "gone":
            raise TokenGone
        if outcome == "confirmed":
            self.metrics.bookings.labels(event="confirmed").inc()
            self.wakeups.wake(slug)
        return outcome

    async def withdraw(self, token: str) -> Outcome:
        slug, token_hash = _parse_token(token)
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

    async def fetch_inbox(self, slug: str, *, wait: float, limit: int) -> list[InboxItem]:
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
                    return batch.items
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

    async def put_profile(self, slug: str, data: object) -> Profile:
        await self.store.practice(slug)
        profile = parse_profile(data, now=self.now())
        await self.store.put_profile(slug, json.dumps(profile_to_json(profile)).encode())
        return profile

    async def put_key(self, slug: str, public_key: object) -> None:
        if not isinstance(public_key, str):
            raise ValidationFailed({"public_key": "required"})
        try:
            raw = decode_public_key(public_key)
        except ValueError:
            raise ValidationFailed({"public_key": "invalid"}) from None
        await self.store.set_practice_field(slug, "public_key", raw)


def _parse_token(token: str) -> tuple[str, str]:
    parts = tokens.split_token(token)
    if parts is None:
        raise TokenGone
    slug, secret = parts
    return slug, tokens.token_hash(secret)


def _summary(
    request: BookingRequest, practice_name: str, time_zone: str, lang: str
) -> dict[str, object]:
    """What the confirmation page shows: the appointment, not the patient."""
    zone = ZoneInfo(time_zone)
    return {
        "practice_name": practice_name,
        "doctor": request.doctor,
        "appointment_type": request.appointment_type,
        "start": request.start.astimezone(zone).isoformat(),
        "end": request.end.astimezone(zone).isoformat() if request.end else None,
        "time_zone": time_zone,
        "wish": request.slot is None,
        "lang": lang,
    }
