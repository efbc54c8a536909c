-- Hands out visible inbox items and hides them for the visibility timeout until they are
-- acknowledged (Store.fetch_inbox).
--
-- KEYS[1]  the inbox (zset: item id -> visible from, ms)
-- KEYS[2]  the arrivals (zset)
-- ARGV[1]  the practice's key prefix, tr:{p}:
-- ARGV[2]  now, ms
-- ARGV[3]  visibility timeout, ms
-- ARGV[4]  limit: at most this many items
--
-- Returns (item id, sealed box, confirmed_at, blob: the browser's sealed box, '' for a
-- booking the relay sealed) per item, flat, then the ms the next hidden
-- item becomes visible ('' for none), then the number of items in flight.
--
-- Retry-safe: a re-run finds the items the lost reply carried hidden for the visibility
-- timeout and returns them after it, like any unacknowledged item (at least once).

local now = tonumber(ARGV[2])
-- Fetched by a client and not yet acknowledged: hidden now, so its client can say why an
-- empty answer is not an empty inbox.
local in_flight = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
local visible = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
local items = {}
for _, booking_id in ipairs(visible) do
  local fields = redis.call('HMGET', ARGV[1] .. 'i:' .. booking_id, 'sealed', 'confirmed_at', 'blob')
  if fields[1] then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), booking_id)
    table.insert(items, booking_id)
    table.insert(items, fields[1])
    table.insert(items, fields[2])
    table.insert(items, fields[3] or '')
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
