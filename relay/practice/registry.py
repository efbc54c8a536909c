"""Registering practices: what `relay practice ...` does, also used by `relay dev`."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from relay.crypto import tokens
from relay.errors import ValidationFailed
from relay.practice.profile import MAX_NAME_LENGTH, default_profile, profile_to_json
from relay.rules.values import InvalidValueError, require_text
from relay.storage.store import Practice, Store

SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def check_slug(slug: str) -> str:
    """Slugs appear in URLs and Redis hash tags: lower-case letters, digits, inner dashes."""
    if not SLUG.fullmatch(slug):
        raise ValidationFailed({"slug": "invalid"})
    return slug


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a practice's name, as an English phrase ("contains a line
    break (U+000A) at character 8"); None if it can.

    The rule is a profile's name rule (one line of visible text, relay/rules/text.py): the name
    goes into every confirmation mail's subject and the booking pages.
    """
    try:
        require_text(name, max_length=MAX_NAME_LENGTH)
    except InvalidValueError as failure:
        return failure.detail
    return None


def check_name(name: str) -> str:
    """The practice's name, stripped; raises ValidationFailed({"name": code})."""
    try:
        return require_text(name, max_length=MAX_NAME_LENGTH)
    except InvalidValueError as failure:
        raise ValidationFailed({"name": failure.code}) from None


async def add_practice(store: Store, slug: str, *, name: str, public_key: bytes) -> str:
    """Registers a practice; returns its bearer token, which is stored only as a hash."""
    check_slug(slug)
    name = check_name(name)
    token = tokens.new_practice_token(slug)
    _, secret = token.split(".", 1)
    await store.add_practice(
        slug,
        name=name,
        public_key=public_key,
        token_hash=tokens.token_hash(secret),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        profile=json.dumps(profile_to_json(default_profile(name))).encode(),
    )
    return token


async def new_token(store: Store, slug: str) -> str:
    """Replaces the practice's token: the old one stops working at once."""
    token = tokens.new_practice_token(slug)
    _, secret = token.split(".", 1)
    await store.set_practice_field(slug, "token_hash", tokens.token_hash(secret))
    return token


async def list_practices(store: Store) -> list[Practice]:
    return [await store.practice(slug) for slug in await store.practice_slugs()]
