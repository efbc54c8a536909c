-- What a confirmed request's records hold (Store.answer_state); changes nothing.
--
-- KEYS[1]  the cancel record, tr:{p}:x:{cancel token hash}
-- KEYS[2]  the answer record beside it
-- ARGV     none
--
-- Returns {cancel record or '', answer record or '', the cancel record's end, ms (-2 when
-- there is none)}.
--
-- Retry-safe: reads only.

return {redis.call('GET', KEYS[1]) or '', redis.call('GET', KEYS[2]) or '',
        redis.call('PEXPIRETIME', KEYS[1])}
