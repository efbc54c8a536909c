"""Protocol 2 over the JSON API: a browser-sealed booking goes through the real relay to the
inbox, with the relay's envelope beside the blob; hostile submissions store nothing."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from nacl.public import Box, PublicKey, SealedBox
from nacl.signing import VerifyKey

from practice_client.runner import ExitCode, RunConfig, run
from relay.crypto.sealing import key_id
from tests.conftest import (
    PracticeHandle,
    RedisServer,
    RelayFactory,
    RunningRelay,
    SmtpSink,
    link_in,
)
from tests.helpers import booking_json, profile_json, put_profile, submit, wait_until_async
from tests.sealed import INNER_ONLY, seal, sealed_body, ticket
from tests.test_booking_life import redis_snapshot


def sealed_profile(sealing: str = "either", **changes: Any) -> dict[str, Any]:
    return {**profile_json(**changes), "sealing": sealing}


async def public_slots(http: aiohttp.ClientSession, relay: RunningRelay, slug: str) -> list[Any]:
    async with http.get(f"{relay.url}/api/v1/practices/{slug}") as response:
        body = await response.json()
    assert body["key_id"] == key_id(base64.b64decode(body["public_key"]))
    slots: list[Any] = body["slots"]
    return slots


def open_envelope(item: dict[str, Any], practice: PracticeHandle, relay: RunningRelay) -> Any:
    """A NaCl box from the relay's ephemeral key (its first 32 bytes), nonce first."""
    sealed = base64.b64decode(item["sealed"])
    padded = Box(practice.private_key, PublicKey(sealed[:32])).decrypt(sealed[32:])
    length = int.from_bytes(padded[:4], "big")
    relay_key = VerifyKey(bytes(relay.service.signing_key.verify_key))
    return json.loads(relay_key.verify(padded[4 : 4 + length]))


async def test_browser_sealed_slot_booking_reaches_the_inbox_bound_to_its_envelope(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink, redis_server: RedisServer
) -> None:
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, sealed_profile())
        slot = (await public_slots(http, relay, practice.slug))[0]
        body, inner = await sealed_body(http, relay.url, practice.slug, slot=slot)
        response = await submit(http, relay.url, practice.slug, body)
        assert response.status == 202, await response.text()

        # Nothing the patient typed is in Redis or the mail, in any form.
        client = redis_server.client()
        stored = b"".join(client.dump(key) or b"" for key in client.scan_iter(count=1000))
        (message,) = await smtp_sink.wait_for(1)
        for name in ("first_name", "last_name", "phone", "note"):
            assert inner[name].encode() not in stored
            assert inner[name] not in message.as_string()
        assert inner["birth_date"].encode() not in stored

        # The confirmation page shows the slot's public data.
        link = link_in(message)
        async with http.get(link) as page:
            html = await page.text()
        assert slot["doctor"] in html
        async with http.post(
            link, data={"action": "confirm"}, headers={"Origin": relay.url}
        ) as done:
            assert done.status == 200, await done.text()

        async with http.get(f"{relay.url}/api/v1/inbox?wait=5", headers=practice.auth) as inbox:
            (item,) = (await inbox.json())["items"]
    blob = base64.b64decode(item["blob"])
    envelope = open_envelope(item, practice, relay)
    assert envelope["type"] == "envelope"
    assert envelope["protocol"] == 2
    assert envelope["id"] == item["id"] == inner["id"]
    assert envelope["blob_sha256"] == hashlib.sha256(blob).hexdigest()
    assert envelope["blob_length"] == len(blob)
    assert envelope["slot"] == inner["slot"]
    assert envelope["doctor"] == slot["doctor"]
    assert envelope["email"] == inner["email"]
    # The practice's basis (the default, the contract), signed; whether the patient asked
    # for reminders only the blob says.
    assert envelope["legal_basis"] == "contract"
    assert "reminder" not in envelope
    assert not set(INNER_ONLY) - {"doctor", "appointment_type"} & set(envelope)
    opened = SealedBox(practice.private_key).decrypt(blob)
    length = int.from_bytes(opened[:4], "big")
    assert json.loads(opened[4 : 4 + length]) == inner
    client.close()


