"""Pages kept rendered, with holes for the few strings that change per request.

The result page after confirming and the "sent" page after submitting are the same for
every patient of a practice in a language, except for a few strings: the link that
switches the language (it holds the token's path), the appointment's date and time, the
calendar and cancel links, the expiry time. Rendering them with Jinja2 on every request
cost more relay time than the confirm script itself. So a page is rendered once per
*shape* (the caller's key plus which holes are empty), with a marker in place of each
hole; the output is split at the markers, and each request joins the pieces with its
strings, escaped as Jinja2's autoescape escapes a printed string. The result is the page
Jinja2 would render (tests/test_page_shells.py compares both).

The contract for a hole, which a template must keep: it is only printed (`{{ name }}`),
or tested for being empty. Never compared, filtered, sliced or joined to text inside an
expression, since the template sees the marker, not the string. An empty hole (None or
"") is no marker: it is passed as it is and makes part of the shape.
"""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

from aiohttp import web
from markupsafe import Markup, escape

# A few KB a page, a handful of shapes per practice and language: under a few MB.
MAX_SHELLS = 256

HoleValue = str | None
# Gives the template's value for a hole: its marker, or the empty value itself.
Hole = Callable[[str], HoleValue]


@dataclass(frozen=True)
class _Shell:
    # The owners the page was rendered from (compared by identity: a reloaded practice
    # renders again), the text between the holes (none: render directly), the hole at
    # each gap.
    owners: tuple[object, ...]
    texts: tuple[str, ...]
    holes: tuple[str, ...]

    def fill(self, values: Mapping[str, HoleValue]) -> str:
        pieces = [self.texts[0]]
        for name, text in zip(self.holes, self.texts[1:], strict=True):
            pieces.append(escape(values[name]))
            pieces.append(text)
        return "".join(pieces)


class PageShells:
    """A bounded LRU of pages rendered with holes (see the module's docstring)."""

    def __init__(self, max_shells: int = MAX_SHELLS) -> None:
        # 0: every page rendered directly, as the tests compare.
        self.max_shells = max_shells
        self._shells: OrderedDict[Hashable, _Shell] = OrderedDict()
        # Random per process, so no text of a profile can pose as a marker.
        # Mixed case, so that a filter like upper or lower makes it unrecognisable.
        self._marker = f"\x00Hole{secrets.token_hex(6)}:"
        self._split = re.compile(re.escape(self._marker) + r"(\d+)\x00")

    def __len__(self) -> int:
        return len(self._shells)

    def render(
        self,
        key: Hashable,
        owners: Sequence[object],
        values: Mapping[str, HoleValue],
        build: Callable[[Hole], str],
    ) -> str:
        """The page `build` renders with `values`. `key` names everything else the page
        shows except the `owners` (objects the page was built from, by identity)."""
        if self.max_shells <= 0:
            return build(values.__getitem__)
        shape = (key, tuple((name, value) for name, value in values.items() if not value))
        shell = self._shells.get(shape)
        if shell is not None and _same(shell.owners, owners):
            self._shells.move_to_end(shape)
        else:
            shell = self._shell(tuple(owners), values, build)
            self._shells[shape] = shell
            self._shells.move_to_end(shape)
            while len(self._shells) > self.max_shells:
                self._shells.popitem(last=False)
        return shell.fill(values) if shell.texts else build(values.__getitem__)

    def _shell(
        self,
        owners: tuple[object, ...],
        values: Mapping[str, HoleValue],
        build: Callable[[Hole], str],
    ) -> _Shell:
        names = list(values)

        def hole(name: str) -> HoleValue:
            value = values[name]
            # Markup, so that autoescape leaves the marker (ours, no input in it) whole;
            # the value that replaces it is escaped in fill().
            marker = f"{self._marker}{names.index(name)}\x00"
            return Markup(marker) if value else value  # noqa: S704

        pieces = self._split.split(build(hole))
        texts = tuple(pieces[0::2])
        if any("\x00" in text for text in texts):
            # A template changed a marker (against the contract) or a text holds a NUL:
            # kept without texts, this page is rendered directly on every request.
            return _Shell(owners, (), ())
        return _Shell(owners, texts, tuple(names[int(index)] for index in pieces[1::2]))


def _same(kept: tuple[object, ...], owners: Sequence[object]) -> bool:
    return len(kept) == len(owners) and all(a is b for a, b in zip(kept, owners, strict=True))


PAGE_SHELLS = web.AppKey("page_shells", PageShells)
