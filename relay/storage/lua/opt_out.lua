-- The patient stops the reminders of a confirmed booking (Store.opt_out_of_reminders):
-- marks it, for as long as its cancel record lasts, and deletes reminder mails already
-- queued. Runs after include/reminders.lua.
--
-- KEYS[1]   the cancel record, tr:{p}:x:{cancel token hash}
-- KEYS[2]   the opt-out mark beside it, tr:{p}:o:{cancel token hash}
-- ARGV[1]   the practice's key prefix, tr:{p}:
--
-- Returns {'done'} | {'gone'} (no cancel record, or the booking is cancelled).
--
-- Retry-safe: marking again sets the same mark with the same end.

local cancel = redis.call('GET', KEYS[1])
if not cancel or cancel == 'cancelled' then return {'gone'} end
redis.call('SET', KEYS[2], '1', 'PXAT', redis.call('PEXPIRETIME', KEYS[1]))
drop_reminders(ARGV[1], string.match(cancel, '^[^:]*'))
return {'done'}
