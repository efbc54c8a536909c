"""A pending booking in Redis: one compact string read by the scripts, through submit,
view, confirm and withdraw, retried, and in the layouts of earlier relays; its mail job,
one string too; what confirming also writes (cancel record, second mail)."""

from __future__ import annotations

import dataclasses
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from redis.asyncio import Redis

from relay.crypto.sealing import DataCipher
from relay.errors import SlotTaken, TokenGone
from relay.mail.jobs import cancel_link_context, open_job, summary_context
from relay.storage.store import (
    AfterConfirm,
    Confirmed,
    MailJob,
    MailSettlement,
    NewBooking,
    Store,
    StoredBooking,
    booking_key,
    cancel_key,
    hold_key,
    mail_job_key,
    mail_queue_key,
    pack_booking,
    pending_key,
    token_key,
    unpack_booking,
)
from tests.legacy import OLD_SUBMIT

PRACTICE = "praxis-store"
TTL = 600


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Store]:
    """A store on the flushed test database with one registered practice."""
    client = Redis.from_url(redis_url)
    store = Store(client)
    await store.add_practice(
        PRACTICE,
        name="Praxis Store",
        public_key=secrets.token_bytes(32),
        token_hash=secrets.token_hex(32),
        created_at="2026-11-22T09:00:00Z",
        profile=b"{}",
    )
    yield store
    await client.aclose()


def now_ms() -> int:
    return int(time.time() * 1000)


def new_booking(*, slot: bool = True) -> tuple[str, StoredBooking]:
    """A token hash and a booking with random opaque bytes of realistic sizes."""
    booking = StoredBooking(
        booking_id=str(uuid.uuid4()),
        slot_id=secrets.token_hex(8) if slot else "",
        slot_end_ms=now_ms() + 86_400_000 if slot else 0,
        summary=secrets.token_bytes(250),
        sealed=secrets.token_bytes(944),
        slot_start_ms=now_ms() + 86_400_000 - 1_200_000 if slot else 0,
    )
    return secrets.token_hex(32), booking


async def submit(store: Store, token_hash: str, booking: StoredBooking) -> None:
    await store.submit(
        PRACTICE,
        NewBooking(
            booking.booking_id,
            sealed=booking.sealed,
            summary=booking.summary,
            token_hash=token_hash,
            mail_job=b"job",
            ttl=TTL,
            now_ms=now_ms(),
            profile_version=(await store.practice(PRACTICE)).profile_version,
            slot_id=booking.slot_id or None,
            slot_start_ms=booking.slot_start_ms or None,
            slot_end_ms=booking.slot_end_ms or None,
        ),
    )


async def submit_old_layout(store: Store, token_hash: str, booking: StoredBooking) -> None:
    keys = [
        f"tr:{{{PRACTICE}}}:b:{booking.booking_id}",
        token_key(PRACTICE, token_hash),
        mail_job_key(PRACTICE, booking.booking_id),
        mail_queue_key(PRACTICE),
        pending_key(PRACTICE),
        hold_key(PRACTICE, booking.slot_id),
    ]
    args = [booking.booking_id, booking.sealed, booking.summary, token_hash, b"job", TTL]
    args += [now_ms(), booking.slot_id, booking.slot_end_ms]
    assert await store.redis.eval(OLD_SUBMIT, len(keys), *keys, *args) == 1


async def confirm(store: Store, token_hash: str) -> tuple[str, str | None]:
    confirmed = await store.confirm(
        PRACTICE,
        token_hash,
        now_ms=now_ms(),
        confirmed_at="2026-11-22T09:14:03Z",
        inbox_ttl=3600,
        pending_ttl=TTL,
    )
    return confirmed.outcome, confirmed.booking_id


async def inbox_sealed(store: Store) -> dict[str, bytes]:
    batch = await store.fetch_inbox(PRACTICE, now_ms=now_ms(), visibility_ms=1000, limit=100)
    return {item.booking_id: item.sealed for item in batch.items}


@pytest.mark.parametrize("slot", [True, False])
def test_layout_round_trips(slot: bool) -> None:
    """pack_booking and unpack_booking agree, for a slot booking and a wish."""
    _, booking = new_booking(slot=slot)
    value = pack_booking(booking)
    assert unpack_booking(value) == booking
    assert len(value) == 1 + 8 + 8 + 1 + len(booking.slot_id) + 1 + 36 + 2 + 250 + 944


def test_an_unknown_layout_is_refused() -> None:
    """A value of another layout version is an error, never misread."""
    _, booking = new_booking()
    with pytest.raises(ValueError, match="layout"):
        unpack_booking(b"\x06" + pack_booking(booking)[1:])


