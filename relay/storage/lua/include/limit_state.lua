-- Fragment: defines limit_state(), the network's state, shared by limit_state.lua and
-- admit.lua; Store puts it in front of them (relay/storage/store.py, _lua).
--
-- Abuse limits. Counts are sliding window logs (a sorted set of member -> time in ms,
-- pruned as it is read): exact in any window, no double burst at a window edge, and the
-- precise moment a place frees up. A log never grows past its limit, as refused requests
-- are not logged. The flood rate is two one-minute counters, the previous one weighted by
-- the part of it still inside the last minute.
--
-- KEYS[1]  the network log (zset)
-- KEYS[2]  the relay's flood counter of this minute
-- KEYS[3]  the relay's flood counter of the minute before
-- KEYS[4]  the practice's flood counter of this minute
-- KEYS[5]  the practice's flood counter of the minute before
-- KEYS[6]  the operator's proof-of-work mode
-- ARGV[1]  now, ms
-- ARGV[2]  network window, ms
-- ARGV[3]  soft limit
-- ARGV[4]  part of this minute gone (0..1)
-- ARGV[5]  default mode
-- ARGV[6]  relay flood threshold per minute
-- ARGV[7]  practice flood threshold per minute
--
-- Returns (limit_state()) {mode, count, until_soft, pressure}: `pressure` is the largest
-- of: the network's count over its soft limit, the relay's and the practice's submission
-- rate over their flood thresholds; from 1 on a proof of work is asked for. `until_soft`:
-- ms until the network is below its soft limit again.
--
-- Retry-safe: it only forgets log entries that are out of the window.

local function limit_state()
  local now, window, soft = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  local count = redis.call('ZCARD', KEYS[1])
  -- ms until the network is below its soft limit again
  local until_soft = 0
  if count >= soft then
    local entry = redis.call('ZRANGE', KEYS[1], count - soft, count - soft, 'WITHSCORES')
    until_soft = tonumber(entry[2]) + window - now
  end
  local kept = 1 - tonumber(ARGV[4])
  local function rate(current, before)
    return tonumber(redis.call('GET', current) or '0')
      + tonumber(redis.call('GET', before) or '0') * kept
  end
  local pressure = math.max(count / soft, rate(KEYS[2], KEYS[3]) / tonumber(ARGV[6]),
                            rate(KEYS[4], KEYS[5]) / tonumber(ARGV[7]))
  return {mode = redis.call('GET', KEYS[6]) or ARGV[5], count = count,
          until_soft = until_soft, pressure = pressure}
end
