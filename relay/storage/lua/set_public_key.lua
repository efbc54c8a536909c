-- A new public key; moves the version on, so every relay process reloads the practice
-- before it seals the next booking (submit.lua refuses the old version).
--
-- KEYS[1]  the practice record (hash)
-- ARGV[1]  the public key
--
-- Returns the new profile version, or 0 when there is no such practice.
--
-- Retry-safe: a re-run writes the same key; the version moves on once more.

if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'public_key', ARGV[1])
return redis.call('HINCRBY', KEYS[1], 'profile_version', 1)
