-- Registers a practice: its record and its first profile (Store.add_practice).
--
-- KEYS[1]  the practice record (hash), tr:{p}:practice
-- KEYS[2]  the profile JSON (string), tr:{p}:profile
-- ARGV[1]  name
-- ARGV[2]  public key
-- ARGV[3]  token hash
-- ARGV[4]  created_at
-- ARGV[5]  profile JSON
--
-- Returns 1 when registered (now or by an earlier attempt of this call), 0 when another
-- practice of that slug exists.
--
-- Retry-safe: the token hash comes from a random token made before the first attempt;
-- finding it stored means an earlier attempt of this same call registered the practice.

if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'token_hash') == ARGV[3] then return 1 end
  return 0
end
redis.call('HSET', KEYS[1], 'name', ARGV[1], 'public_key', ARGV[2], 'token_hash', ARGV[3],
           'created_at', ARGV[4], 'profile_version', 1)
redis.call('SET', KEYS[2], ARGV[5])
return 1
