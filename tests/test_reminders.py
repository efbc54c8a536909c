"""Reminders the practice's client asks for, end to end over HTTP against a real relay,
real Redis and a real SMTP server: the mail (language, practice, time, address, cancel
link, one-click opt-out; no doctor, no type, no name), sent once however often asked,
refused for a booking that is not booked or whose patient opted out; a queued reminder
deleted by cancelling and by opting out; and every record of a booking gone when its
appointment starts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from relay.i18n.catalogs import texts
from tests.conftest import PracticeHandle, RelayFactory, RunningRelay, SmtpSink, link_in
from tests.helpers import (
    BERLIN,
    DOCTORS,
    booking_json,
    profile_json,
    put_profile,
    slot_times,
    wait_until_async,
)
from tests.test_answers import answering_profile, confirmed_request, mails_to, plain
from tests.test_cancellation import mail_to

STOP_LINK = re.compile(r"https?://[^\s]+/x/[A-Za-z0-9._~-]+/reminders\?lang=[a-z]{2}")
ADDRESS = ["Hauptstraße 5", "10115 Berlin"]


def reminding_profile(**changes: Any) -> dict[str, Any]:
    return {
        **profile_json(),
        "details": {"address": ADDRESS, "phone": "030 1234567"},
        **changes,
    }


async def remind(
    http: aiohttp.ClientSession,
    relay: RunningRelay,
    practice: PracticeHandle,
    booking_id: str,
    body: dict[str, Any],
) -> tuple[int, dict[str, Any]]:
    async with http.post(
        f"{relay.url}/api/v1/bookings/{booking_id}/remind", json=body, headers=practice.auth
    ) as response:
        return response.status, await response.json()


def reminder_body(booking: dict[str, Any], slot: int = 0, **changes: Any) -> dict[str, Any]:
    start, end = slot_times()[slot]
    return {
        "email": booking["email"],
        "lang": "de",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "number": 1,
        "doctor": DOCTORS[0],
        "appointment_type": "Erstgespräch",
        **changes,
    }


async def keys_of(relay: RunningRelay, slug: str, *kinds: str) -> dict[str, int]:
    """The practice's keys of these kinds (`x`, `r`, ...) with their end (ms); EXISTS
    first, so that keys past their end are expired rather than listed."""
    client = aioredis.from_url(relay.settings.redis_url)
    try:
        found = {}
        for kind in kinds:
            async for key in client.scan_iter(f"tr:{{{slug}}}:{kind}:*"):
                if await client.exists(key):
                    found[key.decode()] = await client.pexpiretime(key)
        return found
    finally:
        await client.aclose()


async def test_a_reminder_names_practice_time_and_address_and_is_sent_once(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """Given a booked appointment; when the practice's client asks for reminder 1 twice
    (a retry after a lost answer), then one mail arrives in the patient's language with
    the practice, the date and time, the address, the cancel link and the opt-out (also
    as RFC 8058 headers), and nothing of the doctor, the type or the patient; the
    relay's mark of it ends when the appointment starts."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, reminding_profile())
        booking, booking_id, _ = await confirmed_request(
            http, relay, practice, smtp_sink, lang="tr"
        )
        body = reminder_body(booking, lang="tr")
        assert await remind(http, relay, practice, booking_id, body) == (
            200,
            {"booking_id": booking_id, "status": "queued"},
        )
        mail = await mail_to(smtp_sink, booking["email"], "Erinnerung")
        assert await remind(http, relay, practice, booking_id, body) == (
            200,
            {"booking_id": booking_id, "status": "already"},
        )
        # Another start than the appointment's (one the patient moved away from): refused.
        status, moved = await remind(http, relay, practice, booking_id, reminder_body(booking, 1))
        assert (status, moved["status"]) == (409, "moved")
        text = plain(mail)
        assert mail["Content-Language"] == "tr"
        assert texts("tr").gettext("Address:") in text
        assert texts("tr").gettext("Address:") != "Address:"
        assert all(line in text for line in ADDRESS)
        assert "Praxis Dr. Beispiel" in text
        assert "09:00–09:20" in text
        stop = STOP_LINK.search(text)
        assert stop is not None
        # The cancel link, the opt-out's without its last step.
        cancel = stop[0].replace("/reminders?", "?")
        assert cancel in text.replace(stop[0], "")
        assert mail["List-Unsubscribe"] == f"<{stop[0]}>"
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        for secret in (DOCTORS[0], "Erstgespräch", booking["first_name"], booking["last_name"]):
            assert secret not in mail.as_string()
        # "Choose another time" opens the picker for this appointment, named there.
        move = re.search(r"https?://\S+/x/[A-Za-z0-9._~-]+/move\?m=[A-Za-z0-9_-]+&lang=tr", text)
        assert move is not None
        async with http.get(move[0]) as picker:
            assert picker.status == 200
            assert DOCTORS[0] in await picker.text()
        # Once the relay settled it, no second mail was queued for the second request.
        await wait_until_async(
            lambda: _no_keys(relay, practice.slug, "m"), "the reminder's job settled"
        )
        assert mails_to(smtp_sink, booking["email"]) == 3  # confirm, booked, one reminder
        (end,) = (await keys_of(relay, practice.slug, "r")).values()
        assert end == int(slot_times()[0][0].timestamp() * 1000)


