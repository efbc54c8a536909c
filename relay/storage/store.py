"""Every Redis key name and Lua script of the relay; nothing else talks to Redis.

Every key of a practice starts with `tr:{slug}:`: the braces make the slug the hash tag,
so all keys of one practice live in one Redis Cluster slot and every multi-key change
below is one Lua script touching one slot. Scripts build the per-booking key names from
that prefix; they never reach outside the practice's slot.

Values are opaque bytes: sealed boxes (only the practice can open them) and AES-GCM
ciphertexts (only the relay's data keys open them). No plaintext booking field is ever
passed to this module.

Retries: the client (relay/storage/connect.py) runs a command again when its connection
broke or timed out, and then cannot know whether the first attempt ran. So every command
here must be safe to run twice. Plain commands are reads or writes of fixed values (SADD,
SREM, DEL, HSET), which are; each script says under "Retry-safe" why it is.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from redis.asyncio.cluster import RedisCluster
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


def booking_key(practice: str, token_hash: str) -> str:
    # Keyed by the hash of its confirmation token: the link leads straight to it, with no
    # second key from token to booking id (about 250 bytes per booking). The hash in
    # base64url (43 characters, not 64 in hex) keeps the key in a smaller allocation.
    name = base64.urlsafe_b64encode(bytes.fromhex(token_hash)).rstrip(b"=").decode()
    return practice_prefix(practice) + "b:" + name


def token_key(practice: str, token_hash: str) -> str:
    return practice_prefix(practice) + "t:" + token_hash


def mail_job_key(practice: str, booking_id: str) -> str:
    return practice_prefix(practice) + "m:" + booking_id


def mail_queue_key(practice: str) -> str:
    return practice_prefix(practice) + "mq"


def pending_key(practice: str) -> str:
    return practice_prefix(practice) + "pending"


def hold_key(practice: str, slot_id: str) -> str:
    # The claim on one slot (SET NX: the booking id, or "taken"); `held_key` mirrors it.
    return practice_prefix(practice) + "h:" + slot_id


def held_key(practice: str) -> str:
    # Every held and taken slot in one sorted set (slot id -> held until, ms), written
    # beside each claim: reading the free slots costs one command, not a key per slot.
    return practice_prefix(practice) + "held"


def item_key(practice: str, booking_id: str) -> str:
    return practice_prefix(practice) + "i:" + booking_id


def inbox_key(practice: str) -> str:
    return practice_prefix(practice) + "inbox"


def arrivals_key(practice: str) -> str:
    return practice_prefix(practice) + "arrived"


def cancel_key(practice: str, token_hash: str) -> str:
    # A confirmed booking's cancellation record, keyed by the hash of its cancel token
    # (base64url, like booking_key). It holds the booking id (and the id of the published
    # slot it took, public profile data), then "cancelled"; it expires when the
    # appointment starts (a wish: RELAY_WISH_CANCEL_HOURS after confirming).
    name = base64.urlsafe_b64encode(bytes.fromhex(token_hash)).rstrip(b"=").decode()
    return practice_prefix(practice) + "x:" + name


# Abuse limits (relay/abuse/limits.py) live outside every practice's slot, under one hash tag of
# their own, so that one script sees a network's, a recipient's and the flood's counts at
# once. On Redis Cluster that is a second slot beside the practice's: one more round trip
# per submission, before the practice's own script. Networks and recipients appear only
# as keyed hashes.
LIMITS_PREFIX = "tr:{limits}:"
POW_MODE_KEY = LIMITS_PREFIX + "pow-mode"


def network_log_key(network_id: str) -> str:
    return LIMITS_PREFIX + "n:" + network_id


def recipient_log_key(recipient_id: str) -> str:
    return LIMITS_PREFIX + "r:" + recipient_id


def flood_key(bucket: int, practice: str | None = None) -> str:
    """Submissions in one flood bucket (a minute), relay-wide or of one practice."""
    if practice is None:
        return f"{LIMITS_PREFIX}f:{bucket}"
    return f"{LIMITS_PREFIX}fp:{practice}:{bucket}"


def proof_key(marker: str) -> str:
    return LIMITS_PREFIX + "pow:" + marker


def failure_log_key(kind: str, network_id: str) -> str:
    return f"{LIMITS_PREFIX}g:{kind}:{network_id}"


def wake_channel(practice: str) -> str:
    return WAKE_CHANNEL_PREFIX + practice


# Retry-safe: the token hash comes from a random token made before the first attempt;
# finding it stored means an earlier attempt of this same call registered the practice.
_ADD_PRACTICE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'token_hash') == ARGV[3] then return 1 end
  return 0
end
redis.call('HSET', KEYS[1], 'name', ARGV[1], 'public_key', ARGV[2], 'token_hash', ARGV[3],
           'created_at', ARGV[4], 'profile_version', 1)
redis.call('SET', KEYS[2], ARGV[5])
return 1
"""

# The practice record and its profile at one version, for the per-process cache.
# KEYS: practice, profile
# Retry-safe: reads only.
_LOAD_PRACTICE = """
local fields = redis.call('HMGET', KEYS[1], 'name', 'public_key', 'token_hash',
                          'profile_version')
if not fields[1] then return false end
fields[5] = redis.call('GET', KEYS[2]) or ''
return fields
"""

# What a view of the free slots needs besides the cached profile: the version (to check
# the cache) and the slots held or taken now. KEYS: practice, held; ARGV: now ms
# Retry-safe: reads only.
_AVAILABILITY = """
local version = redis.call('HGET', KEYS[1], 'profile_version')
if not version then return false end
return {version, redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf')}
"""

# A new public key; moves the version on, so every relay process reloads the practice
# before it seals the next booking (the submit script refuses the old version).
# KEYS: practice; ARGV: public key
# Retry-safe: a re-run writes the same key; the version moves on once more.
_SET_PUBLIC_KEY = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'public_key', ARGV[1])
return redis.call('HINCRBY', KEYS[1], 'profile_version', 1)
"""

# Slot claims (`hold_key`) written by a relay before the held set existed, copied into it
# with their expiry. KEYS: held; ARGV: prefix, slot ids...
# Retry-safe: ZADD of the same scores; a hold already gone is skipped.
_ADOPT_HOLDS = """
local adopted = 0
for i = 2, #ARGV do
  local until_ms = redis.call('PEXPIRETIME', ARGV[1] .. 'h:' .. ARGV[i])
  if until_ms > 0 then
    redis.call('ZADD', KEYS[1], 'GT', until_ms, ARGV[i])
    if redis.call('PEXPIRETIME', KEYS[1]) < until_ms then
      redis.call('PEXPIREAT', KEYS[1], until_ms)
    end
    adopted = adopted + 1
  end
end
return adopted
"""

# KEYS: practice, profile; ARGV: profile JSON
# Retry-safe: a re-run writes the same profile; the version moves on once more, which only
# makes relay processes parse the profile again.
_PUT_PROFILE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
return redis.call('HINCRBY', KEYS[1], 'profile_version', 1)
"""

