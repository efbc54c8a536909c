"""HTTP to the relay: the practice API and the public lookups the client checks against.

Failures are sorted for the caller: `AuthError` (the token is refused; retrying will not
help), `RelayUnavailableError` (network, 5xx, a malformed answer; retrying may help) and
`RelayRequestError` (any other 4xx, e.g. 422 for an invalid profile).

Answers are read with a size cap and parsed with a depth cap (practice_client/limits.py):
an answer beyond them is a malformed answer, never a reason to run out of memory.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp

from practice_client.limits import MAX_RESPONSE_BYTES, JsonRejectedError, load_json

log = logging.getLogger(__name__)

USER_AGENT = "terminrelay-practice-client/0.1"
# A long poll may last `wait` seconds; the margin covers a slow network on top.
_POLL_MARGIN = 20.0
_REQUEST_TIMEOUT = 30.0
_READ_CHUNK = 64 * 1024


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
class InboxAnswer:
    items: list[InboxItem]
    # Items another client fetched and has not acknowledged (hidden for the relay's
    # visibility timeout); None from a relay that does not say.
    in_flight: int | None


@dataclass(frozen=True)
class InboxItem:
    id: str
    sealed: str
    confirmed_at: str | None
    # Protocol 2: the box the patient's browser sealed, beside the relay's envelope.
    blob: str | None = None


@dataclass(frozen=True)
class PageAnswer:
    """A page or a file the relay serves to patients, as received (practice_client/relay/
    transparency.py checks it)."""

    status: int
    headers: Mapping[str, tuple[str, ...]]  # lower-case name -> every value sent
    body: bytes


class RelayClient:
    """One aiohttp session to one relay; use as `async with RelayClient(url, token) as relay`."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RelayClient:
        # Uncompressed only: a compressed answer could expand far beyond the size cap
        # while it is being decompressed, before the cap is ever checked.
        self._session = aiohttp.ClientSession(
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
            auto_decompress=False,
        )
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

    async def fetch_inbox(self, *, wait: int, limit: int) -> InboxAnswer:
        answer = await self._request(
            "GET",
            "/api/v1/inbox",
            params={"wait": str(wait), "limit": str(limit)},
            time_limit=wait + _POLL_MARGIN,
        )
        items = answer.get("items")
        if not isinstance(items, list):
            raise RelayUnavailableError("malformed inbox answer")
        if len(items) > limit:
            raise RelayUnavailableError(f"the inbox answer holds more than {limit} items")
        # Relays before `in_flight` existed do not send it: then the count is unknown.
        in_flight = answer.get("in_flight")
        if not (isinstance(in_flight, int) and not isinstance(in_flight, bool) and in_flight >= 0):
            in_flight = None
        return InboxAnswer([_inbox_item(item) for item in items], in_flight)

    async def ack(self, ids: Sequence[str]) -> None:
        await self._request("POST", "/api/v1/inbox/ack", payload={"ids": list(ids)})

    async def answer(self, booking_id: str, body: Mapping[str, object]) -> dict[str, Any]:
        """The practice's answer to a booking (`practice-client answer`); the relay's 200
        answer, RelayRequestError for 404, 409 and 422."""
        return await self._request(
            "POST", f"/api/v1/bookings/{booking_id}/answer", payload=dict(body)
        )

    async def remind(self, booking_id: str, body: Mapping[str, object]) -> dict[str, Any]:
        """Ask the relay to mail a reminder now (practice_client/relay/reminding.py); the relay's
        200 answer, RelayRequestError for 404, 409 and 422."""
        return await self._request(
            "POST", f"/api/v1/bookings/{booking_id}/remind", payload=dict(body)
        )

    async def practice_profile(self, slug: str) -> dict[str, Any]:
        """The practice's public profile as the relay serves it to patients."""
        return await self._request("GET", f"/api/v1/practices/{slug}", auth=False)

    async def put_profile(self, profile: Mapping[str, object]) -> dict[str, Any]:
        """Publishes the profile gzip-compressed (a calendar's JSON shrinks about tenfold);
        a relay that takes no compressed bodies (415) gets it plain. The answer is a
        summary: version and counts, not the profile.

        A relay before protocol 2 refuses the profile's `sealing` (a 422 naming it, maybe
        beside real problems): `"either"` then goes again without it, which such a relay
        treats as relay sealing, all it can do; a second 422 names only the real problems.
        `"browser"` does not: the practice asked never to be relay-sealed.
        """
        try:
            return await self._put_profile(profile)
        except RelayRequestError as error:
            if not _refuses_sealing(error, profile):
                raise
        log.warning(
            "the relay does not know browser sealing yet (protocol 2): the profile is "
            "published without `sealing`, and the relay seals every booking itself"
        )
        return await self._put_profile({k: v for k, v in profile.items() if k != "sealing"})

    async def _put_profile(self, profile: Mapping[str, object]) -> dict[str, Any]:
        plain = json.dumps(dict(profile)).encode()
        try:
            return await self._request(
                "PUT",
                "/api/v1/profile",
                body=gzip.compress(plain, compresslevel=6),
                headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            )
        except RelayRequestError as error:
            if error.status != 415:
                raise
        return await self._request(
            "PUT", "/api/v1/profile", body=plain, headers={"Content-Type": "application/json"}
        )

    async def fetch_page(self, path: str) -> PageAnswer:
        """GET a patient-facing page or file of this relay (no token, no redirect), its body
        bounded like every answer."""
        if self._session is None:
            raise RuntimeError("RelayClient used outside `async with`")
        try:
            async with self._session.get(
                self.base_url + path,
                timeout=aiohttp.ClientTimeout(total=_REQUEST_TIMEOUT),
                allow_redirects=False,
            ) as response:
                headers: dict[str, tuple[str, ...]] = {}
                for name in response.headers:
                    headers.setdefault(name.lower(), tuple(response.headers.getall(name)))
                return PageAnswer(response.status, headers, await _read_bounded(response))
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise RelayUnavailableError(_describe(error)) from error

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
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        time_limit: float = _REQUEST_TIMEOUT,
    ) -> dict[str, Any]:
        if self._session is None:
            raise RuntimeError("RelayClient used outside `async with`")
        headers = dict(headers or {})
        if auth and self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            async with self._session.request(
                method,
                self.base_url + path,
                headers=headers,
                params=params,
                json=payload,
                data=body,
                timeout=aiohttp.ClientTimeout(total=time_limit),
                # The bearer token must not follow a redirect to wherever it points.
                allow_redirects=False,
            ) as response:
                status = response.status
                body = await _read_bounded(response)
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise RelayUnavailableError(_describe(error)) from error
        return _interpret(status, body)