async def _no_keys(relay: RunningRelay, slug: str, kind: str) -> bool:
    return not await keys_of(relay, slug, kind)


async def test_a_reminder_is_refused_for_what_is_not_a_booked_appointment(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, answering_profile())
        booking, booking_id, _ = await confirmed_request(http, relay, practice, smtp_sink)
        # A request the practice has not answered yet is not an appointment.
        status, body = await remind(http, relay, practice, booking_id, reminder_body(booking))
        assert (status, body["status"]) == (409, "proposed")
        # Another address, another id: no such booking.
        wrong = reminder_body(booking, email="someone@example.org")
        assert (await remind(http, relay, practice, booking_id, wrong))[0] == 404
        assert (await remind(http, relay, practice, "no-such-id", reminder_body(booking)))[0] == 404
        # Member by member.
        past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        status, body = await remind(
            http, relay, practice, booking_id, reminder_body(booking, end=past, number=3)
        )
        assert (status, set(body["errors"])) == (422, {"end", "number"})
        status, body = await remind(
            http, relay, practice, booking_id, reminder_body(booking, start=past, end=None)
        )
        assert (status, set(body["errors"])) == (422, {"start"})
        status, body = await remind(
            http, relay, practice, booking_id, {**reminder_body(booking), "slot": "x"}
        )
        assert (status, set(body["errors"])) == (422, {"slot"})
        # Without the practice's token: 401.
        async with http.post(
            f"{relay.url}/api/v1/bookings/{booking_id}/remind", json=reminder_body(booking)
        ) as response:
            assert response.status == 401
    assert mails_to(smtp_sink, booking["email"]) == 2


async def test_opting_out_and_cancelling_delete_a_queued_reminder(
    relay_factory: RelayFactory, smtp_sink: SmtpSink
) -> None:
    """Given reminders queued while no mail worker runs; when the patient opts out with
    one click (as a mail program posts it) or cancels, then the queued reminder is gone
    at once, and the practice's next request is refused."""
    first = await relay_factory()
    practice = await first.add_practice()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, first.url, practice.token, reminding_profile())
        booked = [
            await confirmed_request(http, first, practice, smtp_sink, slot=slot) for slot in (0, 1)
        ]
        await wait_until_async(lambda: _no_keys(first, practice.slug, "m"), "mails sent")
        await first.stop()
        # The same relay, its mail worker elsewhere (and not running): jobs stay queued.
        relay = await relay_factory(
            signing_key=first.settings.signing_key,
            data_keys=first.settings.data_keys,
            mail_worker="off",
        )
        for slot, (booking, booking_id, _) in enumerate(booked):
            status, _ = await remind(
                http, relay, practice, booking_id, reminder_body(booking, slot)
            )
            assert status == 200
        assert len(await keys_of(relay, practice.slug, "m")) == 2

        (booking, booking_id, page) = booked[0]
        link = re.search(r'href="(/x/[^"?/]+)[?"]', page)
        assert link is not None
        stop = f"{relay.url}{link[1]}/reminders"
        # Opening the link changes nothing (mail scanners prefetch links) ...
        async with http.get(stop) as opened:
            assert opened.status == 200
            assert "List-Unsubscribe" in await opened.text()
        assert len(await keys_of(relay, practice.slug, "m")) == 2
        # ... the one-click post stops the reminders.
        async with http.post(stop, data={"List-Unsubscribe": "One-Click"}) as stopped:
            assert stopped.status == 200
        assert [key.rsplit(":", 1)[1] for key in await keys_of(relay, practice.slug, "m")] == [
            f"{booked[1][1]}.r1"
        ]
        status, body = await remind(
            http, relay, practice, booking_id, reminder_body(booking, 0, number=2)
        )
        assert (status, body["status"]) == (409, "opted_out")
        async with http.get(stop) as again:
            assert texts("de").gettext("No more reminders") in await again.text()

        # The second patient cancels: its queued reminder goes too.
        (booking, booking_id, page) = booked[1]
        link = re.search(r'href="(/x/[^"?/]+)[?"]', page)
        assert link is not None
        async with http.post(f"{relay.url}{link[1]}", data={"action": "cancel"}) as cancelled:
            assert cancelled.status == 200
        assert await keys_of(relay, practice.slug, "m") == {}
        status, body = await remind(http, relay, practice, booking_id, reminder_body(booking, 1))
        assert (status, body["status"]) == (409, "withdrawn")


