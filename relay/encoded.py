"""A body that many clients fetch unchanged, kept with its gzip copy (made once, on first
use): the public profile (relay/practice/cache.py) and the cached form pages
(relay/web/form_pages.py). relay/web/encoding.py chooses between them per request."""

from __future__ import annotations

import gzip

# zlib's default: a 3,000-slot profile (400 KB) to 14 KB in about 3 ms; level 9 would
# save 3 KB for three times the time, paid again whenever a slot is held.
GZIP_LEVEL = 6


class Encoded:
    """A response body and, made on first use then kept, the same bytes gzip-compressed."""

    __slots__ = ("_gzipped", "identity")

    def __init__(self, identity: bytes) -> None:
        self.identity = identity
        self._gzipped: bytes | None = None

    @property
    def gzipped(self) -> bytes:
        if self._gzipped is None:
            # mtime=0: the same body always compresses to the same bytes.
            self._gzipped = gzip.compress(self.identity, compresslevel=GZIP_LEVEL, mtime=0)
        return self._gzipped
