-- The whole of confirming, in one round trip: nothing is read before it (Store.confirm).
-- Runs after include/pending_booking.lua and include/holds.lua.
--
-- KEYS[1]   the booking
-- KEYS[2]   the token's marker
-- KEYS[3]   the inbox (zset)
-- KEYS[4]   the arrivals (zset)
-- KEYS[5]   the cancel record, tr:{p}:x:{cancel token hash} (optional tail)
-- KEYS[6]   the answer record beside it, tr:{p}:a:{cancel token hash} (optional tail)
-- ARGV[1]   the practice's key prefix, tr:{p}:
-- ARGV[2]   now, ms
-- ARGV[3]   confirmed_at
-- ARGV[4]   inbox ttl, s
-- ARGV[5]   pending ttl, s
-- ARGV[6]   wake channel
-- ARGV[7]   practice
-- ARGV[8]   ms a wish may be cancelled after confirming (optional tail)
-- ARGV[9]   the cancel link for the second mail (a ciphertext; '' for no second mail)
--           (optional tail)
-- ARGV[10]  that mail's ttl, s (optional tail)
--
-- The optional tail (relay/booking/cancellation.py) writes the cancel record (booking id
-- and slot id) until the appointment starts (the slot's start from the booking; a wish:
-- now plus the given ms), and queues the "handed to the practice" mail under `{id}.h`, so
-- that a mail worker still settling the first mail of `{id}` cannot delete it. That job is
-- made here from the booking's encrypted summary (it holds the address) and the page's
-- encrypted link (pack_mail_job, format 1): the relay cannot decrypt in Lua, and the page
-- has read nothing.
--
-- A request the practice answers (a wish, or a slot stored with answer_within, layouts 4
-- and 5) gets an answer record `proposed:{held until}:{slot end}:0:::` beside the cancel
-- record (relay/booking/answers.py), and its slot is held only until the answer is due
-- (or the slot ends, if sooner); a booked slot is taken until it ends.
--
-- Returns {'confirmed', booking id, summary, cancel until ms (0: no cancel record)}, so
-- the result page needs no read of its own; or {'already'} | {'gone'}.
--
-- Retry-safe: a re-run finds the token marked confirmed and answers "already": the booking
-- went to the inbox once, and the patient sees it confirmed (the page then shows the
-- cancel link, which the token alone gives, without the appointment).

local booking, marker = pending_booking()
if not booking then
  if marker == 'confirmed' then return {'already'} end
  return {'gone'}
end
local prefix = ARGV[1]
local now = tonumber(ARGV[2])
local inbox_ttl = tonumber(ARGV[4])
local item = prefix .. 'i:' .. booking.id
redis.call('HSET', item, 'sealed', booking.sealed, 'confirmed_at', ARGV[3])
if booking.blob then redis.call('HSET', item, 'blob', booking.blob) end
redis.call('EXPIRE', item, inbox_ttl)
redis.call('ZADD', KEYS[3], now, booking.id)
redis.call('EXPIRE', KEYS[3], inbox_ttl)
redis.call('ZADD', KEYS[4], now, booking.id)
redis.call('EXPIRE', KEYS[4], inbox_ttl)
local held_until = booking.slot_end
if booking.answer_within > 0 then
  held_until = math.min(booking.slot_end, now + booking.answer_within)
end
if booking.slot ~= '' then
  -- Taken until the slot is over (or the answer is due); a slot in the past needs no hold.
  if held_until > now then
    hold(prefix, booking.slot, held_until, false)
  else
    release(prefix, booking.slot)
  end
end
redis.call('DEL', booking.key, prefix .. 'm:' .. booking.id)
redis.call('ZREM', prefix .. 'mq', booking.id)
redis.call('ZREM', prefix .. 'pending', booking.id)
-- Kept so a second click says "already confirmed" instead of "gone".
redis.call('SET', KEYS[2], 'confirmed', 'EX', tonumber(ARGV[5]))
local cancel_until = 0
if KEYS[5] then
  if booking.slot == '' then
    cancel_until = now + tonumber(ARGV[8])
  elseif booking.slot_start > 0 then
    cancel_until = booking.slot_start
  else
    -- Stored before the booking kept its slot's start (at most one pending TTL before
    -- an upgrade): the slot's end is the nearest bound known.
    cancel_until = booking.slot_end
  end
  -- An appointment that has begun is not cancelled by link.
  if cancel_until <= now then cancel_until = 0 end
  if cancel_until > 0 then
    redis.call('SET', KEYS[5], booking.id .. ':' .. booking.slot, 'PXAT',
               string.format('%d', cancel_until))
    if KEYS[6] and (booking.slot == '' or booking.answer_within > 0) then
      local held = booking.slot == '' and 0 or held_until
      redis.call('SET', KEYS[6], string.format('proposed:%d:%d:0:::', held, booking.slot_end),
                 'PXAT', string.format('%d', cancel_until))
    end
  end
  if ARGV[9] ~= '' then
    local handed = booking.id .. '.h'
    local job = prefix .. 'm:' .. handed
    local mail_ttl = tonumber(ARGV[10])
    redis.call('SET', job, '\0\1' .. struct.pack('>I8H', cancel_until, #booking.summary)
               .. booking.summary .. ARGV[9], 'EX', mail_ttl)
    redis.call('ZADD', prefix .. 'mq', now, handed)
    if redis.call('TTL', prefix .. 'mq') < mail_ttl then
      redis.call('EXPIRE', prefix .. 'mq', mail_ttl)
    end
  end
end
redis.call('PUBLISH', ARGV[6], ARGV[7])
return {'confirmed', booking.id, booking.summary, cancel_until}
