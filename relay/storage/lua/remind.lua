-- Queues a reminder mail the practice's client asked for (Store.remind,
-- relay/booking/reminders.py), if the booking's records are still as read, the patient
-- has not opted out, and this reminder for this start was not queued before.
--
-- KEYS[1]   the cancel record, tr:{p}:x:{cancel token hash}
-- KEYS[2]   the answer record beside it
-- KEYS[3]   the opt-out mark beside it, tr:{p}:o:{cancel token hash}
-- KEYS[4]   the sent mark, tr:{p}:r:{cancel token hash}:{number}:{start ms}
-- KEYS[5]   the mail job, tr:{p}:m:{booking id}.r{number}
-- KEYS[6]   the mail queue (zset)
-- ARGV[1]   the practice's key prefix, tr:{p}:
-- ARGV[2]   now, ms
-- ARGV[3]   the cancel record as read
-- ARGV[4]   the answer record as read ('' for none)
-- ARGV[5]   the appointment's start, ms: the sent mark lasts until then
-- ARGV[6]   the mail job (pack_mail_job), ARGV[7] its ttl, s
--
-- Returns {'queued'} | {'already'} (queued before: nothing new) | {'opted_out'} |
-- {'raced'} (a record changed since it was read: read again).
--
-- Retry-safe: a re-run finds the sent mark and answers "already"; the mail was queued once.

local prefix = ARGV[1]
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[3]
    or (redis.call('GET', KEYS[2]) or '') ~= ARGV[4] then
  return {'raced'}
end
if redis.call('EXISTS', KEYS[3]) == 1 then return {'opted_out'} end
if not redis.call('SET', KEYS[4], '1', 'NX', 'PXAT', ARGV[5]) then return {'already'} end
local mail_ttl = tonumber(ARGV[7])
redis.call('SET', KEYS[5], ARGV[6], 'EX', mail_ttl)
redis.call('ZADD', KEYS[6], tonumber(ARGV[2]), string.sub(KEYS[5], #prefix + 3))
if redis.call('TTL', KEYS[6]) < mail_ttl then redis.call('EXPIRE', KEYS[6], mail_ttl) end
return {'queued'}
