"""The gettext catalogs of the patient texts: one per language, read once per process.

Message ids are the English texts; `locale/<lang>/LC_MESSAGES/relay.po` holds each
language's translations and the `.mo` beside it their compiled form, which is what the
relay reads. The `.mo` files are shipped in the repository and the package, so a fresh
clone, a wheel and the Docker image need no compile step; `scripts/i18n check` (run by
the test suite) fails when one is not current with its `.po` (docs/translating.md).

Placeholders are Python's `%(name)s`. A translation is filled in only when values are
given, and one whose placeholders do not fit (CI refuses those; see
tests/test_catalogs.py) falls back to the English text rather than failing a request.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TypeVar, cast

from babel.support import NullTranslations, Translations

from relay.i18n.languages import known

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "relay"
S = TypeVar("S", bound=str)


def N_(message: str) -> str:  # noqa: N802 (gettext's own name for it)
    """Marks a text for extraction where it is defined and translated later (gettext_noop)."""
    return message


class Message:
    """A text marked for translation where it is defined and read in a language where it
    is shown, as `message[lang]`: the field list's labels, say."""

    __slots__ = ("msgid",)

    def __init__(self, msgid: str) -> None:
        self.msgid = msgid

    def __getitem__(self, lang: str) -> str:
        return texts(lang).gettext(self.msgid)

    def __repr__(self) -> str:
        return f"Message({self.msgid!r})"


class Texts:
    """One language's texts: gettext, ngettext and pgettext, with `%(name)s` values."""

    __slots__ = ("catalog",)

    def __init__(self, catalog: NullTranslations) -> None:
        self.catalog = catalog

    def gettext(self, message: str, /, **values: object) -> str:
        return _fill(self.catalog.gettext(message), message, values)

    def ngettext(self, singular: str, plural: str, n: int, /, **values: object) -> str:
        """The form of `n`; `%(num)s` is `n` unless given."""
        values.setdefault("num", n)
        fallback = singular if n == 1 else plural
        return _fill(self.catalog.ngettext(singular, plural, n), fallback, values)

    def pgettext(self, context: str, message: str, /, **values: object) -> str:
        return _fill(str(self.catalog.pgettext(context, message)), message, values)


def _fill(text: str, fallback: str, values: dict[str, object]) -> str:
    if not values:
        return text
    return fill(text, fallback, values)


def fill(text: S, fallback: S, values: dict[str, object]) -> S:
    """`text % values`, or `fallback % values` when a translation's placeholders do not fit."""
    # Markup % values is Markup, with each value escaped (relay/i18n/templates.py).
    try:
        return cast(S, text % values)
    except (KeyError, ValueError, TypeError):
        return cast(S, fallback % values)


@functools.cache
def texts(lang: str) -> Texts:
    """The texts of `lang` (of the default language for one we do not speak)."""
    return Texts(_catalog(known(lang)))


def _catalog(lang: str) -> NullTranslations:
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
    with path.open("rb") as file:
        return Translations(file, domain=DOMAIN)