def test_a_browser_sealed_booking_keeps_envelope_and_blob_apart() -> None:
    """Layout 3 holds the relay's envelope and the browser's blob, each read back whole."""
    _, booking = new_booking()
    sealed = dataclasses.replace(booking, blob=b"\x01" * 816)
    value = pack_booking(sealed)
    assert value[0] == 3
    assert unpack_booking(value) == sealed
    assert unpack_booking(pack_booking(booking)).blob == b""


def test_layout_1_without_the_slot_start_is_still_read() -> None:
    """A booking stored before the layout kept the slot's start reads with start 0."""
    _, booking = new_booking()
    layout_1 = b"\x01" + pack_booking(booking)[9:]
    assert unpack_booking(layout_1) == StoredBooking(
        booking.booking_id, booking.slot_id, booking.slot_end_ms, booking.summary, booking.sealed
    )


async def test_a_submitted_booking_is_one_string_the_scripts_read(store: Store) -> None:
    """Given a submit, the booking is one string under its token hash, and the view reads it."""
    token_hash, booking = new_booking()
    await submit(store, token_hash, booking)

    value = await store.redis.get(booking_key(PRACTICE, token_hash))
    assert await store.redis.type(booking_key(PRACTICE, token_hash)) == b"string"
    assert unpack_booking(value) == booking
    assert not await store.redis.exists(token_key(PRACTICE, token_hash))
    assert await store.redis.get(hold_key(PRACTICE, booking.slot_id)) == booking.booking_id.encode()

    pending = await store.pending(PRACTICE, token_hash)
    assert pending is not None
    assert (pending.booking_id, pending.summary) == (booking.booking_id, booking.summary)
    assert 0 < pending.expires_in_ms <= TTL * 1000


async def test_submit_run_twice_stores_once_and_keeps_the_slot(store: Store) -> None:
    """A retried submit (reply lost) succeeds without "slot taken"; another booking is refused."""
    token_hash, booking = new_booking()
    await submit(store, token_hash, booking)
    await submit(store, token_hash, booking)
    assert await store.redis.zcard(pending_key(PRACTICE)) == 1

    other_hash, other = new_booking()
    other = StoredBooking(
        other.booking_id, booking.slot_id, booking.slot_end_ms, other.summary, other.sealed
    )
    with pytest.raises(SlotTaken):
        await submit(store, other_hash, other)


async def test_confirm_moves_the_sealed_box_and_takes_the_slot(store: Store) -> None:
    """Confirm hands the exact sealed bytes to the inbox, marks the slot taken until it ends,
    and leaves only the confirmed marker; a second confirm answers "already"."""
    token_hash, booking = new_booking()
    await submit(store, token_hash, booking)

    assert await confirm(store, token_hash) == ("confirmed", booking.booking_id)

    assert await inbox_sealed(store) == {booking.booking_id: booking.sealed}
    hold = hold_key(PRACTICE, booking.slot_id)
    assert await store.redis.get(hold) == b"taken"
    assert await store.redis.pexpiretime(hold) == booking.slot_end_ms
    assert not await store.redis.exists(
        booking_key(PRACTICE, token_hash), mail_job_key(PRACTICE, booking.booking_id)
    )
    assert await store.redis.zcard(pending_key(PRACTICE)) == 0
    assert await store.redis.get(token_key(PRACTICE, token_hash)) == b"confirmed"
    assert await confirm(store, token_hash) == ("already", None)
    assert await store.pending(PRACTICE, token_hash) is None


async def test_withdraw_deletes_the_booking_and_frees_the_slot(store: Store) -> None:
    """Withdraw deletes booking, mail job and queue entries and frees the hold; again: gone."""
    token_hash, booking = new_booking()
    await submit(store, token_hash, booking)

    assert await store.withdraw(PRACTICE, token_hash) == ("withdrawn", booking.booking_id)

    assert not await store.redis.exists(
        booking_key(PRACTICE, token_hash),
        hold_key(PRACTICE, booking.slot_id),
        mail_job_key(PRACTICE, booking.booking_id),
    )
    assert await store.redis.zcard(mail_queue_key(PRACTICE)) == 0
    assert await store.redis.zcard(pending_key(PRACTICE)) == 0
    assert await store.withdraw(PRACTICE, token_hash) == ("gone", None)
    with pytest.raises(TokenGone):
        await store.pending(PRACTICE, token_hash)


async def test_a_wish_confirms_without_a_hold(store: Store) -> None:
    """A booking without a slot (a wish) confirms and touches no hold."""
    token_hash, booking = new_booking(slot=False)
    await submit(store, token_hash, booking)
    assert await confirm(store, token_hash) == ("confirmed", booking.booking_id)
    assert await inbox_sealed(store) == {booking.booking_id: booking.sealed}
    assert [key async for key in store.redis.scan_iter(hold_key(PRACTICE, "*"))] == []


