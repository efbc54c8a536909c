"""The practice answers a confirmed request, end to end over HTTP against a real relay and
real Redis: accept, decline, propose (and the patient's one-click reply), cancel; the
patient's mail in the booking's language; the slot held, freed and taken as each answer
says; what Redis keeps after each answer; refusals."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC
from email.message import EmailMessage
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from practice_client.relay.envelope import unpad, unseal
from practice_client.relay.keys import load_key_ring
from relay.i18n.catalogs import texts
from relay.practice.profile import Slot
from tests.conftest import PracticeHandle, RunningRelay, SmtpSink, link_in
from tests.helpers import DOCTORS, booking_json, profile_json, put_profile, slot_times, submit
from tests.test_cancellation import mail_to

PATIENT_LINK = re.compile(r"(/x/[A-Za-z0-9._~-]+)\?lang=([a-z]{2})")


def answering_profile(**changes: Any) -> dict[str, Any]:
    return {**profile_json(), "confirmation": "by_practice", **changes}


async def confirmed_request(
    http: aiohttp.ClientSession,
    relay: RunningRelay,
    practice: PracticeHandle,
    sink: SmtpSink,
    *,
    lang: str = "de",
    slot: int = 0,
) -> tuple[dict[str, Any], str, str]:
    """Books slot `slot` in `lang` and confirms it: the booking, its id and the result
    page."""
    booking = booking_json(start=slot_times()[slot][0])
    async with http.post(
        f"{relay.url}/api/v1/practices/{practice.slug}/bookings",
        json=booking,
        params={"lang": lang},
    ) as submitted:
        assert submitted.status == 202, await submitted.text()
    link = link_in(await mail_to(sink, booking["email"], "/c/"))
    async with http.post(link, data={"action": "confirm"}) as confirmed:
        assert confirmed.status == 200
        page = await confirmed.text()
    # The id as the practice client learns it: the inbox item's (fetched, so later polls
    # show only what comes after).
    async with http.get(
        f"{relay.url}/api/v1/inbox",
        params={"wait": "0"},
        headers={"Authorization": f"Bearer {practice.token}"},
    ) as inbox:
        (item,) = (await inbox.json())["items"]
    return booking, item["id"], page


async def answer(
    http: aiohttp.ClientSession,
    relay: RunningRelay,
    token: str,
    booking_id: str,
    body: dict[str, Any],
) -> tuple[int, dict[str, Any]]:
    async with http.post(
        f"{relay.url}/api/v1/bookings/{booking_id}/answer",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        return response.status, await response.json()


async def free_starts(http: aiohttp.ClientSession, relay: RunningRelay, slug: str) -> list[str]:
    async with http.get(f"{relay.url}/api/v1/practices/{slug}") as response:
        return [slot["start"] for slot in (await response.json())["slots"]]


async def practice_keys(relay: RunningRelay, slug: str) -> dict[str, str]:
    """Every key of the practice in Redis by its kind (the part after `tr:{slug}:`)."""
    client = aioredis.from_url(relay.settings.redis_url)
    try:
        keys = [key.decode() async for key in client.scan_iter(f"tr:{{{slug}}}:*")]
        return {key: (await client.type(key)).decode() for key in keys}
    finally:
        await client.aclose()


async def record(relay: RunningRelay, slug: str, kind: str) -> tuple[str, int]:
    """The one `x:` or `a:` record of the practice: its value and its end (ms)."""
    client = aioredis.from_url(relay.settings.redis_url)
    try:
        (key,) = [key async for key in client.scan_iter(f"tr:{{{slug}}}:{kind}:*")]
        return (await client.get(key)).decode(), await client.pexpiretime(key)
    finally:
        await client.aclose()


def kinds(keys: dict[str, str], slug: str) -> list[str]:
    prefix = f"tr:{{{slug}}}:"
    return sorted({key.removeprefix(prefix).split(":")[0] for key in keys})


def plain(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


async def answer_mail(sink: SmtpSink, address: str, holding: str) -> EmailMessage:
    return await mail_to(sink, address, holding)


def mails_to(sink: SmtpSink, address: str) -> int:
    return sum(message["To"] == address for message in sink.messages)


async def inbox_notices(
    http: aiohttp.ClientSession, relay: RunningRelay, practice: PracticeHandle
) -> list[dict[str, Any]]:
    """The inbox's items opened with the practice's key, other than bookings."""
    async with http.get(
        f"{relay.url}/api/v1/inbox",
        params={"wait": "0"},
        headers={"Authorization": f"Bearer {practice.token}"},
    ) as response:
        items = (await response.json())["items"]
    keys = load_key_ring(practice.key_file)
    opened = []
    for item in items:
        signed = unpad(unseal(base64.b64decode(item["sealed"]), keys))
        document = json.loads(signed[64:])
        if document.get("type") in ("cancellation", "reply"):
            opened.append(document)
    return opened


async def test_a_request_accepted_by_the_practice_is_mailed_in_the_patients_language(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """Given a practice that confirms each request; when a patient books in Turkish and
    the practice accepts, then the result page said "request", the mail arrives in
    Turkish naming the practice and the time (not the doctor or the type), the slot is
    taken until it ends, and the same answer again changes nothing and mails nothing."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, answering_profile())
        booking, booking_id, page = await confirmed_request(
            http, relay, practice, smtp_sink, lang="tr"
        )
        assert "Appointment booked" not in page
        start = slot_times()[0][0]
        assert start.isoformat() not in await free_starts(http, relay, practice.slug)
        # Held for the answer, not until the slot ends.
        value, _ = await record(relay, practice.slug, "a")
        assert value.startswith("proposed:")

        status, body = await answer(
            http,
            relay,
            practice.token,
            booking_id,
            {
                "answer": "accept",
                "email": booking["email"],
                "lang": "tr",
                "start": start.isoformat(),
                "end": slot_times()[0][1].isoformat(),
            },
        )
        assert (status, body) == (
            200,
            {"booking_id": booking_id, "status": "booked", "changed": True},
        )
        mail = await answer_mail(smtp_sink, booking["email"], "Antwort der Praxis")
        assert mail["Content-Language"] == "tr"
        text = plain(mail)
        turkish = texts("tr").gettext(
            "%(practice)s has confirmed your appointment.", practice="Praxis Dr. Beispiel"
        )
        assert turkish in text
        assert turkish != texts("en").gettext(
            "%(practice)s has confirmed your appointment.", practice="Praxis Dr. Beispiel"
        )
        assert DOCTORS[0] not in text
        assert "Erstgespräch" not in text
        assert booking["first_name"] not in text
        link = PATIENT_LINK.search(text)
        assert link
        assert link.group(2) == "tr"

        value, _ = await record(relay, practice.slug, "a")
        assert value.startswith("booked:")
        before = mails_to(smtp_sink, booking["email"])
        status, body = await answer(
            http, relay, practice.token, booking_id, {"answer": "accept", "email": booking["email"]}
        )
        assert (status, body["changed"]) == (200, False)
        assert mails_to(smtp_sink, booking["email"]) == before
        # What the relay keeps: the cancel and answer records, the slot's claim and the
        # held set; the booking itself went to the inbox, its mails are gone.
        # (Mail jobs, `m:`, end when sent; the last may still be settling.)
        keys = await practice_keys(relay, practice.slug)
        assert set(kinds(keys, practice.slug)) - {"m", "mq"} == {
            "a",
            "arrived",
            "h",
            "held",
            "i",
            "inbox",
            "practice",
            "profile",
            "t",
            "x",
        }


