"""The seven languages the patient pages, mails and calendar files speak."""

from __future__ import annotations

LANGUAGES = ("de", "en", "tr", "ar", "ru", "uk", "pl")
DEFAULT_LANGUAGE = "de"
RIGHT_TO_LEFT = frozenset({"ar"})

# Each language named in itself, as the language switcher shows it.
SELF_NAMES = {
    "de": "Deutsch",
    "en": "English",
    "tr": "Türkçe",
    "ar": "العربية",
    "ru": "Русский",
    "uk": "Українська",
    "pl": "Polski",
}

# The Babel (CLDR) locale whose dates and plural rules a language uses. Germany's forms,
# where CLDR has them; Arabic has no German variant, and its dates use Latin digits in
# Babel, as appointment letters, insurance cards and phones here do (docs/translating.md).
BABEL_LOCALES = {
    "de": "de_DE",
    "en": "en_GB",
    "tr": "tr_TR",
    "ar": "ar",
    "ru": "ru_RU",
    "uk": "uk_UA",
    "pl": "pl_PL",
}


def known(lang: str) -> str:
    """`lang` if it is one of ours, else the default language."""
    return lang if lang in SELF_NAMES else DEFAULT_LANGUAGE


def direction(lang: str) -> str:
    """ "rtl" or "ltr", for `dir` attributes."""
    return "rtl" if lang in RIGHT_TO_LEFT else "ltr"
