"""Rescheduling in one step, end to end over HTTP against a real relay and real Redis: the
patient holds a new time from the picker and moves the booking with one confirmation;
the practice gets one signed, sealed `reschedule` notice; the cancel record moves; a time
taken meanwhile leaves the appointment; lead time, confirmation mode, wishes, cancelled
bookings and a second confirmation."""

from __future__ import annotations

import base64
import html
import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import redis.asyncio as aioredis
from nacl.signing import VerifyKey

from practice_client.relay.envelope import unpad, unseal
from practice_client.relay.keys import load_key_ring
from relay.practice.profile import Slot
from relay.storage.store import held_key, hold_key
from tests.conftest import PracticeHandle, RunningRelay, SmtpSink
from tests.helpers import (
    DOCTORS,
    booking_json,
    profile_json,
    put_profile,
    slot_times,
    submit,
    wait_until,
    wish_booking_json,
)
from tests.test_answers import answer, confirmed_request, free_starts, plain, record
from tests.test_cancellation import book_and_confirm, mail_to

MOVE_LINK = re.compile(r'href="(/x/[A-Za-z0-9._~-]+/move\?m=[A-Za-z0-9_-]+)&amp;lang=([a-z]{2})"')
TYPE = "Erstgespräch"


def slot_id(index: int) -> str:
    start, end = slot_times()[index]
    return Slot(start, end, DOCTORS[0], TYPE).id


def slot_value(index: int) -> str:
    return f"{slot_times()[index][0].isoformat()}|{DOCTORS[0]}"


def move_link(page: str) -> tuple[str, str]:
    """The result page's "choose another time": the path with its sealed parameter."""
    found = MOVE_LINK.search(page)
    assert found, "no move link on the page"
    path = html.unescape(found.group(1))
    return path.split("?")[0].removesuffix("/move"), parse_qs(urlsplit(path).query)["m"][0]


async def hold(
    http: aiohttp.ClientSession, relay: RunningRelay, cancel_path: str, param: str, value: str
) -> aiohttp.ClientResponse:
    async with http.post(
        f"{relay.url}{cancel_path}/move?lang=de",
        data={"slot": value, "m": param},
        allow_redirects=False,
    ) as response:
        await response.read()
        return response


async def confirm(
    http: aiohttp.ClientSession, relay: RunningRelay, cancel_path: str, param: str, slot: str
) -> tuple[int, str, str]:
    """Posts the one confirmation; its status, the redirect and the page it leads to."""
    async with http.post(
        f"{relay.url}{cancel_path}/move/confirm?lang=de",
        data={"slot": slot, "m": param},
        allow_redirects=False,
    ) as response:
        body = await response.text()
        location = response.headers.get("Location", "")
    if response.status != 303:
        return response.status, "", body
    async with http.get(f"{relay.url}{location}") as page:
        return response.status, location, await page.text()


async def notices(
    http: aiohttp.ClientSession, relay: RunningRelay, practice: PracticeHandle
) -> list[dict[str, Any]]:
    """The reschedule notices in the inbox, opened with the practice's private key and
    checked against the relay's signing key."""
    async with http.get(
        f"{relay.url}/api/v1/inbox", params={"wait": "0"}, headers=practice.auth
    ) as response:
        items = (await response.json())["items"]
    keys = load_key_ring(practice.key_file)
    relay_key = VerifyKey(bytes(relay.service.signing_key.verify_key))
    opened = []
    for item in items:
        signed = unpad(unseal(base64.b64decode(item["sealed"]), keys))
        document = json.loads(relay_key.verify(signed))
        if document.get("type") == "reschedule":
            opened.append(document)
    return opened


async def redis_client(relay: RunningRelay) -> aioredis.Redis:
    return aioredis.from_url(relay.settings.redis_url)