async def test_a_declined_request_frees_its_slot_and_mails_the_fixed_reason(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, answering_profile())
        booking, booking_id, _ = await confirmed_request(http, relay, practice, smtp_sink)
        start = slot_times()[0][0].isoformat()
        assert start not in await free_starts(http, relay, practice.slug)
        status, body = await answer(
            http,
            relay,
            practice.token,
            booking_id,
            {"answer": "decline", "email": booking["email"], "reason": "referral_needed"},
        )
        assert (status, body["status"]) == (200, "declined")
        assert start in await free_starts(http, relay, practice.slug)
        text = plain(await answer_mail(smtp_sink, booking["email"], "Überweisung"))
        assert f"/p/{practice.slug}?lang=de" in text
        # The patient's link says so; a late accept is refused, naming the state.
        status, body = await answer(
            http, relay, practice.token, booking_id, {"answer": "accept", "email": booking["email"]}
        )
        assert (status, body["status"]) == (409, "declined")
        assert (await record(relay, practice.slug, "x"))[0] == "cancelled"
        # No claim is left, nothing but the two records and the inbox's booking.
        keys = await practice_keys(relay, practice.slug)
        assert set(kinds(keys, practice.slug)) - {"m", "mq"} == {
            "a",
            "arrived",
            "i",
            "inbox",
            "practice",
            "profile",
            "t",
            "x",
        }