# KEYS: booking, token, mail job, mail queue, pending index, practice, held[, slot hold]
# ARGV: booking id, booking (pack_booking), mail job (pack_mail_job), ttl s, now ms,
# profile version, slot id ('' for a wish)
# Returns 1 stored, 0 slot taken, -1 no such practice, -2 stale: the booking was checked
# and sealed against a cached practice of another version (the caller reloads, retries).
# Retry-safe: the token is fresh random made before the first attempt and the script is
# atomic, so a booking key (or, confirmed since, the token's marker) means an earlier
# attempt stored all of it. Without that guard the re-run would find its own slot hold and
# answer "slot taken".
_SUBMIT = """
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 1 end
local version = redis.call('HGET', KEYS[6], 'profile_version')
if not version then return -1 end
if version ~= ARGV[6] then return -2 end
local ttl = tonumber(ARGV[4])
local slot = ARGV[7]
if slot ~= '' then
  if not redis.call('SET', KEYS[8], ARGV[1], 'NX', 'EX', ttl) then return 0 end
  local now = tonumber(ARGV[5])
  -- Expired holds leave the held set here, lazily: Redis 7.0 has no TTL per member.
  redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now)
  local held_until = now + ttl * 1000
  redis.call('ZADD', KEYS[7], held_until, slot)
  -- The set lives as long as its longest entry, so nothing of a practice's bookings
  -- outlives them.
  if redis.call('PEXPIRETIME', KEYS[7]) < held_until then
    redis.call('PEXPIREAT', KEYS[7], held_until)
  end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ttl)
redis.call('SET', KEYS[3], ARGV[3], 'EX', ttl)
local now = tonumber(ARGV[5])
redis.call('ZADD', KEYS[4], now, ARGV[1])
redis.call('EXPIRE', KEYS[4], ttl)
redis.call('ZADD', KEYS[5], now + ttl * 1000, ARGV[1])
-- Outlives its entries so housekeeping can count them as expired; holds ids only.
redis.call('EXPIRE', KEYS[5], ttl + 3600)
return 1
"""

# The pending booking behind a token, for the scripts below, which all take KEYS[1] =
# booking key, KEYS[2] = token key and ARGV[1] = practice prefix. Returns a table (id,
# slot, slot_start, slot_end, summary, sealed, key), or nil and what the token key holds:
# 'confirmed' after a confirm, else false. The layout is the one pack_booking writes;
# bookings of layout 1 and of the hash before it have no slot_start (0).
_PENDING_BOOKING = """
local function pending_booking()
  local value = redis.call('GET', KEYS[1])
  if value then
    local layout = string.byte(value, 1)
    if layout == 2 then
      local _, slot_start, slot_end, slot, id, summary, sealed_at =
        struct.unpack('>BI8I8Bc0Bc0Hc0', value)
      return {id = id, slot = slot, slot_start = slot_start, slot_end = slot_end,
              summary = summary, sealed = string.sub(value, sealed_at), key = KEYS[1]}
    end
    assert(layout == 1, 'unknown booking layout')
    local _, slot_end, slot, id, summary, sealed_at = struct.unpack('>BI8Bc0Bc0Hc0', value)
    return {id = id, slot = slot, slot_start = 0, slot_end = slot_end, summary = summary,
            sealed = string.sub(value, sealed_at), key = KEYS[1]}
  end
  local marker = redis.call('GET', KEYS[2])
  if not marker or marker == 'confirmed' then return nil, marker end
  -- Stored by a relay before layout 1, at most one pending TTL before the upgrade: the
  -- token key held the booking id, the booking was a hash under it.
  local legacy = ARGV[1] .. 'b:' .. marker
  local fields = redis.call('HMGET', legacy, 'sealed', 'summary', 'slot', 'slot_end')
  if not fields[1] then return nil, false end
  return {id = marker, slot = fields[3], slot_start = 0, slot_end = tonumber(fields[4]),
          summary = fields[2], sealed = fields[1], key = legacy}
end
"""

# KEYS: booking, token; ARGV: prefix
# Retry-safe: reads only.
_PENDING = (
    _PENDING_BOOKING
    + """
local booking, marker = pending_booking()
if booking then
  return {'pending', booking.id, booking.summary, redis.call('PTTL', booking.key)}
end
if marker == 'confirmed' then return {'confirmed'} end
return {'gone'}
"""
)

# The whole of confirming, in one round trip: nothing is read before it.
# KEYS: booking, token, inbox, arrivals[, cancel record]; ARGV: prefix, now ms,
# confirmed_at, inbox ttl s, pending ttl s, wake channel, practice[, ms a wish may be
# cancelled after confirming, the cancel link for the second mail (a ciphertext; '' for
# no second mail), that mail's ttl s]
# The optional tail (relay/booking/cancellation.py) writes the cancel record (booking id and slot
# id) until the appointment starts (the slot's start from the booking; a wish: now plus
# the given ms), and queues the "handed to the practice" mail under `{id}.h`, so that a
# mail worker still settling the first mail of `{id}` cannot delete it. That job is made
# here from the booking's encrypted summary (it holds the address) and the page's
# encrypted link (pack_mail_job, format 1): the relay cannot decrypt in Lua, and the page
# has read nothing. Returns {'confirmed', booking id, summary, cancel until ms (0: no
# cancel record)}, so the result page needs no read of its own.
# Retry-safe: a re-run finds the token marked confirmed and answers "already": the booking
# went to the inbox once, and the patient sees it confirmed (the page then shows the
# cancel link, which the token alone gives, without the appointment).
_CONFIRM = (
    _PENDING_BOOKING
    + """
local booking, marker = pending_booking()
if not booking then
  if marker == 'confirmed' then return {'already'} end
  return {'gone'}
end
local prefix = ARGV[1]
local now = tonumber(ARGV[2])
local inbox_ttl = tonumber(ARGV[4])
local item = prefix .. 'i:' .. booking.id
redis.call('HSET', item, 'sealed', booking.sealed, 'confirmed_at', ARGV[3])
redis.call('EXPIRE', item, inbox_ttl)
redis.call('ZADD', KEYS[3], now, booking.id)
redis.call('EXPIRE', KEYS[3], inbox_ttl)
redis.call('ZADD', KEYS[4], now, booking.id)
redis.call('EXPIRE', KEYS[4], inbox_ttl)
if booking.slot ~= '' then
  -- Taken until the slot is over; a slot in the past needs no hold.
  if booking.slot_end > now then
    redis.call('SET', prefix .. 'h:' .. booking.slot, 'taken', 'PXAT',
               string.format('%d', booking.slot_end))
    redis.call('ZADD', prefix .. 'held', booking.slot_end, booking.slot)
    if redis.call('PEXPIRETIME', prefix .. 'held') < booking.slot_end then
      redis.call('PEXPIREAT', prefix .. 'held', string.format('%d', booking.slot_end))
    end
  else
    redis.call('DEL', prefix .. 'h:' .. booking.slot)
    redis.call('ZREM', prefix .. 'held', booking.slot)
  end
end
redis.call('DEL', booking.key, prefix .. 'm:' .. booking.id)
redis.call('ZREM', prefix .. 'mq', booking.id)
redis.call('ZREM', prefix .. 'pending', booking.id)
-- Kept so a second click says "already confirmed" instead of "gone".
redis.call('SET', KEYS[2], 'confirmed', 'EX', tonumber(ARGV[5]))
local cancel_until = 0
if KEYS[5] then
  if booking.slot == '' then
    cancel_until = now + tonumber(ARGV[8])
  elseif booking.slot_start > 0 then
    cancel_until = booking.slot_start
  else
    -- Stored before the booking kept its slot's start (at most one pending TTL before
    -- an upgrade): the slot's end is the nearest bound known.
    cancel_until = booking.slot_end
  end
  -- An appointment that has begun is not cancelled by link.
  if cancel_until <= now then cancel_until = 0 end
  if cancel_until > 0 then
    redis.call('SET', KEYS[5], booking.id .. ':' .. booking.slot, 'PXAT',
               string.format('%d', cancel_until))
  end
  if ARGV[9] ~= '' then
    local handed = booking.id .. '.h'
    local job = prefix .. 'm:' .. handed
    local mail_ttl = tonumber(ARGV[10])
    redis.call('SET', job, '\\0\\1' .. struct.pack('>I8H', cancel_until, #booking.summary)
               .. booking.summary .. ARGV[9], 'EX', mail_ttl)
    redis.call('ZADD', prefix .. 'mq', now, handed)
    if redis.call('TTL', prefix .. 'mq') < mail_ttl then
      redis.call('EXPIRE', prefix .. 'mq', mail_ttl)
    end
  end
end
redis.call('PUBLISH', ARGV[6], ARGV[7])
return {'confirmed', booking.id, booking.summary, cancel_until}
"""
)