async def test_a_booking_moves_in_one_step_with_one_sealed_reschedule_notice(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """Given a booked slot; when the patient chooses another time from the result page's
    link and confirms once, then the practice gets exactly one signed reschedule notice
    of the documented shape, the cancel record names the new slot until its start, the
    old slot is free and the new one taken; a second confirmation changes nothing."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        booking, booking_id, page = await confirmed_request(http, relay, practice, smtp_sink)
        cancel_path, param = move_link(page)

        # The picker opens for the same doctor and type, naming the current appointment.
        async with http.get(f"{relay.url}{cancel_path}/move", params={"m": param}) as shown:
            assert shown.status == 200
            assert shown.headers["Cache-Control"] == "no-store"
            assert "Content-Encoding" not in shown.headers
            text = await shown.text()
        assert "Ihr Termin jetzt" in text
        assert "09:00" in text
        assert f'value="{slot_value(1)}"' in text

        held = await hold(http, relay, cancel_path, param, slot_value(1))
        assert held.status == 303
        assert held.headers["Location"].startswith(f"{cancel_path}/move/confirm?")
        # Held: the picker and the profile no longer offer it, the old one still taken.
        starts = await free_starts(http, relay, practice.slug)
        assert slot_times()[1][0].isoformat() not in starts
        assert slot_times()[0][0].isoformat() not in starts
        async with http.get(f"{relay.url}{held.headers['Location']}") as confirm_page:
            text = await confirm_page.text()
        assert "09:20" in text
        assert "09:00" in text
        assert 'id="move-confirm"' in text

        status, location, done = await confirm(http, relay, cancel_path, param, slot_id(1))
        assert status == 303, done
        assert "/move/done?" in location
        assert "Termin verschoben" in done
        assert "09:20" in done
        assert re.search(r'href="/calendar/[A-Za-z0-9_-]+\.ics"', done)

        (notice,) = await notices(http, relay, practice)
        start, end = slot_times()[1]
        assert set(notice) == {
            "type",
            "id",
            "booking_id",
            "practice",
            "slot",
            "start",
            "end",
            "doctor",
            "appointment_type",
            "status",
            "rescheduled_at",
        }
        assert notice["type"] == "reschedule"
        assert notice["booking_id"] == booking_id
        assert notice["practice"] == practice.slug
        assert notice["slot"] == slot_id(1)
        assert datetime.fromisoformat(notice["start"]) == start
        assert notice["start"].endswith(("+01:00", "+02:00"))
        assert datetime.fromisoformat(notice["end"]) == end
        assert (notice["doctor"], notice["appointment_type"]) == (DOCTORS[0], TYPE)
        assert notice["status"] == "booked"
        assert notice["rescheduled_at"].endswith("Z")
        assert booking["email"] not in json.dumps(notice)

        value, ends = await record(relay, practice.slug, "x")
        assert value == f"{booking_id}:{slot_id(1)}"
        assert ends == int(start.timestamp() * 1000)
        starts = await free_starts(http, relay, practice.slug)
        assert slot_times()[0][0].isoformat() in starts
        assert start.isoformat() not in starts
        client = await redis_client(relay)
        try:
            assert await client.get(hold_key(practice.slug, slot_id(1))) == b"taken"
            assert await client.pexpiretime(hold_key(practice.slug, slot_id(1))) == int(
                end.timestamp() * 1000
            )
            assert not await client.exists(hold_key(practice.slug, slot_id(0)))
            assert not [key async for key in client.scan_iter(f"tr:{{{practice.slug}}}:v:*")]
        finally:
            await client.aclose()

        # Again (a double click, a retry): the same page, no second notice.
        status, _, again = await confirm(http, relay, cancel_path, param, slot_id(1))
        assert status == 303
        assert "09:20" in again
        async with http.get(
            f"{relay.url}/api/v1/inbox", params={"wait": "0"}, headers=practice.auth
        ) as response:
            assert (await response.json())["items"] == []
        body = await relay.metrics_show(b'event="moved"} 1.0')
        assert b'terminrelay_bookings_total{event="moved"} 1.0' in body
        assert b'terminrelay_bookings_total{event="move_hold"} 1.0' in body


async def test_a_time_taken_before_it_was_held_leaves_the_appointment(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """Given the picker shown; when another patient takes the time before it is held, then
    choosing it says so, shows the picker again, and the booking stays where it was."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        _, booking_id, page = await confirmed_request(http, relay, practice, smtp_sink)
        cancel_path, param = move_link(page)
        other = booking_json(start=slot_times()[2][0])
        assert (await submit(http, relay.url, practice.slug, other)).status == 202

        async with http.post(
            f"{relay.url}{cancel_path}/move?lang=de", data={"slot": slot_value(2), "m": param}
        ) as response:
            assert response.status == 409
            text = await response.text()
        assert "Dieser Termin wurde gerade vergeben" in text
        assert 'id="picker"' in text
        assert (await record(relay, practice.slug, "x"))[0] == f"{booking_id}:{slot_id(0)}"
        assert await notices(http, relay, practice) == []


async def test_a_hold_that_ran_out_and_was_taken_leaves_the_appointment(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """Given a held new time whose hold ran out; when another patient takes it and the
    first then confirms, then the booking stays on its old time and the patient is told."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        _, booking_id, page = await confirmed_request(http, relay, practice, smtp_sink)
        cancel_path, param = move_link(page)
        assert (await hold(http, relay, cancel_path, param, slot_value(1))).status == 303
        client = await redis_client(relay)
        try:
            # The hold runs out (as after MOVE_HOLD_SECONDS): the claim and record expire.
            (token_hash,) = [
                key.decode().rsplit(":", 1)[1]
                async for key in client.scan_iter(f"tr:{{{practice.slug}}}:v:*")
            ]
            claim = hold_key(practice.slug, slot_id(1))
            await client.pexpire(claim, 1)
            await client.pexpire(f"tr:{{{practice.slug}}}:v:{token_hash}", 1)
            await client.zrem(held_key(practice.slug), slot_id(1))

            async def expired() -> bool:
                return not await client.exists(claim)

            await wait_until(expired, "the hold to run out")
        finally:
            await client.aclose()
        other = booking_json(start=slot_times()[1][0])
        assert (await submit(http, relay.url, practice.slug, other)).status == 202

        status, _, text = await confirm(http, relay, cancel_path, param, slot_id(1))
        assert status == 409
        assert "09:00" in text
        assert "Dieser Termin wurde gerade vergeben" in text
        assert (await record(relay, practice.slug, "x"))[0] == f"{booking_id}:{slot_id(0)}"
        assert await notices(http, relay, practice) == []


async def test_a_time_the_practice_does_not_publish_is_refused(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """A time inside the practice's lead time is not published, so it cannot be chosen or
    confirmed: nothing is held, the booking stays."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        _, booking_id, page = await confirmed_request(http, relay, practice, smtp_sink)
        cancel_path, param = move_link(page)
        # The client leaves out tomorrow's slots (its lead time): never published.
        soon_start, soon_end = slot_times(days_ahead=1)[0]
        soon = f"{soon_start.isoformat()}|{DOCTORS[0]}"
        assert (await hold(http, relay, cancel_path, param, soon)).status == 409
        # A value that names no time at all is bad input, not a taken time.
        assert (await hold(http, relay, cancel_path, param, "soon|nobody")).status == 422
        assert (await confirm(http, relay, cancel_path, param, ""))[0] == 422
        soon_id = Slot(soon_start, soon_end, DOCTORS[0], TYPE).id
        status, _, _ = await confirm(http, relay, cancel_path, param, soon_id)
        assert status == 409
        assert (await record(relay, practice.slug, "x"))[0] == f"{booking_id}:{slot_id(0)}"
        client = await redis_client(relay)
        try:
            assert not await client.exists(hold_key(practice.slug, soon_id))
        finally:
            await client.aclose()


async def test_a_practice_that_confirms_each_request_gets_the_new_time_as_proposed(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """by_practice: the notice says proposed, the answer record is a request for the new
    slot until its start, the old slot is free, and the practice may accept it."""
    async with aiohttp.ClientSession() as http:
        await put_profile(
            http, relay.url, practice.token, {**profile_json(), "confirmation": "by_practice"}
        )
        booking, booking_id, page = await confirmed_request(http, relay, practice, smtp_sink)
        cancel_path, param = move_link(page)
        assert (await hold(http, relay, cancel_path, param, slot_value(2))).status == 303
        status, _, done = await confirm(http, relay, cancel_path, param, slot_id(2))
        assert status == 303
        assert "Neuer Termin angefragt" in done
        (notice,) = await notices(http, relay, practice)
        assert notice["status"] == "proposed"
        start = slot_times()[2][0]
        value, ends = await record(relay, practice.slug, "a")
        assert value.startswith("proposed:")
        assert ends == int(start.timestamp() * 1000)
        assert slot_times()[0][0].isoformat() in await free_starts(http, relay, practice.slug)
        status, body = await answer(
            http,
            relay,
            practice.token,
            booking_id,
            {"answer": "accept", "email": booking["email"]},
        )
        assert (status, body["status"]) == (200, "booked")
        assert (await record(relay, practice.slug, "x"))[0] == f"{booking_id}:{slot_id(2)}"


async def test_a_wish_and_a_cancelled_booking_cannot_be_moved(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """A requested time has no slot to move from: its page says to cancel and ask anew.
    A cancelled booking's link moves nothing."""
    async with aiohttp.ClientSession() as http:
        # A practice that has published nothing yet takes wishes only.
        wishes = await relay.add_practice("praxis-wunsch")
        wished = slot_times(days_ahead=30)[0][0]
        wish = await book_and_confirm(
            http, relay, wishes, smtp_sink, wish_booking_json(start=wished)
        )
        assert not MOVE_LINK.search(wish.page)
        async with http.get(wish.cancel_url, params={"lang": "en"}) as response:
            text = await response.text()
        assert "cancel the request and send a new one" in text
        assert 'id="choose-another"' not in text
        async with http.get(f"{wish.cancel_url}/move", params={"lang": "en"}) as response:
            assert response.status == 409
            assert "cannot be moved" in await response.text()

        await put_profile(http, relay.url, practice.token, profile_json())
        booked = await book_and_confirm(http, relay, practice, smtp_sink)
        cancel_path, param = move_link(booked.page)
        async with http.post(booked.cancel_url, data={"action": "cancel"}) as response:
            assert response.status == 200
        assert (await hold(http, relay, cancel_path, param, slot_value(1))).status == 409
        status, _, _ = await confirm(http, relay, cancel_path, param, slot_id(1))
        assert status == 409
        assert slot_times()[1][0].isoformat() in await free_starts(http, relay, practice.slug)


async def test_the_cancel_page_names_the_appointment_its_link_carries(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """With the sealed parameter the cancel page names doctor, type and time and offers
    another time; an old link (no parameter) offers the picker unfiltered; a parameter
    from before a move names nothing."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        _, _, page = await confirmed_request(http, relay, practice, smtp_sink)
        cancel_path, param = move_link(page)
        async with http.get(f"{relay.url}{cancel_path}", params={"m": param}) as response:
            text = await response.text()
        assert DOCTORS[0] in text
        assert TYPE in text
        assert "09:00" in text
        assert 'id="choose-another"' in text
        async with http.get(f"{relay.url}{cancel_path}") as response:
            text = await response.text()
        assert DOCTORS[0] not in text
        assert f'href="{cancel_path}/move?lang=de"' in text
        async with http.get(f"{relay.url}{cancel_path}/move") as response:
            assert response.status == 200
            assert "Ihr Termin jetzt" not in await response.text()

        assert (await hold(http, relay, cancel_path, param, slot_value(1))).status == 303
        assert (await confirm(http, relay, cancel_path, param, slot_id(1)))[0] == 303
        async with http.get(f"{relay.url}{cancel_path}", params={"m": param}) as response:
            assert "09:00" not in await response.text()


async def test_the_mails_offer_another_time(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """The "handed to the practice" mail and the practice's acceptance carry a move link
    whose parameter opens the picker naming the appointment."""
    async with aiohttp.ClientSession() as http:
        await put_profile(
            http, relay.url, practice.token, {**profile_json(), "confirmation": "by_practice"}
        )
        booking, booking_id, _ = await confirmed_request(http, relay, practice, smtp_sink)
        handed = plain(await mail_to(smtp_sink, booking["email"], "/move?m="))
        found = re.search(r"(/x/[A-Za-z0-9._~-]+/move\?m=[A-Za-z0-9_-]+)&lang=de", handed)
        assert found
        async with http.get(f"{relay.url}{found.group(1)}") as response:
            text = await response.text()
        assert "09:00" in text
        assert "Ihr Termin jetzt" in text
        status, _ = await answer(
            http,
            relay,
            practice.token,
            booking_id,
            {
                "answer": "accept",
                "email": booking["email"],
                "start": slot_times()[0][0].isoformat(),
                "end": slot_times()[0][1].isoformat(),
            },
        )
        assert status == 200
        accepted = plain(await mail_to(smtp_sink, booking["email"], "hat Ihren Termin bestätigt"))
        assert re.search(r"/x/[A-Za-z0-9._~-]+/move\?m=[A-Za-z0-9_-]+&lang=de", accepted)


async def test_where_times_are_kept_for_an_insurance_the_picker_asks_for_it(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """A practice keeping times for some insurance types: the move picker asks how the
    patient is insured first, shows the fitting times, and refuses a time kept for
    another insurance."""
    profile = profile_json()
    profile["slots"][1]["insurance"] = ["private"]
    profile["slots"][2]["insurance"] = ["statutory"]
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
        _, booking_id, page = await confirmed_request(http, relay, practice, smtp_sink)
        cancel_path, param = move_link(page)
        async with http.get(f"{relay.url}{cancel_path}/move", params={"m": param}) as shown:
            text = await shown.text()
        assert 'name="insurance"' in text
        assert f'value="{slot_value(1)}"' not in text
        async with http.post(
            f"{relay.url}{cancel_path}/move?lang=de",
            data={"nav": "go", "insurance": "statutory", "m": param},
        ) as shown:
            text = await shown.text()
        assert f'value="{slot_value(2)}"' in text
        assert f'value="{slot_value(1)}"' not in text
        async with http.post(
            f"{relay.url}{cancel_path}/move?lang=de&insurance=statutory",
            data={"slot": slot_value(1), "m": param, "insurance": "statutory"},
            allow_redirects=False,
        ) as refused:
            assert refused.status == 409
        assert (await record(relay, practice.slug, "x"))[0] == f"{booking_id}:{slot_id(0)}"
        async with http.post(
            f"{relay.url}{cancel_path}/move?lang=de&insurance=statutory",
            data={"slot": slot_value(2), "m": param, "insurance": "statutory"},
            allow_redirects=False,
        ) as held:
            assert held.status == 303


async def test_move_posts_from_another_site_are_refused(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """Holding and confirming are same-origin posts: another site's form gets 403 and
    nothing is held or moved."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        _, booking_id, page = await confirmed_request(http, relay, practice, smtp_sink)
        cancel_path, param = move_link(page)
        foreign = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
        for path, slot in (("/move", slot_value(1)), ("/move/confirm", slot_id(1))):
            async with http.post(
                f"{relay.url}{cancel_path}{path}",
                data={"slot": slot, "m": param},
                headers=foreign,
                allow_redirects=False,
            ) as response:
                assert response.status == 403
        assert slot_times()[1][0].isoformat() in await free_starts(http, relay, practice.slug)
        assert (await record(relay, practice.slug, "x"))[0] == f"{booking_id}:{slot_id(0)}"
