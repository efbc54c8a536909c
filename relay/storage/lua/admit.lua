-- Admits one submission or says which limit refuses it (Store.admit; on one Redis node
-- inside admit_and_submit.lua). Runs after include/limit_state.lua.
--
-- KEYS[1..6]  as include/limit_state.lua
-- KEYS[7]     the recipient log (zset)
-- KEYS[8]     the proof-of-work marker (only when ARGV[14] is '1')
-- KEYS[#]     last: the blob's seen mark, tr:{limits}:seen:{SHA-256} (only when ARGV[15]
--             is not '': a booking sealed in the browser)
-- ARGV[1..7]  as include/limit_state.lua
-- ARGV[8]     hard limit
-- ARGV[9]     recipient window, ms
-- ARGV[10]    recipient limit
-- ARGV[11]    member (random, not the booking id: the logs link no booking to a network
--             or an address)
-- ARGV[12]    proof expiry (unix ms)
-- ARGV[13]    flood counter TTL, ms
-- ARGV[14]    '1' when a proof came (KEYS[8]), else ''
-- ARGV[15]    how long the blob's seen mark lasts, ms ('' for no blob)
--
-- Returns {outcome, ms until it may work, pressure}: 'ok' (then 1 if a proof was used, or
-- 0), 'network' (past the hard limit; with mode off, past the soft limit), 'recipient',
-- 'pow' (a proof of work is needed and none came), 'pow_used' (the proof was used before),
-- 'replayed' (the same blob was admitted before, for any practice).
--
-- Retry-safe: a member already in the network log was admitted by an earlier attempt of
-- this call, and the proof marker and the seen mark hold the member that used them, so a
-- re-run answers 'ok' without counting twice; only the flood counters may count it twice.

local now, window, member = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[11]
if redis.call('ZSCORE', KEYS[1], member) then return {'ok', 0, '0'} end
local seen = ARGV[15] ~= '' and KEYS[#KEYS] or nil
if seen then
  local holder = redis.call('GET', seen)
  if holder and holder ~= member then return {'replayed', 0, '0'} end
end
local state = limit_state()
local pressure = tostring(state.pressure)
local hard = tonumber(ARGV[8])
if state.mode == 'off' then hard = tonumber(ARGV[3]) end
if state.count >= hard then
  local entry = redis.call('ZRANGE', KEYS[1], state.count - hard, state.count - hard, 'WITHSCORES')
  return {'network', tonumber(entry[2]) + window - now, pressure}
end
local recipient_window, recipient_limit = tonumber(ARGV[9]), tonumber(ARGV[10])
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now - recipient_window)
local mails = redis.call('ZCARD', KEYS[7])
if mails >= recipient_limit then
  local index = mails - recipient_limit
  local entry = redis.call('ZRANGE', KEYS[7], index, index, 'WITHSCORES')
  return {'recipient', tonumber(entry[2]) + recipient_window - now, pressure}
end
local proved = 0
if state.mode == 'always' or (state.mode == 'auto' and state.pressure >= 1) then
  if ARGV[14] ~= '1' then return {'pow', state.until_soft, pressure} end
  if not redis.call('SET', KEYS[8], member, 'NX', 'PXAT', ARGV[12])
     and redis.call('GET', KEYS[8]) ~= member then
    return {'pow_used', state.until_soft, pressure}
  end
  proved = 1
end
if seen then redis.call('SET', seen, member, 'PX', tonumber(ARGV[15])) end
redis.call('ZADD', KEYS[1], now, member)
redis.call('PEXPIRE', KEYS[1], window)
redis.call('ZADD', KEYS[7], now, member)
redis.call('PEXPIRE', KEYS[7], recipient_window)
for _, counter in ipairs({KEYS[2], KEYS[4]}) do
  redis.call('INCR', counter)
  redis.call('PEXPIRE', counter, tonumber(ARGV[13]))
end
return {'ok', proved, pressure}
