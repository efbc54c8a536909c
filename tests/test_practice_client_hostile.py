"""The practice client against a hostile relay: oversize, deep, unsigned and forged answers.

The relay here is a small aiohttp server on 127.0.0.1 written for these tests. It plays
an outside party (a compromised or broken relay, or a proxy in front of one) that our
relay never is, so it cannot be the real relay; the client under test is the real one.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from icalendar import Calendar
from nacl.public import PublicKey, SealedBox
from nacl.signing import SigningKey

from practice_client.__main__ import main
from practice_client.handover.files import is_temp_name, locked_directory, temp_name_for
from practice_client.limits import MAX_JSON_DEPTH, MAX_RESPONSE_BYTES, JsonRejectedError, load_json
from practice_client.relay.confirmed_at import checked_confirmed_at
from practice_client.relay.envelope import MAX_SEALED_BASE64
from practice_client.relay.keys import KeyPair, create_key_file
from practice_client.relay.retry import RetryPolicy
from practice_client.runner import RunConfig, run
from relay.crypto.sealing import canonical_json, pad
from relay.dev import free_port

SLUG = "praxis-test"
TOKEN = f"{SLUG}.{'A' * 43}"
QUICK_RETRIES = RetryPolicy(start=0.01, cap=0.05, attempts=3)
PATIENT = "Adelgunde Sauerampfer"  # searched for in logs and files: must never appear there
SUBMITTED_AT = "2026-11-22T09:00:00Z"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class HostileRelay:
    """Publishes keys like a relay, and answers the inbox however a test tells it to."""

    url: str
    practice_key: bytes
    signing_key: SigningKey = field(default_factory=SigningKey.generate)
    items: list[dict[str, Any]] = field(default_factory=list)
    inbox: Handler | None = None  # replaces the normal inbox answer
    acknowledged: list[str] = field(default_factory=list)
    streamed: list[int] = field(default_factory=list)  # bytes written, per streamed answer

    def document(self, **changes: Any) -> dict[str, Any]:
        booking: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "practice": SLUG,
            "first_name": PATIENT.split(maxsplit=1)[0],
            "last_name": PATIENT.split(maxsplit=1)[1],
            "start": "2026-12-01T09:00:00+01:00",
            "submitted_at": SUBMITTED_AT,
            "consent_at": SUBMITTED_AT,
        }
        booking.update(changes)
        return booking

    def seal(self, signed_content: bytes, *, signer: SigningKey | None = None) -> str:
        """Sign (with our published key unless told otherwise), pad and seal to the practice."""
        signed = bytes((signer or self.signing_key).sign(signed_content))
        sealed = SealedBox(PublicKey(self.practice_key)).encrypt(pad(signed))
        return base64.b64encode(sealed).decode()

    def add(self, document: dict[str, Any], confirmed_at: object = "2026-11-22T09:10:00Z",
            **sealing: Any) -> str:  # fmt: skip
        self.items.append(
            {
                "id": document["id"],
                "sealed": self.seal(canonical_json(document), **sealing),
                "confirmed_at": confirmed_at,
            }
        )
        return str(document["id"])

    async def relay_key(self, request: web.Request) -> web.Response:
        public = base64.b64encode(bytes(self.signing_key.verify_key)).decode()
        return web.json_response({"public_key": public, "algorithm": "ed25519"})

    async def practice(self, request: web.Request) -> web.Response:
        return web.json_response({"public_key": base64.b64encode(self.practice_key).decode()})

    async def fetch(self, request: web.Request) -> web.StreamResponse:
        if self.inbox is not None:
            return await self.inbox(request)
        return web.json_response({"items": self.items})

    async def ack(self, request: web.Request) -> web.Response:
        ids = (await request.json())["ids"]
        self.acknowledged += ids
        self.items = [item for item in self.items if item["id"] not in ids]
        return web.json_response({"acknowledged": len(ids)})

    async def stream(self, request: web.Request, *, declared: int | None) -> web.StreamResponse:
        """An answer of up to 60 MB, written as long as the client keeps reading."""
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if declared is None:
            response.enable_chunked_encoding()
        else:
            response.content_length = declared
        await response.prepare(request)
        chunk = b'{"items": [' + b" " * (64 * 1024 - 11)
        self.streamed.append(0)
        try:
            for _ in range(60 * 16):
                await response.write(chunk)
                self.streamed[-1] += len(chunk)
                chunk = b" " * len(chunk)
        except ConnectionError:
            pass  # the client hung up, as it should
        return response


@pytest.fixture
async def hostile(tmp_path: Path) -> AsyncIterator[HostileRelay]:
    """A hostile relay on loopback, for a practice whose key file is in tmp_path."""
    ring = create_key_file(tmp_path / "practice.key", KeyPair.generate())
    port = free_port()
    relay = HostileRelay(f"http://127.0.0.1:{port}", ring.current.public_key)
    app = web.Application()
    app.router.add_get("/api/v1/relay-key", relay.relay_key)
    app.router.add_get(f"/api/v1/practices/{SLUG}", relay.practice)
    app.router.add_get("/api/v1/inbox", relay.fetch)
    app.router.add_post("/api/v1/inbox/ack", relay.ack)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield relay
    await runner.cleanup()


def config(relay: HostileRelay, tmp_path: Path) -> RunConfig:
    return RunConfig(
        relay.url, TOKEN, tmp_path / "practice.key", tmp_path / "out", wait=0, retry=QUICK_RETRIES
    )


def argv(relay: HostileRelay, tmp_path: Path) -> list[str]:
    return [
        *("run", "--once", "--relay", relay.url, "--token", TOKEN),
        *("--key-file", str(tmp_path / "practice.key"), "--out", str(tmp_path / "out")),
    ]


def client_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("practice_client") and record.levelno >= logging.ERROR
    ]


def no_traceback(caplog: pytest.LogCaptureFixture) -> bool:
    return all(record.exc_info is None for record in caplog.records)


# Size ------------------------------------------------------------------------------------


@pytest.mark.parametrize("declared", [60_000_000, None], ids=["content-length", "chunked"])
async def test_an_oversize_answer_is_cut_off_and_ends_in_a_clear_exit_4(
    hostile: HostileRelay, tmp_path: Path, caplog: pytest.LogCaptureFixture, declared: int | None
) -> None:
    """A 60 MB inbox answer is never held in memory: --once gives up naming the limit."""
    # Given a relay answering every poll with 60 MB, with or without saying so up front

    async def huge(request: web.Request) -> web.StreamResponse:
        return await hostile.stream(request, declared=declared)

    hostile.inbox = huge

    # When the client drains the inbox
    tracemalloc.start()
    try:
        code = await run(config(hostile, tmp_path), once=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Then it stops reading at the limit, holds a few MB at most, and exits 4 saying why
    assert code == 4
    assert peak < 4 * MAX_RESPONSE_BYTES, f"peak {peak} bytes"
    # (what the server could write is the client's 2 MB plus the sockets' buffers)
    assert hostile.streamed
    assert max(hostile.streamed) < 60_000_000 / 3, hostile.streamed
    (failure,) = client_errors(caplog)
    assert f"larger than the limit of {MAX_RESPONSE_BYTES} bytes" in failure
    assert no_traceback(caplog)


async def test_an_item_larger_than_the_largest_size_class_is_refused_unopened(
    hostile: HostileRelay, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A sealed box beyond 8192 + 48 bytes is refused by id (exit 3); the others arrive."""
    good = hostile.add(hostile.document())
    oversize = str(uuid.uuid4())
    hostile.items.append({"id": oversize, "sealed": "A" * (MAX_SEALED_BASE64 + 4)})

    code = await run(config(hostile, tmp_path), once=True)

    assert code == 3
    assert hostile.acknowledged == [good]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{good}.ics", f"{good}.json"]
    assert any(oversize in e and "largest size class" in e for e in client_errors(caplog))


