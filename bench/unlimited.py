"""Relay settings that raise the abuse limits (relay/abuse/limits.py) out of a bench's way.

A load generator is one client network flooding one practice: with the product's limits
it would measure refusals. The request-path benches measure the path, and
bench/abuse_bench.py measures the limits themselves.
"""

from __future__ import annotations

UNLIMITED = {
    "RELAY_SUBMIT_LIMIT": "100000",
    "RELAY_SUBMIT_HARD_LIMIT": "1000000",
    "RELAY_RECIPIENT_LIMIT": "1000",
    "RELAY_POW": "off",
    "RELAY_FLOOD_RELAY": "10000000",
    "RELAY_FLOOD_PRACTICE": "1000000",
    "RELAY_GUESS_LIMIT": "1000000",
}
