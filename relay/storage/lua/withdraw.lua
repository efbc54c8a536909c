-- A patient withdraws a pending booking: it, its token, mail job and slot claim go
-- (Store.withdraw). Runs after include/pending_booking.lua.
--
-- KEYS[1]  the booking
-- KEYS[2]  the token's marker
-- ARGV[1]  the practice's key prefix, tr:{p}:
--
-- Returns {'withdrawn', booking id} | {'already'} (confirmed) | {'gone'}.
--
-- Retry-safe: a re-run finds the booking gone and answers "gone" (410, "withdrawn, expired
-- or unknown"): everything was deleted once, and the answer stays true.

local booking, marker = pending_booking()
if not booking then
  if marker == 'confirmed' then return {'already'} end
  return {'gone'}
end
local prefix = ARGV[1]
if booking.slot ~= '' then
  local hold = prefix .. 'h:' .. booking.slot
  if redis.call('GET', hold) == booking.id then
    redis.call('DEL', hold)
    redis.call('ZREM', prefix .. 'held', booking.slot)
  end
end
redis.call('DEL', booking.key, KEYS[2], prefix .. 'm:' .. booking.id)
redis.call('ZREM', prefix .. 'mq', booking.id)
redis.call('ZREM', prefix .. 'pending', booking.id)
return {'withdrawn', booking.id}
