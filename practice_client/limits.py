"""Bounds on what the client accepts from the relay: answer size and JSON nesting.

The relay is not trusted with the content of bookings, so it is not trusted to send
sane amounts of data either: a hostile or broken relay (or a proxy in front of it) must
cost the client a clear error, not its memory or a traceback.
"""

from __future__ import annotations

import json
import re

# A full poll is at most 100 items of the largest size class: about 11 KB of base64 each
# (see envelope.MAX_SEALED_BASE64), so 1.1 MB plus a little JSON around them; a protocol-2
# item adds its envelope of the smallest size (about 1.1 KB) to the browser's blob. Twice
# that leaves room and still keeps a 60 MB answer from ever being held in memory.
MAX_RESPONSE_BYTES = 2 * 1024 * 1024

# Every answer of the relay nests three levels at most ({"items": [{...}]}); a booking
# document two. 32 is generous and far below Python's recursion limit.
MAX_JSON_DEPTH = 32

# The bytes that matter for nesting: brackets, and quotes and backslashes so brackets
# inside strings are not counted. Base64 and digits never match, so a normal answer
# yields a few structural characters per item and the scan below costs next to nothing.
_STRUCTURE = re.compile(rb'[\[\]{}"\\]')
_OPENERS = frozenset(b"[{")
_CLOSERS = frozenset(b"]}")
_QUOTE = ord('"')
_BACKSLASH = ord("\\")


class JsonRejectedError(ValueError):
    """The bytes are not JSON within our bounds; the message says why, without content."""


def load_json(data: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> object:
    """Parse UTF-8 JSON after checking its nesting, so deep input never reaches the parser.

    Python's parser recurses once per level and would end in RecursionError.
    """
    if _nests_deeper_than(data, max_depth):
        raise JsonRejectedError(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise JsonRejectedError("not UTF-8") from error
    except ValueError as error:  # JSONDecodeError, and int() refusing 4,300+ digit numbers
        raise JsonRejectedError("not valid JSON") from error


def _nests_deeper_than(data: bytes, limit: int) -> bool:
    depth = 0
    in_string = False
    escaped_at = -1
    for match in _STRUCTURE.finditer(data):
        position = match.start()
        if position == escaped_at:
            continue
        byte = data[position]
        if in_string:
            if byte == _BACKSLASH:
                escaped_at = position + 1
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        elif byte in _CLOSERS:
            depth -= 1
    return False