# KEYS: booking, token; ARGV: prefix
# Retry-safe: a re-run finds the booking gone and answers "gone" (410, "withdrawn, expired
# or unknown"): everything was deleted once, and the answer stays true.
_WITHDRAW = (
    _PENDING_BOOKING
    + """
local booking, marker = pending_booking()
if not booking then
  if marker == 'confirmed' then return {'already'} end
  return {'gone'}
end
local prefix = ARGV[1]
if booking.slot ~= '' then
  local hold = prefix .. 'h:' .. booking.slot
  if redis.call('GET', hold) == booking.id then
    redis.call('DEL', hold)
    redis.call('ZREM', prefix .. 'held', booking.slot)
  end
end
redis.call('DEL', booking.key, KEYS[2], prefix .. 'm:' .. booking.id)
redis.call('ZREM', prefix .. 'mq', booking.id)
redis.call('ZREM', prefix .. 'pending', booking.id)
return {'withdrawn', booking.id}
"""
)

# A mail job is one string (pack_mail_job): its first byte counts the attempts, so a claim
# changes that byte in place (SETRANGE). Jobs queued by relays before that are hashes
# (job, attempts) and are read as such until they expire.
# KEYS: mail queue; ARGV: prefix, now ms, lease ms, limit
# Returns (job id, the job after its attempts byte, attempts) per claimed job.
# Retry-safe: a re-run finds the jobs the lost reply carried leased, so no longer due, and
# claims none of them; they are sent when the lease ends: later, never twice.
_CLAIM_MAIL = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[4]))
local claimed = {}
local lease_until = tonumber(ARGV[2]) + tonumber(ARGV[3])
for _, job_id in ipairs(due) do
  local job = ARGV[1] .. 'm:' .. job_id
  local kind = redis.call('TYPE', job).ok
  local body, attempts
  if kind == 'string' then
    local value = redis.call('GET', job)
    attempts = math.min(string.byte(value, 1) + 1, 255)
    redis.call('SETRANGE', job, 0, string.char(attempts))
    body = string.sub(value, 2)
  elseif kind == 'hash' then
    body = '\\0' .. redis.call('HGET', job, 'job')
    attempts = redis.call('HINCRBY', job, 'attempts', 1)
  end
  if body then
    redis.call('ZADD', KEYS[1], lease_until, job_id)
    table.insert(claimed, job_id)
    table.insert(claimed, body)
    table.insert(claimed, attempts)
  else
    -- The booking expired or was withdrawn: its job went with it.
    redis.call('ZREM', KEYS[1], job_id)
  end
end
return claimed
"""

# The worker settles many claimed jobs of one practice in one call: done ('d': job and
# queue entry deleted), retry ('r': due again at the given ms) or released unsent at
# shutdown ('u': due at the given ms, the claim's attempt given back).
# KEYS: mail queue; ARGV: prefix, then (job id, 'd'|'r'|'u', due ms) per job
# Retry-safe: DEL, ZREM and ZADD of a fixed score end in the same state when run twice; a
# repeated attempt correction only moves the give-up point by one attempt.
_FINISH_MAIL = """
for i = 2, #ARGV, 3 do
  local job_id, kind = ARGV[i], ARGV[i + 1]
  local job = ARGV[1] .. 'm:' .. job_id
  if kind == 'd' then
    redis.call('DEL', job)
    redis.call('ZREM', KEYS[1], job_id)
  elseif redis.call('EXISTS', job) == 1 then
    -- XX: a booking confirmed or withdrawn meanwhile has left the queue; keep it out.
    redis.call('ZADD', KEYS[1], 'XX', tonumber(ARGV[i + 2]), job_id)
    if kind == 'u' then
      if redis.call('TYPE', job).ok == 'hash' then
        redis.call('HINCRBY', job, 'attempts', -1)
      else
        local attempts = string.byte(redis.call('GETRANGE', job, 0, 0))
        if attempts > 0 then redis.call('SETRANGE', job, 0, string.char(attempts - 1)) end
      end
    end
  end
end
return 1
"""

# KEYS: inbox, arrivals; ARGV: prefix, now ms, visibility ms, limit
# Retry-safe: a re-run finds the items the lost reply carried hidden for the visibility
# timeout and returns them after it, like any unacknowledged item (at least once).
_FETCH = """
local now = tonumber(ARGV[2])
-- Fetched by a client and not yet acknowledged: hidden now, so its client can say why an
-- empty answer is not an empty inbox.
local in_flight = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
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
table.insert(items, in_flight)
return items
"""

# KEYS: inbox, arrivals; ARGV: prefix, ids...
# Retry-safe: deleting what is deleted changes nothing; the count a re-run returns may
# be lower, and no item comes back.
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
# Retry-safe: a re-run finds nothing left to remove; the "expired" metric misses the lost
# reply's count, no data changes.
_SWEEP_EXPIRED = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #expired > 0 then redis.call('ZREM', KEYS[1], unpack(expired)) end
return #expired
"""

