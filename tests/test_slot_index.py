"""The slot index and its free-slot view (relay/practice/slot_index.py) against the plain
definition in relay/practice/profile.py: the same free slots, in the same order, whatever
is held."""

from __future__ import annotations

import bisect
import random
from datetime import UTC, datetime, timedelta

import pytest

from relay.practice.profile import Profile, Slot, default_profile, free_slots
from relay.practice.slot_index import SlotIndex

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
DOCTORS = ("Dr. A", "Dr. B", "Dr. C")


def calendar(count: int, seed: int) -> Profile:
    """`count` slots around NOW (some already begun), several doctors at the same times,
    in a shuffled publication order."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible test calendar
    slots = []
    for index in range(count):
        start = NOW + timedelta(minutes=15 * (index // len(DOCTORS)) - 120)
        slots.append(
            Slot(start, start + timedelta(minutes=15), DOCTORS[index % len(DOCTORS)], None)
        )
    rng.shuffle(slots)
    base = default_profile("Praxis")
    return Profile(
        name=base.name,
        time_zone=base.time_zone,
        doctors=DOCTORS,
        appointment_types=(),
        slots=tuple(slots),
        accept_wishes=True,
        frame_ancestors=(),
    )


@pytest.mark.parametrize(("count", "held_share"), [(0, 0.0), (20, 0.3), (3000, 0.05), (3000, 0.9)])
def test_free_view_equals_the_plain_definition(count: int, held_share: float) -> None:
    """Iteration, length, indexing, slices and membership match free_slots()."""
    profile = calendar(count, seed=count)
    rng = random.Random(7)  # noqa: S311 - reproducible holds
    held = {slot.id for slot in profile.slots if rng.random() < held_share}
    held |= {"0123456789abcdef"}  # an id of no slot (the profile changed meanwhile)
    expected = free_slots(profile, held, NOW)
    free = SlotIndex(profile).free(held, NOW)

    assert list(free) == expected
    assert len(free) == len(expected)
    assert [free[i] for i in range(len(free))] == expected
    assert [free[-i] for i in range(1, len(free) + 1)] == [
        expected[-i] for i in range(1, len(expected) + 1)
    ]
    assert free[3:40:2] == expected[3:40:2]
    for slot in profile.slots:
        assert (slot in free) == (slot in expected)
    with pytest.raises(IndexError):
        free[len(expected)]


def test_bisection_over_the_view_finds_a_week() -> None:
    """The slot picker's bisection by start works on the view as on a list."""
    profile = calendar(3000, seed=1)
    held = {slot.id for slot in profile.slots[::4]}
    expected = free_slots(profile, held, NOW)
    free = SlotIndex(profile).free(held, NOW)
    for moment in (
        NOW,
        NOW + timedelta(hours=30),
        NOW + timedelta(days=20),
        NOW + timedelta(days=400),
    ):
        assert bisect.bisect_left(free, moment, key=lambda s: s.start) == bisect.bisect_left(
            expected, moment, key=lambda s: s.start
        )


def test_time_passing_drops_begun_slots_and_holds_of_them() -> None:
    """A later `now` drops the slots begun by then, held or not."""
    profile = calendar(60, seed=2)
    index = SlotIndex(profile)
    held = {slot.id for slot in profile.slots[:10]}
    later = NOW + timedelta(hours=2)
    assert list(index.free(held, later)) == free_slots(profile, held, later)


def test_slot_json_is_serialised_once_per_index() -> None:
    """The per-slot JSON is computed once and reused by every view of the index."""
    profile = calendar(30, seed=3)
    index = SlotIndex(profile)
    first = index.free(set(), NOW)
    assert list(first.json_fragments()) == list(index.free(set(), NOW).json_fragments())
    assert index.slot_json() is index.slot_json()
