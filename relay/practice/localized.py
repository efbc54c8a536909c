"""The practice's own words in the patients' languages: the per-language maps of a profile
and the text a page shows, with the language it is in.

A profile's texts are written in its `language`; beside some of them the practice may
give the same text in other languages (`"names": {"tr": "İlk görüşme"}`). A page asks for
its own language and gets that text if the practice gave it, else the profile's own, with
that language named: the page then marks it (`lang`, `dir`), so screen readers pronounce
it right and Arabic in a German page runs right to left.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from relay.i18n.languages import LANGUAGES
from relay.rules.values import ErrorCode

T = TypeVar("T")

# (language, value) pairs in LANGUAGES order, one per language at most: a tuple, so the
# frozen dataclasses holding it stay hashable, and the same order whatever order the
# practice sent, so equal profiles compare and serialise equal.
ByLanguage = tuple[tuple[str, T], ...]


@dataclass(frozen=True)
class Localized:
    """A text of the practice and the language it is written in."""

    text: str
    lang: str


class LocalizedLines(NamedTuple):
    """Lines of the practice (opening hours) and the language they are written in."""

    lines: tuple[str, ...]
    lang: str


def in_language(own: T, by_language: ByLanguage[T], lang: str, own_language: str) -> tuple[T, str]:
    """The value given for `lang`, else `own` (in `own_language`), with its language."""
    for code, value in by_language:
        if code == lang:
            return value, code
    return own, own_language


def parse_by_language(
    errors: dict[str, ErrorCode],
    path: str,
    value: object,
    parse: Callable[[dict[str, ErrorCode], str, object], T | None],
) -> ByLanguage[T]:
    """A JSON object from language codes to values, each read by `parse(errors, path,
    item)`; null or absent is none. A value `parse` makes None or empty (an empty list, a
    blank optional note) is left out: it would hide the profile's own text, not translate it.
    """
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        errors[path] = "not_object"
        return ()
    for key in value:
        if key not in LANGUAGES:
            errors[f"{path}.{key}"] = "unknown_field"
    pairs: list[tuple[str, T]] = []
    for code in LANGUAGES:
        if code in value:
            item = parse(errors, f"{path}.{code}", value[code])
            if item:
                pairs.append((code, item))
    return tuple(pairs)
