-- One step in the life of a confirmed request (Store.answer): the practice's answer, or
-- the patient's reply to a time the practice proposed. relay/booking/answers.py decides
-- the step from the records it read (Store.answer_state); this script applies it only if
-- both records are still what was read, so two answers racing cannot both apply.
-- Runs after include/holds.lua and include/reminders.lua.
--
-- KEYS[1]   the cancel record, tr:{p}:x:{cancel token hash}
-- KEYS[2]   the answer record, tr:{p}:a:{cancel token hash}
-- KEYS[3]   the mail queue (zset)
-- KEYS[4]   the mail job, tr:{p}:m:{booking id}.a{n}
-- KEYS[5]   the inbox (zset)
-- KEYS[6]   the arrivals (zset)
-- KEYS[7]   the notice's inbox item, tr:{p}:i:{notice id}
-- ARGV[1]   the practice's key prefix, tr:{p}:
-- ARGV[2]   now, ms
-- ARGV[3]   the cancel record as read
-- ARGV[4]   the answer record as read ('' for none)
-- ARGV[5]   the cancel record's new value ('' keeps it)
-- ARGV[6]   both records' new end, ms (0 keeps the cancel record's)
-- ARGV[7]   the answer record's new value
-- ARGV[8]   a slot to claim ('' for none), ARGV[9] until, ms, ARGV[10] '1': only if free
-- ARGV[11]  a slot to release ('' for none)
-- ARGV[12]  the mail job (pack_mail_job; '' for no mail), ARGV[13] its ttl, s
-- ARGV[14]  the sealed notice to the practice ('' for none), ARGV[15] its time,
-- ARGV[16]  inbox ttl, s, ARGV[17] wake channel, ARGV[18] practice
--
-- Returns {'done'} | {'raced'} (a record changed since it was read: read again) |
-- {'taken'} (the slot to claim is another booking's).
--
-- Retry-safe: a re-run finds the records changed and answers "raced"; the caller reads
-- them again and finds the step done.

local prefix = ARGV[1]
local now = tonumber(ARGV[2])
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[3]
    or (redis.call('GET', KEYS[2]) or '') ~= ARGV[4] then
  return {'raced'}
end
if ARGV[8] ~= '' and not hold(prefix, ARGV[8], tonumber(ARGV[9]), ARGV[10] == '1') then
  return {'taken'}
end
if ARGV[11] ~= '' then release(prefix, ARGV[11]) end
local ends = tonumber(ARGV[6])
if ends == 0 then ends = redis.call('PEXPIRETIME', KEYS[1]) end
if ARGV[5] ~= '' then
  redis.call('SET', KEYS[1], ARGV[5], 'PXAT', string.format('%d', ends))
else
  redis.call('PEXPIREAT', KEYS[1], string.format('%d', ends))
end
redis.call('SET', KEYS[2], ARGV[7], 'PXAT', string.format('%d', ends))
-- The patient's opt-out from reminders lasts as long as the records; a cancelled or
-- declined booking gets no reminder that is still queued.
local opt_out = string.gsub(KEYS[1], ':x:', ':o:', 1)
if redis.call('EXISTS', opt_out) == 1 then
  redis.call('PEXPIREAT', opt_out, string.format('%d', ends))
end
if ARGV[5] == 'cancelled' then drop_reminders(prefix, string.match(ARGV[3], '^[^:]*')) end
if ARGV[12] ~= '' then
  local mail_ttl = tonumber(ARGV[13])
  redis.call('SET', KEYS[4], ARGV[12], 'EX', mail_ttl)
  local job = string.sub(KEYS[4], #prefix + 3)
  redis.call('ZADD', KEYS[3], now, job)
  if redis.call('TTL', KEYS[3]) < mail_ttl then redis.call('EXPIRE', KEYS[3], mail_ttl) end
end
if ARGV[14] ~= '' then
  local inbox_ttl = tonumber(ARGV[16])
  redis.call('HSET', KEYS[7], 'sealed', ARGV[14], 'confirmed_at', ARGV[15])
  redis.call('EXPIRE', KEYS[7], inbox_ttl)
  local notice = string.sub(KEYS[7], #prefix + 3)
  redis.call('ZADD', KEYS[5], now, notice)
  redis.call('EXPIRE', KEYS[5], inbox_ttl)
  redis.call('ZADD', KEYS[6], now, notice)
  redis.call('EXPIRE', KEYS[6], inbox_ttl)
  redis.call('PUBLISH', ARGV[17], ARGV[18])
end
return {'done'}
