-- Deletes acknowledged inbox items (Store.ack).
--
-- KEYS[1]    the inbox (zset)
-- KEYS[2]    the arrivals (zset)
-- ARGV[1]    the practice's key prefix, tr:{p}:
-- ARGV[2..]  item ids
--
-- Returns the number of items deleted.
--
-- Retry-safe: deleting what is deleted changes nothing; the count a re-run returns may
-- be lower, and no item comes back.

local deleted = 0
for i = 2, #ARGV do
  deleted = deleted + redis.call('DEL', ARGV[1] .. 'i:' .. ARGV[i])
  redis.call('ZREM', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
end
return deleted