async def test_browser_sealed_wish_names_only_its_time_frame(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, sealed_profile())
        slot = (await public_slots(http, relay, practice.slug))[-1]
        body, _ = await sealed_body(
            http, relay.url, practice.slug, wish=(slot["end"], None), doctor="Dr. B. Muster"
        )
        response = await submit(http, relay.url, practice.slug, body)
        assert response.status == 202, await response.text()
        (message,) = await smtp_sink.wait_for(1)
        async with http.get(link_in(message)) as page:
            html = await page.text()
    # The relay never learnt the doctor the patient chose for the wish.
    assert "Dr. B. Muster" not in html


def without_flood(snapshot: dict[bytes, object]) -> dict[bytes, object]:
    return {
        k: v
        for k, v in snapshot.items()
        if not k.startswith((b"tr:{limits}:f:", b"tr:{limits}:fp:"))
    }


async def refused(
    http: aiohttp.ClientSession, relay: RunningRelay, slug: str, body: dict[str, Any]
) -> dict[str, str]:
    response = await submit(http, relay.url, slug, body)
    assert response.status == 422, await response.text()
    errors: dict[str, str] = (await response.json())["errors"]
    assert all(isinstance(message, str) and message for message in errors.values())
    return errors


async def test_hostile_browser_sealed_submissions_are_refused_and_store_nothing(
    relay: RunningRelay, practice: PracticeHandle, redis_server: RedisServer, smtp_sink: SmtpSink
) -> None:
    other = await relay.add_practice("praxis-andere", "Praxis Andere")
    client = redis_server.client()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, sealed_profile())
        await put_profile(http, relay.url, other.token, sealed_profile())
        first, second = (await public_slots(http, relay, practice.slug))[:2]
        body, first_inner = await sealed_body(http, relay.url, practice.slug, slot=first)
        assert (await submit(http, relay.url, practice.slug, body)).status == 202
        await smtp_sink.wait_for(1)

        async def mail_done() -> bool:
            return not client.keys(f"tr:{{{practice.slug}}}:m:*")

        await wait_until_async(mail_done, "the mail job done")
        before = redis_snapshot(client)

        # The same ticket again, with a blob sealed anew, for another slot: used.
        again = {
            **body,
            "sealed": seal(practice.public_key_b64, first_inner),
            "slot": f"{second['start']}|{second['doctor']}",
        }
        assert set(await refused(http, relay, practice.slug, again)) == {"ticket"}
        # The same blob as the stored booking's, with its own ticket again.
        again = {**body, "slot": f"{second['start']}|{second['doctor']}"}

        # The same blob with a fresh ticket on another slot, and at another practice.
        fresh = await ticket(http, relay.url, practice.slug)
        replay = {**again, "ticket": fresh["ticket"]}
        assert set(await refused(http, relay, practice.slug, replay)) == {"sealed"}
        elsewhere = await ticket(http, relay.url, other.slug)
        other_slot = (await public_slots(http, relay, other.slug))[1]
        replay_elsewhere = {
            **body,
            "ticket": elsewhere["ticket"],
            "key_id": elsewhere["key_id"],
            "slot": f"{other_slot['start']}|{other_slot['doctor']}",
        }
        assert set(await refused(http, relay, other.slug, replay_elsewhere)) == {"sealed"}

        # Another practice's ticket is not this practice's.
        crossed = {**(await sealed_body(http, relay.url, practice.slug, slot=second))[0]}
        crossed["ticket"] = (await ticket(http, relay.url, other.slug))["ticket"]
        assert set(await refused(http, relay, practice.slug, crossed)) == {"ticket"}

        fresh_body, inner = await sealed_body(http, relay.url, practice.slug, slot=second)
        blob = base64.b64decode(fresh_body["sealed"])
        cases: dict[str, dict[str, Any]] = {
            "key_id": {**fresh_body, "key_id": "0" * 16},
            "sealed": {**fresh_body, "sealed": base64.b64encode(blob[:-1]).decode()},
            "tampered ticket": {**fresh_body, "ticket": fresh_body["ticket"][:-2] + "AA"},
            "oversized": {
                **fresh_body,
                "sealed": base64.b64encode(blob + bytes(8192)).decode(),
            },
            "first_name": {**fresh_body, "first_name": inner["first_name"]},
            "note": {**fresh_body, "note": inner["note"]},
            "doctor": {**fresh_body, "doctor": inner["doctor"]},
        }
        expected = {
            "key_id": {"key_id"},
            "sealed": {"sealed"},
            "tampered ticket": {"ticket"},
            "oversized": {"sealed"},
            "first_name": {"first_name"},
            "note": {"note"},
            "doctor": {"doctor"},
        }
        for name, case in cases.items():
            assert set(await refused(http, relay, practice.slug, case)) == expected[name], name
        # The flood counters count every admitted attempt (load, refused or not); nothing
        # else changed.
        assert without_flood(redis_snapshot(client)) == without_flood(before)
        # And the untouched submission still goes through: nothing above used it up.
        assert (await submit(http, relay.url, practice.slug, fresh_body)).status == 202
    client.close()


