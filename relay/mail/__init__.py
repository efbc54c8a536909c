"""Mail to patients: composing the mails, the job contents, the SMTP pool and the queue worker.

May import practice (local time), crypto, storage, rules and ops; never booking, abuse or web.
"""
