"""Redis: every key name and Lua script (the store), connections, and wake-ups across processes.

Nothing else talks to Redis. May import ops and rules; no other wing.
"""
