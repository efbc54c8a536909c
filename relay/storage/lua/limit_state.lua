-- Where a network, the practice and the relay stand (Store.limit_state). Runs after
-- include/limit_state.lua.
--
-- KEYS[1..6]  as include/limit_state.lua
-- ARGV[1..7]  as include/limit_state.lua
--
-- Returns mode, network count, ms until below the soft limit, pressure.
--
-- Retry-safe: it only forgets log entries that are out of the window.

local state = limit_state()
return {state.mode, state.count, state.until_soft, tostring(state.pressure)}
