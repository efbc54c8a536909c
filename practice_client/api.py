"""HTTP to the relay: the practice API and the public lookups the client checks against.

Failures are sorted for the caller: `AuthError` (the token is refused; retrying will not
help), `RelayUnavailableError` (network, 5xx, a malformed answer; retrying may help) and
`RelayRequestError` (any other 4xx, e.g. 422 for an invalid profile).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp

USER_AGENT = "terminrelay-practice-client/0.1"
# A long poll may last `wait` seconds; the margin covers a slow network on top.
_POLL_MARGIN = 20.0
_REQUEST_TIMEOUT = 30.0


class AuthError(Exception):
    """The relay rejected the practice token (401)."""


class RelayUnavailableError(Exception):
    """The relay could not be reached or answered with a server error."""


class RelayRequestError(Exception):
    """The relay refused the request for another reason (4xx other than 401)."""

    def __init__(self, status: int, payload: object) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.payload = payload


@dataclass(frozen=True)
class InboxItem:
    id: str
    sealed: str
    confirmed_at: str | None


class RelayClient:
    """One aiohttp session to one relay; use as `async with RelayClient(url, token) as relay`."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RelayClient:
        self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def relay_key(self) -> str:
        """The relay's Ed25519 public key as published (base64)."""
        answer = await self._request("GET", "/api/v1/relay-key", auth=False)
        return _text_field(answer, "public_key")

    async def practice_public_key(self, slug: str) -> str:
        """The public key the relay seals this practice's bookings to (base64)."""
        answer = await self._request("GET", f"/api/v1/practices/{slug}", auth=False)
        return _text_field(answer, "public_key")

    async def fetch_inbox(self, *, wait: int, limit: int) -> list[InboxItem]:
        answer = await self._request(
            "GET",
            "/api/v1/inbox",
            params={"wait": str(wait), "limit": str(limit)},
            time_limit=wait + _POLL_MARGIN,
        )
        items = answer.get("items")
        if not isinstance(items, list):
            raise RelayUnavailableError("malformed inbox answer")
        return [_inbox_item(item) for item in items]

    async def ack(self, ids: Sequence[str]) -> None:
        await self._request("POST", "/api/v1/inbox/ack", payload={"ids": list(ids)})

    async def put_profile(self, profile: Mapping[str, object]) -> dict[str, Any]:
        return await self._request("PUT", "/api/v1/profile", payload=dict(profile))

    async def put_key(self, public_key: str) -> None:
        await self._request("PUT", "/api/v1/key", payload={"public_key": public_key})

    async def _request(
        self,
        method: str,
        path: str,
        *,
        auth: bool = True,
        params: Mapping[str, str] | None = None,
        payload: object = None,
        time_limit: float = _REQUEST_TIMEOUT,
    ) -> dict[str, Any]:
        if self._session is None:
            raise RuntimeError("RelayClient used outside `async with`")
        headers = {"Authorization": f"Bearer {self._token}"} if auth and self._token else {}
        try:
            async with self._session.request(
                method,
                self.base_url + path,
                headers=headers,
                params=params,
                json=payload,
                timeout=aiohttp.ClientTimeout(total=time_limit),
                # The bearer token must not follow a redirect to wherever it points.
                allow_redirects=False,
            ) as response:
                status = response.status
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise RelayUnavailableError(_describe(error)) from error
        return _interpret(status, body)


def _interpret(status: int, body: bytes) -> dict[str, Any]:
    if status == 401:
        raise AuthError("the relay rejected the practice token")
    if status >= 500 or status in (408, 429):
        raise RelayUnavailableError(f"HTTP {status}")
    payload = _json_object(body)
    if status >= 300:
        raise RelayRequestError(status, payload)
    if payload is None:
        raise RelayUnavailableError(f"HTTP {status} without a JSON object")
    return payload


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def _text_field(answer: Mapping[str, Any], field: str) -> str:
    value = answer.get(field)
    if not isinstance(value, str):
        raise RelayUnavailableError(f"answer lacks {field!r}")
    return value


def _inbox_item(item: object) -> InboxItem:
    if not isinstance(item, dict):
        raise RelayUnavailableError("malformed inbox item")
    item_id, sealed, confirmed_at = item.get("id"), item.get("sealed"), item.get("confirmed_at")
    if not isinstance(item_id, str) or not isinstance(sealed, str):
        raise RelayUnavailableError("inbox item without id or sealed box")
    return InboxItem(item_id, sealed, confirmed_at if isinstance(confirmed_at, str) else None)


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