async def test_a_proposed_time_is_held_and_accepted_by_the_patient_with_one_click(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, answering_profile())
        booking, booking_id, _ = await confirmed_request(http, relay, practice, smtp_sink)
        first, second = slot_times()[0], slot_times()[1]
        status, body = await answer(
            http,
            relay,
            practice.token,
            booking_id,
            {"answer": "propose", "email": booking["email"], "start": second[0].isoformat()},
        )
        assert (status, body["status"], body["held"]) == (200, "pending", True)
        free = await free_starts(http, relay, practice.slug)
        assert first[0].isoformat() in free
        assert second[0].isoformat() not in free
        text = plain(await answer_mail(smtp_sink, booking["email"], "Vorgeschlagener Termin"))
        link = PATIENT_LINK.search(text)
        assert link
        async with http.get(relay.url + link.group(0)) as page:
            assert "schlägt einen anderen Termin vor" in await page.text()
        async with http.post(relay.url + link.group(0), data={"action": "accept"}) as accepted:
            assert accepted.status == 200
            assert "Termin gebucht" in await accepted.text()
        # The practice learns it from a sealed reply in its inbox.
        (notice,) = await inbox_notices(http, relay, practice)
        assert (notice["type"], notice["reply"]) == ("reply", "accept")
        assert notice["booking_id"] == booking_id
        assert notice["start"] == second[0].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        slot_id = Slot(second[0], second[1], DOCTORS[0], "Erstgespräch").id
        value, ends = await record(relay, practice.slug, "x")
        assert value == f"{booking_id}:{slot_id}"
        assert ends == int(second[0].timestamp() * 1000)
        # A second click changes nothing.
        async with http.post(relay.url + link.group(0), data={"action": "accept"}) as again:
            assert "Bereits" in await again.text()


async def test_the_patient_chooses_another_time_instead_and_the_practice_is_told(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, answering_profile())
        booking, booking_id, _ = await confirmed_request(http, relay, practice, smtp_sink)
        second = slot_times()[1][0].isoformat()
        await answer(
            http,
            relay,
            practice.token,
            booking_id,
            {"answer": "propose", "email": booking["email"], "start": second},
        )
        link = PATIENT_LINK.search(
            plain(await answer_mail(smtp_sink, booking["email"], "Vorgeschlagener Termin"))
        )
        assert link
        async with http.post(
            relay.url + link.group(0), data={"action": "choose"}, allow_redirects=False
        ) as chose:
            assert chose.status == 303
            assert chose.headers["Location"] == f"/p/{practice.slug}?lang=de"
        assert second in await free_starts(http, relay, practice.slug)
        (notice,) = await inbox_notices(http, relay, practice)
        assert (notice["type"], notice["reply"]) == ("reply", "decline")


