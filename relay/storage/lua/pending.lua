-- What a confirmation page shows (Store.pending); changes nothing, as mail scanners
-- prefetch links. Runs after include/pending_booking.lua.
--
-- KEYS[1]  the booking
-- KEYS[2]  the token's marker
-- ARGV[1]  the practice's key prefix, tr:{p}:
--
-- Returns {'pending', booking id, encrypted summary, ms left} | {'confirmed'} | {'gone'}.
--
-- Retry-safe: reads only.

local booking, marker = pending_booking()
if booking then
  return {'pending', booking.id, booking.summary, redis.call('PTTL', booking.key)}
end
if marker == 'confirmed' then return {'confirmed'} end
return {'gone'}
