-- The practice record and its profile at one version, for the per-process cache
-- (Store.load_practice).
--
-- KEYS[1]  the practice record (hash)
-- KEYS[2]  the profile JSON (string)
-- ARGV     none
--
-- Returns {name, public key, token hash, profile version, profile JSON ('' if missing)},
-- or false when there is no such practice.
--
-- Retry-safe: reads only.

local fields = redis.call('HMGET', KEYS[1], 'name', 'public_key', 'token_hash',
                          'profile_version')
if not fields[1] then return false end
fields[5] = redis.call('GET', KEYS[2]) or ''
return fields
