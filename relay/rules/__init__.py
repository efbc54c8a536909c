"""Value rules every wing shares: the validation error vocabulary, text, e-mail, phone, URL.

Imports no other wing.
"""
