-- The worker settles many claimed jobs of one practice in one call (Store.finish_mail):
-- done ('d': job and queue entry deleted), retry ('r': due again at the given ms) or
-- released unsent at shutdown ('u': due at the given ms, the claim's attempt given back).
--
-- KEYS[1]    the mail queue (zset)
-- ARGV[1]    the practice's key prefix, tr:{p}:
-- ARGV[2..]  (job id, 'd'|'r'|'u', due ms) per job
--
-- Returns 1.
--
-- Retry-safe: DEL, ZREM and ZADD of a fixed score end in the same state when run twice; a
-- repeated attempt correction only moves the give-up point by one attempt.

for i = 2, #ARGV, 3 do
  local job_id, kind = ARGV[i], ARGV[i + 1]
  local job = ARGV[1] .. 'm:' .. job_id
  if kind == 'd' then
    redis.call('DEL', job)
    redis.call('ZREM', KEYS[1], job_id)
  elseif redis.call('EXISTS', job) == 1 then
    -- XX: a booking confirmed or withdrawn meanwhile has left the queue; keep it out.
    redis.call('ZADD', KEYS[1], 'XX', tonumber(ARGV[i + 2]), job_id)
    if kind == 'u' then
      if redis.call('TYPE', job).ok == 'hash' then
        redis.call('HINCRBY', job, 'attempts', -1)
      else
        local attempts = string.byte(redis.call('GETRANGE', job, 0, 0))
        if attempts > 0 then redis.call('SETRANGE', job, 0, string.char(attempts - 1)) end
      end
    end
  end
end
return 1