# Abuse limits. Counts are sliding window logs (a sorted set of member -> time in ms,
# pruned as it is read): exact in any window, no double burst at a window edge, and the
# precise moment a place frees up. A log never grows past its limit, as refused requests
# are not logged. The flood rate is two one-minute counters, the previous one weighted by
# the part of it still inside the last minute.
#
# The network's state, shared by _LIMIT_STATE and _ADMIT: KEYS[1] network log, KEYS[2..3]
# relay flood counters (this minute, the one before), KEYS[4..5] the practice's, KEYS[6]
# the operator's proof-of-work mode; ARGV[1] now ms, ARGV[2] network window ms, ARGV[3]
# soft limit, ARGV[4] part of this minute gone (0..1), ARGV[5] default mode, ARGV[6] relay
# flood threshold per minute, ARGV[7] practice flood threshold per minute. `pressure` is
# the largest of: the network's count over its soft limit, the relay's and the practice's
# submission rate over their flood thresholds; from 1 on a proof of work is asked for.
_STATE_OF_LIMITS = """
local function limit_state()
  local now, window, soft = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  local count = redis.call('ZCARD', KEYS[1])
  -- ms until the network is below its soft limit again
  local until_soft = 0
  if count >= soft then
    local entry = redis.call('ZRANGE', KEYS[1], count - soft, count - soft, 'WITHSCORES')
    until_soft = tonumber(entry[2]) + window - now
  end
  local kept = 1 - tonumber(ARGV[4])
  local function rate(current, before)
    return tonumber(redis.call('GET', current) or '0')
      + tonumber(redis.call('GET', before) or '0') * kept
  end
  local pressure = math.max(count / soft, rate(KEYS[2], KEYS[3]) / tonumber(ARGV[6]),
                            rate(KEYS[4], KEYS[5]) / tonumber(ARGV[7]))
  return {mode = redis.call('GET', KEYS[6]) or ARGV[5], count = count,
          until_soft = until_soft, pressure = pressure}
end
"""

# KEYS, ARGV: as _STATE_OF_LIMITS. Returns mode, network count, ms until below the soft
# limit, pressure.
# Retry-safe: it only forgets log entries that are out of the window.
_LIMIT_STATE = (
    _STATE_OF_LIMITS
    + """
local state = limit_state()
return {state.mode, state.count, state.until_soft, tostring(state.pressure)}
"""
)

# Admits one submission or says which limit refuses it.
# KEYS: as _STATE_OF_LIMITS, then KEYS[7] recipient log[, KEYS[8] proof-of-work marker]
# ARGV: as _STATE_OF_LIMITS, then ARGV[8] hard limit, ARGV[9] recipient window ms,
# ARGV[10] recipient limit, ARGV[11] member (random, not the booking id: the logs link no
# booking to a network or an address), ARGV[12] proof expiry (unix
# ms), ARGV[13] flood counter TTL ms
# Returns {outcome, ms until it may work, pressure}: 'ok' (then 1 if a proof was used, or
# 0), 'network' (past the hard limit; with mode off, past the soft limit), 'recipient',
# 'pow' (a proof of work is needed and none came), 'pow_used' (the proof was used before).
# Retry-safe: a member already in the network log was admitted by an earlier attempt of
# this call, and the proof marker holds the member that used it, so a re-run answers 'ok'
# without counting twice; only the flood counters may count it twice.
_ADMIT = (
    _STATE_OF_LIMITS
    + """
local now, window, member = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[11]
if redis.call('ZSCORE', KEYS[1], member) then return {'ok', 0, '0'} end
local state = limit_state()
local pressure = tostring(state.pressure)
local hard = tonumber(ARGV[8])
if state.mode == 'off' then hard = tonumber(ARGV[3]) end
if state.count >= hard then
  local entry = redis.call('ZRANGE', KEYS[1], state.count - hard, state.count - hard, 'WITHSCORES')
  return {'network', tonumber(entry[2]) + window - now, pressure}
end
local recipient_window, recipient_limit = tonumber(ARGV[9]), tonumber(ARGV[10])
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now - recipient_window)
local mails = redis.call('ZCARD', KEYS[7])
if mails >= recipient_limit then
  local index = mails - recipient_limit
  local entry = redis.call('ZRANGE', KEYS[7], index, index, 'WITHSCORES')
  return {'recipient', tonumber(entry[2]) + recipient_window - now, pressure}
end
local proved = 0
if state.mode == 'always' or (state.mode == 'auto' and state.pressure >= 1) then
  if not KEYS[8] then return {'pow', state.until_soft, pressure} end
  if not redis.call('SET', KEYS[8], member, 'NX', 'PXAT', ARGV[12])
     and redis.call('GET', KEYS[8]) ~= member then
    return {'pow_used', state.until_soft, pressure}
  end
  proved = 1
end
redis.call('ZADD', KEYS[1], now, member)
redis.call('PEXPIRE', KEYS[1], window)
redis.call('ZADD', KEYS[7], now, member)
redis.call('PEXPIRE', KEYS[7], recipient_window)
for _, counter in ipairs({KEYS[2], KEYS[4]}) do
  redis.call('INCR', counter)
  redis.call('PEXPIRE', counter, tonumber(ARGV[13]))
end
return {'ok', proved, pressure}
"""
)

# _ADMIT, then, if it admits, _SUBMIT: a submission's one round trip on one Redis node.
# Each script runs as a function whose parameters KEYS and ARGV shadow the script's own,
# so both keep their numbering. KEYS: _ADMIT's, then _SUBMIT's; ARGV: the number of
# _ADMIT's KEYS and of its ARGV, _ADMIT's ARGV, then _SUBMIT's.
# Returns _ADMIT's answer, with _SUBMIT's as a fourth element when admitted.
# Retry-safe: both parts are (see there).
_ADMIT_AND_SUBMIT = (
    "local function admit(KEYS, ARGV)\n"
    + _ADMIT
    + "end\nlocal function submit(KEYS, ARGV)\n"
    + _SUBMIT
    + """end
local key_count, arg_count = tonumber(ARGV[1]), tonumber(ARGV[2])
local admission = admit({unpack(KEYS, 1, key_count)}, {unpack(ARGV, 3, 2 + arg_count)})
if admission[1] ~= 'ok' then return admission end
local stored = submit({unpack(KEYS, key_count + 1)}, {unpack(ARGV, 3 + arg_count)})
return {admission[1], admission[2], admission[3], stored}
"""
)

# One hit in a sliding window log, unless the log is full: a mail resent to a recipient,
# a failed token guess of a network.
# KEYS: log; ARGV: now ms, window ms, limit, member
# Returns 0 when logged, else the ms until a place frees up.
# Retry-safe: the member is made before the first attempt; a re-run finds it logged.
_LOG_HIT = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then return 0 end
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  local entry = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
  return math.max(tonumber(entry[2]) + window - now, 1)
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return 0
"""

# A confirmation mail sent again for a pending booking: a fresh job, due now.
# KEYS: booking, mail job, mail queue; ARGV: booking id, mail job (pack_mail_job), now ms
# Returns 1 when queued, 0 while the booking's mail is still queued or being sent (no
# second mail then), -1 when the booking is no longer pending.
# Retry-safe: a re-run finds the job queued by the first attempt and answers 0.
_RESEND_MAIL = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then return -1 end
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ttl)
redis.call('ZADD', KEYS[3], tonumber(ARGV[3]), ARGV[1])
if redis.call('PTTL', KEYS[3]) < ttl then redis.call('PEXPIRE', KEYS[3], ttl) end
return 1
"""

