"""Proof of work instead of a CAPTCHA: the ALTCHA challenge scheme, served and verified here.

The scheme (ALTCHA v1, documented at altcha.org and implemented by the `altcha` library):

- challenge: `salt` = 12 random bytes in hex plus `?expires={unix seconds}&`, a secret
  `number` drawn from 0..`maxnumber`, `challenge` = hex SHA-256(salt + decimal number),
  `signature` = hex HMAC-SHA256(key, challenge). The relay sends algorithm, challenge,
  maxnumber, salt and signature; it keeps nothing.
- solution: the browser tries n = 0, 1, 2, ... until SHA-256(salt + n) equals the
  challenge (on average maxnumber / 2 hashes) and sends back the challenge with `number`,
  as base64 JSON.
- verification is stateless: the signature proves the relay issued the challenge, the
  hash proves the number, the salt carries the expiry. Single use is the caller's part
  (relay/abuse/limits.py remembers the signature in Redis until the expiry).

Why not the `altcha` library at run time: its verify compares the signature with `==`
(not in constant time), reads the clock itself and accepts any salt shape; the relay
needs a strict parser for hostile input and a clock the tests control. tests/test_pow.py
checks both ways that the library and this module understand each other.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass

ALGORITHM = "SHA-256"
# Long enough to fill in the form at leisure; a solved challenge is single use anyway.
CHALLENGE_TTL = 1800
_SALT_BYTES = 12
_SALT = re.compile(r"[0-9a-f]{24}\?expires=([0-9]{10})&", re.ASCII)
_HEX64 = re.compile(r"[0-9a-f]{64}", re.ASCII)
# A payload is about 250 bytes; anything much longer is not one.
MAX_PAYLOAD = 1024
MAX_NUMBER = 1_000_000_000


class InvalidSolution(Exception):
    """A payload that is malformed, forged, wrong or expired (one opaque error)."""


@dataclass(frozen=True)
class Challenge:
    algorithm: str
    challenge: str
    maxnumber: int
    salt: str
    signature: str

    def to_json(self) -> dict[str, object]:
        """The challenge as the solver (static/pow.js, or an ALTCHA widget) takes it."""
        return {
            "algorithm": self.algorithm,
            "challenge": self.challenge,
            "maxnumber": self.maxnumber,
            "salt": self.salt,
            "signature": self.signature,
        }


@dataclass(frozen=True)
class Solved:
    """A valid solution: `marker` identifies the challenge for the single-use check, which
    must be remembered until `expires_at` (unix seconds)."""

    marker: str
    expires_at: int


class ProofOfWork:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def issue(self, maxnumber: int, *, now: float, ttl: int = CHALLENGE_TTL) -> Challenge:
        expires = int(now) + ttl
        salt = f"{secrets.token_hex(_SALT_BYTES)}?expires={expires}&"
        number = secrets.randbelow(maxnumber + 1)
        challenge = _sha256(salt, number)
        return Challenge(ALGORITHM, challenge, maxnumber, salt, self._sign(challenge))

    def verify(self, payload: str, *, now: float) -> Solved:
        """The solution in `payload` (base64 JSON), or InvalidSolution."""
        fields = _parse(payload)
        salt, number = fields["salt"], fields["number"]
        challenge, signature = fields["challenge"], fields["signature"]
        if not (
            isinstance(salt, str)
            and isinstance(challenge, str)
            and isinstance(signature, str)
            and type(number) is int
            and 0 <= number <= MAX_NUMBER
            and fields["algorithm"] == ALGORITHM
            and _HEX64.fullmatch(challenge)
            and _HEX64.fullmatch(signature)
        ):
            raise InvalidSolution
        salt_match = _SALT.fullmatch(salt)
        if salt_match is None:
            raise InvalidSolution
        expires_at = int(salt_match.group(1))
        # The signature is checked before the expiry, so that nothing about an unsigned
        # payload is revealed; both in constant time.
        signed = hmac.compare_digest(self._sign(challenge), signature)
        solved = hmac.compare_digest(_sha256(salt, number), challenge)
        if not (signed and solved) or expires_at <= now:
            raise InvalidSolution
        return Solved(signature[:32], expires_at)

    def _sign(self, challenge: str) -> str:
        return hmac.new(self._key, challenge.encode(), hashlib.sha256).hexdigest()


def solve(challenge: Challenge) -> str:
    """The solution payload for `challenge`, found the way a browser finds it (for tests
    and the benchmark; the relay itself never solves)."""
    for number in range(challenge.maxnumber + 1):
        if _sha256(challenge.salt, number) == challenge.challenge:
            return encode_solution(challenge, number)
    raise ValueError("challenge has no solution")


def encode_solution(challenge: Challenge, number: int) -> str:
    document = {
        "algorithm": challenge.algorithm,
        "challenge": challenge.challenge,
        "number": number,
        "salt": challenge.salt,
        "signature": challenge.signature,
    }
    return base64.b64encode(json.dumps(document).encode()).decode()


def _sha256(salt: str, number: int) -> str:
    return hashlib.sha256(f"{salt}{number}".encode()).hexdigest()


def _parse(payload: str) -> dict[str, object]:
    if len(payload) > MAX_PAYLOAD:
        raise InvalidSolution
    try:
        document = json.loads(base64.b64decode(payload.strip(), validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidSolution from None
    required = ("algorithm", "challenge", "number", "salt", "signature")
    if not isinstance(document, dict) or not all(name in document for name in required):
        raise InvalidSolution
    return document