async def _read_bounded(response: aiohttp.ClientResponse) -> bytes:
    """The body, or RelayUnavailableError once it exceeds MAX_RESPONSE_BYTES.

    Content-Length is checked first, so a declared oversize answer is not read at all;
    the running count catches answers that lie about or omit their length.
    """
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding != "identity":
        raise RelayUnavailableError("the answer is compressed although we asked for identity")
    declared = response.content_length
    if declared is not None and declared > MAX_RESPONSE_BYTES:
        raise RelayUnavailableError(_too_large())
    body = bytearray()
    async for chunk in response.content.iter_chunked(_READ_CHUNK):
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            raise RelayUnavailableError(_too_large())
    return bytes(body)


def _refuses_sealing(error: RelayRequestError, profile: Mapping[str, object]) -> bool:
    payload = error.payload if isinstance(error.payload, dict) else {}
    errors = payload.get("errors")
    return (
        error.status == 422
        and profile.get("sealing") == "either"
        and isinstance(errors, dict)
        and "sealing" in errors
    )


def _too_large() -> str:
    return f"the answer is larger than the limit of {MAX_RESPONSE_BYTES} bytes"


def _interpret(status: int, body: bytes) -> dict[str, Any]:
    if status == 401:
        raise AuthError("the relay rejected the practice token")
    if status >= 500 or status in (408, 429):
        raise RelayUnavailableError(f"HTTP {status}")
    try:
        payload = _json_object(body)
    except JsonRejectedError as error:
        if status >= 300:  # the error body is only a detail; the status says enough
            raise RelayRequestError(status, None) from error
        raise RelayUnavailableError(f"HTTP {status} with a malformed answer: {error}") from error
    if status >= 300:
        raise RelayRequestError(status, payload)
    if payload is None:
        raise RelayUnavailableError(f"HTTP {status} without a JSON object")
    return payload


def _json_object(body: bytes) -> dict[str, Any] | None:
    payload = load_json(body)
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
    blob = item.get("blob")
    return InboxItem(
        item_id,
        sealed,
        confirmed_at if isinstance(confirmed_at, str) else None,
        blob if isinstance(blob, str) else None,
    )


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