# What a cancel link leads to. KEYS: cancel record
# Returns {'active', booking id, ms left} | {'cancelled'} | {'gone'}.
# Retry-safe: reads only.
_CANCEL_STATE = """
local value = redis.call('GET', KEYS[1])
if not value then return {'gone'} end
if value == 'cancelled' then return {'cancelled'} end
local booking_id = string.match(value, '^([^:]*)')
return {'active', booking_id, redis.call('PTTL', KEYS[1])}
"""

# A patient's cancellation: the sealed notice goes to the inbox like a booking, the slot
# the booking took is offered again, and the record keeps only "cancelled" until it
# expires (so a second click says "already cancelled").
# KEYS: cancel record, inbox, arrivals; ARGV: prefix, now ms, notice id, sealed notice,
# cancelled_at, inbox ttl s, wake channel, practice, booking id (the one sealed)
# Returns {'cancelled', booking id} | {'already'} | {'gone'} | {'changed'} (the record
# names another booking than the one sealed: never for a record the relay wrote).
# Retry-safe: a re-run finds the record "cancelled" and answers "already"; the notice
# went to the inbox once.
_CANCEL = """
local value = redis.call('GET', KEYS[1])
if not value then return {'gone'} end
if value == 'cancelled' then return {'already'} end
local booking_id, slot = string.match(value, '^([^:]*):(.*)$')
if booking_id ~= ARGV[9] then return {'changed'} end
local prefix = ARGV[1]
local now = tonumber(ARGV[2])
local inbox_ttl = tonumber(ARGV[6])
local item = prefix .. 'i:' .. ARGV[3]
redis.call('HSET', item, 'sealed', ARGV[4], 'confirmed_at', ARGV[5])
redis.call('EXPIRE', item, inbox_ttl)
redis.call('ZADD', KEYS[2], now, ARGV[3])
redis.call('EXPIRE', KEYS[2], inbox_ttl)
redis.call('ZADD', KEYS[3], now, ARGV[3])
redis.call('EXPIRE', KEYS[3], inbox_ttl)
if slot ~= '' and redis.call('GET', prefix .. 'h:' .. slot) == 'taken' then
  -- Taken by this booking (a hold is claimed once): free for the next patient.
  redis.call('DEL', prefix .. 'h:' .. slot)
  redis.call('ZREM', prefix .. 'held', slot)
end
redis.call('SET', KEYS[1], 'cancelled', 'KEEPTTL')
redis.call('PUBLISH', ARGV[7], ARGV[8])
return {'cancelled', booking_id}
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
class LoadedPractice:
    practice: Practice
    # The profile JSON stored with it (b"" if missing: a corrupt store).
    profile: bytes


@dataclass(frozen=True)
class Availability:
    profile_version: int
    # Ids of the slots held by a pending booking or taken by a confirmed one.
    unavailable: list[str]


SubmitResult = Literal["stored", "stale"]


@dataclass(frozen=True)
class NewBooking:
    """A sealed booking to store pending confirmation (Store.submit). `mail_job`: the
    confirmation mail job's ciphertext; the slot fields stay None for a wish."""

    booking_id: str
    sealed: bytes
    summary: bytes
    token_hash: str
    mail_job: bytes
    ttl: int
    now_ms: int
    profile_version: int
    slot_id: str | None = None
    slot_start_ms: int | None = None
    slot_end_ms: int | None = None


@dataclass(frozen=True)
class PendingBooking:
    """What the confirmation page may show: the encrypted summary and the expiry."""

    booking_id: str
    summary: bytes
    expires_in_ms: int


# A pending booking is one string value: Redis keeps it in one allocation. As a hash it was
# a full hashtable (the sealed box is far over hash-max-listpack-value, 64 bytes), about
# 1 KB more per booking (bench/memory_bench.py). Layout 2, big-endian, read in Lua by
# _PENDING_BOOKING with struct.unpack('>BI8I8Bc0Bc0Hc0'):
#   layout (1 byte) | slot start, ms (8; 0 for a wish) | slot end, ms (8; 0 for a wish) |
#   slot id length (1), slot id ('' for a wish) | booking id length (1), booking id |
#   summary length (2), summary | sealed box
# The start lets the confirm script write the cancel record, which lasts until the
# appointment starts, without the page reading the booking first. Layout 1 (no start) is
# still read, for bookings stored before it.
BOOKING_LAYOUT = 2
_BOOKING_HEAD = struct.Struct(">BQQ")
_BOOKING_HEAD_1 = struct.Struct(">BQ")
_SHORT_LENGTH = struct.Struct(">B")
_SUMMARY_LENGTH = struct.Struct(">H")


@dataclass(frozen=True)
class StoredBooking:
    """A pending booking as Redis holds it: opaque bytes and what the scripts act on."""

    booking_id: str
    slot_id: str
    slot_end_ms: int
    summary: bytes
    sealed: bytes
    slot_start_ms: int = 0


def pack_booking(booking: StoredBooking) -> bytes:
    slot_id, booking_id = booking.slot_id.encode(), booking.booking_id.encode()
    return b"".join(
        (
            _BOOKING_HEAD.pack(BOOKING_LAYOUT, booking.slot_start_ms, booking.slot_end_ms),
            _SHORT_LENGTH.pack(len(slot_id)),
            slot_id,
            _SHORT_LENGTH.pack(len(booking_id)),
            booking_id,
            _SUMMARY_LENGTH.pack(len(booking.summary)),
            booking.summary,
            booking.sealed,
        )
    )


def unpack_booking(value: bytes) -> StoredBooking:
    """The inverse of pack_booking (and the reader of layout 1); the scripts read the same
    layouts in Lua."""
    layout = value[0] if value else None
    if layout == BOOKING_LAYOUT:
        _, slot_start_ms, slot_end_ms = _BOOKING_HEAD.unpack_from(value)
        position = _BOOKING_HEAD.size
    elif layout == 1:
        _, slot_end_ms = _BOOKING_HEAD_1.unpack_from(value)
        slot_start_ms, position = 0, _BOOKING_HEAD_1.size
    else:
        raise ValueError(f"unknown booking layout {layout}")
    fields: list[bytes] = []
    for length_format in (_SHORT_LENGTH, _SHORT_LENGTH, _SUMMARY_LENGTH):
        (length,) = length_format.unpack_from(value, position)
        position += length_format.size
        fields.append(value[position : position + length])
        position += length
    slot_id, booking_id, summary = fields
    return StoredBooking(
        booking_id.decode(), slot_id.decode(), slot_end_ms, summary, value[position:], slot_start_ms
    )


# A queued mail job is one string, not a hash (job, attempts): with the job's ciphertext
# over hash-max-listpack-value that hash was a full hashtable, about 250 bytes more per
# queued mail (bench/memory_bench.py). Layout:
#   attempts (1 byte, counted by the claim script in place) | format (1) | body
# format 0 (MAIL_JOB_SEALED): the job, a ciphertext under the data keys (relay/mail/jobs.py)
# format 1 (MAIL_JOB_HANDED): the "handed to the practice" mail, put together by the
#   confirm script: cancel until, ms (8; 0 for no cancel link) | summary length (2) |
#   the booking's encrypted summary | the page's encrypted cancel link
MAIL_JOB_SEALED = 0
MAIL_JOB_HANDED = 1
_HANDED_HEAD = struct.Struct(">QH")


