"""The OpenAPI document: valid OpenAPI 3.1, served as kept, and in step with the routes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aiohttp
from openapi_spec_validator import OpenAPIV31SpecValidator

from relay.app import create_app
from relay.settings import SmtpSettings
from tests.conftest import PracticeHandle, RunningRelay, new_settings
from tests.helpers import profile_json, put_profile

DOCUMENT = Path(__file__).parent.parent / "relay" / "web" / "openapi.json"
# Besides /api/, the operator endpoints belong to the document; pages do not.
OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
METHODS = frozenset({"get", "put", "post", "delete", "patch"})


def load() -> dict[str, Any]:
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def test_document_is_valid_openapi_3_1() -> None:
    """openapi-spec-validator accepts the document as OpenAPI 3.1 with no error."""
    document = load()
    assert str(document["openapi"]).startswith("3.1.")
    errors = [str(error) for error in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []


def test_every_api_route_is_described_and_nothing_else() -> None:
    """The app's /api/ and ops routes equal the document's operations, method for method."""
    settings = new_settings("redis://127.0.0.1:1/0", SmtpSettings("127.0.0.1", 1), 8080)
    app = create_app(settings)
    served = {
        (route.resource.canonical, route.method.lower())
        for route in app.router.routes()
        if route.resource is not None
        and route.method != "HEAD"
        and (route.resource.canonical.startswith("/api/") or route.resource.canonical in OPS_PATHS)
    }
    paths = load()["paths"]
    described = {
        (path, method) for path, item in paths.items() for method in item if method in METHODS
    }
    assert served == described


def test_every_operation_answers_errors_it_can_raise() -> None:
    """Operations with a JSON body list 400/413/415/422; bearer ones 401 with WWW-Authenticate."""
    document = load()
    paths = document["paths"]
    for path, item in paths.items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            if "requestBody" in operation:
                assert {"400", "413", "415", "422"} <= codes, (method, path)
            if operation.get("security") == [{"practiceToken": []}]:
                assert "401" in codes, (method, path)
    responses = document["components"]["responses"]
    assert "WWW-Authenticate" in responses["Unauthorized"]["headers"]
    assert "Retry-After" in responses["TooManyRequests"]["headers"]
    assert "Retry-After" in responses["ServiceUnavailable"]["headers"]


async def test_relay_serves_the_document(relay: RunningRelay) -> None:
    """GET /api/v1/openapi.json answers the repository's file byte for byte, as JSON."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{relay.url}/api/v1/openapi.json") as response,
    ):
        assert response.status == 200
        assert response.content_type == "application/json"
        assert response.charset == "utf-8"
        assert await response.read() == DOCUMENT.read_bytes()


async def test_profile_answers_carry_the_documented_headers(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """The profile's 200 (gzip and plain) and 304 answers carry every header the document
    declares required for them, with the documented values."""
    document = load()
    operation = document["paths"]["/api/v1/practices/{practice}"]["get"]
    declared = document["components"]["headers"]
    url = f"{relay.url}/api/v1/practices/{practice.slug}"
    async with aiohttp.ClientSession(
        auto_decompress=False, skip_auto_headers=["Accept-Encoding"]
    ) as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        async with http.get(url, headers={"Accept-Encoding": "gzip"}) as packed:
            assert packed.status == 200
            gzip_headers = packed.headers
        async with http.get(url) as plain:
            assert plain.status == 200
            assert "Content-Encoding" not in plain.headers
        async with http.get(url, headers={"If-None-Match": gzip_headers["ETag"]}) as unchanged:
            assert unchanged.status == 304
        content_encoding = operation["responses"]["200"]["headers"]["Content-Encoding"]
        assert gzip_headers["Content-Encoding"] == content_encoding["schema"]["const"]
        for status, headers in (
            ("200", gzip_headers),
            ("200", plain.headers),
            ("304", unchanged.headers),
        ):
            for name, reference in operation["responses"][status]["headers"].items():
                spec = (
                    declared[reference["$ref"].rsplit("/", 1)[1]]
                    if "$ref" in reference
                    else reference
                )
                if not spec.get("required"):
                    continue
                assert name in headers, (status, name)
                schema = spec["schema"]
                if "const" in schema:
                    assert headers[name] == schema["const"], (status, name)
                if "pattern" in schema:
                    assert re.fullmatch(schema["pattern"], headers[name]), (status, name)
