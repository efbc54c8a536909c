"""The languages patients are served in: their codes, names and writing direction.

It imports nothing of the relay's, so that every wing, down to `rules`, may use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

# BCP 47 primary language subtags, in the order the language menu lists them.
LANGUAGES = ("de", "en", "tr", "ar", "ru", "uk", "pl")
DEFAULT_LANGUAGE = "de"
RIGHT_TO_LEFT = frozenset({"ar"})
# Each language named in itself, as a language menu shows it.
SELF_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "de": "Deutsch",
        "en": "English",
        "tr": "Türkçe",
        "ar": "العربية",
        "ru": "Русский",
        "uk": "Українська",
        "pl": "Polski",
    }
)


def direction(lang: str) -> Literal["rtl", "ltr"]:
    """The writing direction of `lang`, as HTML's `dir` takes it."""
    return "rtl" if lang in RIGHT_TO_LEFT else "ltr"
