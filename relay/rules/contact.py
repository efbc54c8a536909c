"""Contact details a practice or the operator publishes: e-mail address, phone, web address.

The one rule for each, used by a booking's e-mail and phone (relay/booking/submission.py), the
practice details of a profile (relay/practice/details.py) and the operator's
RELAY_OPERATOR_* settings. Each returns None when the value is fine, or an
ErrorCode saying what is wrong, so profile validation and settings can word it their way.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from relay.rules.text import single_line_problem
from relay.rules.values import ErrorCode

MAX_EMAIL_LENGTH = 254
MAX_EMAIL_LOCAL_PART = 64
MAX_PHONE_LENGTH = 30
MIN_PHONE_DIGITS = 6
MAX_PHONE_DIGITS = 20
MAX_URL_LENGTH = 300

# Dot-atom local part and host name labels: enough to catch typos, and free of spaces,
# line breaks and control characters, so an address shown on a page, used in a mailto:
# link or as a confirmation mail's recipient cannot smuggle anything (a header) in.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# The patterns as text too: booking-rules.json carries them to the form's script and the
# practice client (relay/booking/rules_file.py); they mean the same in JavaScript.
EMAIL_PATTERN = (
    rf"(?:{_ATOM}(?:\.{_ATOM})*)@{_LABEL}(?:\.{_LABEL})*\.(?:[A-Za-z]{{2,63}}|xn--{_LABEL})"
)
_EMAIL = re.compile(EMAIL_PATTERN, re.ASCII)
# E.164-like as patients and practices write it: an optional "+", digits and the usual
# separators ("+49 30 1234567", "030/123 45-67").
PHONE_PATTERN = r"\+?[0-9 ()/-]+"
_PHONE = re.compile(PHONE_PATTERN, re.ASCII)
# Printed into href attributes: no white space, quotes or angle brackets even escaped.
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+", re.ASCII)


def email_problem(value: str) -> ErrorCode | None:
    """Why `value` is not an e-mail address, or None."""
    if len(value) > MAX_EMAIL_LENGTH:
        return "too_long"
    if _EMAIL.fullmatch(value) is None or len(value.rpartition("@")[0]) > MAX_EMAIL_LOCAL_PART:
        return "invalid_email"
    return None


def phone_problem(value: str) -> ErrorCode | None:
    """Why `value` is not a phone number, or None."""
    if len(value) > MAX_PHONE_LENGTH:
        return "too_long"
    digits = sum(char.isdigit() for char in value)
    if not _PHONE.fullmatch(value) or not MIN_PHONE_DIGITS <= digits <= MAX_PHONE_DIGITS:
        return "invalid_phone"
    return None


def web_url_problem(value: str) -> ErrorCode | None:
    """Why `value` is not an http(s) address of a web page, or None.

    Only http and https: a `javascript:` or `data:` address in a link on the patient
    pages would run in the relay's origin.
    """
    if len(value) > MAX_URL_LENGTH:
        return "too_long"
    problem = single_line_problem(value)
    if problem is not None:
        return problem.kind
    if not _URL_CHARACTERS.fullmatch(value):
        return "invalid"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "invalid"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "invalid"
    return None


def tel_url(phone: str) -> str:
    """A tel: link for a checked phone number: the "+" and digits only (RFC 3966)."""
    return "tel:" + "".join(char for char in phone if char.isdigit() or char == "+")
