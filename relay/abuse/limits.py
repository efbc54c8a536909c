"""Abuse limits without third parties: per client network, per recipient, token guessing,
and when a submission needs a proof of work (relay/abuse/pow.py) instead of being refused.

- Per network (/24, /48), in a sliding window log: `submit_limit` submissions pass as
  they are; past it a proof of work is asked for, so patients behind one carrier-grade
  NAT still book while bots pay in CPU; past `submit_hard_limit` nothing is taken until
  the window slides. Without JavaScript (no proof) the soft limit is the limit.
- Per recipient: at most `recipient_limit` confirmation mails to one address per
  `recipient_window`, resends included, however many networks and relay processes.
- In a flood (the relay's or one practice's submissions per minute over their threshold)
  every submission needs a proof of work, and the difficulty rises with the pressure.
- Token guessing: failed confirmation and practice tokens are counted per network; past
  `guess_limit` further failures answer 429. A valid token always works: successes are
  neither counted nor refused, so practices behind one network never notice.

Redis sees networks and addresses only as keyed hashes (HMAC-SHA256 under keys derived
from the relay's signing key), truncated to 128 bits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from collections.abc import Callable

from relay.abuse.pow import Challenge, InvalidSolution, ProofOfWork
from relay.crypto.tickets import TICKET_SECONDS
from relay.errors import ProofOfWorkRequired, RateLimited, RecipientLimited, ValidationFailed
from relay.ops.metrics import Metrics
from relay.settings import Settings
from relay.storage.store import Admission, AdmissionTicket, LimitPolicy, Store

# How far the difficulty rises in a flood: maxnumber doubles with each doubling of the
# pressure, at most this many times the base.
MAX_DIFFICULTY_FACTOR = 8
# From this pressure on (see relay/storage/store.py, _STATE_OF_LIMITS; a proof of work is asked
# for from 1), and after any refusal, this process admits submissions before sealing them
# for a while (Limits.admit_with_submit).
ADMIT_FIRST_PRESSURE = 0.5
ADMIT_FIRST_SECONDS = 10.0
# Retry-After when a flood, not the network, asks for a proof: the flood rate is measured
# over a minute.
FLOOD_RETRY_AFTER = 60
# The per-process memory of networks past the guess limit stays bounded under a spray.
_MEMO_MAX = 10_000
# Mail providers that ignore dots in the local part.
_DOTLESS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A key for one purpose, so no two uses share a key."""
    return hmac.new(secret, b"terminrelay limits\0" + purpose.encode(), hashlib.sha256).digest()


def normalize_email(address: str) -> str:
    """One spelling per mailbox, for counting: spaces trimmed, everything lower-case
    (providers treat the local part case-insensitively, though RFC 5321 allows them not
    to), a sub-address (`+tag`) dropped, and for Gmail the dots of the local part.
    Only counting and matching use it; mail goes to the address as typed."""
    local, _, domain = address.strip().rpartition("@")
    local, domain = local.lower(), domain.rstrip(".").lower()
    untagged = local.split("+", 1)[0]
    local = untagged or local
    if domain in _DOTLESS:
        local, domain = local.replace(".", ""), _DOTLESS[domain]
    return f"{local}@{domain}"


def retry_after_seconds(milliseconds: int) -> int:
    return max(1, math.ceil(milliseconds / 1000))


