-- Holds the time a patient chose to move a confirmed booking to (Store.move_hold), for a
-- short while, until the one confirmation (move.lua). Runs after include/holds.lua.
--
-- KEYS[1]   the cancel record, tr:{p}:x:{cancel token hash}
-- KEYS[2]   the move record beside it, tr:{p}:v:{cancel token hash}
-- ARGV[1]   the practice's key prefix, tr:{p}:
-- ARGV[2]   the cancel record as read (`{booking id}:{slot id}`)
-- ARGV[3]   the chosen slot's id
-- ARGV[4]   the hold's end, ms
-- ARGV[5]   the claim's value for this booking's move hold (`move:{booking id}`)
--
-- The move record is `{slot id}:{hold end, ms}`, expiring with the hold. A slot held for an
-- earlier choice of the same booking is let go first (only while the claim is still this
-- booking's move hold: after it ran out another booking may hold it).
--
-- Returns {'held'} | {'raced'} (the cancel record changed: cancelled, moved, gone) |
-- {'taken'} (the slot is held or taken by another booking).
--
-- Retry-safe: a re-run finds its own claim on the slot (the value names this booking) and
-- sets the same hold and record again.

local prefix = ARGV[1]
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[2] then return {'raced'} end
local slot, until_ms, mine = ARGV[3], tonumber(ARGV[4]), ARGV[5]
local claim = prefix .. 'h:' .. slot
local holder = redis.call('GET', claim)
if holder and holder ~= mine then return {'taken'} end
local earlier = redis.call('GET', KEYS[2])
if earlier then
  local earlier_slot = string.match(earlier, '^([^:]*)')
  if earlier_slot ~= slot and redis.call('GET', prefix .. 'h:' .. earlier_slot) == mine then
    release(prefix, earlier_slot)
  end
end
redis.call('SET', claim, mine, 'PXAT', string.format('%d', until_ms))
redis.call('ZADD', prefix .. 'held', until_ms, slot)
if redis.call('PEXPIRETIME', prefix .. 'held') < until_ms then
  redis.call('PEXPIREAT', prefix .. 'held', string.format('%d', until_ms))
end
redis.call('SET', KEYS[2], slot .. ':' .. ARGV[4], 'PXAT', string.format('%d', until_ms))
return {'held'}
