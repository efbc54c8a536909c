"""Same-origin posts: refuse state-changing browser POSTs that another site sends.

Applied to the booking form (`POST /p/{practice}`) and the confirm/withdraw buttons
(`POST /c/{token}`). A page on another site could otherwise submit bookings from its
visitors' browsers (their networks, past our rate limit) or confirm or withdraw a booking
whose link it has learnt. The policy follows Go's net/http CrossOriginProtection:

1. An `Origin` the practice lets embed its form (`frame_ancestors` in its profile) may
   post that practice's form: its website may carry the form and post it cross-site.
2. `Sec-Fetch-Site` (sent by every current browser, and not settable by a page):
   - `same-origin`: our own page. Allowed.
   - `none`: the browser's own interface, not a page, started the request (address bar,
     bookmark, history). No other site can cause it. Allowed, as in Go's filter.
   - `same-site`: a sibling host under the same registrable domain (say the practice's
     www next to the relay's termine host). That is another application, perhaps with
     user content, not us: refused, unless rule 1 allows its origin.
   - `cross-site` and anything unknown: refused.
3. Without `Sec-Fetch-Site` (Chrome before 76, Firefox before 90, Safari before 16.4, and
   every browser talking to a relay on plain http other than loopback, as Sec-Fetch-* go
   only to secure origins): `Origin` must be the origin of RELAY_PUBLIC_URL, the address
   patients use. `Origin: null` (sandboxed frames, privacy-sensitive redirects, data:
   URLs) is refused like any foreign origin.
4. Neither header: not a browser (curl, a script, the tests' aiohttp client) or a very
   old browser. Allowed: cross-site forgery needs a victim's browser, and every browser
   of the last years sends at least `Origin` on a POST. A non-browser client could post
   anything it likes anyway, with whatever headers it likes.

The JSON API's posts (`POST /api/v1/practices/{practice}/bookings` and `/tickets`) follow
the same rule, applied by relay/web/cors.py with the practice's frame_ancestors, which
there also get CORS headers so that the practice's own website can carry the form (embed
mode): any other site's post is refused with 403 JSON. It takes only `Content-Type:
application/json` besides (415 otherwise), which a browser sends to another origin only
after a CORS preflight that only those origins pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from aiohttp import web

from relay.web.appkeys import SETTINGS

_DEFAULT_PORTS = {"http": 80, "https": 443}
_ALLOWED_SITES = frozenset({"same-origin", "none"})


def origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL or serialised origin; None for `null` or garbage.

    Browsers serialise origins lower-case, with IDNs as punycode and the default port left
    out; settings may spell them otherwise, so both sides are compared in this form.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def matches_source(origin: tuple[str, str, int], source: str) -> bool:
    """Whether `origin` is allowed by a frame-ancestors source from a profile:
    `https://host[:port]` exactly, or `https://*.host[:port]` for any host under it
    (not the bare host), as CSP matches them."""
    wildcard = source.startswith("https://*.")
    allowed = origin_of(source.replace("*.", "", 1) if wildcard else source)
    if allowed is None:
        return False
    scheme, host, port = allowed
    if origin[0] != scheme or origin[2] != port:
        return False
    return origin[1].endswith(f".{host}") if wildcard else origin[1] == host


def allows_post(
    headers: Mapping[str, str], *, relay_origin: str, trusted_sources: Iterable[str] = ()
) -> bool:
    """Whether a POST with these request headers may change state (see the module doc)."""
    origin_header = headers.get("Origin")
    origin = None if origin_header is None else origin_of(origin_header)
    if origin is not None and any(matches_source(origin, src) for src in trusted_sources):
        return True
    site = headers.get("Sec-Fetch-Site")
    if site is not None:
        return site.strip().lower() in _ALLOWED_SITES
    if origin_header is None:
        return True
    return origin is not None and origin == origin_of(relay_origin)


def is_cross_site_post(request: web.Request, *, trusted_sources: Iterable[str] = ()) -> bool:
    """Whether `request` must be refused as a post from another site.

    `trusted_sources`: the practice's frame_ancestors, for its own booking form only.
    """
    return not allows_post(
        request.headers,
        relay_origin=request.app[SETTINGS].public_url,
        trusted_sources=trusted_sources,
    )
