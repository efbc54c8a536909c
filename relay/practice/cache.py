"""Practices as this relay process knows them: record, parsed profile and slot index, per
version.

A request never fetches the practice first. It uses the cached version and lets the one
Redis script of its step check that version (the submit script answers "stale", the
availability read returns the current version beside the holds); only then is the
practice loaded again, in one round trip. The version moves on with every profile
publication and key rotation (relay/storage/store.py), the two changes a cached copy could miss.
The token hash is not relied on from here: authentication reads it fresh every time.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from dataclasses import dataclass, field

import orjson

from relay.crypto.sealing import key_id
from relay.encoded import Encoded
from relay.practice.profile import Profile, profile_from_json, profile_to_json
from relay.practice.slot_index import FreeSlots, SlotIndex
from relay.storage.store import Practice, Store


@dataclass(frozen=True)
class CachedPractice:
    practice: Practice
    profile: Profile
    index: SlotIndex
    # The public profile JSON without slots, serialised once: `{"slug": ..., ...}`.
    public_head: bytes = field(repr=False)

    @property
    def version(self) -> int:
        return self.practice.profile_version


def _cached(practice: Practice, profile_json: bytes) -> CachedPractice:
    profile = profile_from_json(orjson.loads(profile_json))
    public = profile_to_json(profile)
    del public["slots"], public["frame_ancestors"]
    head = orjson.dumps(
        {
            "slug": practice.slug,
            "public_key": base64.b64encode(practice.public_key).decode(),
            # The id a browser-sealed submission names the key by (docs/protocol.md).
            "key_id": key_id(practice.public_key),
            **public,
        }
    )
    return CachedPractice(practice, profile, SlotIndex(profile), head)


class PublicBody(Encoded):
    """The profile API's answer for one profile version and set of held slots: the JSON
    (`identity`), its ETag, and (made on first use, then kept) the same JSON gzip-compressed.

    With 3,000 slots the JSON is about 400 KB and compresses to about 14 KB: writing it
    cost more than everything else the request does. Compressing takes about 3 ms, so it
    happens once per body, never per request (relay/encoded.py)."""

    __slots__ = ("etag",)

    def __init__(self, json: bytes) -> None:
        super().__init__(json)
        # Weak: the identity and the gzip body are the same profile (RFC 9110 8.8.1), and
        # a hash of the content, so a practice removed and added again (its version back
        # at 1) cannot match a stale copy.
        self.etag = f'W/"{hashlib.blake2b(json, digest_size=12).hexdigest()}"'


class PracticeCache:
    """One entry per practice (the newest version seen) and its last public JSON body."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._entries: dict[str, CachedPractice] = {}
        # slug -> (version, FreeSlots.key, body): the profile API's answer while neither
        # the profile nor the held slots changed, as patients reload it far more often.
        self._bodies: dict[str, tuple[int, tuple[int, tuple[int, ...]], PublicBody]] = {}
        # slug -> the load under way for requests that found the practice missing or
        # behind: fifty requests arriving together parse a profile of thousands of slots
        # once, not fifty times over (a stall of a second on one core).
        self._loading: dict[str, asyncio.Future[CachedPractice]] = {}

    async def current(self, slug: str) -> CachedPractice:
        """The cached practice (no round trip) or, unknown here, loaded.

        Its version may be behind; the caller's script finds out (PracticeNotFound if
        the practice does not exist)."""
        cached = self._entries.get(slug)
        return cached if cached is not None else await self._shared_reload(slug)

    async def at_version(self, slug: str, version: int) -> CachedPractice:
        """The practice at `version` (as a script just reported it), loaded if needed."""
        cached = self._entries.get(slug)
        if cached is not None and cached.version == version:
            return cached
        cached = await self._shared_reload(slug)
        if cached.version == version:
            return cached
        # The shared load began before `version` was written: load again, as before.
        return await self.reload(slug)

    async def _shared_reload(self, slug: str) -> CachedPractice:
        """`reload`, joined with one already under way for the same practice."""
        loading = self._loading.get(slug)
        if loading is None:
            loading = asyncio.ensure_future(self.reload(slug))
            self._loading[slug] = loading

            def done(future: asyncio.Future[CachedPractice]) -> None:
                if self._loading.get(slug) is future:
                    del self._loading[slug]

            loading.add_done_callback(done)
        # Shielded: one waiter cancelled (a client gone) does not cancel the others' load.
        return await asyncio.shield(loading)

    async def reload(self, slug: str) -> CachedPractice:
        loaded = await self._store.load_practice(slug)
        cached = self._entries.get(slug)
        if cached is not None and cached.version == loaded.practice.profile_version:
            return cached
        # Parsing a profile of thousands of slots costs milliseconds: once per version.
        entry = _cached(loaded.practice, loaded.profile)
        self._entries[slug] = entry
        return entry

    def forget(self, slug: str) -> None:
        self._entries.pop(slug, None)
        self._bodies.pop(slug, None)

    def public_json(self, entry: CachedPractice, free: FreeSlots) -> PublicBody:
        """The public profile with the free slots, as JSON (and gzip); the same object as
        long as the version and the held slots stay the same."""
        slug = entry.practice.slug
        body = self._bodies.get(slug)
        if body is not None and body[0] == entry.version and body[1] == free.key:
            return body[2]
        text = b'{"slots":[' + b",".join(free.json_fragments()) + b"]," + entry.public_head[1:]
        public = PublicBody(text)
        self._bodies[slug] = (entry.version, free.key, public)
        return public
