-- Fragment: defines drop_reminders(prefix, booking_id), which deletes a booking's queued
-- reminder mails (`m:{id}.r1`, `m:{id}.r2`, relay/booking/reminders.py) and their queue
-- entries, for the scripts after which no reminder may go out (answer.lua when the
-- booking is cancelled or declined, opt_out.lua). Store puts it in front of them.
--
-- KEYS, ARGV: none of its own; the calling script passes the prefix and booking id.
-- Returns nothing.
--
-- Retry-safe: deleting what is gone already changes nothing.

local function drop_reminders(prefix, booking_id)
  if booking_id == '' then return end
  for n = 1, 2 do
    local job = booking_id .. '.r' .. n
    redis.call('DEL', prefix .. 'm:' .. job)
    redis.call('ZREM', prefix .. 'mq', job)
  end
end
