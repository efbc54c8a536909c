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
-- KEYS[#]  last: the submit ticket's use mark, tr:{p}:u:{booking id} (only when ARGV[8]
--          is not '': a booking sealed in the browser, whose id its ticket carries)
-- ARGV[1]  booking id
-- ARGV[2]  the booking (pack_booking)
-- ARGV[3]  the mail job (pack_mail_job)
-- ARGV[4]  ttl, s
-- ARGV[5]  now, ms
-- ARGV[6]  profile version
-- ARGV[7]  slot id ('' for a wish)
-- ARGV[8]  how long the ticket's use mark lasts, s ('' for a booking without ticket)
-- ARGV[9]  this submission's attempt id (random), which the use mark holds
--
-- Returns 1 stored, 0 slot taken, -1 no such practice, -2 stale: the booking was checked
-- and sealed against a cached practice of another version (the caller reloads, retries),
-- -3 the ticket was used before.
--
-- Retry-safe: the token is fresh random made before the first attempt and the script is
-- atomic, so a booking key (or, confirmed since, the token's marker) means an earlier
-- attempt stored all of it. Without that guard the re-run would find its own slot hold and
-- answer "slot taken". A ticket's use mark holds the attempt that set it, so a re-run
-- answers 1 and another submission with the same ticket -3; it is set only with the
-- booking stored, so a re-run of "slot taken" answers the same.

local ticket = ARGV[8] ~= '' and KEYS[#KEYS] or nil
if ticket then
  local holder = redis.call('GET', ticket)
  if holder then return holder == ARGV[9] and 1 or -3 end
end
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
if ticket then redis.call('SET', ticket, ARGV[9], 'EX', tonumber(ARGV[8])) end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ttl)
redis.call('SET', KEYS[3], ARGV[3], 'EX', ttl)
local now = tonumber(ARGV[5])
redis.call('ZADD', KEYS[4], now, ARGV[1])
redis.call('EXPIRE', KEYS[4], ttl)
redis.call('ZADD', KEYS[5], now + ttl * 1000, ARGV[1])
-- Outlives its entries so housekeeping can count them as expired; holds ids only.
redis.call('EXPIRE', KEYS[5], ttl + 3600)
return 1