def pack_mail_job(sealed_job: bytes) -> bytes:
    """A new job of format 0, no attempt made yet."""
    return bytes((0, MAIL_JOB_SEALED)) + sealed_job


@dataclass(frozen=True)
class MailJob:
    """A claimed job. `payload`: the job's ciphertext (format 0) or, for a job the confirm
    script put together (format 1), the page's encrypted cancel link beside the booking's
    encrypted `summary` and the cancel record's end (`cancel_until_ms`, 0 for none)."""

    practice: str
    booking_id: str
    payload: bytes
    attempts: int
    summary: bytes | None = None
    cancel_until_ms: int = 0


def unpack_mail_job(practice: str, job_id: str, body: bytes, attempts: int) -> MailJob:
    """A claimed job from what follows its attempts byte."""
    if not body or body[0] not in (MAIL_JOB_SEALED, MAIL_JOB_HANDED):
        raise ValueError(f"unknown mail job format {body[:1]!r}")
    if body[0] == MAIL_JOB_SEALED:
        return MailJob(practice, job_id, body[1:], attempts)
    cancel_until_ms, summary_length = _HANDED_HEAD.unpack_from(body, 1)
    start = 1 + _HANDED_HEAD.size
    summary = body[start : start + summary_length]
    link = body[start + summary_length :]
    return MailJob(practice, job_id, link, attempts, summary, cancel_until_ms)


@dataclass(frozen=True)
class MailSettlement:
    """What became of a claimed mail job: `d` done (sent or given up), `r` retry at
    `due_ms`, `u` released unsent (at shutdown), due again at `due_ms`."""

    booking_id: str
    kind: Literal["d", "r", "u"]
    due_ms: int = 0


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
    # Items fetched before and not yet acknowledged, hidden until their visibility ends.
    in_flight: int = 0


@dataclass(frozen=True)
class PracticeStats:
    pending: int
    inbox: int
    oldest_arrival_ms: int | None


Outcome = Literal["confirmed", "already", "gone", "withdrawn"]


@dataclass(frozen=True)
class AfterConfirm:
    """What confirming also writes (relay/booking/cancellation.py): the cancel record, until the
    slot starts or, for a wish, `wish_cancel_ms` after confirming (none once the
    appointment has begun), and the second mail from the page's encrypted `cancel_link`
    (None: no second mail), tried for `mail_ttl` seconds."""

    cancel_token_hash: str
    wish_cancel_ms: int
    cancel_link: bytes | None
    mail_ttl: int


@dataclass(frozen=True)
class Confirmed:
    """What the confirm script did. For "confirmed" also the booking's id, its encrypted
    summary (deleted with the booking, returned for the result page) and the cancel
    record's end (None: the appointment has begun, or no record was asked for)."""

    outcome: Outcome
    booking_id: str | None = None
    summary: bytes | None = None
    cancel_until_ms: int | None = None