class Limits:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self._clock = clock
        secret = settings.signing_key
        self._network_key = derive_key(secret, "network")
        self._recipient_key = derive_key(secret, "recipient")
        self._token_key = derive_key(secret, "confirmation token")
        self.pow = ProofOfWork(derive_key(secret, "proof of work"))
        self.policy = LimitPolicy(
            window_ms=settings.submit_window * 1000,
            soft_limit=settings.submit_limit,
            hard_limit=max(settings.submit_hard_limit, settings.submit_limit),
            recipient_window_ms=settings.recipient_window * 1000,
            recipient_limit=settings.recipient_limit,
            relay_flood=settings.flood_relay,
            practice_flood=settings.flood_practice,
            default_mode=settings.pow,
        )
        # (kind, network id) -> monotonic time until which failures are refused anyway.
        self._guessing: dict[tuple[str, str], float] = {}
        # Monotonic time until which submissions are admitted before they are sealed.
        self._admit_first_until = 0.0

    # Identities

    def network_id(self, network: str) -> str:
        return _keyed(self._network_key, network)

    def recipient_id(self, email: str) -> str:
        return _keyed(self._recipient_key, normalize_email(email))

    def confirmation_secret(self, practice: str, booking_id: str, email: str) -> str:
        """The secret part of a booking's confirmation token, derived rather than drawn:
        the relay can make the link again for a resend, from the booking id and the
        address the patient types again, without keeping either the link or the address.
        192 bits of HMAC output under a relay key: as unguessable as random bytes to
        anyone without the key, and whoever holds the relay's keys can read the mail
        jobs, links included, anyway."""
        message = "\0".join((practice, booking_id, self.recipient_id(email))).encode()
        digest = hmac.new(self._token_key, message, hashlib.sha256).digest()[:24]
        return base64.urlsafe_b64encode(digest).decode()

    # Proof of work

    def difficulty(self, pressure: float) -> int:
        factor = 1
        while factor < MAX_DIFFICULTY_FACTOR and pressure >= 2 * factor:
            factor *= 2
        return self.settings.pow_difficulty * factor

    async def form_challenge(self, practice: str, network: str) -> Challenge | None:
        """A challenge for the booking form when a submission from `network` would need a
        proof right now, else None (the form then carries none and costs nothing)."""
        state = await self.store.limit_state(
            self.policy,
            network_id=self.network_id(network),
            practice=practice,
            now_ms=self._now_ms(),
        )
        if state.mode == "off" or (state.mode == "auto" and state.pressure < 1):
            return None
        return self._issue(state.pressure)

    async def challenge(self, practice: str | None, network: str) -> Challenge:
        """A challenge at the difficulty the current pressure asks for (the JSON API's
        GET /api/v1/challenge: clients may solve one before they need it)."""
        state = await self.store.limit_state(
            self.policy,
            network_id=self.network_id(network),
            practice=practice,
            now_ms=self._now_ms(),
        )
        return self._issue(state.pressure)

    def _issue(self, pressure: float) -> Challenge:
        maxnumber = self.difficulty(pressure)
        self.metrics.pow_challenges.labels(event="issued").inc()
        self.metrics.pow_difficulty.set(maxnumber)
        return self.pow.issue(maxnumber, now=self._clock())

    # Submissions

    def ticket(
        self,
        practice: str,
        *,
        network: str,
        email: str,
        proof: str | None,
        member: str,
        blob_digest: str | None = None,
    ) -> AdmissionTicket:
        """One submission to count, with its proof of work checked here (no round trip).
        `blob_digest`: a browser-sealed blob's SHA-256, which the admission takes once."""
        solved = None
        if proof:
            try:
                solved = self.pow.verify(proof, now=self._clock())
            except InvalidSolution:
                solved = None
        return AdmissionTicket(
            self.policy,
            network_id=self.network_id(network),
            recipient_id=self.recipient_id(email),
            practice=practice,
            member=member,
            now_ms=self._now_ms(),
            proof_marker=None if solved is None else solved.marker,
            proof_expires_ms=0 if solved is None else solved.expires_at * 1000,
            blob_digest=blob_digest,
            # After the ticket it came with has expired, its booking id binds the blob to
            # that ticket: the practice client refuses it under any other (protocol 2).
            blob_seen_ms=TICKET_SECONDS * 1000,
        )

    def admit_with_submit(self) -> bool:
        """Whether a submission may be counted in the same round trip that stores it
        (Store.admit_and_submit), or must be admitted before it is sealed: on a Cluster,
        and while refusals or pressure were seen lately, when cheap refusals matter more
        than one round trip less (a refusal in the joint trip has paid for the sealing)."""
        return self.store.one_node and time.monotonic() >= self._admit_first_until

    async def admit_submission(self, ticket: AdmissionTicket, *, proof: str | None) -> None:
        """Counts one submission for its network and recipient, or raises the refusal."""
        self.settle(await self.store.admit(ticket), proof=proof)

    def settle(self, admission: Admission, *, proof: str | None) -> None:
        """Raises the refusal an admission holds: RateLimited (network), RecipientLimited,
        ProofOfWorkRequired; counts it in the metrics either way."""
        outcome, detail = admission.outcome, admission.detail
        if outcome != "ok" or admission.pressure >= ADMIT_FIRST_PRESSURE:
            self._admit_first_until = time.monotonic() + ADMIT_FIRST_SECONDS
        if outcome == "ok":
            if detail:
                self.metrics.pow_challenges.labels(event="solved").inc()
            return
        if outcome == "network":
            self.metrics.limit_hits.labels(kind="network").inc()
            raise RateLimited(retry_after_seconds(detail))
        if outcome == "recipient":
            self.metrics.limit_hits.labels(kind="recipient").inc()
            raise RecipientLimited(retry_after_seconds(detail))
        if outcome == "replayed":
            raise ValidationFailed({"sealed": "replayed"})
        invalid = bool(proof)
        self.metrics.limit_hits.labels(kind="pow_invalid" if invalid else "pow_required").inc()
        retry_after = retry_after_seconds(detail) if detail > 0 else FLOOD_RETRY_AFTER
        raise ProofOfWorkRequired(retry_after)

    async def refund(self, ticket: AdmissionTicket) -> None:
        """Takes back an admitted submission that stored nothing and sent no mail (its
        slot was taken, its submit ticket used)."""
        await self.store.refund(ticket)

    async def admit_resend(self, email: str, member: str) -> None:
        """Counts one resent mail against the recipient's limit, or RecipientLimited."""
        wait_ms = await self.store.recipient_hit(
            self.recipient_id(email),
            now_ms=self._now_ms(),
            window_ms=self.policy.recipient_window_ms,
            limit=self.policy.recipient_limit,
            member=member,
        )
        if wait_ms:
            self.metrics.limit_hits.labels(kind="recipient").inc()
            raise RecipientLimited(retry_after_seconds(wait_ms))

    async def forget_resend(self, email: str, member: str) -> None:
        """Takes back a resend that sent nothing (the mail was still on its way)."""
        await self.store.forget_recipient_hit(self.recipient_id(email), member)

    # Token guessing

    async def guess_failed(self, kind: str, network: str, member: str) -> None:
        """Counts a failed token of `kind` ("confirm" or "practice") from `network`;
        raises RateLimited once the network is past the limit."""
        network_id = self.network_id(network)
        memo_key = (kind, network_id)
        now = time.monotonic()
        limited_until = self._guessing.get(memo_key)
        if limited_until is not None and limited_until > now:
            # Known to be past the limit: refused without asking Redis again.
            self.metrics.limit_hits.labels(kind=f"guess_{kind}").inc()
            raise RateLimited(retry_after_seconds(int((limited_until - now) * 1000)))
        wait_ms = await self.store.guess_failed(
            kind,
            network_id,
            now_ms=self._now_ms(),
            window_ms=self.settings.guess_window * 1000,
            limit=self.settings.guess_limit,
            member=member,
        )
        if not wait_ms:
            return
        if len(self._guessing) >= _MEMO_MAX:
            self._guessing = {k: v for k, v in self._guessing.items() if v > now}
            if len(self._guessing) >= _MEMO_MAX:
                self._guessing.clear()
        self._guessing[memo_key] = now + wait_ms / 1000
        self.metrics.limit_hits.labels(kind=f"guess_{kind}").inc()
        raise RateLimited(retry_after_seconds(wait_ms))

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)


def _keyed(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]
