"""A practice's slots indexed once per profile version; the free ones as a view over it.

A practice publishes a few times a day, while patients look at its slots thousands of
times in between. Everything that depends only on the profile is computed here once per
profile version: the slots in time order, their ids (SHA-256) and positions, the JSON of
each slot. What a request adds is the set of held or taken slots, which is small next to
the calendar; the free slots are then a view (`FreeSlots`): positions in the sorted list
minus the held positions, found by bisection. No request parses, hashes or formats every
slot again, and listing a week of free slots costs the same with 20 or 5,000 published.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import overload

import orjson

from relay.practice.insurance import slot_insurance_json
from relay.practice.profile import Profile, Slot
from relay.rules.values import require_aware


class SlotIndex:
    """The slots of one profile version: sorted by start (publication order among equal
    starts, like `relay.profile.free_slots`), with ids and positions."""

    def __init__(self, profile: Profile) -> None:
        self._index(sorted(profile.slots, key=lambda slot: slot.start))

    def _index(self, ordered: Sequence[Slot]) -> None:
        self.slots: tuple[Slot, ...] = tuple(ordered)
        self.ids: tuple[str, ...] = tuple(slot.id for slot in ordered)
        self.position: dict[str, int] = {slot_id: i for i, slot_id in enumerate(self.ids)}
        self._starts = [slot.start.timestamp() for slot in ordered]
        self._json: tuple[bytes, ...] | None = None
        self._by_insurance: dict[str, SlotIndex] = {}

    def for_insurance(self, insurance: str) -> SlotIndex:
        """The slots a patient insured so may book, indexed like these: built on first
        use, once per profile version and insurance type (three at most), so a filtered
        picker costs per request what an unfiltered one does."""
        index = self._by_insurance.get(insurance)
        if index is None:
            index = SlotIndex.__new__(SlotIndex)
            index._index([slot for slot in self.slots if slot.fits(insurance)])
            self._by_insurance[insurance] = index
        return index

    def __len__(self) -> int:
        return len(self.slots)

    def free(self, unavailable_ids: Iterable[str], now: datetime) -> FreeSlots:
        """The slots starting after `now` that are not among `unavailable_ids`.

        Costs O(h log h) for h unavailable ids, independent of the number of slots.
        """
        require_aware(now)
        return self._free(unavailable_ids, now.timestamp())

    def _free(self, unavailable_ids: Iterable[str], after: float) -> FreeSlots:
        first = bisect.bisect_right(self._starts, after)
        held = sorted(
            {
                position
                for slot_id in unavailable_ids
                if (position := self.position.get(slot_id)) is not None and position >= first
            }
        )
        return FreeSlots(self, first, held, after)

    def slot_json(self) -> tuple[bytes, ...]:
        """Each slot as the public profile's JSON writes it, serialised once per version."""
        if self._json is None:
            self._json = tuple(
                orjson.dumps(
                    {
                        "start": slot.start.isoformat(),
                        "end": slot.end.isoformat(),
                        "doctor": slot.doctor,
                        "appointment_type": slot.appointment_type,
                        **slot_insurance_json(slot.insurance),
                    }
                )
                for slot in self.slots
            )
        return self._json


class FreeSlots(Sequence[Slot]):
    """The free slots, sorted by start, as a read-only sequence over a `SlotIndex`.

    Indexing and `in` cost O(log h) for h held slots; slicing and iteration cost what they
    return. So bisection over it (the slot picker's week, a chosen slot) never walks the
    calendar.
    """

    __slots__ = ("_after", "_first", "_held", "_held_set", "_index", "_shifted")

    def __init__(self, index: SlotIndex, first: int, held: list[int], after: float) -> None:
        self._index = index
        # The moment (a timestamp) the free slots start after; `first` is its position.
        self._after = after
        self._first = first
        # Sorted positions (all >= first) of slots that are held or taken.
        self._held = held
        self._held_set = frozenset(held)
        # held[k] - k is non-decreasing: the number of free positions before held[k],
        # offset by `first`. Bisecting it maps a free index to a position.
        self._shifted = [position - k for k, position in enumerate(held)]

    @property
    def slot_index(self) -> SlotIndex:
        return self._index

    def for_insurance(self, insurance: str) -> FreeSlots:
        """These free slots less those kept for other insurance types, as a view over the
        index's per-insurance index: O(h log h) for h held slots, never the calendar."""
        held_ids = (self._index.ids[position] for position in self._held)
        return self._index.for_insurance(insurance)._free(held_ids, self._after)

    @property
    def positions(self) -> Iterator[int]:
        """Positions of the free slots in `index.slots`, in order."""
        held = iter(self._held)
        next_held = next(held, None)
        for position in range(self._first, len(self._index.slots)):
            if position == next_held:
                next_held = next(held, None)
                continue
            yield position

    def __len__(self) -> int:
        return len(self._index.slots) - self._first - len(self._held)

    def _position(self, free_index: int) -> int:
        target = self._first + free_index
        return target + bisect.bisect_right(self._shifted, target)

    @overload
    def __getitem__(self, item: int) -> Slot: ...

    @overload
    def __getitem__(self, item: slice) -> list[Slot]: ...

    def __getitem__(self, item: int | slice) -> Slot | list[Slot]:
        if isinstance(item, slice):
            return [self[i] for i in range(*item.indices(len(self)))]
        length = len(self)
        if item < 0:
            item += length
        if not 0 <= item < length:
            raise IndexError("free slot index out of range")
        return self._index.slots[self._position(item)]

    def __iter__(self) -> Iterator[Slot]:
        slots = self._index.slots
        return (slots[position] for position in self.positions)

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, Slot):
            return False
        position = self._index.position.get(value.id)
        return (
            position is not None
            and position >= self._first
            and position not in self._held_set
            and self._index.slots[position] == value
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FreeSlots | list | tuple):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def json_fragments(self) -> Iterator[bytes]:
        """The JSON of each free slot, from the once-per-version serialisation."""
        fragments = self._index.slot_json()
        return (fragments[position] for position in self.positions)

    @property
    def key(self) -> tuple[int, tuple[int, ...]]:
        """What the free set depends on beyond the index: equal keys, equal slots."""
        return self._first, tuple(self._held)


def fitting(free: Sequence[Slot], insurance: str) -> Sequence[Slot]:
    """The free slots a patient insured so may book: a view for `FreeSlots`, a filtered
    copy for a plain list (tests, a profile without an index)."""
    if isinstance(free, FreeSlots):
        return free.for_insurance(insurance)
    return [slot for slot in free if slot.fits(insurance)]
