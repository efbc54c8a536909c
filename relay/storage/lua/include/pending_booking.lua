-- Fragment: defines pending_booking(), the pending booking behind a token. Store puts it
-- in front of pending.lua, confirm.lua and withdraw.lua (relay/storage/store.py, _lua),
-- which all take the KEYS and ARGV below as their first ones.
--
-- KEYS[1]  the booking (string, pack_booking)
-- KEYS[2]  the token's marker
-- ARGV[1]  the practice's key prefix, tr:{p}:
--
-- Returns (pending_booking()) a table (id, slot, slot_start, slot_end, summary, sealed,
-- key, and for a booking sealed in the browser (layout 3) blob), or nil and what the token key holds: 'confirmed' after a confirm, else false. The
-- layout is the one pack_booking writes; bookings of layout 1 and of the hash before it
-- have no slot_start (0).
--
-- Retry-safe: reads only.

local function pending_booking()
  local value = redis.call('GET', KEYS[1])
  if value then
    local layout = string.byte(value, 1)
    if layout == 3 then
      local _, slot_start, slot_end, slot, id, summary, sealed, blob_at =
        struct.unpack('>BI8I8Bc0Bc0Hc0Hc0', value)
      return {id = id, slot = slot, slot_start = slot_start, slot_end = slot_end,
              summary = summary, sealed = sealed, blob = string.sub(value, blob_at),
              key = KEYS[1]}
    end
    if layout == 2 then
      local _, slot_start, slot_end, slot, id, summary, sealed_at =
        struct.unpack('>BI8I8Bc0Bc0Hc0', value)
      return {id = id, slot = slot, slot_start = slot_start, slot_end = slot_end,
              summary = summary, sealed = string.sub(value, sealed_at), key = KEYS[1]}
    end
    assert(layout == 1, 'unknown booking layout')
    local _, slot_end, slot, id, summary, sealed_at = struct.unpack('>BI8Bc0Bc0Hc0', value)
    return {id = id, slot = slot, slot_start = 0, slot_end = slot_end, summary = summary,
            sealed = string.sub(value, sealed_at), key = KEYS[1]}
  end
  local marker = redis.call('GET', KEYS[2])
  if not marker or marker == 'confirmed' then return nil, marker end
  -- Stored by a relay before layout 1, at most one pending TTL before the upgrade: the
  -- token key held the booking id, the booking was a hash under it.
  local legacy = ARGV[1] .. 'b:' .. marker
  local fields = redis.call('HMGET', legacy, 'sealed', 'summary', 'slot', 'slot_end')
  if not fields[1] then return nil, false end
  return {id = marker, slot = fields[3], slot_start = 0, slot_end = tonumber(fields[4]),
          summary = fields[2], sealed = fields[1], key = legacy}
end
