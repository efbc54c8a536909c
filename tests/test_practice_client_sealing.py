"""The profile's `sealing` (docs/protocol.md, "Sealed in the browser"): "either" unless the
rules file says otherwise, what `publish` sends, and the way back for a relay before
protocol 2; and rejected bookings still block their time."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from practice_client.__main__ import main
from practice_client.calendar.opening_hours import RulesError, parse_rules
from practice_client.calendar.slots import SlotSource, build_profile
from relay.dev import free_port
from tests.test_slots import NOW, RULES, offered, write

TOKEN = "praxis-test." + "A" * 43


@pytest.mark.parametrize(("line", "sealing"), [("", "either"), ('sealing = "browser"', "browser"),
                                               ('sealing = "relay"', "relay")])  # fmt: skip
def test_the_profile_says_either_unless_the_rules_say_otherwise(
    tmp_path: Path, line: str, sealing: str
) -> None:
    """The client opens both kinds, so it offers both by default."""
    rules = write(tmp_path, "r.toml", f"{line}\n{RULES}")

    assert build_profile(SlotSource(rules), NOW).profile["sealing"] == sealing


@pytest.mark.parametrize("value", ['"browser-only"', "true", '["either"]'])
def test_an_unknown_sealing_is_refused_naming_the_setting_and_its_line(value: str) -> None:
    """One problem line with the key, the line and the choices."""
    with pytest.raises(RulesError) as refused:
        parse_rules(f"sealing = {value}\n{RULES}", source="hours.toml")

    assert refused.value.problems == (
        'hours.toml, line 1: sealing: must be one of "either", "browser", "relay"',
    )


@dataclass
class ProfileSink:
    """Takes PUT /api/v1/profile like a relay, keeping each body as sent; refuses
    `sealing` with a 422 while `knows_sealing` is False, as relays before protocol 2 do."""

    url: str
    knows_sealing: bool = True
    bodies: list[dict[str, Any]] = field(default_factory=list)

    async def put(self, request: web.Request) -> web.Response:
        raw = await request.read()  # aiohttp takes Content-Encoding: gzip off already
        body = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
        self.bodies.append(body)
        errors = {}
        if "sealing" in body and not self.knows_sealing:
            errors["sealing"] = "unknown field"
        if body.get("details", {}).get("phone") == "bad":
            errors["details.phone"] = "not a phone number"
        if errors:
            return web.json_response({"errors": errors}, status=422)
        summary = {"version": len(self.bodies), "name": body["name"], "slots": len(body["slots"])}
        return web.json_response({**summary, "time_zone": body["time_zone"], "doctors": 2})


@pytest.fixture
async def sink() -> AsyncIterator[ProfileSink]:
    port = free_port()
    served = ProfileSink(f"http://127.0.0.1:{port}")
    app = web.Application()
    app.router.add_put("/api/v1/profile", served.put)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield served
    await runner.cleanup()


def publish(sink: ProfileSink, rules: Path) -> int:
    return main(["publish", "--rules", str(rules), "--relay", sink.url, "--token", TOKEN])


async def test_publish_sends_the_sealing_of_the_rules(sink: ProfileSink, tmp_path: Path) -> None:
    """What the client sends, whatever the relay stores: `"sealing": "either"` by default."""
    rules = write(tmp_path, "r.toml", RULES)

    assert await asyncio.to_thread(publish, sink, rules) == 0

    (body,) = sink.bodies
    assert body["sealing"] == "either"


async def test_either_is_sent_again_without_it_to_a_relay_before_protocol_2(
    sink: ProfileSink, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Such a relay refuses the key (422); "either" allows relay sealing, all it can do, so
    the profile goes again without `sealing`, with a warning saying so."""
    sink.knows_sealing = False
    rules = write(tmp_path, "r.toml", RULES)

    assert await asyncio.to_thread(publish, sink, rules) == 0

    first, second = sink.bodies
    assert first["sealing"] == "either"
    assert "sealing" not in second
    assert {k: v for k, v in first.items() if k != "sealing"} == second
    assert any("does not know browser sealing yet" in r.getMessage() for r in caplog.records)


async def test_browser_only_is_never_sent_without_it(
    sink: ProfileSink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A practice that asked never to be relay-sealed gets the refusal, not a downgrade."""
    sink.knows_sealing = False
    rules = write(tmp_path, "r.toml", f'sealing = "browser"\n{RULES}')

    assert await asyncio.to_thread(publish, sink, rules) == 1

    (body,) = sink.bodies
    assert body["sealing"] == "browser"
    assert "sealing: refused by the relay: unknown field" in capsys.readouterr().out


async def test_other_problems_are_named_once_the_sealing_is_left_out(
    sink: ProfileSink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 422 naming `sealing` beside a real problem: the second answer names only that."""
    sink.knows_sealing = False
    rules = write(tmp_path, "r.toml", f'{RULES}\n[details]\nphone = "bad"\n')

    assert await asyncio.to_thread(publish, sink, rules) == 1

    assert len(sink.bodies) == 2
    out = capsys.readouterr().out
    assert "details.phone: refused by the relay: not a phone number" in out
    assert "sealing" not in out


def test_a_rejected_booking_blocks_its_time_like_a_booking(tmp_path: Path) -> None:
    """{id}.rejected.json holds the envelope's time and doctor: the practice calls the
    patient back about that slot, so it is not offered again."""
    out = tmp_path / "out"
    out.mkdir()
    record = {
        "id": "b1",
        "status": "rejected",
        "start": "2026-03-23T08:20:00+01:00",
        "end": "2026-03-23T08:40:00+01:00",
        "doctor": "Dr. A. Beispiel",
    }
    write(out, "b1.rejected.json", json.dumps(record))

    built = build_profile(SlotSource(write(tmp_path, "r.toml", RULES), None, out), NOW)

    assert "2026-03-23T08:20:00+01:00" not in offered(built.profile)["Dr. A. Beispiel"]
    assert built.booked_removed == 1
