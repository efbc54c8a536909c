"""The booking's field rules as one JSON document, for readers that cannot import relay.

The form's script validates what it seals with it before the relay could (the relay never
sees those fields), and the practice client checks the inner document it opens with it
(docs/protocol.md, "Sealed in the browser"). `scripts/gen-rules` writes it to
relay/web/static/booking-rules.json and practice_client/relay/booking_rules.json, and
tests/test_rules_file.py fails when either differs from what this module builds: one
source of truth, never two hand-kept copies.
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Iterator

from relay.booking.fields import FIELDS
from relay.booking.submission import MAX_AGE_YEARS, MAX_WISH_AHEAD
from relay.crypto.sealing import PAD_FLOOR, PAD_MAX
from relay.practice.profile import MAX_ENTRY_NAME_LENGTH, MAX_SLOT_LENGTH
from relay.rules import contact, text

RULES_VERSION = 1

# What only the sealed inner document carries in protocol 2: the relay refuses a browser-
# sealed submission that sends any of these in the clear.
SEALED_ONLY: tuple[str, ...] = (
    "first_name",
    "last_name",
    "birth_date",
    "gender",
    "insurance",
    "note",
    "new_patient",
    "doctor",
    "appointment_type",
    "phone",
    # Whether the patient asked for reminders: the relay never learns it (protocol 2).
    "reminder",
)
# What the relay still reads beside the blob (the e-mail address for the link, consent,
# and the time: a slot id or a wish's frame); the inner document repeats them, bound.
CLEAR: tuple[str, ...] = ("email", "consent", "start", "end")


def _ranges(multiline: bool) -> list[list[int]]:
    """The code points text may not hold, as [first, last] ranges (relay/rules/text.py)."""
    ranges: list[list[int]] = []
    for code_point in _forbidden(multiline):
        if ranges and ranges[-1][1] == code_point - 1:
            ranges[-1][1] = code_point
        else:
            ranges.append([code_point, code_point])
    return ranges


def _forbidden(multiline: bool) -> Iterator[int]:
    check = text.multi_line_problem if multiline else text.single_line_problem
    for code_point in range(sys.maxunicode + 1):
        if check(chr(code_point)) is not None:
            yield code_point


def build() -> dict[str, object]:
    """The rules document; stable key order, so the written file diffs cleanly."""
    fields: dict[str, object] = {}
    for spec in FIELDS:
        rule: dict[str, object] = {"kind": spec.kind, "required": spec.required}
        if spec.required_when_offered:
            rule["required_when_offered"] = True
            rule["max_length"] = MAX_ENTRY_NAME_LENGTH
        if spec.max_length is not None:
            rule["max_length"] = spec.max_length
        if spec.choices:
            rule["choices"] = list(spec.choices)
        if spec.kind == "textarea":
            rule["multiline"] = True
        fields[spec.name] = rule
    return {
        "version": RULES_VERSION,
        "fields": fields,
        "sealed_only": list(SEALED_ONLY),
        "clear": list(CLEAR),
        # The Unicode version of the Python that wrote it: which code points are format
        # characters grows with it (tests/test_rules_file.py compares the ranges only on a
        # Python of that version).
        "text": {
            "unicode_version": unicodedata.unidata_version,
            "forbidden": _ranges(False),
            "forbidden_multiline": _ranges(True),
        },
        "email": {
            "pattern": contact.EMAIL_PATTERN,
            "max_length": contact.MAX_EMAIL_LENGTH,
            "max_local_part": contact.MAX_EMAIL_LOCAL_PART,
        },
        "phone": {
            "pattern": contact.PHONE_PATTERN,
            "min_digits": contact.MIN_PHONE_DIGITS,
            "max_digits": contact.MAX_PHONE_DIGITS,
        },
        "birth_date": {"max_age_years": MAX_AGE_YEARS},
        "wish": {
            "max_ahead_days": MAX_WISH_AHEAD.days,
            "max_minutes": int(MAX_SLOT_LENGTH.total_seconds() // 60),
        },
        "padding": {"floor": PAD_FLOOR, "max": PAD_MAX},
    }
