-- Moves a confirmed booking to the slot its patient held (Store.move): one step, so the
-- practice gets one reschedule notice and the booking is never on two slots or none.
-- relay/booking/moves.py decides the step from the records it read; this script applies
-- it only if they are still what was read. Runs after include/holds.lua.
--
-- KEYS[1]   the cancel record, tr:{p}:x:{cancel token hash}
-- KEYS[2]   the answer record beside it, tr:{p}:a:{cancel token hash}
-- KEYS[3]   the move record beside it, tr:{p}:v:{cancel token hash}
-- KEYS[4]   the inbox (zset)
-- KEYS[5]   the arrivals (zset)
-- KEYS[6]   the notice's inbox item, tr:{p}:i:{notice id}
-- KEYS[7]   the mail queue (zset)
-- KEYS[8], KEYS[9]  the booking's reminder mail jobs, tr:{p}:m:{booking id}.r1 and .r2
-- ARGV[1]   the practice's key prefix, tr:{p}:
-- ARGV[2]   now, ms
-- ARGV[3]   the cancel record as read, ARGV[4] the answer record as read ('' for none)
-- ARGV[5]   the new slot's id
-- ARGV[6]   the claim's value of this booking's move hold (`move:{booking id}`)
-- ARGV[7]   the new slot taken until, ms (its end; a request the practice answers: until
--           the answer is due)
-- ARGV[8]   the old slot to release ('' when its claim is no longer this booking's)
-- ARGV[9]   the cancel record's new value, ARGV[10] both records' new end, ms (the new start)
-- ARGV[11]  the answer record's new value ('' for none)
-- ARGV[12]  the sealed reschedule notice, ARGV[13] its time, ARGV[14] inbox ttl, s
-- ARGV[15]  wake channel, ARGV[16] practice, ARGV[17] the booking id (for the reminders'
--           queue entries)
--
-- The new slot must still be held for this move (the move record names it and the claim is
-- this booking's move hold) or, the hold having run out, be free: else another booking
-- has it and nothing changes.
--
-- Returns {'moved'} | {'raced'} (a record changed since it was read: read again) |
-- {'taken'} (the new slot is another booking's).
--
-- Retry-safe: a re-run finds the cancel record changed (it names the new slot) and answers
-- "raced"; the caller reads again and finds the booking moved already.

local prefix = ARGV[1]
local now = tonumber(ARGV[2])
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[3]
    or (redis.call('GET', KEYS[2]) or '') ~= ARGV[4] then
  return {'raced'}
end
local slot, mine = ARGV[5], ARGV[6]
local holder = redis.call('GET', prefix .. 'h:' .. slot)
if holder and holder ~= mine then return {'taken'} end
if ARGV[8] ~= '' then release(prefix, ARGV[8]) end
hold(prefix, slot, tonumber(ARGV[7]), false)
local ends = string.format('%d', tonumber(ARGV[10]))
redis.call('SET', KEYS[1], ARGV[9], 'PXAT', ends)
if ARGV[11] ~= '' then
  redis.call('SET', KEYS[2], ARGV[11], 'PXAT', ends)
else
  redis.call('DEL', KEYS[2])
end
redis.call('DEL', KEYS[3], KEYS[8], KEYS[9])
redis.call('ZREM', KEYS[7], ARGV[17] .. '.r1', ARGV[17] .. '.r2')
local inbox_ttl = tonumber(ARGV[14])
redis.call('HSET', KEYS[6], 'sealed', ARGV[12], 'confirmed_at', ARGV[13])
redis.call('EXPIRE', KEYS[6], inbox_ttl)
local notice = string.sub(KEYS[6], #prefix + 3)
redis.call('ZADD', KEYS[4], now, notice)
redis.call('EXPIRE', KEYS[4], inbox_ttl)
redis.call('ZADD', KEYS[5], now, notice)
redis.call('EXPIRE', KEYS[5], inbox_ttl)
redis.call('PUBLISH', ARGV[15], ARGV[16])
return {'moved'}
