"""Which language a request gets: `?lang=`, then Accept-Language, then German. No cookie."""

from __future__ import annotations

from aiohttp import web
from babel.core import negotiate_locale

from relay.i18n.languages import DEFAULT_LANGUAGE, LANGUAGES

MAX_TAGS = 20


def request_language(request: web.Request) -> str:
    chosen = request.query.get("lang", "")
    if chosen in LANGUAGES:
        return chosen
    header = request.headers.get("Accept-Language", "")
    if not header:
        return DEFAULT_LANGUAGE
    return negotiate_locale(preferred_tags(header), LANGUAGES, sep="-") or DEFAULT_LANGUAGE


def preferred_tags(header: str) -> list[str]:
    """The header's language tags, most wanted first (RFC 9110 12.5.4); q=0 left out."""
    weighted = []
    # Browsers send a handful of tags; a header of thousands is read no further than this.
    for position, part in enumerate(header.split(",", MAX_TAGS)[:MAX_TAGS]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        tag = tag.strip().lower()
        if tag and quality > 0:
            weighted.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(weighted)]
