"""The privacy page's list of collected data, generated from relay.fields.FIELDS.

Never a second list: a field added to or removed from FIELDS changes this page too.
"""

from __future__ import annotations

from dataclasses import dataclass

from relay.fields import FIELDS
from relay.web.i18n import page_text


@dataclass(frozen=True)
class CollectedField:
    name: str
    label: str
    purpose: str
    required: str


def collected_fields(lang: str) -> list[CollectedField]:
    """Every booking field with why it is collected and whether it must be given."""
    rows = []
    for spec in FIELDS:
        if spec.required_when_offered:
            required = page_text(lang, "privacy_required_when_offered")
        else:
            required = page_text(lang, "yes" if spec.required else "no")
        rows.append(CollectedField(spec.name, spec.label[lang], spec.purpose[lang], required))
    return rows
