"""Abuse limits without third parties: per network, per recipient, floods, proof of work.

May import storage, rules and ops; never booking, mail, practice or web.
"""
