"""The patients' languages (relay/i18n/languages.py): codes, self-names, direction."""

from __future__ import annotations

import pytest

from relay.i18n.languages import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    RIGHT_TO_LEFT,
    SELF_NAMES,
    direction,
)


def test_seven_languages_german_first_and_default() -> None:
    """The seven codes, in menu order, German first and the default."""
    assert LANGUAGES == ("de", "en", "tr", "ar", "ru", "uk", "pl")
    assert DEFAULT_LANGUAGE == LANGUAGES[0] == "de"


def test_every_language_is_named_in_itself() -> None:
    """SELF_NAMES names exactly the seven, each in its own language."""
    assert tuple(SELF_NAMES) == LANGUAGES
    assert SELF_NAMES["tr"] == "Türkçe"
    assert SELF_NAMES["ar"] == "العربية"
    assert SELF_NAMES["uk"] == "Українська"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_only_arabic_runs_right_to_left(lang: str) -> None:
    """direction() is "rtl" for Arabic alone, "ltr" for the others."""
    assert direction(lang) == ("rtl" if lang == "ar" else "ltr")
    assert (lang in RIGHT_TO_LEFT) == (lang == "ar")


def test_an_unknown_language_runs_left_to_right() -> None:
    """A code outside the seven (a caller's fallback) gets "ltr" rather than an error."""
    assert direction("fr") == "ltr"