async def test_bookings_of_the_old_hash_layout_still_view_confirm_and_withdraw(
    store: Store,
) -> None:
    """Bookings stored by a relay before the upgrade keep working until they expire."""
    # Given two bookings stored the old way
    confirmed_hash, to_confirm = new_booking()
    withdrawn_hash, to_withdraw = new_booking()
    await submit_old_layout(store, confirmed_hash, to_confirm)
    await submit_old_layout(store, withdrawn_hash, to_withdraw)

    # When the patients view, confirm and withdraw them
    pending = await store.pending(PRACTICE, confirmed_hash)
    assert pending is not None
    assert (pending.booking_id, pending.summary) == (to_confirm.booking_id, to_confirm.summary)
    assert await confirm(store, confirmed_hash) == ("confirmed", to_confirm.booking_id)
    assert await store.withdraw(PRACTICE, withdrawn_hash) == ("withdrawn", to_withdraw.booking_id)

    # Then the confirmed one is in the inbox with its slot taken, the other's slot is free,
    # and nothing else of either is left
    assert await inbox_sealed(store) == {to_confirm.booking_id: to_confirm.sealed}
    assert await store.redis.get(hold_key(PRACTICE, to_confirm.slot_id)) == b"taken"
    assert not await store.redis.exists(hold_key(PRACTICE, to_withdraw.slot_id))
    leftovers = {
        key.decode().split(":")[2] async for key in store.redis.scan_iter(f"tr:{{{PRACTICE}}}:*")
    }
    assert leftovers.isdisjoint({"b", "m", "mq", "pending"})
    assert await store.redis.get(token_key(PRACTICE, confirmed_hash)) == b"confirmed"
    assert await confirm(store, confirmed_hash) == ("already", None)
    assert await store.withdraw(PRACTICE, withdrawn_hash) == ("gone", None)


def after_confirm(cancel_hash: str, link: bytes | None = b"sealed link") -> AfterConfirm:
    return AfterConfirm(
        cancel_token_hash=cancel_hash, wish_cancel_ms=7_200_000, cancel_link=link, mail_ttl=TTL
    )


async def test_confirm_writes_cancel_record_and_second_mail_from_the_booking(
    store: Store,
) -> None:
    """Given a slot booking, confirming with its "after" part in the one script returns the
    summary, writes the cancel record until the slot starts and queues the second mail
    made of the booking's summary and the page's link; a re-run answers "already"."""
    token_hash, booking = new_booking()
    cancel_hash = secrets.token_hex(32)
    await submit(store, token_hash, booking)

    confirmed = await store.confirm(
        PRACTICE,
        token_hash,
        now_ms=now_ms(),
        confirmed_at="2026-11-22T09:14:03Z",
        inbox_ttl=3600,
        pending_ttl=TTL,
        after=after_confirm(cancel_hash),
    )

    assert confirmed == Confirmed(
        "confirmed", booking.booking_id, booking.summary, booking.slot_start_ms
    )
    record = cancel_key(PRACTICE, cancel_hash)
    assert await store.redis.get(record) == f"{booking.booking_id}:{booking.slot_id}".encode()
    assert await store.redis.pexpiretime(record) == booking.slot_start_ms
    (job,) = await store.claim_mail(PRACTICE, now_ms=now_ms(), lease_ms=1000, limit=10)
    assert job == MailJob(
        PRACTICE,
        booking.booking_id + ".h",
        b"sealed link",
        1,
        booking.summary,
        booking.slot_start_ms,
    )
    again = await store.confirm(
        PRACTICE,
        token_hash,
        now_ms=now_ms(),
        confirmed_at="2026-11-22T09:14:03Z",
        inbox_ttl=3600,
        pending_ttl=TTL,
        after=after_confirm(cancel_hash),
    )
    assert again == Confirmed("already")
    assert await store.redis.zcard(mail_queue_key(PRACTICE)) == 1


@pytest.mark.parametrize("kind", ["wish", "started", "layout 1"])
async def test_the_cancel_record_ends_as_the_booking_says(store: Store, kind: str) -> None:
    """A wish's record ends the given time after confirming; an appointment that began
    gets none (and its mail no link); a booking of layout 1, without the slot's start,
    keeps its record until the slot's end."""
    token_hash, booking = new_booking(slot=kind != "wish")
    now = now_ms()
    if kind == "started":
        booking = replace(booking, slot_start_ms=now - 60_000)
    await submit(store, token_hash, booking)
    if kind == "layout 1":
        value = await store.redis.get(booking_key(PRACTICE, token_hash))
        await store.redis.set(booking_key(PRACTICE, token_hash), b"\x01" + value[9:], ex=TTL)
    cancel_hash = secrets.token_hex(32)

    confirmed = await store.confirm(
        PRACTICE,
        token_hash,
        now_ms=now,
        confirmed_at="2026-11-22T09:14:03Z",
        inbox_ttl=3600,
        pending_ttl=TTL,
        after=after_confirm(cancel_hash),
    )

    expected = {
        "wish": now + 7_200_000,
        "started": None,
        "layout 1": booking.slot_end_ms,
    }[kind]
    assert confirmed.cancel_until_ms == expected
    record = cancel_key(PRACTICE, cancel_hash)
    if expected is None:
        assert not await store.redis.exists(record)
    else:
        assert await store.redis.pexpiretime(record) == expected
    (job,) = await store.claim_mail(PRACTICE, now_ms=now_ms(), lease_ms=1000, limit=10)
    assert job.cancel_until_ms == (expected or 0)