@dataclass(frozen=True)
class CancelState:
    """`active` (with the booking id and the ms until the link expires), `cancelled`, `gone`."""

    state: Literal["active", "cancelled", "gone"]
    booking_id: str = ""
    expires_in_ms: int = 0


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
    _load_practice = _Script(_LOAD_PRACTICE)
    _availability = _Script(_AVAILABILITY)
    _set_public_key = _Script(_SET_PUBLIC_KEY)
    _adopt_holds = _Script(_ADOPT_HOLDS)
    _submit = _Script(_SUBMIT)
    _confirm = _Script(_CONFIRM)
    _withdraw = _Script(_WITHDRAW)
    _pending = _Script(_PENDING)
    _claim_mail = _Script(_CLAIM_MAIL)
    _finish_mail = _Script(_FINISH_MAIL)
    _fetch = _Script(_FETCH)
    _ack = _Script(_ACK)
    _sweep_expired = _Script(_SWEEP_EXPIRED)
    _limit_state = _Script(_LIMIT_STATE)
    _admit = _Script(_ADMIT)
    _admit_and_submit = _Script(_ADMIT_AND_SUBMIT)
    _log_hit = _Script(_LOG_HIT)
    _resend_mail = _Script(_RESEND_MAIL)
    _cancel_state = _Script(_CANCEL_STATE)
    _cancel = _Script(_CANCEL)

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        # One node holds every key, so one script may touch a practice's and the limits'.
        self.one_node = not isinstance(redis, RedisCluster)

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

    async def put_profile(self, slug: str, profile: bytes) -> int:
        """Replaces the profile; the practice's new version."""
        version = await self._put_profile(
            self.redis, [practice_key(slug), profile_key(slug)], [profile]
        )
        if not version:
            raise PracticeNotFound(slug)
        return int(version)

    async def load_practice(self, slug: str) -> LoadedPractice:
        """The practice record and its profile JSON at one version, in one round trip."""
        fields = await self._load_practice(self.redis, [practice_key(slug), profile_key(slug)], [])
        if not fields:
            raise PracticeNotFound(slug)
        name, public_key, token_hash, version, profile = fields
        practice = Practice(
            slug, name.decode(), bytes(public_key), token_hash.decode(), int(version or 0)
        )
        return LoadedPractice(practice, bytes(profile))

    async def availability(self, slug: str, *, now_ms: int) -> Availability:
        """The profile version and the ids of the slots held or taken at `now_ms`."""
        found = await self._availability(self.redis, [practice_key(slug), held_key(slug)], [now_ms])
        if not found:
            raise PracticeNotFound(slug)
        return Availability(int(found[0]), [slot_id.decode() for slot_id in found[1]])

    async def set_public_key(self, slug: str, public_key: bytes) -> None:
        if not await self._set_public_key(self.redis, [practice_key(slug)], [public_key]):
            raise PracticeNotFound(slug)

    async def adopt_legacy_holds(self) -> int:
        """Copies slot holds written before the held set existed into it (one scan over
        all practices, at start); the number copied."""
        by_practice: dict[str, list[str]] = {}
        async for key in self.redis.scan_iter(match="tr:{*}:h:*", count=1000):
            prefix, _, slot_id = key.decode().partition("}:h:")
            by_practice.setdefault(prefix[len("tr:{") :], []).append(slot_id)
        adopted = 0
        for slug, slot_ids in by_practice.items():
            for start in range(0, len(slot_ids), 500):
                adopted += int(
                    await self._adopt_holds(
                        self.redis,
                        [held_key(slug)],
                        [practice_prefix(slug), *slot_ids[start : start + 500]],
                    )
                )
        return adopted

    # Bookings

    async def submit(self, practice: str, booking: NewBooking) -> SubmitResult:
        """Stores a pending booking, its token, summary, mail job and slot hold at once,
        if the practice is still at `profile_version`: "stale" (nothing stored) if not."""
        keys, args = _submit_call(practice, booking)
        stored = await self._submit(self.redis, keys, args)
        return _submitted(stored, practice, booking.slot_id)

    async def admit_and_submit(
        self, ticket: AdmissionTicket, booking: NewBooking
    ) -> tuple[Admission, SubmitResult | Literal["refused"]]:
        """`admit` and `submit` in one round trip, on one Redis node only (a Cluster keeps
        the limits' keys in other slots than the practice's): the submission is counted
        and the booking stored, or, refused by a limit, nothing is stored."""
        admit_keys, admit_args = _admit_call(ticket)
        keys, args = _submit_call(ticket.practice, booking)
        outcome = await self._admit_and_submit(
            self.redis,
            [*admit_keys, *keys],
            [len(admit_keys), len(admit_args), *admit_args, *args],
        )
        admission = Admission(outcome[0].decode(), int(outcome[1]), float(outcome[2]))
        if admission.outcome != "ok":
            return admission, "refused"
        return admission, _submitted(outcome[3], ticket.practice, booking.slot_id)

    async def pending(self, practice: str, token_hash: str) -> PendingBooking | None:
        """What a confirmation page shows, None once confirmed; changes nothing (mail
        scanners prefetch links). TokenGone for a withdrawn, expired or unknown token."""
        found = await self._pending(
            self.redis, _booking_keys(practice, token_hash), [practice_prefix(practice)]
        )
        if found[0] == CONFIRMED:
            return None
        if found[0] != b"pending" or int(found[3]) < 0:
            raise TokenGone
        return PendingBooking(found[1].decode(), bytes(found[2]), int(found[3]))

    async def confirm(
        self,
        practice: str,
        token_hash: str,
        *,
        now_ms: int,
        confirmed_at: str,
        inbox_ttl: int,
        pending_ttl: int,
        after: AfterConfirm | None = None,
    ) -> Confirmed:
        """Moves the pending booking to the inbox; with `after`, also writes its cancel
        record and queues the "handed to the practice" mail, in the same step."""
        keys = [*_booking_keys(practice, token_hash), inbox_key(practice), arrivals_key(practice)]
        args: list[str | int | bytes] = [
            practice_prefix(practice),
            now_ms,
            confirmed_at,
            inbox_ttl,
            pending_ttl,
            wake_channel(practice),
            practice,
        ]
        if after is not None:
            keys.append(cancel_key(practice, after.cancel_token_hash))
            args += [after.wish_cancel_ms, after.cancel_link or "", after.mail_ttl]
        result = await self._confirm(self.redis, keys, args)
        outcome, booking_id = _outcome(result)
        if outcome != "confirmed":
            return Confirmed(outcome)
        cancel_until_ms = int(result[3])
        return Confirmed(outcome, booking_id, bytes(result[2]), cancel_until_ms or None)

    # Cancellation by the patient (relay/booking/cancellation.py)

    async def cancel_state(self, practice: str, token_hash: str) -> CancelState:
        """What a cancel link leads to; changes nothing."""
        found = await self._cancel_state(self.redis, [cancel_key(practice, token_hash)], [])
        state = found[0].decode()
        if state == "active":
            return CancelState("active", found[1].decode(), int(found[2]))
        return CancelState("cancelled" if state == "cancelled" else "gone")

    async def cancel(
        self,
        practice: str,
        token_hash: str,
        *,
        booking_id: str,
        notice_id: str,
        sealed: bytes,
        cancelled_at: str,
        now_ms: int,
        inbox_ttl: int,
    ) -> str:
        """Puts a sealed cancellation notice of `booking_id` into the inbox and marks the
        record cancelled: "cancelled", "already", "gone" or "changed"."""
        result = await self._cancel(
            self.redis,
            [cancel_key(practice, token_hash), inbox_key(practice), arrivals_key(practice)],
            [
                practice_prefix(practice),
                now_ms,
                notice_id,
                sealed,
                cancelled_at,
                inbox_ttl,
                wake_channel(practice),
                practice,
                booking_id,
            ],
        )
        return str(result[0].decode())

    async def withdraw(self, practice: str, token_hash: str) -> tuple[Outcome, str | None]:
        result = await self._withdraw(
            self.redis, _booking_keys(practice, token_hash), [practice_prefix(practice)]
        )
        return _outcome(result)

    async def sweep_expired(self, practice: str, *, now_ms: int) -> int:
        """Forgets pending bookings past their TTL (Redis already dropped their data)."""
        return int(await self._sweep_expired(self.redis, [pending_key(practice)], [now_ms]))

    # Mail queue

    async def mail_queue_heads(self, slugs: Iterable[str]) -> dict[str, int]:
        """{slug: score (ms) of the queue's earliest entry} for practices with queued mail:
        due when it is not in the future. One round trip for all practices."""
        slugs = list(slugs)
        if not slugs:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for slug in slugs:
                pipe.zrange(mail_queue_key(slug), 0, 0, withscores=True)
            heads = await pipe.execute()
        return {slug: int(head[0][1]) for slug, head in zip(slugs, heads, strict=True) if head}

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
            unpack_mail_job(practice, flat[i].decode(), bytes(flat[i + 1]), int(flat[i + 2]))
            for i in range(0, len(flat), 3)
        ]

    async def finish_mail(self, practice: str, settled: Sequence[MailSettlement]) -> None:
        """Records the outcome of claimed jobs of one practice in one script call."""
        if not settled:
            return
        args: list[str | int] = [practice_prefix(practice)]
        for item in settled:
            args += [item.booking_id, item.kind, item.due_ms]
        await self._finish_mail(self.redis, [mail_queue_key(practice)], args)

    async def mail_done(self, practice: str, booking_id: str) -> None:
        await self.finish_mail(practice, [MailSettlement(booking_id, "d")])

    async def mail_retry_at(self, practice: str, booking_id: str, *, due_ms: int) -> None:
        await self.finish_mail(practice, [MailSettlement(booking_id, "r", due_ms)])

    # Inbox

    async def fetch_inbox(
        self, practice: str, *, now_ms: int, visibility_ms: int, limit: int
    ) -> InboxBatch:
        flat = await self._fetch(
            self.redis,
            [inbox_key(practice), arrivals_key(practice)],
            [practice_prefix(practice), now_ms, visibility_ms, limit],
        )
        next_visible, in_flight = flat[-2], int(flat[-1])
        items = [
            InboxItem(flat[i].decode(), bytes(flat[i + 1]), flat[i + 2].decode())
            for i in range(0, len(flat) - 2, 3)
        ]
        return InboxBatch(items, int(float(next_visible)) if next_visible else None, in_flight)

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

    async def slot_holder(self, practice: str, slot_id: str) -> str | None:
        """The id of the pending booking holding a slot; None if free or taken."""
        holder = await self.redis.get(hold_key(practice, slot_id))
        if holder is None or holder == TAKEN:
            return None
        return bytes(holder).decode()

    async def resend_mail(
        self, practice: str, booking_id: str, *, token_hash: str, mail_job: bytes, now_ms: int
    ) -> int:
        """Queues `mail_job` again for a pending booking: 1 queued, 0 its mail is still
        queued or in hand (nothing to do), -1 the booking is no longer pending."""
        keys = [
            booking_key(practice, token_hash),
            mail_job_key(practice, booking_id),
            mail_queue_key(practice),
        ]
        return int(
            await self._resend_mail(self.redis, keys, [booking_id, pack_mail_job(mail_job), now_ms])
        )

    # Abuse limits (relay/abuse/limits.py)

    async def limit_state(
        self, policy: LimitPolicy, *, network_id: str, practice: str | None, now_ms: int
    ) -> LimitState:
        """Where a network, the practice and the relay stand: for the difficulty of a
        challenge and whether the form should carry one."""
        keys, args = _limit_keys(policy, network_id, practice, now_ms)
        mode, count, until_soft_ms, pressure = await self._limit_state(self.redis, keys, args)
        return LimitState(mode.decode(), int(count), int(until_soft_ms), float(pressure))

    async def admit(self, ticket: AdmissionTicket) -> Admission:
        """Admits one submission against every limit at once, or says which refuses it."""
        keys, args = _admit_call(ticket)
        outcome, detail, pressure = await self._admit(self.redis, keys, args)
        return Admission(outcome.decode(), int(detail), float(pressure))

    async def refund(self, *, network_id: str, recipient_id: str, member: str) -> None:
        """Takes back an admitted submission that sent no mail (its slot was taken)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrem(network_log_key(network_id), member)
            pipe.zrem(recipient_log_key(recipient_id), member)
            await pipe.execute()

    async def recipient_hit(
        self, recipient_id: str, *, now_ms: int, window_ms: int, limit: int, member: str
    ) -> int:
        """Counts one mail to a recipient: 0, or the ms until the limit lets one through."""
        return int(
            await self._log_hit(
                self.redis, [recipient_log_key(recipient_id)], [now_ms, window_ms, limit, member]
            )
        )

    async def forget_recipient_hit(self, recipient_id: str, member: str) -> None:
        await self.redis.zrem(recipient_log_key(recipient_id), member)

    async def guess_failed(
        self, kind: str, network_id: str, *, now_ms: int, window_ms: int, limit: int, member: str
    ) -> int:
        """Counts one failed token of a network: 0, or the ms until failures count again."""
        return int(
            await self._log_hit(
                self.redis,
                [failure_log_key(kind, network_id)],
                [now_ms, window_ms, limit, member],
            )
        )

    async def pow_mode(self) -> str | None:
        """The operator's proof-of-work mode (`relay pow`), None when RELAY_POW applies."""
        mode = await self.redis.get(POW_MODE_KEY)
        return None if mode is None else bytes(mode).decode()

    async def set_pow_mode(self, mode: str | None) -> None:
        if mode is None:
            await self.redis.delete(POW_MODE_KEY)
        else:
            await self.redis.set(POW_MODE_KEY, mode)


