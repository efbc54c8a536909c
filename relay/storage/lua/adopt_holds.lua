-- Slot claims (tr:{p}:h:{slot id}) written by a relay before the held set existed, copied
-- into it with their expiry (Store.adopt_legacy_holds, at start).
--
-- KEYS[1]    the held set (zset: slot id -> held until, ms)
-- ARGV[1]    the practice's key prefix, tr:{p}:
-- ARGV[2..]  slot ids
--
-- Returns the number of claims copied.
--
-- Retry-safe: ZADD of the same scores; a hold already gone is skipped.

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
