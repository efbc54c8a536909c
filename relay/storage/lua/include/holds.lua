-- Fragment: defines hold(prefix, slot, until_ms, only_if_free) and release(prefix, slot),
-- a slot's claim and its mirror in the held set, for the scripts that move a claim after
-- a booking was confirmed (confirm.lua, answer.lua). Store puts it in front of them.
--
-- KEYS, ARGV: none of its own; the calling script passes the prefix and slot.
-- Returns (hold) true, or false when only_if_free and the slot is claimed already.
--
-- Retry-safe: setting a claim to the same end, or deleting one, twice leaves the same.

local function hold(prefix, slot, until_ms, only_if_free)
  local args = {'SET', prefix .. 'h:' .. slot, 'taken', 'PXAT', string.format('%d', until_ms)}
  if only_if_free then table.insert(args, 'NX') end
  if not redis.call(unpack(args)) then return false end
  redis.call('ZADD', prefix .. 'held', until_ms, slot)
  if redis.call('PEXPIRETIME', prefix .. 'held') < until_ms then
    redis.call('PEXPIREAT', prefix .. 'held', string.format('%d', until_ms))
  end
  return true
end

local function release(prefix, slot)
  redis.call('DEL', prefix .. 'h:' .. slot)
  redis.call('ZREM', prefix .. 'held', slot)
end
