"""Which characters text may hold: the one rule for single-line values and the note.

Single-line values (names, the practice's name, doctors, appointment types, any other
one-line value of a booking or a profile) end up in mail headers, calendar files, the
practice software's import and lists where one entry is one line. A line break there
forges a line or breaks the mail (a practice name with one made every confirmation mail
fail to build); an invisible character makes two different names look the same.

Refused everywhere:
- control characters (Unicode category Cc), except the line feed of multi-line text;
- line and paragraph separators (U+2028, U+2029) and NEL (U+0085) in single-line values;
- bidirectional controls: embeddings, overrides and isolates (U+202A-U+202E,
  U+2066-U+2069, the "Trojan Source" characters) and the invisible direction marks
  (U+200E, U+200F, U+061C). They reorder what a reader sees: an override can make
  "Müller" display as something else entirely in the practice software;
- other format characters (Cf: zero-width space, soft hyphen, byte order mark, tag
  characters that smuggle invisible ASCII), with two exceptions: the zero-width joiner
  and non-joiner (U+200D, U+200C), which Persian, Indic scripts and emoji sequences need
  to be written correctly;
- lone surrogates (Cs), legal in JSON but not encodable as UTF-8.

Allowed: every letter, mark, digit, punctuation, symbol and space of any script
(umlauts, accents, Arabic, Hebrew, CJK, emoji); private-use and not yet assigned code
points too, so an emoji newer than Python's Unicode tables is not refused.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

TextProblemKind = Literal["line_break", "control_character", "bidi_control", "invalid"]

# str.splitlines() breaks lines at each of these; a reader of the value would too.
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
# Explicit embeddings, overrides and isolates, and the implicit direction marks.
BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)
# Format characters that scripts need: without them some words cannot be spelled.
JOINERS = frozenset("\u200c\u200d")
# Line breaks a multi-line value may carry; all become "\n".
_NEWLINES = ("\r\n", "\r", "\x85", "\u2028", "\u2029")

_DESCRIPTIONS: dict[TextProblemKind, str] = {
    "line_break": "a line break",
    "control_character": "a control character",
    "bidi_control": "a bidirectional control character",
    "invalid": "a lone surrogate",
}


@dataclass(frozen=True)
class TextProblem:
    """The first character a value may not hold, and where it is."""

    kind: TextProblemKind
    char: str
    position: int

    def describe(self) -> str:
        """One English phrase for operators, such as 'contains a line break (U+000A) at
        character 8'."""
        return (
            f"contains {_DESCRIPTIONS[self.kind]} (U+{ord(self.char):04X}) "
            f"at character {self.position + 1}"
        )


def _kind(char: str, *, multiline: bool) -> TextProblemKind | None:
    if multiline and char == "\n":
        return None
    if char in LINE_BREAKS:
        # In a note the other separators were made "\n" before; what is left (vertical
        # tab, form feed, file separators) is a control character there.
        return "control_character" if multiline else "line_break"
    if char in BIDI_CONTROLS:
        return "bidi_control"
    if char in JOINERS:
        return None
    category = unicodedata.category(char)
    if category in ("Cc", "Cf"):
        return "control_character"
    if category == "Cs":
        return "invalid"
    return None


def _first_problem(value: str, *, multiline: bool) -> TextProblem | None:
    for position, char in enumerate(value):
        # Fast path: printable ASCII is the bulk of every value and never a problem.
        if " " <= char <= "~":
            continue
        kind = _kind(char, multiline=multiline)
        if kind is not None:
            return TextProblem(kind, char, position)
    return None


def single_line_problem(value: str) -> TextProblem | None:
    """The first character a single-line value may not hold, or None if it is clean."""
    return _first_problem(value, multiline=False)


def multi_line_problem(value: str) -> TextProblem | None:
    """As single_line_problem, but "\\n" is allowed; normalise line breaks first."""
    return _first_problem(value, multiline=True)


def normalise_newlines(value: str) -> str:
    """CRLF, CR and the Unicode line and paragraph separators as "\\n"."""
    for newline in _NEWLINES:
        value = value.replace(newline, "\n")
    return value


def one_line(value: str) -> str:
    """`value` with every character a single-line value may not hold made a space, and
    runs of white space made one: for output (a mail header) whose input should have
    been checked already, so a value stored before these rules cannot break it."""
    cleaned = "".join(" " if _kind(char, multiline=False) is not None else char for char in value)
    return " ".join(cleaned.split())