# Depth -----------------------------------------------------------------------------------


async def test_deeply_nested_json_ends_in_a_clear_exit_4_not_a_traceback(
    hostile: HostileRelay, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An inbox answer nested 200,000 levels deep is refused before parsing, with a message."""

    async def deep(request: web.Request) -> web.Response:
        nested = b'{"items": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
        return web.Response(body=nested, content_type="application/json")

    hostile.inbox = deep

    code = await run(config(hostile, tmp_path), once=True)

    assert code == 4
    (failure,) = client_errors(caplog)
    assert f"nested deeper than {MAX_JSON_DEPTH} levels" in failure
    assert no_traceback(caplog)


async def test_a_deeply_nested_signed_document_is_refused_by_id(
    hostile: HostileRelay, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Even correctly signed and sealed, a 4,000-level document is refused (exit 3), not parsed."""
    item_id = str(uuid.uuid4())
    hostile.items.append(
        {"id": item_id, "sealed": hostile.seal(b"[" * 4000 + b"]" * 4000), "confirmed_at": None}
    )

    code = await run(config(hostile, tmp_path), once=True)

    assert code == 3
    assert any(item_id in e and "nested deeper" in e for e in client_errors(caplog))
    assert no_traceback(caplog)
    assert hostile.acknowledged == []


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        (b'{"a": [[["x"]]]}', True),
        (b'{"a": "' + b"[" * 100 + b'"}', True),  # brackets inside a string do not nest
        (b'{"a": "\\"' + b"[" * 100 + b'"}', True),  # nor after an escaped quote
        (b'{"a": "\\\\"}' + b"", True),  # an escaped backslash ends before the quote
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), False),
        (b'{"a": "\\\\", "b": ' + b"[" * 40 + b"]" * 40 + b"}", False),
        (b"1" * 5000, False),  # Python refuses to parse integers this long
        (b'"\xff"', False),
    ],
)
def test_json_is_bounded_in_depth_and_refused_cleanly(text: bytes, accepted: bool) -> None:
    """load_json counts nesting outside strings only, and raises one error type for all refusals."""
    if accepted:
        assert load_json(text) == json.loads(text)
    else:
        with pytest.raises(JsonRejectedError):
            load_json(text)


