"""The relay's protocol: HTTP API, opening sealed items, keys, retries, confirmed_at,
asking the relay for reminders when due (reminding.py).

May import handover (durable file writes, booking ids) and the base modules; never calendar.
"""