async def test_nothing_of_a_booking_outlasts_its_appointment(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """Given a booked appointment a few seconds ahead, with a reminder sent, the patient
    opted out and holding another time to move to; then its cancel record, move record,
    reminder mark and opt-out exist until the appointment starts, and none of them (nor
    an answer record) after."""
    start = (datetime.now(BERLIN) + timedelta(seconds=6)).replace(microsecond=0)
    end = start + timedelta(minutes=20)
    later = start + timedelta(hours=2)
    profile = reminding_profile(
        slots=[
            {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "doctor": DOCTORS[0],
                "appointment_type": "Erstgespräch",
            },
            {
                "start": later.isoformat(),
                "end": (later + timedelta(minutes=20)).isoformat(),
                "doctor": DOCTORS[0],
                "appointment_type": "Erstgespräch",
            },
        ]
    )
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
        booking, booking_id, page = await _confirmed_at(http, relay, practice, smtp_sink, start)
        body = {"email": booking["email"], "start": start.isoformat(), "end": end.isoformat()}
        assert (await remind(http, relay, practice, booking_id, body))[0] == 200
        link = re.search(r'href="(/x/[^"?/]+)[?"]', page)
        assert link is not None
        async with http.post(f"{relay.url}{link[1]}/reminders", data={}) as stopped:
            assert stopped.status == 200
        # The patient holds a later time to move to, and does not confirm the move.
        async with http.post(
            f"{relay.url}{link[1]}/move", data={"slot": f"{later.isoformat()}|{DOCTORS[0]}"}
        ) as held:
            assert held.status == 200
        kept = await keys_of(relay, practice.slug, "x", "a", "r", "o", "v")
        assert {key.split(":")[2] for key in kept} == {"x", "r", "o", "v"}
        start_ms = int(start.timestamp() * 1000)
        assert set(kept.values()) == {start_ms}
        await wait_until_async(
            lambda: _no_booking_keys(relay, practice.slug), "the booking's records gone", seconds=20
        )


async def _no_booking_keys(relay: RunningRelay, slug: str) -> bool:
    return not await keys_of(relay, slug, "x", "a", "r", "o", "v")


async def _confirmed_at(
    http: aiohttp.ClientSession,
    relay: RunningRelay,
    practice: PracticeHandle,
    sink: SmtpSink,
    start: datetime,
) -> tuple[dict[str, Any], str, str]:
    booking = booking_json(start=start)
    async with http.post(
        f"{relay.url}/api/v1/practices/{practice.slug}/bookings", json=booking
    ) as submitted:
        assert submitted.status == 202, await submitted.text()
    link = link_in(await mail_to(sink, booking["email"], "/c/"))
    async with http.post(link, data={"action": "confirm"}) as confirmed:
        page = await confirmed.text()
    async with http.get(
        f"{relay.url}/api/v1/inbox", params={"wait": "0"}, headers=practice.auth
    ) as inbox:
        (item,) = (await inbox.json())["items"]
    return booking, item["id"], page
