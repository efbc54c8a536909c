"""Content codings for bodies that many clients fetch unchanged: the gzip copy kept beside
the body (relay/encoded.py), chosen per request by Accept-Encoding.

aiohttp's enable_compression would compress every response again for every request (about
2-3 ms for a 3,000-slot profile, 0.4 ms for its form page); here a request only picks bytes.
Only bodies that hold no secret may come here (BREACH: see relay/web/pages.py's form page).
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from relay.encoded import Encoded


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether Accept-Encoding admits gzip (RFC 9110 12.5.3): named, or `*`, with q > 0."""
    if not accept_encoding:
        return False
    named: float | None = None
    anything: float | None = None
    for element in accept_encoding.split(","):
        coding, _, parameters = element.partition(";")
        coding = coding.strip().lower()
        weight = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
        if coding in ("gzip", "x-gzip"):
            named = weight
        elif coding == "*":
            anything = weight
    chosen = named if named is not None else anything
    return chosen is not None and chosen > 0


def encoded_response(
    request: web.Request,
    body: Encoded,
    *,
    content_type: str,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """The body gzip-compressed if the request admits gzip, else as it is (UTF-8 text);
    `Vary: Accept-Encoding` either way, so a cache never hands one client's coding to
    another."""
    sent = {**(headers or {}), "Vary": "Accept-Encoding"}
    if accepts_gzip(request.headers.get("Accept-Encoding")):
        sent["Content-Encoding"] = "gzip"
        data = body.gzipped
    else:
        data = body.identity
    return web.Response(body=data, content_type=content_type, charset="utf-8", headers=sent)
