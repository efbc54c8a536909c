-- One hit in a sliding window log, unless the log is full: a mail resent to a recipient,
-- a failed token guess of a network (Store.recipient_hit, Store.guess_failed).
--
-- KEYS[1]  the log (zset: member -> ms)
-- ARGV[1]  now, ms
-- ARGV[2]  window, ms
-- ARGV[3]  limit
-- ARGV[4]  member
--
-- Returns 0 when logged, else the ms until a place frees up.
--
-- Retry-safe: the member is made before the first attempt; a re-run finds it logged.

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
