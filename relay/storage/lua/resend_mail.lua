-- A confirmation mail sent again for a pending booking: a fresh job, due now
-- (Store.resend_mail).
--
-- KEYS[1]  the booking
-- KEYS[2]  the mail job, tr:{p}:m:{booking id}
-- KEYS[3]  the mail queue (zset)
-- ARGV[1]  booking id
-- ARGV[2]  the mail job (pack_mail_job)
-- ARGV[3]  now, ms
--
-- Returns 1 when queued, 0 while the booking's mail is still queued or being sent (no
-- second mail then), -1 when the booking is no longer pending.
--
-- Retry-safe: a re-run finds the job queued by the first attempt and answers 0.

local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then return -1 end
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ttl)
redis.call('ZADD', KEYS[3], tonumber(ARGV[3]), ARGV[1])
if redis.call('PTTL', KEYS[3]) < ttl then redis.call('PEXPIRE', KEYS[3], ttl) end
return 1
