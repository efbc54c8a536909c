"""Every Redis key name and Lua script of the relay; nothing else talks to Redis.

Every key of a practice starts with `tr:{slug}:`: the braces make the slug the hash tag,
so all keys of one practice live in one Redis Cluster slot and every multi-key change
below is one Lua script touching one slot. Scripts build the per-booking key names from
that prefix; they never reach outside the practice's slot.

Values are opaque bytes: sealed boxes (only the practice can open them) and AES-GCM
ciphertexts (only the relay's data keys open them). No plaintext booking field is ever
passed to this module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from redis.exceptions import NoScriptError

from relay.errors import PracticeExists, PracticeNotFound, SlotTaken, TokenGone

PRACTICES = "tr:practices"
WAKE_CHANNEL_PREFIX = "tr:wake:"
CONFIRMED = b"confirmed"
TAKEN = b"taken"


def practice_prefix(practice: str) -> str:
    return f"tr:{{{practice}}}:"


def practice_key(practice: str) -> str:
    return practice_prefix(practice) + "practice"


def profile_key(practice: str) -> str:
    return practice_prefix(practice) + "profile"


def booking_key(practice: str, booking_id: str) -> str:
    return practice_prefix(practice) + "b:" + booking_id


def token_key(practice: str, token_hash: str) -> str:
    return practice_prefix(practice) + "t:" + token_hash


def mail_job_key(practice: str, booking_id: str) -> str:
    return practice_prefix(practice) + "m:" + booking_id


def mail_queue_key(practice: str) -> str:
    return practice_prefix(practice) + "mq"


def pending_key(practice: str) -> str:
    return practice_prefix(practice) + "pending"


def hold_key(practice: str, slot_id: str) -> str:
    return practice_prefix(practice) + "h:" + slot_id


def item_key(practice: str, booking_id: str) -> str:
    return practice_prefix(practice) + "i:" + booking_id


def inbox_key(practice: str) -> str:
    return practice_prefix(practice) + "inbox"


def arrivals_key(practice: str) -> str:
    return practice_prefix(practice) + "arrived"


def rate_key(bucket: str, window: int) -> str:
    return f"tr:rl:{bucket}:{window}"


def wake_channel(practice: str) -> str:
    return WAKE_CHANNEL_PREFIX + practice


_ADD_PRACTICE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'name', ARGV[1], 'public_key', ARGV[2], 'token_hash', ARGV[3],
           'created_at', ARGV[4], 'profile_version', 1)
redis.call('SET', KEYS[2], ARGV[5])
return 1
"""

# KEYS: practice, profile; ARGV: profile JSON
_PUT_PROFILE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
return redis.call('HINCRBY', KEYS[1], 'profile_version', 1)
"""

# KEYS: booking, token, mail job, mail queue, pending index[, slot hold]
# ARGV: booking id, sealed, summary, token hash, mail job, ttl s, now ms, slot id, slot end ms
_SUBMIT = """
local ttl = tonumber(ARGV[6])
if KEYS[6] then
  if not redis.call('SET', KEYS[6], ARGV[1], 'NX', 'EX', ttl) then return 0 end
end
redis.call('HSET', KEYS[1], 'sealed', ARGV[2], 'summary', ARGV[3], 'token', ARGV[4],
           'slot', ARGV[8], 'slot_end', ARGV[9])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('SET', KEYS[2], ARGV[1], 'EX', ttl)
redis.call('HSET', KEYS[3], 'job', ARGV[5], 'attempts', 0)
redis.call('EXPIRE', KEYS[3], ttl)
local now = tonumber(ARGV[7])
redis.call('ZADD', KEYS[4], now, ARGV[1])
redis.call('EXPIRE', KEYS[4], ttl)
redis.call('ZADD', KEYS[5], now + ttl * 1000, ARGV[1])
-- Outlives its entries so housekeeping can count them as expired; holds ids only.
redis.call('EXPIRE', KEYS[5], ttl + 3600)
return 1
"""

# KEYS: token, inbox, arrivals; ARGV: prefix, now ms, confirmed_at, inbox ttl s,
# pending ttl s, wake channel, practice
_CONFIRM = """
local booking_id = redis.call('GET', KEYS[1])
if not booking_id then return {'gone'} end
if booking_id == 'confirmed' then return {'already'} end
local prefix = ARGV[1]
local booking = prefix .. 'b:' .. booking_id
local fields = redis.call('HMGET', booking, 'sealed', 'slot', 'slot_end')
if not fields[1] then
  redis.call('DEL', KEYS[1])
  return {'gone'}
