"""CORS for embed mode: a practice's own website calls the public API from its pages.

The origins are the practice's `frame_ancestors` (relay/practice/profile.py): the sites the
practice lets frame its form are the sites that may also carry it themselves
(docs/embedding.md). One list, so a practice cannot allow one and forget the other, and
the rules are those of origin.py: `https://host[:port]` exactly or `https://*.host`.

Answered for the endpoints an embedded form needs, and only these:

    GET  /api/v1/practices/{practice}              the profile
    GET  /api/v1/practices/{practice}/form-texts   the form's words (form_texts.py)
    POST /api/v1/practices/{practice}/tickets      a submit ticket (protocol 2)
    POST /api/v1/practices/{practice}/bookings     the submission
    GET  /api/v1/challenge?practice={practice}     a proof-of-work challenge

- A listed `Origin` gets `Access-Control-Allow-Origin: <that origin>` on every answer,
  errors included (the script must read a 422's messages), and the headers it needs to
  read exposed (`Retry-After` of a 429). A preflight (`OPTIONS` with
  `Access-Control-Request-Method`) is answered here, 204, before any route.
- Any other `Origin` gets no CORS header, so the browser hides the answer from the page,
  and a POST from it is refused with 403 JSON before its body is read: the rule of
  origin.py (`is_cross_site_post`) now covers the JSON API too, so that no site the
  practice did not name can spend patients' networks against the rate limits or fill
  the practice's slots with pending requests. The relay's own pages (same origin) and
  clients that are no browser (no `Origin`, no `Sec-Fetch-Site`) post as before.
- `Vary: Origin` on every answer of these endpoints: a cache must not hand one origin's
  answer (with or without the header) to another.
- No credentials: the API uses no cookies, so none are allowed
  (no `Access-Control-Allow-Credentials`).
- Files under /static/ are public: `Access-Control-Allow-Origin: *`, which a
  `<script integrity=... crossorigin="anonymous">` on the practice's page needs for its
  Subresource Integrity check.

The list is read from the practice as this process has it cached (no Redis round trip),
like the form's own origin check in pages.py: an origin added or removed takes effect
with the process's next load of the profile, which any profile request or submission
triggers once the version moved on.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from redis.exceptions import RedisClusterException, RedisError

from relay.errors import PracticeNotFound, RelayError
from relay.practice.registry import SLUG
from relay.web.appkeys import SERVICE
from relay.web.middleware import error_response, json_error, redis_failure
from relay.web.origin import is_cross_site_post, matches_source, origin_of

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# What the embedded form sends beyond the CORS-safelisted headers. Accept-Language is
# safelisted only for some values; naming it costs nothing.
ALLOWED_HEADERS = "Content-Type, X-Terminrelay-Pow, Accept-Language"
# What the script reads beyond the safelisted response headers.
EXPOSED_HEADERS = "Retry-After, X-Request-ID"
# Ten minutes: a browser asks again soon after an origin left the practice's list (and
# Chromium caps the cache at two hours anyway).
MAX_AGE_SECONDS = 600


@dataclass(frozen=True)
class _Endpoint:
    path: re.Pattern[str]
    method: str


# frame_ancestors are https origins (relay/practice/profile.py), IDNs as punycode.
_SERIALISED_ORIGIN = re.compile(r"https://[a-z0-9.-]+(?::[0-9]{1,5})?", re.ASCII)

_PRACTICE = r"/api/v1/practices/(?P<practice>[^/]+)"
_ENDPOINTS = (
    _Endpoint(re.compile(_PRACTICE), "GET"),
    _Endpoint(re.compile(_PRACTICE + "/form-texts"), "GET"),
    _Endpoint(re.compile(_PRACTICE + "/tickets"), "POST"),
    _Endpoint(re.compile(_PRACTICE + "/bookings"), "POST"),
    _Endpoint(re.compile("/api/v1/challenge"), "GET"),
)


def embed_endpoint(request: web.Request) -> tuple[str, str] | None:
    """(practice slug, method) of an embed endpoint `request` is for, else None.

    Matched on the path, not the route: a preflight's OPTIONS matches no route."""
    for endpoint in _ENDPOINTS:
        found = endpoint.path.fullmatch(request.path)
        if found is None:
            continue
        slug = found.groupdict().get("practice") or request.query.get("practice", "")
        # A malformed slug names no practice: no CORS, and the handler says why.
        return (slug, endpoint.method) if SLUG.fullmatch(slug) else None
    return None


def listed_origin(origin: str | None, sources: tuple[str, ...]) -> str | None:
    """`origin` as the browser sent it when the practice lists it, else None.

    Echoed only in the form browsers serialise an origin (lower case, no path, the port
    only when not the default): what they compare Access-Control-Allow-Origin with."""
    if origin is None or not _SERIALISED_ORIGIN.fullmatch(origin):
        return None
    parsed = origin_of(origin)
    if parsed is None or not any(matches_source(parsed, source) for source in sources):
        return None
    return origin


@web.middleware
async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/static/"):
        response = await handler(request)
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response
    endpoint = embed_endpoint(request)
    if endpoint is None:
        return await handler(request)
    slug, method = endpoint
    origin = request.headers.get("Origin")
    preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
    sources: tuple[str, ...] = ()
    if origin is not None:
        try:
            sources = (await request.app[SERVICE].practice_view(slug)).profile.frame_ancestors
        except PracticeNotFound as error:
            if preflight:
                return _vary(error_response(request, error))
            # The handler answers 404 in its own words.
        except RelayError as error:
            return _vary(error_response(request, error))
        except (RedisError, RedisClusterException) as error:
            # Outside the error middleware: answered the way it answers them.
            return _vary(redis_failure(request, error))
    allowed = listed_origin(origin, sources)
    if preflight and origin is not None:
        if allowed is None:
            return _vary(_refused())
        return _vary(_allow(web.Response(status=204), allowed, preflight_method=method))
    if request.method == "POST" and is_cross_site_post(request, trusted_sources=sources):
        return _vary(_refused())
    response = await handler(request)
    if allowed is not None:
        _allow(response, allowed)
    return _vary(response)


def _refused() -> web.Response:
    return json_error(403, {"error": "this origin may not use the practice's booking API"})


def _allow(
    response: web.StreamResponse, origin: str, *, preflight_method: str | None = None
) -> web.StreamResponse:
    headers = response.headers
    headers["Access-Control-Allow-Origin"] = origin
    if preflight_method is None:
        headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    else:
        headers["Access-Control-Allow-Methods"] = preflight_method
        headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        headers["Access-Control-Max-Age"] = str(MAX_AGE_SECONDS)
    return response


def _vary(response: web.StreamResponse) -> web.StreamResponse:
    """Adds Origin to the answer's Vary (the profile's says Accept-Encoding already)."""
    present = response.headers.get("Vary", "")
    if "origin" not in {name.strip().lower() for name in present.split(",")}:
        response.headers["Vary"] = f"{present}, Origin" if present else "Origin"
    return response
