-- What a view of the free slots needs besides the cached profile: the version (to check
-- the cache) and the slots held or taken now (Store.availability).
--
-- KEYS[1]  the practice record (hash)
-- KEYS[2]  the held set (zset: slot id -> held until, ms)
-- ARGV[1]  now, ms
--
-- Returns {profile version, ids of the slots held or taken after now}, or false when
-- there is no such practice.
--
-- Retry-safe: reads only.

local version = redis.call('HGET', KEYS[1], 'profile_version')
if not version then return false end
return {version, redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf')}
