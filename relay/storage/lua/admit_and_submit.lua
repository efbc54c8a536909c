-- admit.lua, then, if it admits, submit.lua: a submission's one round trip on one Redis
-- node (Store.admit_and_submit). Store puts both in front of this file, each as a function
-- whose parameters KEYS and ARGV shadow the script's own, so both keep their numbering:
-- `local function admit(KEYS, ARGV)` (include/limit_state.lua and admit.lua) `end`, then
-- `local function submit(KEYS, ARGV)` (submit.lua) `end` (relay/storage/store.py, _lua).
--
-- KEYS[1..a]      admit.lua's KEYS (a = ARGV[1])
-- KEYS[a+1..]     submit.lua's KEYS
-- ARGV[1]         a, the number of admit.lua's KEYS
-- ARGV[2]         b, the number of admit.lua's ARGV
-- ARGV[3..b+2]    admit.lua's ARGV
-- ARGV[b+3..]     submit.lua's ARGV
--
-- Returns admit.lua's answer, with submit.lua's as a fourth element when admitted.
--
-- Retry-safe: both parts are (see there).

local key_count, arg_count = tonumber(ARGV[1]), tonumber(ARGV[2])
local admission = admit({unpack(KEYS, 1, key_count)}, {unpack(ARGV, 3, 2 + arg_count)})
if admission[1] ~= 'ok' then return admission end
local stored = submit({unpack(KEYS, key_count + 1)}, {unpack(ARGV, 3 + arg_count)})
return {admission[1], admission[2], admission[3], stored}