end
local now = tonumber(ARGV[2])
local inbox_ttl = tonumber(ARGV[4])
local item = prefix .. 'i:' .. booking_id
redis.call('HSET', item, 'sealed', fields[1], 'confirmed_at', ARGV[3])
redis.call('EXPIRE', item, inbox_ttl)
redis.call('ZADD', KEYS[2], now, booking_id)
redis.call('EXPIRE', KEYS[2], inbox_ttl)
redis.call('ZADD', KEYS[3], now, booking_id)
redis.call('EXPIRE', KEYS[3], inbox_ttl)
if fields[2] ~= '' then
  -- Taken until the slot is over; a slot in the past needs no hold.
  local slot_end = tonumber(fields[3])
  if slot_end > now then
    redis.call('SET', prefix .. 'h:' .. fields[2], 'taken', 'PXAT', slot_end)
  else
    redis.call('DEL', prefix .. 'h:' .. fields[2])
  end
end
redis.call('DEL', booking, prefix .. 'm:' .. booking_id)
redis.call('ZREM', prefix .. 'mq', booking_id)
redis.call('ZREM', prefix .. 'pending', booking_id)
-- Kept so a second click says "already confirmed" instead of "gone".
redis.call('SET', KEYS[1], 'confirmed', 'EX', tonumber(ARGV[5]))
redis.call('PUBLISH', ARGV[6], ARGV[7])
return {'confirmed', booking_id}
"""

# KEYS: token; ARGV: prefix
_WITHDRAW = """
local booking_id = redis.call('GET', KEYS[1])
if not booking_id then return {'gone'} end
if booking_id == 'confirmed' then return {'already'} end
local prefix = ARGV[1]
local booking = prefix .. 'b:' .. booking_id
local slot = redis.call('HGET', booking, 'slot')
if slot and slot ~= '' then
  local hold = prefix .. 'h:' .. slot
  if redis.call('GET', hold) == booking_id then redis.call('DEL', hold) end
end
redis.call('DEL', KEYS[1], booking, prefix .. 'm:' .. booking_id)
redis.call('ZREM', prefix .. 'mq', booking_id)
redis.call('ZREM', prefix .. 'pending', booking_id)
if slot then return {'withdrawn', booking_id} end
return {'gone'}
"""

# KEYS: mail queue; ARGV: prefix, now ms, lease ms, limit
_CLAIM_MAIL = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[4]))
local claimed = {}
local lease_until = tonumber(ARGV[2]) + tonumber(ARGV[3])
for _, booking_id in ipairs(due) do
  local job = ARGV[1] .. 'm:' .. booking_id
  local payload = redis.call('HGET', job, 'job')
  if payload then
    local attempts = redis.call('HINCRBY', job, 'attempts', 1)
    redis.call('ZADD', KEYS[1], lease_until, booking_id)
    table.insert(claimed, booking_id)
    table.insert(claimed, payload)
    table.insert(claimed, attempts)
  else
    -- The booking expired or was withdrawn: its job went with it.
    redis.call('ZREM', KEYS[1], booking_id)
  end
end
return claimed
"""

# KEYS: mail job, mail queue; ARGV: booking id, next attempt ms ('' = done)
_FINISH_MAIL = """
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
elseif redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('ZADD', KEYS[2], 'XX', tonumber(ARGV[2]), ARGV[1])
end
return 1
"""

