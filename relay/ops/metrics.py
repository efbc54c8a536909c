"""Prometheus metrics, one registry per app.

| metric | type | labels | meaning |
|---|---|---|---|
| `terminrelay_bookings_total` | counter | `event` | bookings by step: `submitted` (accepted and pending), `confirmed` (moved to the inbox), `withdrawn` (by the patient), `expired` (never confirmed), `delivered` (fetched by the practice client), `acknowledged` (deleted after receipt), `rejected` (failed validation), `slot_conflict` (slot held or taken), `resent` (confirmation mail sent again for a pending booking), `cancelled` (by the patient, after confirming), `answer_accept`, `answer_decline`, `answer_propose`, `answer_cancel` (the practice's answers), `reply_accept`, `reply_decline` (the patient's reply to a proposed time) |
| `terminrelay_mail_total` | counter | `outcome` | confirmation mails: `sent`, `failed` (given up), `retried` (will be tried again) |
| `terminrelay_http_request_duration_seconds` | histogram | `route`, `method`, `status` | time to answer a request, by route template (`/c/{token}`, never the raw path); inbox long polls land in the top buckets by design |
| `terminrelay_redis_errors_total` | counter | none | Redis commands that failed (connection lost, timeout, out of memory) |
| `terminrelay_inbox_items` | gauge | `practice` | confirmed bookings waiting in the practice's inbox |
| `terminrelay_inbox_oldest_item_age_seconds` | gauge | `practice` | age of the oldest inbox item; 0 when the inbox is empty. A rising value means the practice client is not fetching or not acknowledging |
| `terminrelay_pending_bookings` | gauge | `practice` | bookings waiting for the patient's confirmation |
| `terminrelay_inbox_long_polls_open` | gauge | none | practice long polls currently held open by this process |
| `terminrelay_limit_hits_total` | counter | `kind` | requests an abuse limit refused or challenged: `network` (past the hard limit per client network), `recipient` (enough mails to that address this hour), `pow_required` (a proof of work was asked for), `pow_invalid` (a proof that was forged, wrong, expired or used), `guess_confirm` and `guess_practice` (failed tokens past the limit per network) |
| `terminrelay_pow_challenges_total` | counter | `event` | proof-of-work challenges `issued` and `solved` (a valid solution admitted a submission) |
| `terminrelay_pow_difficulty` | gauge | none | maxnumber of the latest challenge this process issued: rises with the flood |
| `terminrelay_mail_queue_oldest_age_seconds` | gauge | none | how long the oldest due confirmation mail has waited (since submit, or since its retry came due); 0 when none is due. Refreshed every second by the mail worker, or by `relay serve` with `RELAY_MAIL_WORKER=off`. Rising means patients wait for their link |
| `terminrelay_flood_pressure` | gauge | none | submissions to the whole relay in the last minute over `RELAY_FLOOD_RELAY`; from 1 on, the relay is in flood mode and every submission needs a proof of work |
| `terminrelay_practice_flood_pressure` | gauge | `practice` | the same for one practice, over `RELAY_FLOOD_PRACTICE` |
| `terminrelay_redis_memory_used_ratio` | gauge | none | `used_memory` over `maxmemory` of the fullest Redis node (0 without `maxmemory`): at 1 a `noeviction` Redis refuses writes |
| `terminrelay_redis_evicting` | gauge | none | 1 when a Redis node's `maxmemory-policy` is not `noeviction`: full, it would silently delete keys, bookings among them |

The flood and Redis memory gauges are refreshed with the per-practice gauges, every 15 s by
`relay serve`.

Labels hold no personal data and no tokens: only route templates, HTTP method and status,
the booking step or mail outcome, and the practice slug. The per-practice gauges are
refreshed by the app with `set_inbox_stats`; the counters count in this process only.
"""  # noqa: E501  (the table's rows are reused as they are in the operator docs)

from __future__ import annotations

from collections.abc import Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

BOOKING_EVENTS = (
    "submitted",
    "confirmed",
    "withdrawn",
    "expired",
    "delivered",
    "acknowledged",
    "rejected",
    "slot_conflict",
    "resent",
    "cancelled",
    # The practice's answers and the patient's replies to a proposed time
    # (relay/booking/answers.py).
    "answer_accept",
    "answer_decline",
    "answer_propose",
    "answer_cancel",
    "reply_accept",
    "reply_decline",
    # Reminders the practice's client asked for, and patients stopping them
    # (relay/booking/reminders.py).
    "reminder_queued",
    "reminder_opt_out",
    # A patient holding a new time, and moving the booking there (relay/booking/moves.py).
    "move_hold",
    "moved",
)
LIMIT_KINDS = (
    "network",
    "recipient",
    "pow_required",
    "pow_invalid",
    "guess_confirm",
    "guess_practice",
)
POW_EVENTS = ("issued", "solved")
MAIL_OUTCOMES = ("sent", "failed", "retried")

