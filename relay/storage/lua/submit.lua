-- Stores a pending booking with its token, mail job, queue entries and slot claim, at
-- once (Store.submit; on one Redis node inside admit_and_submit.lua).
--
-- KEYS[1]  the booking (string, pack_booking), tr:{p}:b:{token hash}
-- KEYS[2]  the token's marker, tr:{p}:t:{token hash}
-- KEYS[3]  the mail job, tr:{p}:m:{booking id}
-- KEYS[4]  the mail queue (zset)
-- KEYS[5]  the pending index (zset)
-- KEYS[6]  the practice record (hash)
-- KEYS[7]  the held set (zset)
-- KEYS[8]  the slot's claim, tr:{p}:h:{slot id} (only for a slot, not for a wish)
-- ARGV[1]  booking id
-- ARGV[2]  the booking (pack_booking)
-- ARGV[3]  the mail job (pack_mail_job)
-- ARGV[4]  ttl, s
-- ARGV[5]  now, ms
-- ARGV[6]  profile version
-- ARGV[7]  slot id ('' for a wish)
--
-- Returns 1 stored, 0 slot taken, -1 no such practice, -2 stale: the booking was checked
-- and sealed against a cached practice of another version (the caller reloads, retries).
--
-- Retry-safe: the token is fresh random made before the first attempt and the script is
-- atomic, so a booking key (or, confirmed since, the token's marker) means an earlier
-- attempt stored all of it. Without that guard the re-run would find its own slot hold and
-- answer "slot taken".

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