@pytest.mark.parametrize(
    ("sealing", "browser_status", "relay_status"),
    [("relay", 422, 202), ("either", 202, 202), ("browser", 202, 422)],
)
async def test_a_practice_s_sealing_decides_which_paths_it_takes(
    relay_factory: RelayFactory, sealing: str, browser_status: int, relay_status: int
) -> None:
    relay = await relay_factory()
    practice = await relay.add_practice()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, sealed_profile(sealing))
        first, second = (await public_slots(http, relay, practice.slug))[:2]
        body, _ = await sealed_body(http, relay.url, practice.slug, slot=first)
        response = await submit(http, relay.url, practice.slug, body)
        assert response.status == browser_status, await response.text()
        if browser_status == 422:
            assert set((await response.json())["errors"]) == {"sealed"}
        plain = booking_json()
        plain.update(start=second["start"], doctor=second["doctor"])
        response = await submit(http, relay.url, practice.slug, plain)
        assert response.status == relay_status, await response.text()
        if relay_status == 422:
            assert set((await response.json())["errors"]) == {"sealed"}


async def test_an_inner_document_contradicting_its_envelope_is_rejected_by_the_client(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """The relay cannot see inside the blob: a blob naming another address than the clear
    one passes it. The practice client catches the contradiction, writes what the signed
    envelope says as {id}.rejected.json (nothing of the blob), and `--once` exits 3."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, sealed_profile())
        slot = (await public_slots(http, relay, practice.slug))[0]
        body, inner = await sealed_body(http, relay.url, practice.slug, slot=slot)
        lying = {**inner, "email": "someone.else@example.org"}
        body["sealed"] = seal(practice.public_key_b64, lying)
        assert (await submit(http, relay.url, practice.slug, body)).status == 202
        (message,) = await smtp_sink.wait_for(1)
        confirming = http.post(
            link_in(message), data={"action": "confirm"}, headers={"Origin": relay.url}
        )
        async with confirming as done:
            assert done.status == 200
    out_dir = tmp_path / "out"
    code = await run(
        RunConfig(relay.url, practice.token, practice.key_file, out_dir, wait=0), once=True
    )
    assert code == ExitCode.REJECTED
    rejected = json.loads((out_dir / f"{inner['id']}.rejected.json").read_text())
    assert rejected["status"] == "rejected"
    assert rejected["email"] == body["email"]
    assert "e-mail address" in rejected["reason"]
    assert inner["first_name"] not in json.dumps(rejected)
    assert not (out_dir / f"{inner['id']}.json").exists()
    # Acknowledged: it cannot become readable by waiting.
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{relay.url}/api/v1/inbox?wait=0", headers=practice.auth) as inbox,
    ):
        assert (await inbox.json())["items"] == []