# Prometheus's default buckets stop at 10 s; inbox long polls wait up to 60 s.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """The relay's metrics in a registry of their own, so tests can build many apps."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.bookings = Counter(
            "terminrelay_bookings_total",
            "Bookings by step of their life.",
            ["event"],
            registry=self.registry,
        )
        self.mail = Counter(
            "terminrelay_mail_total",
            "Confirmation mails by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "terminrelay_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route", "method", "status"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.redis_errors = Counter(
            "terminrelay_redis_errors_total",
            "Redis commands that failed.",
            registry=self.registry,
        )
        self.inbox_depth = Gauge(
            "terminrelay_inbox_items",
            "Confirmed bookings waiting in a practice's inbox.",
            ["practice"],
            registry=self.registry,
        )
        self.inbox_oldest_age = Gauge(
            "terminrelay_inbox_oldest_item_age_seconds",
            "Age of the oldest item in a practice's inbox; 0 when empty.",
            ["practice"],
            registry=self.registry,
        )
        self.pending = Gauge(
            "terminrelay_pending_bookings",
            "Bookings waiting for the patient's confirmation.",
            ["practice"],
            registry=self.registry,
        )
        self.mail_queue_age = Gauge(
            "terminrelay_mail_queue_oldest_age_seconds",
            "Seconds the oldest due confirmation mail has waited; 0 when none is due.",
            registry=self.registry,
        )
        self.long_polls = Gauge(
            "terminrelay_inbox_long_polls_open",
            "Practice long polls held open by this process.",
            registry=self.registry,
        )
        self.limit_hits = Counter(
            "terminrelay_limit_hits_total",
            "Requests an abuse limit refused or challenged, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.pow_challenges = Counter(
            "terminrelay_pow_challenges_total",
            "Proof-of-work challenges issued and solved.",
            ["event"],
            registry=self.registry,
        )
        self.pow_difficulty = Gauge(
            "terminrelay_pow_difficulty",
            "maxnumber of the latest proof-of-work challenge issued.",
            registry=self.registry,
        )
        self.flood_pressure = Gauge(
            "terminrelay_flood_pressure",
            "Relay-wide submissions in the last minute over the flood threshold.",
            registry=self.registry,
        )
        self.practice_flood_pressure = Gauge(
            "terminrelay_practice_flood_pressure",
            "A practice's submissions in the last minute over its flood threshold.",
            ["practice"],
            registry=self.registry,
        )
        self.redis_memory_ratio = Gauge(
            "terminrelay_redis_memory_used_ratio",
            "used_memory over maxmemory of the fullest Redis node; 0 without maxmemory.",
            registry=self.registry,
        )
        self.redis_evicting = Gauge(
            "terminrelay_redis_evicting",
            "1 when a Redis node's maxmemory-policy is not noeviction.",
            registry=self.registry,
        )
        # Touch every fixed label value so each series shows 0 from the first scrape:
        # rate() and alerts see a series that exists before its first event.
        for event in BOOKING_EVENTS:
            self.bookings.labels(event=event)
        for outcome in MAIL_OUTCOMES:
            self.mail.labels(outcome=outcome)
        for kind in LIMIT_KINDS:
            self.limit_hits.labels(kind=kind)
        for pow_event in POW_EVENTS:
            self.pow_challenges.labels(event=pow_event)
        self._practices: set[str] = set()
        self._flood_practices: set[str] = set()

    def set_inbox_stats(self, stats: Mapping[str, tuple[int, int, float | None]]) -> None:
        """Set the per-practice gauges from {slug: (pending, inbox depth, oldest age)}.

        Practices missing from `stats` (removed since the last call) lose their series.
        """
        for practice in self._practices - stats.keys():
            self.pending.remove(practice)
            self.inbox_depth.remove(practice)
            self.inbox_oldest_age.remove(practice)
        for practice, (pending, depth, oldest_age) in stats.items():
            self.pending.labels(practice=practice).set(pending)
            self.inbox_depth.labels(practice=practice).set(depth)
            self.inbox_oldest_age.labels(practice=practice).set(
                0.0 if oldest_age is None else oldest_age
            )
        self._practices = set(stats)

    def set_flood(self, relay: float, practices: Mapping[str, float]) -> None:
        """Set the flood gauges from the pressures, relay-wide and {slug: pressure}."""
        self.flood_pressure.set(relay)
        for practice in self._flood_practices - practices.keys():
            self.practice_flood_pressure.remove(practice)
        for practice, pressure in practices.items():
            self.practice_flood_pressure.labels(practice=practice).set(pressure)
        self._flood_practices = set(practices)

    def set_redis_memory(self, nodes: Sequence[tuple[int, int, str]]) -> None:
        """Set the Redis memory gauges from (used_memory, maxmemory, policy) per node."""
        self.redis_memory_ratio.set(
            max((used / limit for used, limit, _ in nodes if limit > 0), default=0.0)
        )
        self.redis_evicting.set(float(any(policy != "noeviction" for *_, policy in nodes)))

    def render(self) -> tuple[bytes, str]:
        """Return the exposition body and its content type.

        The content type carries parameters (version, charset): with aiohttp pass it as a
        `Content-Type` header, not as `content_type=`.
        """
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