# KEYS: inbox, arrivals; ARGV: prefix, now ms, visibility ms, limit
_FETCH = """
local now = tonumber(ARGV[2])
local visible = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
local items = {}
for _, booking_id in ipairs(visible) do
  local fields = redis.call('HMGET', ARGV[1] .. 'i:' .. booking_id, 'sealed', 'confirmed_at')
  if fields[1] then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), booking_id)
    table.insert(items, booking_id)
    table.insert(items, fields[1])
    table.insert(items, fields[2])
  else
    -- Expired after RELAY_INBOX_TTL unfetched.
    redis.call('ZREM', KEYS[1], booking_id)
    redis.call('ZREM', KEYS[2], booking_id)
  end
end
local next_visible = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
table.insert(items, next_visible[2] or '')
return items
"""

# KEYS: inbox, arrivals; ARGV: prefix, ids...
_ACK = """
local deleted = 0
for i = 2, #ARGV do
  deleted = deleted + redis.call('DEL', ARGV[1] .. 'i:' .. ARGV[i])
  redis.call('ZREM', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
end
return deleted
"""

# KEYS: pending index; ARGV: now ms
_SWEEP_EXPIRED = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #expired > 0 then redis.call('ZREM', KEYS[1], unpack(expired)) end
return #expired
"""

# KEYS: counter; ARGV: window s
_COUNT_HIT = """
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1])) end
return hits
"""


@dataclass(frozen=True)
class Practice:
    slug: str
    name: str
    public_key: bytes
    token_hash: str
    # Bumped with every profile change, so processes can cache the parsed profile.
    profile_version: int


@dataclass(frozen=True)
class PendingBooking:
    """What the confirmation page may show: the encrypted summary and the expiry."""

    booking_id: str
    summary: bytes
    expires_in_ms: int


@dataclass(frozen=True)
class MailJob:
    practice: str
    booking_id: str
    payload: bytes
    attempts: int


@dataclass(frozen=True)
class InboxItem:
    booking_id: str
    sealed: bytes
    confirmed_at: str


@dataclass(frozen=True)
class InboxBatch:
    items: list[InboxItem]
    # When the next fetched-but-unacknowledged item becomes visible again, if any.
    next_visible_ms: int | None


@dataclass(frozen=True)
class PracticeStats:
    pending: int
    inbox: int
    oldest_arrival_ms: int | None


Outcome = Literal["confirmed", "already", "gone", "withdrawn"]


class _Script:
    """A Lua script run by SHA, loaded on first use and again after a node restart."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(self, redis: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await redis.eval(self.source, len(keys), *keys, *args)


