"""Which language a request gets: `?lang=`, then Accept-Language, then German. No cookie."""

from __future__ import annotations

from aiohttp import web

from relay.web.i18n import DEFAULT_LANGUAGE, LANGUAGES

MAX_TAGS = 20


def request_language(request: web.Request) -> str:
    chosen = request.query.get("lang", "")
    if chosen in LANGUAGES:
        return chosen
    weighted = []
    # Browsers send a handful of tags; a header of thousands is read no further than this.
    parts = request.headers.get("Accept-Language", "").split(",", MAX_TAGS)[:MAX_TAGS]
    for position, part in enumerate(parts):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().lower()[:2]
        if primary in LANGUAGES and quality > 0:
            weighted.append((-quality, position, primary))
    return min(weighted)[2] if weighted else DEFAULT_LANGUAGE