# One flood bucket: a minute.
FLOOD_BUCKET_MS = 60_000


@dataclass(frozen=True)
class LimitPolicy:
    """The limits' settings, as the scripts take them."""

    window_ms: int
    soft_limit: int
    hard_limit: int
    recipient_window_ms: int
    recipient_limit: int
    relay_flood: int
    practice_flood: int
    default_mode: str


@dataclass(frozen=True)
class LimitState:
    mode: str
    network_count: int
    until_soft_ms: int
    pressure: float


@dataclass(frozen=True)
class AdmissionTicket:
    """One submission to count against the abuse limits (Store.admit). `member` is random,
    not the booking id: the logs link no booking to a network or an address."""

    policy: LimitPolicy
    network_id: str
    recipient_id: str
    practice: str
    member: str
    now_ms: int
    proof_marker: str | None
    proof_expires_ms: int


@dataclass(frozen=True)
class Admission:
    """`outcome`: ok, network, recipient, pow or pow_used; `detail`: for ok 1 if a proof
    of work was used, else the ms until the refusing limit may let the request through."""

    outcome: str
    detail: int
    pressure: float


def _limit_keys(
    policy: LimitPolicy, network_id: str, practice: str | None, now_ms: int
) -> tuple[list[str], list[str | int]]:
    """KEYS and ARGV of _STATE_OF_LIMITS."""
    bucket, into_bucket = divmod(now_ms, FLOOD_BUCKET_MS)
    # Without a practice its counters are keys that never exist: a rate of 0.
    slug = practice if practice is not None else ""
    keys = [
        network_log_key(network_id),
        flood_key(bucket),
        flood_key(bucket - 1),
        flood_key(bucket, slug),
        flood_key(bucket - 1, slug),
        POW_MODE_KEY,
    ]
    args: list[str | int] = [
        now_ms,
        policy.window_ms,
        policy.soft_limit,
        f"{into_bucket / FLOOD_BUCKET_MS:.4f}",
        policy.default_mode,
        policy.relay_flood,
        policy.practice_flood,
    ]
    return keys, args


def _admit_call(ticket: AdmissionTicket) -> tuple[list[str], list[str | int]]:
    """KEYS and ARGV of _ADMIT."""
    policy = ticket.policy
    keys, args = _limit_keys(policy, ticket.network_id, ticket.practice, ticket.now_ms)
    keys.append(recipient_log_key(ticket.recipient_id))
    if ticket.proof_marker is not None:
        keys.append(proof_key(ticket.proof_marker))
    args += [
        policy.hard_limit,
        policy.recipient_window_ms,
        policy.recipient_limit,
        ticket.member,
        ticket.proof_expires_ms,
        2 * FLOOD_BUCKET_MS,
    ]
    return keys, args


def _submit_call(practice: str, booking: NewBooking) -> tuple[list[str], list[str | int | bytes]]:
    """KEYS and ARGV of _SUBMIT."""
    stored = StoredBooking(
        booking.booking_id,
        booking.slot_id or "",
        booking.slot_end_ms or 0,
        booking.summary,
        booking.sealed,
        booking.slot_start_ms or 0,
    )
    keys = [
        booking_key(practice, booking.token_hash),
        token_key(practice, booking.token_hash),
        mail_job_key(practice, booking.booking_id),
        mail_queue_key(practice),
        pending_key(practice),
        practice_key(practice),
        held_key(practice),
    ]
    if booking.slot_id is not None:
        keys.append(hold_key(practice, booking.slot_id))
    args: list[str | int | bytes] = [
        booking.booking_id,
        pack_booking(stored),
        pack_mail_job(booking.mail_job),
        booking.ttl,
        booking.now_ms,
        booking.profile_version,
        booking.slot_id or "",
    ]
    return keys, args


def _submitted(stored: int, practice: str, slot_id: str | None) -> SubmitResult:
    """_SUBMIT's answer: "stored" or "stale", or the error it means."""
    if stored == -2:
        return "stale"
    if stored == -1:
        raise PracticeNotFound(practice)
    if not stored:
        raise SlotTaken(slot_id)
    return "stored"


def _booking_keys(practice: str, token_hash: str) -> list[str]:
    """KEYS[1] and KEYS[2] of the scripts that read a pending booking (_PENDING_BOOKING)."""
    return [booking_key(practice, token_hash), token_key(practice, token_hash)]


def _outcome(result: list[bytes]) -> tuple[Outcome, str | None]:
    outcome = result[0].decode()
    booking_id = result[1].decode() if len(result) > 1 else None
    if outcome not in ("confirmed", "already", "gone", "withdrawn"):
        raise RuntimeError(f"unexpected script outcome {outcome!r}")
    return cast(Outcome, outcome), booking_id
