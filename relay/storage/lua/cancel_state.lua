-- What a cancel link leads to (Store.cancel_state); changes nothing.
--
-- KEYS[1]  the cancel record, tr:{p}:x:{cancel token hash}
-- ARGV     none
--
-- Returns {'active', booking id, ms left} | {'cancelled'} | {'gone'}.
--
-- Retry-safe: reads only.

local value = redis.call('GET', KEYS[1])
if not value then return {'gone'} end
if value == 'cancelled' then return {'cancelled'} end
local booking_id = string.match(value, '^([^:]*)')
return {'active', booking_id, redis.call('PTTL', KEYS[1])}
