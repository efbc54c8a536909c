"""Rendered booking form pages, kept while nothing they show changes.

The form page (GET /p/{practice}) is the most requested page, and rendering it (the
field list, the slot picker, Jinja2) costs milliseconds, while between two bookings every
patient of a practice is shown the same page. A plain view (no values, no errors, no
proof-of-work challenge) depends only on: the practice and its profile as this process
has them cached (compared by identity, so any reload renders again), the free slots
(`FreeSlots.key`), the language, the path, the picker state from the query and the
minute (the earliest wish time and "today"). Those make the key; everything else in the
page is the relay's settings, the same for every request.

Each page keeps its gzip copy (relay/encoded.py), made on the first request that
admits gzip and dropped with the page: 37 KB of HTML for 3,000 slots sent as about 6 KB
to patients on slow mobile networks, compressed once per page, never per request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from aiohttp import web

from relay.encoded import Encoded
from relay.practice.profile import Profile
from relay.storage.store import Practice

# About 20-100 KB a page and its gzip copy: a few MB at most, however many practices and
# picker states.
MAX_PAGES = 128


class FormPages:
    """A bounded LRU of rendered pages (UTF-8 bytes and, once asked for, their gzip copy),
    each tied to the practice objects it shows."""

    def __init__(self, max_pages: int = MAX_PAGES) -> None:
        self._max = max_pages
        self._pages: OrderedDict[Hashable, tuple[Practice, Profile, Encoded]] = OrderedDict()

    def get(self, key: Hashable, practice: Practice, profile: Profile) -> Encoded | None:
        entry = self._pages.get(key)
        if entry is None:
            return None
        if entry[0] is not practice or entry[1] is not profile:
            # Rendered from another version of the practice: stale.
            del self._pages[key]
            return None
        self._pages.move_to_end(key)
        return entry[2]

    def put(self, key: Hashable, practice: Practice, profile: Profile, body: bytes) -> Encoded:
        page = Encoded(body)
        self._pages[key] = (practice, profile, page)
        self._pages.move_to_end(key)
        while len(self._pages) > self._max:
            self._pages.popitem(last=False)
        return page


FORM_PAGES = web.AppKey("form_pages", FormPages)
