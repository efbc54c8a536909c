"""Prometheus metrics (relay/ops/metrics.py)."""

from __future__ import annotations

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

import relay.ops.metrics
from relay.ops.metrics import BOOKING_EVENTS, MAIL_OUTCOMES, Metrics

# Every metric family and the label names its samples may carry.
DECLARED_LABELS = {
    "terminrelay_bookings": {"event"},
    "terminrelay_mail": {"outcome"},
    "terminrelay_http_request_duration_seconds": {"route", "method", "status"},
    "terminrelay_redis_errors": set(),
    "terminrelay_inbox_items": {"practice"},
    "terminrelay_inbox_oldest_item_age_seconds": {"practice"},
    "terminrelay_pending_bookings": {"practice"},
    "terminrelay_inbox_long_polls_open": set(),
    "terminrelay_mail_queue_oldest_age_seconds": set(),
    "terminrelay_limit_hits": {"kind"},
    "terminrelay_pow_challenges": {"event"},
    "terminrelay_pow_difficulty": set(),
    "terminrelay_flood_pressure": set(),
    "terminrelay_practice_flood_pressure": {"practice"},
    "terminrelay_redis_memory_used_ratio": set(),
    "terminrelay_redis_evicting": set(),
}
# Labels Prometheus itself adds to samples: histogram buckets carry `le`.
SAMPLE_LABELS = {"le"}


def sample_value(metrics: Metrics, name: str, labels: dict[str, str]) -> float | None:
    """The value of one sample in the registry, None if it is absent."""
    return metrics.registry.get_sample_value(name, labels)


def practices_in(metrics: Metrics, name: str) -> set[str]:
    """Practice label values present for a per-practice gauge."""
    return {
        sample.labels["practice"]
        for family in metrics.registry.collect()
        if family.name == name
        for sample in family.samples
    }


def exercise(metrics: Metrics) -> None:
    """Touch every metric once, as the running relay would."""
    metrics.bookings.labels(event="submitted").inc()
    metrics.mail.labels(outcome="sent").inc()
    metrics.request_seconds.labels(route="/c/{token}", method="POST", status="303").observe(0.02)
    metrics.redis_errors.inc()
    metrics.long_polls.inc()
    metrics.set_inbox_stats({"praxis-a": (2, 3, 41.5)})
    metrics.set_flood(0.5, {"praxis-a": 1.5})
    metrics.set_redis_memory([(10, 100, "noeviction")])


def test_two_instances_do_not_clash() -> None:
    """Two Metrics each own a registry; counting in one leaves the other at 0."""
    first, second = Metrics(), Metrics()

    first.bookings.labels(event="confirmed").inc()

    assert first.registry is not second.registry
    assert sample_value(first, "terminrelay_bookings_total", {"event": "confirmed"}) == 1
    assert sample_value(second, "terminrelay_bookings_total", {"event": "confirmed"}) == 0


def test_nothing_lands_in_the_global_registry() -> None:
    """Building Metrics registers nothing with prometheus_client's default registry."""
    Metrics()

    assert REGISTRY.get_sample_value("terminrelay_redis_errors_total") is None


def test_render_contains_every_metric_name() -> None:
    """The exposition names every metric and carries Prometheus's text content type."""
    metrics = Metrics()
    exercise(metrics)

    body, content_type = metrics.render()

    text = body.decode()
    for name in (
        "terminrelay_bookings_total",
        "terminrelay_mail_total",
        "terminrelay_http_request_duration_seconds_bucket",
        "terminrelay_redis_errors_total",
        "terminrelay_inbox_items",
        "terminrelay_inbox_oldest_item_age_seconds",
        "terminrelay_pending_bookings",
        "terminrelay_inbox_long_polls_open",
    ):
        assert f"\n{name}" in text, name
    assert content_type.startswith("text/plain")


