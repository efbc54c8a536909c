"""Cryptography: signing, padding and sealing bookings, data keys at rest, random tokens.

Imports nothing of the relay but `errors`: every other wing may use it.
"""
