"""Slots kept for some insurance types: a slot's optional `insurance` member.

Many German practices keep times for privately or statutorily insured patients only. A
published slot may say so with `"insurance": ["private"]` (any non-empty subset of
INSURANCES); without the member it is open to every patient. The values are the booking
field `insurance`'s choices (relay/booking/fields.py takes them from here).
"""

from __future__ import annotations

from collections.abc import Mapping

from relay.rules.values import ErrorCode

# The booking field's choices, in the order forms list them.
INSURANCES: tuple[str, ...] = ("statutory", "private", "self_pay")
# A slot open to every insurance: the profile member is absent.
EVERY_INSURANCE: tuple[str, ...] = ()


def parse_slot_insurance(errors: dict[str, ErrorCode], path: str, value: object) -> tuple[str, ...]:
    """A slot's `insurance` member (absent or null: every insurance), in INSURANCES' order.

    Records a failure per path: `{path}` for a value that is no list or an empty one,
    `{path}[i]` for an entry that is not an insurance type or repeats one.
    """
    if value is None:
        return EVERY_INSURANCE
    if not isinstance(value, list):
        errors[path] = "not_list"
        return EVERY_INSURANCE
    if not value:
        # An empty list would be a slot nobody may book: surely a mistake.
        errors[path] = "required"
        return EVERY_INSURANCE
    chosen: set[str] = set()
    for index, item in enumerate(value):
        if not isinstance(item, str):
            errors[f"{path}[{index}]"] = "not_string"
        elif item not in INSURANCES:
            errors[f"{path}[{index}]"] = "invalid_choice"
        elif item in chosen:
            errors[f"{path}[{index}]"] = "duplicate"
        else:
            chosen.add(item)
    if len(chosen) == len(INSURANCES):
        # Every type is the same as none named: one spelling, so slots compare equal.
        return EVERY_INSURANCE
    return tuple(kind for kind in INSURANCES if kind in chosen)


def slot_insurance_json(insurance: tuple[str, ...]) -> dict[str, object]:
    """The member as a slot's JSON carries it: nothing for a slot open to everyone, so
    profiles without limited slots read exactly as before."""
    return {"insurance": list(insurance)} if insurance else {}


def stored_slot_insurance(item: Mapping[object, object]) -> tuple[str, ...]:
    """The member of a stored slot (absent in slots stored before it existed)."""
    value = item.get("insurance")
    if value is None:
        return EVERY_INSURANCE
    if not isinstance(value, list) or not all(kind in INSURANCES for kind in value):
        raise TypeError("stored profile: expected a list of insurance types")
    return tuple(kind for kind in INSURANCES if kind in value)


def fits(insurance: tuple[str, ...], patient_insurance: str) -> bool:
    """Whether a patient with `patient_insurance` may book a slot limited to `insurance`."""
    return not insurance or patient_insurance in insurance