def test_render_parses_as_prometheus_text() -> None:
    """The body parses with prometheus_client's own parser and holds the counts."""
    metrics = Metrics()
    exercise(metrics)

    families = {
        family.name: family
        for family in text_string_to_metric_families(metrics.render()[0].decode())
    }

    assert set(DECLARED_LABELS) <= set(families)
    [errors] = families["terminrelay_redis_errors"].samples
    assert errors.value == 1


def test_fixed_labels_start_at_zero() -> None:
    """Every booking event and mail outcome is exported as 0 before it first happens."""
    metrics = Metrics()

    for event in BOOKING_EVENTS:
        assert sample_value(metrics, "terminrelay_bookings_total", {"event": event}) == 0
    for outcome in MAIL_OUTCOMES:
        assert sample_value(metrics, "terminrelay_mail_total", {"outcome": outcome}) == 0
    assert set(BOOKING_EVENTS) == {
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
        "answer_accept",
        "answer_decline",
        "answer_propose",
        "answer_cancel",
        "reply_accept",
        "reply_decline",
        "reminder_queued",
        "reminder_opt_out",
        "move_hold",
        "moved",
    }
    assert set(MAIL_OUTCOMES) == {"sent", "failed", "retried"}


def test_set_inbox_stats_sets_the_gauges() -> None:
    """Pending count, inbox depth and oldest age land in their per-practice gauges."""
    metrics = Metrics()

    metrics.set_inbox_stats({"praxis-a": (2, 3, 41.5), "praxis-b": (0, 0, None)})

    labels = {"practice": "praxis-a"}
    assert sample_value(metrics, "terminrelay_pending_bookings", labels) == 2
    assert sample_value(metrics, "terminrelay_inbox_items", labels) == 3
    assert sample_value(metrics, "terminrelay_inbox_oldest_item_age_seconds", labels) == 41.5
    empty = {"practice": "praxis-b"}
    assert sample_value(metrics, "terminrelay_inbox_oldest_item_age_seconds", empty) == 0


def test_set_inbox_stats_removes_stale_practices() -> None:
    """A practice missing from the next call loses all its per-practice series."""
    metrics = Metrics()
    metrics.set_inbox_stats({"praxis-a": (1, 1, 5.0), "praxis-b": (2, 2, 6.0)})

    metrics.set_inbox_stats({"praxis-b": (0, 4, 7.0)})

    for gauge in (
        "terminrelay_pending_bookings",
        "terminrelay_inbox_items",
        "terminrelay_inbox_oldest_item_age_seconds",
    ):
        assert practices_in(metrics, gauge) == {"praxis-b"}
    assert sample_value(metrics, "terminrelay_inbox_items", {"practice": "praxis-b"}) == 4


def test_set_inbox_stats_with_no_practices_clears_the_gauges() -> None:
    """An empty mapping leaves no per-practice series at all."""
    metrics = Metrics()
    metrics.set_inbox_stats({"praxis-a": (1, 1, 5.0)})

    metrics.set_inbox_stats({})

    assert practices_in(metrics, "terminrelay_inbox_items") == set()
    assert practices_in(metrics, "terminrelay_pending_bookings") == set()


def test_samples_carry_only_declared_label_names() -> None:
    """No sample carries a label beyond the ones declared for its metric."""
    metrics = Metrics()
    exercise(metrics)

    families = list(metrics.registry.collect())

    assert {family.name for family in families} == set(DECLARED_LABELS)
    for family in families:
        allowed = DECLARED_LABELS[family.name] | SAMPLE_LABELS
        for sample in family.samples:
            assert set(sample.labels) <= allowed, (sample.name, sample.labels)


def test_module_docstring_documents_every_metric() -> None:
    """The operator-facing table in the module docstring names every metric."""
    doc = relay.ops.metrics.__doc__ or ""
    for family in Metrics().registry.collect():
        exported = family.name + ("_total" if family.type == "counter" else "")
        assert f"`{exported}`" in doc, exported
