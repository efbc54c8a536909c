"""Practices as the relay knows them: profile, details, slot index, cache, registry, local time.

May import crypto, storage, rules and ops; never booking, mail, abuse or web.
"""
