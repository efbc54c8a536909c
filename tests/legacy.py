"""What relays before the current layouts wrote, kept so tests can write it and check that
it is still read, and so bench/memory_bench.py can measure the old footprint beside the new.
"""

from __future__ import annotations

import struct

# The submit script of relays before layout 1: the booking a hash, the token key holding
# its id.
OLD_SUBMIT = """
local ttl = tonumber(ARGV[6])
if KEYS[6] then
  if not redis.call('SET', KEYS[6], ARGV[1], 'NX', 'EX', ttl) then return 0 end
end
redis.call('HSET', KEYS[1], 'sealed', ARGV[2], 'summary', ARGV[3], 'token', ARGV[4],
           'slot', ARGV[8], 'slot_end', ARGV[9])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('SET', KEYS[2], ARGV[1], 'EX', ttl)
redis.call('HSET', KEYS[3], 'job', ARGV[5], 'attempts', 0)
redis.call('EXPIRE', KEYS[3], ttl)
local now = tonumber(ARGV[7])
redis.call('ZADD', KEYS[4], now, ARGV[1])
redis.call('EXPIRE', KEYS[4], ttl)
redis.call('ZADD', KEYS[5], now + ttl * 1000, ARGV[1])
redis.call('EXPIRE', KEYS[5], ttl + 3600)
return 1
"""

# Relays before the floor-and-Padmé scheme padded to these fixed classes; bookings sealed
# then may still wait in an inbox (RELAY_INBOX_TTL, two weeks by default).
OLD_PAD_CLASSES = (2048, 8192)


def old_pad(message: bytes) -> bytes:
    """The padding of those relays."""
    framed_length = 4 + len(message)
    size_class = next(size for size in OLD_PAD_CLASSES if framed_length <= size)
    return struct.pack(">I", len(message)) + message + bytes(size_class - framed_length)
