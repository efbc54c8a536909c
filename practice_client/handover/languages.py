"""The patient's language in the files for the practice: its German name.

The booking's `language` is a BCP 47 primary tag, one of the relay's seven. The files are
read by practice staff and stay German whatever the client's locale (German is the
practice's working language); a code without a name here is shown as the code.
"""

from __future__ import annotations

GERMAN_NAMES = {
    "de": "Deutsch",
    "en": "Englisch",
    "tr": "Türkisch",
    "ar": "Arabisch",
    "ru": "Russisch",
    "uk": "Ukrainisch",
    "pl": "Polnisch",
}

# The languages patients can choose on the relay, by BCP 47 primary tag.
PATIENT_LANGUAGES = tuple(GERMAN_NAMES)


def german_name(code: str) -> str:
    return GERMAN_NAMES.get(code, code)
