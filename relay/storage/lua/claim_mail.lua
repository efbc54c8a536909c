-- Claims due mail jobs of one practice for a lease (Store.claim_mail). A mail job is one
-- string (pack_mail_job): its first byte counts the attempts, so a claim changes that byte
-- in place (SETRANGE). Jobs queued by relays before that are hashes (job, attempts) and are
-- read as such until they expire.
--
-- KEYS[1]  the mail queue (zset: job id -> due, ms)
-- ARGV[1]  the practice's key prefix, tr:{p}:
-- ARGV[2]  now, ms
-- ARGV[3]  lease, ms
-- ARGV[4]  limit: at most this many jobs
--
-- Returns (job id, the job after its attempts byte, attempts) per claimed job, flat.
--
-- Retry-safe: a re-run finds the jobs the lost reply carried leased, so no longer due, and
-- claims none of them; they are sent when the lease ends: later, never twice.

local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[4]))
local claimed = {}
local lease_until = tonumber(ARGV[2]) + tonumber(ARGV[3])
for _, job_id in ipairs(due) do
  local job = ARGV[1] .. 'm:' .. job_id
  local kind = redis.call('TYPE', job).ok
  local body, attempts
  if kind == 'string' then
    local value = redis.call('GET', job)
    attempts = math.min(string.byte(value, 1) + 1, 255)
    redis.call('SETRANGE', job, 0, string.char(attempts))
    body = string.sub(value, 2)
  elseif kind == 'hash' then
    body = '\0' .. redis.call('HGET', job, 'job')
    attempts = redis.call('HINCRBY', job, 'attempts', 1)
  end
  if body then
    redis.call('ZADD', KEYS[1], lease_until, job_id)
    table.insert(claimed, job_id)
    table.insert(claimed, body)
    table.insert(claimed, attempts)
  else
    -- The booking expired or was withdrawn: its job went with it.
    redis.call('ZREM', KEYS[1], job_id)
  end
end
return claimed
