"""gettext for the Jinja2 templates (`jinja2.ext.i18n`), per language and escaping.

Templates call `_()`, `gettext()`, `ngettext()` and `pgettext()` (and `{% trans %}`),
which resolve from the render context, so one environment serves every language. Unlike
Jinja2's own newstyle gettext, the translation itself is escaped too, not only the
values put into it: a translation can never add markup to a page or a mail.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from markupsafe import Markup, escape

from relay.i18n.catalogs import fill, texts


@functools.cache
def gettext_context(lang: str) -> dict[str, Callable[..., Markup]]:
    """What a template's context needs to translate into `lang`."""
    catalog = texts(lang).catalog

    def gettext(message: str, /, **values: object) -> Markup:
        return _filled(catalog.gettext(message), message, values)

    def ngettext(singular: str, plural: str, n: int, /, **values: object) -> Markup:
        values.setdefault("num", n)
        fallback = singular if n == 1 else plural
        return _filled(catalog.ngettext(singular, plural, n), fallback, values)

    def pgettext(context: str, message: str, /, **values: object) -> Markup:
        return _filled(str(catalog.pgettext(context, message)), message, values)

    return {
        "gettext": gettext,
        "_": gettext,
        "ngettext": ngettext,
        "pgettext": pgettext,
        "isolate": isolate,
    }


# A phone number or a date written with spaces or signs: "+49 30 1234567".
_NUMBER = re.compile(r"\+?\d[\d ./:–-]*\d")


def isolate_numbers(text: object) -> Markup:
    """`text`, escaped, with each number in it as a left-to-right run: in an Arabic
    sentence "+49 30 1234567" would otherwise read "1234567 30 49+"."""
    escaped = str(escape(text))
    # Safe: the text is escaped, and what is added is the element around digits.
    return Markup(_NUMBER.sub(lambda found: f'<bdi dir="ltr">{found.group(0)}</bdi>', escaped))  # noqa: S704


def isolate(value: object) -> Markup:
    """`value` as a run of its own direction inside a translated sentence (`<bdi>`): a
    practice's name, a date or an address keeps its order in an Arabic sentence."""
    return Markup("<bdi>%s</bdi>") % (value,)


def _filled(text: str, fallback: str, values: dict[str, object]) -> Markup:
    # Markup % escapes each value; the translation is escaped first, as any text is.
    if not values:
        return escape(text)
    return fill(escape(text), escape(fallback), values)