class Store:
    """The relay's Redis operations. `redis` is a redis-py asyncio client (plain, sentinel
    or cluster) created with `decode_responses=False`."""

    _add_practice = _Script(_ADD_PRACTICE)
    _put_profile = _Script(_PUT_PROFILE)
    _submit = _Script(_SUBMIT)
    _confirm = _Script(_CONFIRM)
    _withdraw = _Script(_WITHDRAW)
    _claim_mail = _Script(_CLAIM_MAIL)
    _finish_mail = _Script(_FINISH_MAIL)
    _fetch = _Script(_FETCH)
    _ack = _Script(_ACK)
    _sweep_expired = _Script(_SWEEP_EXPIRED)
    _count_hit = _Script(_COUNT_HIT)

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    # Practices

    async def add_practice(
        self,
        slug: str,
        *,
        name: str,
        public_key: bytes,
        token_hash: str,
        created_at: str,
        profile: bytes,
    ) -> None:
        added = await self._add_practice(
            self.redis,
            [practice_key(slug), profile_key(slug)],
            [name, public_key, token_hash, created_at, profile],
        )
        if not added:
            raise PracticeExists(slug)
        await self.redis.sadd(PRACTICES, slug)

    async def practice(self, slug: str) -> Practice:
        fields = await self.redis.hmget(
            practice_key(slug), "name", "public_key", "token_hash", "profile_version"
        )
        if fields[0] is None:
            raise PracticeNotFound(slug)
        return Practice(
            slug, fields[0].decode(), bytes(fields[1]), fields[2].decode(), int(fields[3] or 0)
        )

    async def practice_slugs(self) -> list[str]:
        return sorted(slug.decode() for slug in await self.redis.smembers(PRACTICES))

    async def remove_practice(self, slug: str) -> None:
        """Deletes the practice and everything it holds, inbox included."""
        await self.practice(slug)
        keys = [key async for key in self.redis.scan_iter(match=practice_prefix(slug) + "*")]
        # One slot, so one DEL is valid on a cluster too; chunked to keep each call small.
        for start in range(0, len(keys), 500):
            await self.redis.delete(*keys[start : start + 500])
        await self.redis.srem(PRACTICES, slug)

    async def set_practice_field(self, slug: str, field: str, value: bytes | str) -> None:
        await self.practice(slug)
        await self.redis.hset(practice_key(slug), field, value)

    async def profile(self, slug: str) -> bytes:
        profile = await self.redis.get(profile_key(slug))
        if profile is None:
            raise PracticeNotFound(slug)
        return bytes(profile)

    async def put_profile(self, slug: str, profile: bytes) -> None:
        stored = await self._put_profile(
            self.redis, [practice_key(slug), profile_key(slug)], [profile]
        )
        if not stored:
            raise PracticeNotFound(slug)

    async def unavailable_slots(self, slug: str, slot_ids: Sequence[str]) -> set[str]:
        """The slot ids among `slot_ids` that are held or taken."""
        if not slot_ids:
            return set()
        holds = await self.redis.mget([hold_key(slug, slot_id) for slot_id in slot_ids])
        return {slot_id for slot_id, hold in zip(slot_ids, holds, strict=True) if hold}

    # Bookings

    async def submit(
        self,
        practice: str,
        booking_id: str,
        *,
        sealed: bytes,
        summary: bytes,
        token_hash: str,
        mail_job: bytes,
        ttl: int,
        now_ms: int,
        slot_id: str | None,
        slot_end_ms: int | None,
    ) -> None:
        """Stores a pending booking, its token, summary, mail job and slot hold at once."""
        keys = [
            booking_key(practice, booking_id),
            token_key(practice, token_hash),
            mail_job_key(practice, booking_id),
            mail_queue_key(practice),
            pending_key(practice),
        ]
        if slot_id is not None:
            keys.append(hold_key(practice, slot_id))
        stored = await self._submit(
            self.redis,
            keys,
            [
                booking_id,
                sealed,
                summary,
                token_hash,
                mail_job,
                ttl,
                now_ms,
                slot_id or "",
                slot_end_ms or 0,
            ],
        )
        if not stored:
            raise SlotTaken(slot_id)

    async def pending(self, practice: str, token_hash: str) -> PendingBooking | None:
        """What a confirmation page shows, None once confirmed; changes nothing (mail
        scanners prefetch links). TokenGone for a withdrawn, expired or unknown token."""
        booking_id = await self.redis.get(token_key(practice, token_hash))
        if booking_id is None:
            raise TokenGone
        if booking_id == CONFIRMED:
            return None
        booking = booking_key(practice, booking_id.decode())
        summary = await self.redis.hget(booking, "summary")
        expires_in_ms = await self.redis.pttl(booking)
        if summary is None or expires_in_ms < 0:
            raise TokenGone
        return PendingBooking(booking_id.decode(), bytes(summary), int(expires_in_ms))

    async def confirm(
        self,
        practice: str,
        token_hash: str,
        *,
        now_ms: int,
        confirmed_at: str,
        inbox_ttl: int,
        pending_ttl: int,
    ) -> tuple[Outcome, str | None]:
        result = await self._confirm(
            self.redis,
            [token_key(practice, token_hash), inbox_key(practice), arrivals_key(practice)],
            [
                practice_prefix(practice),
                now_ms,
                confirmed_at,
                inbox_ttl,
                pending_ttl,
                wake_channel(practice),
                practice,
            ],
        )
        return _outcome(result)

    async def withdraw(self, practice: str, token_hash: str) -> tuple[Outcome, str | None]:
        result = await self._withdraw(
            self.redis, [token_key(practice, token_hash)], [practice_prefix(practice)]
        )
        return _outcome(result)

    async def sweep_expired(self, practice: str, *, now_ms: int) -> int:
        """Forgets pending bookings past their TTL (Redis already dropped their data)."""
        return int(await self._sweep_expired(self.redis, [pending_key(practice)], [now_ms]))

    # Mail queue

    async def practices_with_due_mail(self, slugs: Iterable[str], *, now_ms: int) -> list[str]:
        slugs = list(slugs)
        if not slugs:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for slug in slugs:
                pipe.zrangebyscore(mail_queue_key(slug), "-inf", now_ms, start=0, num=1)
            due = await pipe.execute()
        return [slug for slug, first in zip(slugs, due, strict=True) if first]

    async def claim_mail(
        self, practice: str, *, now_ms: int, lease_ms: int, limit: int
    ) -> list[MailJob]:
        """Takes due jobs, hiding them for `lease_ms` so no other worker sends them too."""
        flat = await self._claim_mail(
            self.redis,
            [mail_queue_key(practice)],
            [practice_prefix(practice), now_ms, lease_ms, limit],
        )
        return [
            MailJob(practice, flat[i].decode(), bytes(flat[i + 1]), int(flat[i + 2]))
            for i in range(0, len(flat), 3)
        ]

    async def mail_done(self, practice: str, booking_id: str) -> None:
        await self._finish_mail(
            self.redis,
            [mail_job_key(practice, booking_id), mail_queue_key(practice)],
            [booking_id, ""],
        )

    async def mail_retry_at(self, practice: str, booking_id: str, *, due_ms: int) -> None:
        await self._finish_mail(
            self.redis,
            [mail_job_key(practice, booking_id), mail_queue_key(practice)],
            [booking_id, due_ms],
        )

    # Inbox

    async def fetch_inbox(
        self, practice: str, *, now_ms: int, visibility_ms: int, limit: int
    ) -> InboxBatch:
        flat = await self._fetch(
            self.redis,
            [inbox_key(practice), arrivals_key(practice)],
            [practice_prefix(practice), now_ms, visibility_ms, limit],
        )
        next_visible = flat[-1]
        items = [
            InboxItem(flat[i].decode(), bytes(flat[i + 1]), flat[i + 2].decode())
            for i in range(0, len(flat) - 1, 3)
        ]
        return InboxBatch(items, int(float(next_visible)) if next_visible else None)

    async def ack(self, practice: str, booking_ids: Sequence[str]) -> int:
        if not booking_ids:
            return 0
        return int(
            await self._ack(
                self.redis,
                [inbox_key(practice), arrivals_key(practice)],
                [practice_prefix(practice), *booking_ids],
            )
        )

    async def stats(self, slugs: Sequence[str]) -> dict[str, PracticeStats]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for slug in slugs:
                pipe.zcard(pending_key(slug))
                pipe.zcard(arrivals_key(slug))
                pipe.zrange(arrivals_key(slug), 0, 0, withscores=True)
            replies = await pipe.execute()
        stats = {}
        for index, slug in enumerate(slugs):
            pending, inbox, oldest = replies[3 * index : 3 * index + 3]
            stats[slug] = PracticeStats(
                int(pending), int(inbox), int(oldest[0][1]) if oldest else None
            )
        return stats

    # Abuse control

    async def count_hit(self, bucket: str, *, window: int, now_s: int) -> tuple[int, int]:
        """Counts one submission in the current fixed window; (hits, seconds left)."""
        window_index = now_s // window
        hits = await self._count_hit(self.redis, [rate_key(bucket, window_index)], [window])
        return int(hits), (window_index + 1) * window - now_s


def _outcome(result: list[bytes]) -> tuple[Outcome, str | None]:
    outcome = result[0].decode()
    booking_id = result[1].decode() if len(result) > 1 else None
    if outcome not in ("confirmed", "already", "gone", "withdrawn"):
        raise RuntimeError(f"unexpected script outcome {outcome!r}")
    return cast(Outcome, outcome), booking_id
