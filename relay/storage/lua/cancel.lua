-- A patient's cancellation (Store.cancel): the sealed notice goes to the inbox like a
-- booking, the slot the booking took is offered again, and the record keeps only
-- "cancelled" until it expires (so a second click says "already cancelled").
--
-- KEYS[1]  the cancel record, tr:{p}:x:{cancel token hash}
-- KEYS[2]  the inbox (zset)
-- KEYS[3]  the arrivals (zset)
-- ARGV[1]  the practice's key prefix, tr:{p}:
-- ARGV[2]  now, ms
-- ARGV[3]  notice id
-- ARGV[4]  the sealed notice
-- ARGV[5]  cancelled_at
-- ARGV[6]  inbox ttl, s
-- ARGV[7]  wake channel
-- ARGV[8]  practice
-- ARGV[9]  booking id (the one sealed)
--
-- Returns {'cancelled', booking id} | {'already'} | {'gone'} | {'changed'} (the record
-- names another booking than the one sealed: never for a record the relay wrote).
--
-- Retry-safe: a re-run finds the record "cancelled" and answers "already"; the notice
-- went to the inbox once.

local value = redis.call('GET', KEYS[1])
if not value then return {'gone'} end
if value == 'cancelled' then return {'already'} end
local booking_id, slot = string.match(value, '^([^:]*):(.*)$')
if booking_id ~= ARGV[9] then return {'changed'} end
local prefix = ARGV[1]
local now = tonumber(ARGV[2])
local inbox_ttl = tonumber(ARGV[6])
local item = prefix .. 'i:' .. ARGV[3]
redis.call('HSET', item, 'sealed', ARGV[4], 'confirmed_at', ARGV[5])
redis.call('EXPIRE', item, inbox_ttl)
redis.call('ZADD', KEYS[2], now, ARGV[3])
redis.call('EXPIRE', KEYS[2], inbox_ttl)
redis.call('ZADD', KEYS[3], now, ARGV[3])
redis.call('EXPIRE', KEYS[3], inbox_ttl)
if slot ~= '' and redis.call('GET', prefix .. 'h:' .. slot) == 'taken' then
  -- Taken by this booking (a hold is claimed once): free for the next patient.
  redis.call('DEL', prefix .. 'h:' .. slot)
  redis.call('ZREM', prefix .. 'held', slot)
end
redis.call('SET', KEYS[1], 'cancelled', 'KEEPTTL')
redis.call('PUBLISH', ARGV[7], ARGV[8])
return {'cancelled', booking_id}