async def test_the_practice_cancels_a_booked_appointment_and_the_patient_is_told(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """A practice that books directly: accept changes nothing, decline is refused, cancel
    frees the slot and mails the patient a link to book again."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        booking, booking_id, page = await confirmed_request(http, relay, practice, smtp_sink)
        assert "Termin gebucht" in page
        start = slot_times()[0][0].isoformat()
        email = booking["email"]
        status, body = await answer(
            http, relay, practice.token, booking_id, {"answer": "accept", "email": email}
        )
        assert (status, body["changed"]) == (200, False)
        status, body = await answer(
            http, relay, practice.token, booking_id, {"answer": "decline", "email": email}
        )
        assert (status, body["status"]) == (409, "booked")
        status, body = await answer(
            http,
            relay,
            practice.token,
            booking_id,
            {"answer": "cancel", "email": email, "reason": "doctor_unavailable", "start": start},
        )
        assert (status, body["status"]) == (200, "cancelled")
        assert start in await free_starts(http, relay, practice.slug)
        text = plain(await answer_mail(smtp_sink, email, "absagen"))
        assert "nicht da" in text
        assert f"/p/{practice.slug}" in text
        cancel_link = re.search(r"/x/[A-Za-z0-9._~-]+", page)
        assert cancel_link
        async with http.get(relay.url + cancel_link.group(0)) as patient_page:
            assert "Die Praxis hat den Termin abgesagt" in await patient_page.text()


async def test_answers_for_another_practice_or_address_find_nothing(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    other = await relay.add_practice("praxis-andere")
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, answering_profile())
        booking, booking_id, _ = await confirmed_request(http, relay, practice, smtp_sink)
        accept = {"answer": "accept", "email": booking["email"]}
        status, _ = await answer(http, relay, other.token, booking_id, accept)
        assert status == 404
        wrong = {**accept, "email": "someone.else@example.org"}
        status, _ = await answer(http, relay, practice.token, booking_id, wrong)
        assert status == 404
        status, _ = await answer(http, relay, "praxis-test.wrong", booking_id, accept)
        assert status == 401
        # Nothing changed: the request still waits for its answer.
        assert (await record(relay, practice.slug, "a"))[0].startswith("proposed:")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"answer": "propose"}, "start"),
        ({"answer": "accept", "reason": "please_call"}, "reason"),
        ({"answer": "decline", "reason": "Ihr Befund ist auffällig"}, "reason"),
        ({"answer": "maybe"}, "answer"),
        ({"answer": "accept", "note": "free text"}, "note"),
        ({"answer": "propose", "start": "2026-13-01T09:00"}, "start"),
    ],
)
async def test_a_malformed_answer_gets_a_message_per_field(
    relay: RunningRelay, practice: PracticeHandle, body: dict[str, Any], field: str
) -> None:
    async with aiohttp.ClientSession() as http:
        status, answered = await answer(
            http,
            relay,
            practice.token,
            "8d3c0000-0000-4000-8000-000000000000",
            {"email": "patient@example.org", **body},
        )
    assert status == 422
    assert field in answered["errors"]


async def test_an_answer_for_an_unknown_booking_is_404(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    async with aiohttp.ClientSession() as http:
        assert (await submit(http, relay.url, practice.slug, booking_json())).status in (202, 422)
        status, body = await answer(
            http,
            relay,
            practice.token,
            "8d3c0000-0000-4000-8000-000000000000",
            {"answer": "cancel", "email": "patient@example.org"},
        )
    assert status == 404
    assert "error" in body


async def run_out_hold(relay: RunningRelay, slug: str, slot_id: str) -> None:
    """What the answer deadline passing does: the slot's claim ends, and the waiting
    requests' `held until` lies in the past."""
    client = aioredis.from_url(relay.settings.redis_url)
    try:
        await client.delete(f"tr:{{{slug}}}:h:{slot_id}")
        await client.zrem(f"tr:{{{slug}}}:held", slot_id)
        async for key in client.scan_iter(f"tr:{{{slug}}}:a:*"):
            status, _held, *rest = (await client.get(key)).decode().split(":")
            if status == "proposed":
                await client.set(key, ":".join([status, "1", *rest]), keepttl=True)
    finally:
        await client.aclose()


async def test_an_answer_after_the_deadline_claims_the_slot_only_if_still_free(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """Past `answer_within_hours` the slot is offered again. Accepting then books it if
    nobody took it; if another patient did, the answer is refused and nothing changes."""
    start, end = slot_times()[0]
    slot_id = Slot(start, end, DOCTORS[0], "Erstgespräch").id
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, answering_profile())
        first, first_id, _ = await confirmed_request(http, relay, practice, smtp_sink)
        await run_out_hold(relay, practice.slug, slot_id)
        assert start.isoformat() in await free_starts(http, relay, practice.slug)
        status, body = await answer(
            http, relay, practice.token, first_id, {"answer": "accept", "email": first["email"]}
        )
        assert (status, body["status"]) == (200, "booked")
        claim = f"tr:{{{practice.slug}}}:h:{slot_id}"
        client = aioredis.from_url(relay.settings.redis_url)
        try:
            assert await client.pexpiretime(claim) == int(end.timestamp() * 1000)
        finally:
            await client.aclose()

        # A second request, for the next slot, whose hold runs out and which another
        # patient then books.
        later_start, later_end = slot_times()[1]
        later_id = Slot(later_start, later_end, DOCTORS[0], "Erstgespräch").id
        second, second_id, _ = await confirmed_request(http, relay, practice, smtp_sink, slot=1)
        await run_out_hold(relay, practice.slug, later_id)
        other, _, _ = await confirmed_request(http, relay, practice, smtp_sink, slot=1)
        status, body = await answer(
            http, relay, practice.token, second_id, {"answer": "accept", "email": second["email"]}
        )
        assert (status, body["status"]) == (409, "proposed")
        assert later_start.isoformat() not in await free_starts(http, relay, practice.slug)
        assert other["email"] != second["email"]
