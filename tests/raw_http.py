"""Raw HTTP over a socket to a real `relay serve`, for requests no HTTP client would send.

Used by tests/test_hostile_input.py and tests/test_log_hygiene.py: bytes go out exactly as
written (bad request lines, invalid UTF-8, broken chunking), and the answer is read
until the relay closes the connection.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from nacl.public import PrivateKey

from tests.conftest import SmtpSink, subprocess_env
from tests.helpers import NotReady, profile_json, wait_until
from tests.servers import RelayProcess, server_port

SLUG = "praxis-roh"
# Long enough for a slow answer on a loaded machine, short enough to bound a test.
ANSWER_SECONDS = 20.0


@dataclass(frozen=True)
class RawResponse:
    status: int  # 0: the connection closed without an answer
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()


def parse_response(data: bytes) -> RawResponse:
    """The final response in `data`; interim 1xx answers (100 Continue) are skipped."""
    while True:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            return RawResponse(0, {}, data)
        status = int(parts[1])
        if 100 <= status < 200 and rest:
            data = rest
            continue
        headers = {}
        for line in lines[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = rest
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = _unchunk(rest)
        return RawResponse(status, headers, body)


def _unchunk(data: bytes) -> bytes:
    body = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        body, data = body + data[:size], data[size + 2 :]
    return body


def send_raw(port: int, request: bytes, *, seconds: float = ANSWER_SECONDS) -> RawResponse:
    """Sends `request` as is and reads until the relay closes the connection.

    A relay that refuses a request by its head closes with the body unread; the kernel
    then resets the connection, and the reset can discard the answer before it is read.
    Only then is the head sent once more alone: it is what the relay answered.
    """
    data, reset = _exchange(port, request, seconds)
    if not data and reset:
        head, separator, _ = request.partition(b"\r\n\r\n")
        data, _ = _exchange(port, head + separator, seconds)
    return parse_response(data)


def _exchange(port: int, request: bytes, seconds: float) -> tuple[bytes, bool]:
    chunks = []
    reset = False
    with socket.create_connection(("127.0.0.1", port), timeout=seconds) as connection:
        try:
            connection.sendall(request)
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        except (BrokenPipeError, ConnectionResetError):
            reset = True
            with contextlib.suppress(OSError):
                while chunk := connection.recv(65536):
                    chunks.append(chunk)
    return b"".join(chunks), reset


def http_request(
    method: bytes,
    target: bytes,
    *,
    headers: Iterable[bytes] = (),
    body: bytes | None = None,
    content_type: bytes | None = None,
) -> bytes:
    """An HTTP/1.1 request that closes its connection, with a matching Content-Length."""
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    if content_type is not None:
        lines.append(b"Content-Type: " + content_type)
    lines.extend(headers)
    if body is not None:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


@dataclass
class ServedRelay:
    """A `relay serve` process with one practice that published the test profile."""

    process: RelayProcess
    practice_token: str

    @property
    def port(self) -> int:
        return self.process.port

    def send(self, request: bytes) -> RawResponse:
        return send_raw(self.port, request)

    def log_text(self) -> str:
        return self.process.log_file.read_bytes().decode("utf-8", errors="backslashreplace")


def _relay_command(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "relay", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"relay {' '.join(args)} failed: {done.stderr}"
    return done.stdout.strip().splitlines()[-1]


@contextlib.contextmanager
def served_relay(
    redis_url: str, smtp: SmtpSink, folder: Path, **settings: str
) -> Iterator[ServedRelay]:
    """`relay serve` at DEBUG log level, stdout and stderr into one file; stopped after."""
    env = subprocess_env(
        RELAY_REDIS_URL=redis_url,
        RELAY_SMTP_URL=f"smtp://127.0.0.1:{smtp.port}",
        RELAY_MAIL_FROM="termine@relay.test",
        RELAY_SIGNING_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
        RELAY_DATA_KEYS=base64.b64encode(secrets.token_bytes(32)).decode(),
        RELAY_LOG_LEVEL="DEBUG",
        RELAY_SUBMIT_LIMIT="100000",
        **settings,
    )
    public_key = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode()
    token = _relay_command(
        env, "practice", "add", SLUG, "--name", "Praxis Roh", "--public-key", public_key
    )
    port = server_port()
    env["RELAY_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    process = RelayProcess.create(folder / "relay.log", port, env)
    process.start()
    try:
        relay = ServedRelay(process, token)

        def ready() -> bool:
            answer = send_raw(port, http_request(b"GET", b"/readyz"), seconds=5)
            if answer.status != 200:
                raise NotReady(f"/readyz answered {answer.status}")
            return True

        wait_until(ready, f"{process.name} to answer /readyz with 200", watch=[process])
        published = relay.send(
            http_request(
                b"PUT",
                b"/api/v1/profile",
                headers=[b"Authorization: Bearer " + token.encode()],
                body=json.dumps(profile_json()).encode(),
                content_type=b"application/json",
            )
        )
        assert published.status == 200, published
        yield relay
    finally:
        process.stop()
