-- Fragment: defines pending_booking(), the pending booking behind a token. Store puts it
-- in front of pending.lua, confirm.lua and withdraw.lua (relay/storage/store.py, _lua),
-- which all take the KEYS and ARGV below as their first ones.
--
-- KEYS[1]  the booking (string, pack_booking)
-- KEYS[2]  the token's marker
-- ARGV[1]  the practice's key prefix, tr:{p}:
--
-- Returns (pending_booking()) a table (id, slot, slot_start, slot_end, answer_within,
-- summary, sealed, key, and for a booking sealed in the browser (layouts 3 and 5) blob),
-- or nil and what the token key holds: 'confirmed' after a confirm, else false. The
-- layout is the one pack_booking writes; bookings of layout 1 and of the hash before it
-- have no slot_start (0). answer_within (ms the slot is held for the practice's answer)
-- is 0 but for layouts 4 and 5, which are 2 and 3 with it after the slot's end.
--
-- Retry-safe: reads only.

local function pending_booking()
  local value = redis.call('GET', KEYS[1])
  if value then
    local layout = string.byte(value, 1)
    if layout == 3 or layout == 5 then
      local head = layout == 5 and '>BI8I8I4' or '>BI8I8'
      local fields = {struct.unpack(head .. 'Bc0Bc0Hc0Hc0', value)}
      local answer_within = 0
      if layout == 5 then answer_within = table.remove(fields, 4) end
      local _, slot_start, slot_end, slot, id, summary, sealed, blob_at = unpack(fields)
      return {id = id, slot = slot, slot_start = slot_start, slot_end = slot_end,
              answer_within = answer_within, summary = summary, sealed = sealed,
              blob = string.sub(value, blob_at), key = KEYS[1]}
    end
    if layout == 2 or layout == 4 then
      local head = layout == 4 and '>BI8I8I4' or '>BI8I8'
      local fields = {struct.unpack(head .. 'Bc0Bc0Hc0', value)}
      local answer_within = 0
      if layout == 4 then answer_within = table.remove(fields, 4) end
      local _, slot_start, slot_end, slot, id, summary, sealed_at = unpack(fields)
      return {id = id, slot = slot, slot_start = slot_start, slot_end = slot_end,
              answer_within = answer_within, summary = summary,
              sealed = string.sub(value, sealed_at), key = KEYS[1]}
    end
    assert(layout == 1, 'unknown booking layout')
    local _, slot_end, slot, id, summary, sealed_at = struct.unpack('>BI8Bc0Bc0Hc0', value)
    return {id = id, slot = slot, slot_start = 0, slot_end = slot_end, answer_within = 0,
            summary = summary, sealed = string.sub(value, sealed_at), key = KEYS[1]}
  end
  local marker = redis.call('GET', KEYS[2])
  if not marker or marker == 'confirmed' then return nil, marker end
  -- Stored by a relay before layout 1, at most one pending TTL before the upgrade: the
  -- token key held the booking id, the booking was a hash under it.
  local legacy = ARGV[1] .. 'b:' .. marker
  local fields = redis.call('HMGET', legacy, 'sealed', 'summary', 'slot', 'slot_end')
  if not fields[1] then return nil, false end
  return {id = marker, slot = fields[3], slot_start = 0, slot_end = tonumber(fields[4]),
          answer_within = 0, summary = fields[2], sealed = fields[1], key = legacy}
end
