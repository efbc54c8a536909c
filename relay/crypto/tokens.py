"""Random tokens and the hashes the relay stores in their place."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from relay.errors import TokenGone

# 192 bits: far beyond guessing, short enough for a link in a mail.
_TOKEN_BYTES = 24


def new_secret() -> str:
    return secrets.token_urlsafe(_TOKEN_BYTES)


def token_hash(secret: str) -> str:
    """What Redis holds instead of a token: a leaked dump yields no usable link."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_confirmation_token(practice: str) -> str:
    """`{practice}.{secret}`: the practice part routes the token to its Redis Cluster slot."""
    return f"{practice}.{new_secret()}"


def new_practice_token(practice: str) -> str:
    return f"{practice}.{new_secret()}"


def split_token(token: str) -> tuple[str, str] | None:
    """(practice, secret) of a well-formed token, else None."""
    practice, dot, secret = token.partition(".")
    if not dot or not practice or len(secret) < 32:
        return None
    return practice, secret


def parse_token(token: str) -> tuple[str, str]:
    """(practice, hash of the secret) of a well-formed token; TokenGone for any other."""
    parts = split_token(token)
    if parts is None:
        raise TokenGone
    return parts[0], token_hash(parts[1])


def hashes_match(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash(secret), stored_hash)