# confirmed_at ----------------------------------------------------------------------------

FIVE_MB_WITH_LINE_BREAKS = ("2026-11-22T09:10:00Z\r\nX-Forged: yes\n" * 150_000)[:5_000_000]


@pytest.mark.parametrize(
    ("confirmed_at", "written"),
    [
        ("2026-11-22T09:10:00Z", "2026-11-22T09:10:00Z"),
        ("2026-11-22T10:10:00.250+01:00", "2026-11-22T09:10:00Z"),
        ("2026-11-22T08:58:00Z", "2026-11-22T08:58:00Z"),  # relay clocks differ a little
        ("2026-11-22T09:10:00Z\nX-Forged: yes", None),
        (FIVE_MB_WITH_LINE_BREAKS, None),
        ("2026-11-22T09:10:00", None),  # no offset
        ("2026-13-22T09:10:00Z", None),
        ("2026-02-30T09:10:00Z", None),
        ("2026-11-22 09:10:00Z", None),
        ("０２０２-11-22T09:10:00Z", None),  # non-ASCII digits
        ("2026-11-22T09:10:00+24:00", None),
        ("0001-01-01T00:00:00+01:00", None),  # before year 1 in UTC
        ("2026-11-22T11:10:00Z", None),  # two hours after submission: no confirmation window
        ("2026-11-21T09:10:00Z", None),  # before submission
        (1764000000, None),
        (None, None),
    ],
)
def test_confirmed_at_is_kept_only_as_a_plausible_normalised_timestamp(
    confirmed_at: object, written: str | None
) -> None:
    """Strict ISO 8601 with offset, within an hour after the signed submitted_at, re-rendered."""
    assert checked_confirmed_at(confirmed_at, SUBMITTED_AT) == written