async def test_a_mail_job_is_one_string_counting_its_attempts(store: Store) -> None:
    """The submitted job is one string; a claim counts an attempt in place, a release at
    shutdown gives it back, done deletes it."""
    token_hash, booking = new_booking(slot=False)
    await submit(store, token_hash, booking)
    job_key = mail_job_key(PRACTICE, booking.booking_id)
    assert await store.redis.type(job_key) == b"string"
    ttl = await store.redis.ttl(job_key)
    assert 0 < ttl <= TTL

    (first,) = await store.claim_mail(PRACTICE, now_ms=now_ms(), lease_ms=0, limit=10)
    assert (first.payload, first.attempts, first.summary) == (b"job", 1, None)
    await store.finish_mail(PRACTICE, [MailSettlement(booking.booking_id, "r", 0)])
    (second,) = await store.claim_mail(PRACTICE, now_ms=now_ms(), lease_ms=0, limit=10)
    assert second.attempts == 2
    await store.finish_mail(PRACTICE, [MailSettlement(booking.booking_id, "u", 0)])
    (third,) = await store.claim_mail(PRACTICE, now_ms=now_ms(), lease_ms=0, limit=10)
    assert third.attempts == 2
    assert 0 < await store.redis.ttl(job_key) <= ttl
    await store.mail_done(PRACTICE, booking.booking_id)
    assert not await store.redis.exists(job_key)
    assert await store.redis.zcard(mail_queue_key(PRACTICE)) == 0


async def test_mail_jobs_of_the_old_hash_layout_are_still_sent(store: Store) -> None:
    """A job queued as a hash by an earlier relay is claimed, counted and settled."""
    token_hash, booking = new_booking()
    await submit_old_layout(store, token_hash, booking)

    (job,) = await store.claim_mail(PRACTICE, now_ms=now_ms(), lease_ms=0, limit=10)
    assert (job.booking_id, job.payload, job.attempts) == (booking.booking_id, b"job", 1)
    await store.finish_mail(PRACTICE, [MailSettlement(booking.booking_id, "u", 0)])
    assert await store.redis.hget(mail_job_key(PRACTICE, booking.booking_id), "attempts") == b"0"
    await store.mail_done(PRACTICE, booking.booking_id)
    assert not await store.redis.exists(mail_job_key(PRACTICE, booking.booking_id))


@pytest.mark.parametrize(("stored_lang", "lang"), [(None, "de"), ("uk", "uk"), ("xx", "de")])
def test_a_handed_over_job_opens_without_a_link_once_the_appointment_began(
    stored_lang: str | None, lang: str
) -> None:
    """The second mail's job joins summary and link; with no cancel record, no link. It
    is in the booking's language (German for a summary without one), which the cancel link
    asks for."""
    cipher = DataCipher([secrets.token_bytes(32)])
    summary = {
        "practice_name": "Praxis Store",
        "start": "2026-12-01T09:00:00+01:00",
        "end": "2026-12-01T09:20:00+01:00",
        "time_zone": "Europe/Berlin",
        "kind": "slot",
        "to": "patient@example.org",
    }
    if stored_lang is not None:
        summary["lang"] = stored_lang
    sealed_summary = cipher.encrypt_json(summary, context=summary_context(PRACTICE, "b1"))
    link = cipher.encrypt_json(
        {"link": "https://r.test/x/a.b"}, context=cancel_link_context(PRACTICE)
    )
    for until, expected_link in ((1_796_112_000_000, f"https://r.test/x/a.b?lang={lang}"), (0, "")):
        job = MailJob(PRACTICE, "b1.h", link, 1, sealed_summary, until)
        opened = open_job(cipher, job, public_url="https://r.test")
        assert opened is not None
        assert (opened["to"], opened["link"], opened["wish"], opened["lang"]) == (
            "patient@example.org",
            expected_link,
            False,
            lang,
        )
        assert bool(opened["cancel_until"]) == bool(until)
