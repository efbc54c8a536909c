"""The life of a booking: its fields, validation, submit, confirm, withdraw, deliver, cancel.

Holds the booking field list, the validation of a submission against a practice's profile,
the service (what the relay does, independent of HTTP), cancellation and the patient's
calendar file. May import mail, abuse, practice, crypto, storage, rules and ops; never web.
"""