async def test_relay_supplied_confirmed_at_never_reaches_the_files_raw(
    hostile: HostileRelay, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Bad confirmed_at values: booking written with null and a warning; good ones normalised."""
    # Given items whose unsigned confirmed_at is forged, oversized, malformed or fine
    forged = "2026-11-22T09:10:00Z\r\nX-Forged: yes"
    oversized = "2026-11-22T09:10:00Z" + "\n" * 1_000_000
    bad = {
        hostile.add(hostile.document(), forged): forged,
        hostile.add(hostile.document(), oversized): oversized,
        hostile.add(hostile.document(), {"nested": "object"}): "nested",
    }
    fine = hostile.add(hostile.document(), "2026-11-22T10:10:00+01:00")

    # When the client drains the inbox
    code = await run(config(hostile, tmp_path), once=True)

    # Then every booking is written and acknowledged
    assert code == 0
    assert sorted(hostile.acknowledged) == sorted([*bad, fine])
    out = tmp_path / "out"
    fine_document = json.loads((out / f"{fine}.json").read_text(encoding="utf-8"))
    assert fine_document["confirmed_at"] == "2026-11-22T09:10:00Z"
    for item_id in bad:
        # And the bad values became null, with nothing of them in either file
        document = json.loads((out / f"{item_id}.json").read_text(encoding="utf-8"))
        assert document["confirmed_at"] is None
        calendar = (out / f"{item_id}.ics").read_bytes()
        assert b"X-Forged" not in calendar
        assert b"Best\xc3\xa4tigt" not in calendar  # the ics shows no confirmation time
        (event,) = Calendar.from_ical(calendar).walk("VEVENT")
        assert str(event["UID"]) == f"{item_id}@terminrelay"
    assert all(len(p.read_bytes()) < 4096 for p in out.iterdir())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("no plausible confirmation time" in w for w in warnings) == len(bad)


# Refusals and exit codes -----------------------------------------------------------------


async def test_once_exits_3_with_one_line_per_refused_item(
    hostile: HostileRelay, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Forged signature, other practice, undecryptable: one stderr line each by id, exit 3."""
    # Given a good item and three the client must refuse
    good = hostile.add(hostile.document())
    forged = hostile.add(hostile.document(), signer=SigningKey.generate())
    other_practice = hostile.add(hostile.document(practice="praxis-fremd"))
    hostile.practice_key, ours = KeyPair.generate().public_key, hostile.practice_key
    undecryptable = hostile.add(hostile.document())
    hostile.practice_key = ours

    # When the real command drains the inbox
    code = await asyncio.to_thread(main, argv(hostile, tmp_path))

    # Then the good booking is written and acknowledged, the others neither, and exit is 3
    assert code == 3
    assert hostile.acknowledged == [good]
    assert {p.stem for p in (tmp_path / "out").iterdir()} == {good}
    err = capsys.readouterr().err
    refused = [line for line in err.splitlines() if "REFUSED booking" in line]
    reasons = {
        forged: "signature does not verify",
        other_practice: "another practice",
        undecryptable: "opens with none of the 1 keys",
    }
    assert len(refused) == len(reasons)
    for item_id, reason in reasons.items():
        (line,) = [line for line in refused if item_id in line]
        assert reason in line
    assert "REFUSED 3 item(s)" in err.splitlines()[-1]
    assert "Traceback" not in err
    for name in PATIENT.split():
        assert name not in err


async def test_an_item_id_unfit_for_a_log_line_is_refused_without_being_shown(
    hostile: HostileRelay, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An id with a line break (or megabytes) reaches neither a log line nor a file name."""
    hostile.items.append({"id": "x\nFORGED LOG LINE" * 1000, "sealed": "AAAA"})

    code = await run(config(hostile, tmp_path), once=True)

    assert code == 3
    log_text = "\n".join(r.getMessage() for r in caplog.records)
    assert "FORGED" not in log_text
    assert "malformed id" in log_text
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(
    ("status", "code"), [(401, 2), (503, 4), (404, 1)], ids=["token", "unavailable", "other-4xx"]
)
async def test_exit_codes_follow_the_readme(
    hostile: HostileRelay, tmp_path: Path, caplog: pytest.LogCaptureFixture, status: int, code: int
) -> None:
    """401 -> 2 (token rejected), 5xx -> 4 (unreachable after retries), other 4xx -> 1."""

    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"error": "no"}, status=status)

    hostile.inbox = answer

    assert await run(config(hostile, tmp_path), once=True) == code
    assert len(client_errors(caplog)) == 1
    assert no_traceback(caplog)


async def test_an_output_folder_that_is_a_file_exits_1(
    hostile: HostileRelay, tmp_path: Path
) -> None:
    """A local problem (the output path is a file) is exit 1, before any booking is fetched."""
    (tmp_path / "out").write_text("not a folder")
    hostile.add(hostile.document())

    assert await run(config(hostile, tmp_path), once=True) == 1
    assert hostile.acknowledged == []


# Temp files ------------------------------------------------------------------------------


async def test_stale_temp_files_are_removed_on_start_and_nothing_else(
    hostile: HostileRelay, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Plaintext temps a crash left are deleted at start; other files stay untouched."""
    # Given the leftovers of a write that kill -9 interrupted, beside files not ours
    out = tmp_path / "out"
    out.mkdir()
    stale = [temp_name_for(out / f"{uuid.uuid4()}.{ext}") for ext in ("json", "ics")]
    for path in stale:
        path.write_text(f"{PATIENT}, plaintext", encoding="utf-8")
    foreign = [out / ".terminrelay-tmp.notes", out / "notes.txt", out / ".praxis.tmp"]
    for path in foreign:
        path.write_text("keep me", encoding="utf-8")
    (out / (stale[0].name + "-dir")).mkdir()
    assert all(is_temp_name(p.name) for p in stale)
    assert not any(is_temp_name(p.name) for p in foreign)

    # When the client starts (with nothing to fetch)
    code = await run(config(hostile, tmp_path), once=True)

    # Then the temps are gone, everything else is still there, and the log says so
    assert code == 0
    assert not any(p.exists() for p in stale)
    assert all(p.read_text(encoding="utf-8") == "keep me" for p in foreign)
    assert "removed 2 temporary file(s)" in caplog.text


async def test_a_second_client_on_the_same_folder_exits_1(
    hostile: HostileRelay, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """While one client holds the output folder, another refuses to start (exit 1)."""
    out = tmp_path / "out"
    out.mkdir()
    stale = temp_name_for(out / "x.json")
    stale.write_text("a running writer's temp file", encoding="utf-8")

    with locked_directory(out):
        code = await run(config(hostile, tmp_path), once=True)

    assert code == 1
    assert f"another practice-client is already writing to {out}" in client_errors(caplog)[0]
    assert stale.exists()  # not removed: it may belong to the running client


def test_temp_files_are_private_and_recognisable(tmp_path: Path) -> None:
    """Temp names carry our fixed prefix, the target's name and a random part."""
    first, second = temp_name_for(tmp_path / "a.json"), temp_name_for(tmp_path / "a.json")

    assert first != second
    assert first.parent == tmp_path
    assert is_temp_name(first.name)
    assert first.name.startswith(".terminrelay-tmp.a.json.")
    assert not is_temp_name("a.json")
