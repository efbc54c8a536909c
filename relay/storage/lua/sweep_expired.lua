-- Forgets pending bookings past their TTL; Redis already dropped their data
-- (Store.sweep_expired).
--
-- KEYS[1]  the pending index (zset: booking id -> expiry, ms)
-- ARGV[1]  now, ms
--
-- Returns the number of bookings forgotten.
--
-- Retry-safe: a re-run finds nothing left to remove; the "expired" metric misses the lost
-- reply's count, no data changes.

local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #expired > 0 then redis.call('ZREM', KEYS[1], unpack(expired)) end
return #expired
