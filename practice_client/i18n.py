"""The client's own words in the practice's language: German or English, from the locale.

Messages are English msgids looked up in practice_client/locale/<lang>/LC_MESSAGES/
practice_client.mo (stdlib gettext: Babel is a tool of scripts/i18n-client, not a
dependency of the installed client). The language is chosen once, at the first message:
German when the locale names it, English otherwise.

Files written for the practice (.ics, FHIR) do not pass through here: they are German
whatever the locale, the practice's working language.
"""

from __future__ import annotations

import argparse
import functools
import gettext as _gettext
import locale
import os
import sys
from collections.abc import Mapping
from pathlib import Path

DOMAIN = "practice_client"
LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "en"
# POSIX precedence for LC_MESSAGES; GNU gettext's LANGUAGE, a list, comes before them.
_LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")


def system_language(
    environ: Mapping[str, str] = os.environ, *, windows: bool = sys.platform == "win32"
) -> str:
    """ "de" or "en": what the locale variables name, else (Windows) the user's locale."""
    posix = next((environ[name] for name in _LOCALE_VARIABLES if environ.get(name)), "")
    # GNU gettext ignores LANGUAGE under the C locale; so do we.
    if environ.get("LANGUAGE") and _primary(posix) not in ("c", "posix"):
        for entry in environ["LANGUAGE"].split(":"):
            if _primary(entry) in LANGUAGES:
                return _primary(entry)
    if posix:
        return "de" if _primary(posix) == "de" else DEFAULT_LANGUAGE
    if windows:
        # Windows sets no such variables; its user locale reads "German_Germany" or "de_DE".
        name = locale.getlocale()[0] or ""
        return "de" if name.lower().startswith(("de", "german")) else DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE


def _primary(tag: str) -> str:
    """ "de_DE.UTF-8@euro" -> "de"."""
    for separator in "_.@-":
        tag = tag.split(separator, 1)[0]
    return tag.strip().lower()


@functools.cache
def translations() -> _gettext.NullTranslations:
    """The catalog of the system language, loaded at first use; English without one."""
    return _gettext.translation(
        DOMAIN, localedir=LOCALE_DIR, languages=[system_language()], fallback=True
    )


def gettext(message: str) -> str:
    return translations().gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    return translations().ngettext(singular, plural, count)


def N_(message: str) -> str:  # noqa: N802 - the name xgettext and Babel know
    """Marks a message for extraction without translating it (here: argparse's own)."""
    return message


def Nn_(singular: str, plural: str) -> tuple[str, str]:  # noqa: N802 - a marker, like N_
    """Marks a plural message for extraction (scripts/i18n_client.py names this keyword)."""
    return singular, plural


def translate_argparse() -> None:
    """argparse's own words ("usage:", "options", its parse errors) through our catalog.

    argparse looks them up with the `_` and `ngettext` it imported from gettext, in the
    default domain, which has no catalog for us. Rebinding those two module globals is
    the small shim: every parser of this process speaks the practice's language, which in
    a command-line program is what is wanted. The msgids are listed in _ARGPARSE_MESSAGES
    so that extraction puts them in our catalog.
    """
    argparse._ = gettext  # type: ignore[attr-defined]
    argparse.ngettext = ngettext  # type: ignore[attr-defined]


# argparse's messages a user can meet (Python 3.11 to 3.13), not those of a programming error.
_ARGPARSE_MESSAGES = (
    N_("usage: "),
    N_("options"),
    N_("positional arguments"),
    N_("%(heading)s:"),
    N_("show this help message and exit"),
    N_("the following arguments are required: %s"),
    N_("unrecognized arguments: %s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("expected one argument"),
    N_("expected at least one argument"),
    N_("expected at most one argument"),
    N_("invalid %(type)s value: %(value)r"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("not allowed with argument %s"),
    N_("ignored explicit argument %r"),
    N_("one of the arguments %s is required"),
    N_("unknown parser %(parser_name)r (choices: %(choices)s)"),
    Nn_("expected %s argument", "expected %s arguments"),
)
