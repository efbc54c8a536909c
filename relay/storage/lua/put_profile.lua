-- Replaces a practice's profile and moves its version on (Store.put_profile).
--
-- KEYS[1]  the practice record (hash)
-- KEYS[2]  the profile JSON (string)
-- ARGV[1]  the profile JSON
--
-- Returns the new profile version, or 0 when there is no such practice.
--
-- Retry-safe: a re-run writes the same profile; the version moves on once more, which only
-- makes relay processes parse the profile again.

if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
return redis.call('HINCRBY', KEYS[1], 'profile_version', 1)
