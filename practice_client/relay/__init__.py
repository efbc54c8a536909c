"""The relay's protocol: HTTP API, opening sealed items, keys, retries, confirmed_at.

May import handover (durable file writes, booking ids) and the base modules; never calendar.
"""
