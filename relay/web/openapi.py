"""The OpenAPI 3.1 description of the JSON and practice APIs, served as kept in the package.

The document is written by hand (relay/web/openapi.json) so vendors read exactly what
the relay promises; tests/test_openapi.py keeps it and the routes in step.
"""

from __future__ import annotations

import functools
from importlib import resources

from aiohttp import web

routes = web.RouteTableDef()

DOCUMENT = "openapi.json"


@functools.cache
def document() -> bytes:
    """The document's bytes, read once from the package."""
    return resources.files("relay.web").joinpath(DOCUMENT).read_bytes()


@routes.get("/api/v1/openapi.json")
async def openapi_document(request: web.Request) -> web.Response:
    return web.Response(body=document(), content_type="application/json", charset="utf-8")
