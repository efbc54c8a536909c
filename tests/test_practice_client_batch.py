"""A batch of bookings made durable together (practice_client/handover/files.py DurableBatch, and
the runner around it): file data synced before any name, each .json renamed only after
a directory sync of the other files, the acknowledgement only after the last sync."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from practice_client.handover import files
from practice_client.handover.files import DurableBatch, is_temp_name
from practice_client.runner import RunConfig, run
from relay.storage.store import inbox_key
from tests.conftest import PracticeHandle, RedisServer, RunningRelay, SmtpSink
from tests.helpers import profile_json, put_profile, wait_until_async, wish_booking_json
from tests.test_cancellation import book_and_confirm, drain, the_booking


class Recorder:
    """Every fsync of a batch, with the names in the folder at that moment."""

    def __init__(self, directory: Path, *, fail_directory_sync: int | None = None) -> None:
        self.directory = directory
        self.events: list[tuple[str, frozenset[str]]] = []
        self.fail_directory_sync = fail_directory_sync

    def names(self) -> frozenset[str]:
        return frozenset(name for name in os.listdir(self.directory) if not is_temp_name(name))

    def sync_file(self, descriptor: int) -> None:
        os.fsync(descriptor)
        self.events.append(("file", self.names()))

    def sync_directory(self, directory: Path) -> None:
        assert directory == self.directory
        syncs = sum(1 for kind, _ in self.events if kind == "directory")
        if syncs == self.fail_directory_sync:
            raise OSError(5, "Input/output error")
        files.fsync_directory(directory)
        self.events.append(("directory", self.names()))

    def batch(self) -> DurableBatch:
        return DurableBatch(
            self.directory, sync_file=self.sync_file, sync_directory=self.sync_directory
        )


def stage_bookings(batch: DurableBatch, directory: Path, ids: list[str]) -> None:
    for booking_id in ids:
        batch.add(
            booking_id,
            [
                (directory / f"{booking_id}.ics", b"BEGIN:VCALENDAR\r\n"),
                (directory / f"{booking_id}.json", b"{}\n"),
            ],
        )


def test_data_is_synced_before_names_and_markers_after_a_directory_sync(tmp_path: Path) -> None:
    """Every file fsync before any rename; one directory sync with all .ics and no .json,
    then one with everything; nothing after it, no temp file left."""
    recorder = Recorder(tmp_path)
    batch = recorder.batch()
    ids = [f"b{number}" for number in range(12)]
    stage_bookings(batch, tmp_path, ids)

    assert batch.commit() == {}

    kinds = [kind for kind, _ in recorder.events]
    assert kinds == ["file"] * 24 + ["directory"] * 2
    assert all(names == frozenset() for kind, names in recorder.events if kind == "file")
    first, second = (names for kind, names in recorder.events if kind == "directory")
    assert first == {f"{i}.ics" for i in ids}
    assert second == {f"{i}.{ext}" for i in ids for ext in ("ics", "json")}
    assert set(os.listdir(tmp_path)) == second


@pytest.mark.skipif(not files._syncfs_available(), reason="syncfs(2) is Linux only")
def test_a_large_batch_is_flushed_by_one_syncfs_before_each_file_is_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From SYNCFS_MIN_FILES files on: every temp written, one syncfs, then an fsync of
    each file (which still reports its own errors), then the two directory syncs."""
    recorder = Recorder(tmp_path)
    real_syncfs = files._syncfs

    def syncfs(directory: Path) -> None:
        real_syncfs(directory)
        recorder.events.append(("syncfs", recorder.names()))

    monkeypatch.setattr(files, "_syncfs", syncfs)
    batch = recorder.batch()
    ids = [f"b{number}" for number in range(files.SYNCFS_MIN_FILES)]
    stage_bookings(batch, tmp_path, ids)

    assert batch.commit() == {}

    kinds = [kind for kind, _ in recorder.events]
    assert kinds == ["syncfs"] + ["file"] * 2 * len(ids) + ["directory"] * 2
    assert recorder.events[0][1] == frozenset()  # nothing renamed before the data is synced
    assert set(os.listdir(tmp_path)) == {f"{i}.{ext}" for i in ids for ext in ("ics", "json")}


@pytest.mark.skipif(not files._syncfs_available(), reason="syncfs(2) is Linux only")
def test_a_file_whose_fsync_fails_after_the_syncfs_fails_only_its_booking(
    tmp_path: Path,
) -> None:
    """The per-file fsync after syncfs reports an error of that file: its booking gets no
    .json and no temp file stays; the other bookings of the batch are complete."""
    descriptors: list[int] = []

    def sync_file(descriptor: int) -> None:
        descriptors.append(descriptor)
        if len(descriptors) == 3:  # the .ics of the second booking
            raise OSError(5, "Input/output error")
        os.fsync(descriptor)

    batch = DurableBatch(tmp_path, sync_file=sync_file)
    ids = [f"b{number}" for number in range(files.SYNCFS_MIN_FILES)]
    stage_bookings(batch, tmp_path, ids)

    failed = batch.commit()

    assert set(failed) == {"b1"}
    assert set(os.listdir(tmp_path)) == {
        f"{i}.{ext}" for i in ids if i != "b1" for ext in ("ics", "json")
    }


def test_a_batch_of_markers_alone_syncs_the_directory_once(tmp_path: Path) -> None:
    """Only .json files (or kept cancellations): nothing to order before them, one sync."""
    recorder = Recorder(tmp_path)
    batch = recorder.batch()
    for number in range(3):
        batch.add(f"b{number}", [(tmp_path / f"b{number}.json", b"{}")])

    assert batch.commit() == {}

    assert [kind for kind, _ in recorder.events] == ["file"] * 3 + ["directory"]


def test_a_group_that_fails_gets_no_marker_and_the_others_are_written(tmp_path: Path) -> None:
    """A .ics that cannot be renamed into place: that booking's .json is not written
    and its temp files are gone; the other bookings of the batch are complete."""
    blocked = tmp_path / "bad.ics"
    blocked.mkdir()
    (blocked / "keeps-it-non-empty").write_text("x")
    batch = DurableBatch(tmp_path)
    stage_bookings(batch, tmp_path, ["good", "bad", "fine"])

    failed = batch.commit()

    assert set(failed) == {"bad"}
    assert isinstance(failed["bad"], OSError)
    assert sorted(os.listdir(tmp_path)) == [
        "bad.ics",
        "fine.ics",
        "fine.json",
        "good.ics",
        "good.json",
    ]


@pytest.mark.parametrize("failing_sync", [0, 1])
def test_a_failed_directory_sync_fails_the_batch_and_leaves_no_temp(
    tmp_path: Path, failing_sync: int
) -> None:
    """The first sync fails: no .json renamed. The second fails: the batch still raises,
    so the caller acknowledges nothing. Either way no temp file is left."""
    recorder = Recorder(tmp_path, fail_directory_sync=failing_sync)
    batch = recorder.batch()
    stage_bookings(batch, tmp_path, ["a", "b"])

    with pytest.raises(OSError, match="Input/output"):
        batch.commit()

    names = set(os.listdir(tmp_path))
    assert not any(is_temp_name(name) for name in names)
    if failing_sync == 0:
        assert names == {"a.ics", "b.ics"}


def test_kept_cancellation_files_are_removed_only_after_the_marker_is_durable(
    tmp_path: Path,
) -> None:
    """remove_after goes once the group's marker is in place and synced, not before."""
    kept = tmp_path / "b.cancellation.json"
    kept.write_text("{}")
    seen_at_sync: list[bool] = []

    def sync_directory(directory: Path) -> None:
        seen_at_sync.append(kept.exists())
        files.fsync_directory(directory)

    batch = DurableBatch(tmp_path, sync_directory=sync_directory)
    batch.add("b", [(tmp_path / "b.json", b"{}")], remove_after=[kept])

    assert batch.commit() == {}

    assert seen_at_sync == [True]
    assert not kept.exists()


def test_the_same_booking_cannot_be_staged_twice(tmp_path: Path) -> None:
    """A second group under one key is refused: its files would race the first's."""
    batch = DurableBatch(tmp_path)
    stage_bookings(batch, tmp_path, ["a"])

    with pytest.raises(ValueError, match="already"):
        stage_bookings(batch, tmp_path, ["a"])

    assert "a" in batch
    assert len(batch) == 1


async def fill_inbox(relay: RunningRelay, practice: PracticeHandle, count: int) -> None:
    """`count` confirmed wishes, submitted and confirmed through the relay's service."""
    for number in range(count):
        submitted = await relay.service.submit(
            practice.slug, wish_booking_json(), client_network=f"net-{number}", lang="de"
        )
        assert await relay.service.confirm(submitted.token) == "confirmed"


async def inbox_size(relay: RunningRelay, slug: str) -> int:
    return int((await relay.store.stats([slug]))[slug].inbox)


async def test_items_are_acknowledged_only_after_their_batch_is_synced(
    relay: RunningRelay,
    practice: PracticeHandle,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real drain in batches of 10: at each directory sync of a batch, none of its items
    is acknowledged yet (the relay's inbox still holds them), and afterwards all are."""
    count, limit = 25, 10
    await fill_inbox(relay, practice, count)
    out_dir = tmp_path / "out"
    loop = asyncio.get_running_loop()
    seen: list[tuple[int, int]] = []  # (inbox size, .json files durable before) per sync
    durable = 0
    real_sync: Callable[[Path], None] = files.fsync_directory

    def sync_and_look(directory: Path) -> None:
        nonlocal durable
        if directory != out_dir:
            real_sync(directory)
            return
        # Runs in the commit's thread; the relay answers on this test's event loop.
        size = asyncio.run_coroutine_threadsafe(inbox_size(relay, practice.slug), loop)
        seen.append((size.result(timeout=30), durable))
        real_sync(directory)
        durable = sum(1 for name in os.listdir(out_dir) if name.endswith(".json"))

    monkeypatch.setattr(files, "fsync_directory", sync_and_look)
    config = RunConfig(relay.url, practice.token, practice.key_file, out_dir, wait=0, limit=limit)

    assert await run(config, once=True) == 0

    # Two syncs per batch (.ics, then .json): batches of 10, 10 and 5
    assert len(seen) == 6
    for inbox, durable_before in seen:
        acknowledged = count - inbox
        assert acknowledged <= durable_before, (inbox, durable_before, seen)
    assert [inbox for inbox, _ in seen] == [25, 25, 15, 15, 5, 5]
    assert await inbox_size(relay, practice.slug) == 0
    assert sum(1 for name in os.listdir(out_dir) if name.endswith(".json")) == count


async def test_a_booking_and_its_cancellation_in_one_batch(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """Both fetched in one poll, booking first: the booking is written, then cancelled."""
    out_dir = tmp_path / "out"
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        confirmed = await book_and_confirm(http, relay, practice, smtp_sink)
        async with http.post(confirmed.cancel_url, data={"action": "cancel"}) as cancelled:
            assert cancelled.status == 200
    assert await inbox_size(relay, practice.slug) == 2

    assert await drain(relay, practice, out_dir) == 0

    document, calendar, appointment = the_booking(out_dir)
    assert document["status"] == "cancelled"
    assert str(calendar.walk("VEVENT")[0]["STATUS"]) == "CANCELLED"
    assert appointment["status"] == "cancelled"
    assert not list(out_dir.glob("*.cancellation.json"))
    assert await inbox_size(relay, practice.slug) == 0


async def test_a_cancellation_before_its_booking_in_one_batch(
    relay_factory: Any, smtp_sink: SmtpSink, redis_server: RedisServer, tmp_path: Path
) -> None:
    """Given a booking hidden by another client's fetch and its cancellation queued
    meanwhile; when both are visible and fetched in one poll, cancellation first, then
    the booking is written cancelled and no kept cancellation stays behind."""
    relay = await relay_factory(inbox_visibility=1)
    practice = await relay.add_practice()
    out_dir = tmp_path / "out"
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json())
        confirmed = await book_and_confirm(http, relay, practice, smtp_sink)
        async with http.get(
            f"{relay.url}/api/v1/inbox", params={"wait": "0"}, headers=practice.auth
        ) as fetched:
            (booking_item,) = (await fetched.json())["items"]
        async with http.post(confirmed.cancel_url, data={"action": "cancel"}) as cancelled:
            assert cancelled.status == 200
    client = redis_server.client()
    key = inbox_key(practice.slug)

    async def both_visible() -> bool:
        return int(client.zcount(key, "-inf", int(time.time() * 1000))) == 2

    await wait_until_async(both_visible, "the hidden booking to be visible again")
    # The cancellation became visible first, so the poll hands it out first.
    members: list[bytes] = client.zrange(key, 0, -1)  # type: ignore[assignment]
    assert members[1].decode() == booking_item["id"]
    client.close()

    assert await drain(relay, practice, out_dir) == 0

    document, calendar, appointment = the_booking(out_dir)
    assert document["status"] == "cancelled"
    assert str(calendar.walk("VEVENT")[0]["STATUS"]) == "CANCELLED"
    assert appointment["status"] == "cancelled"
    assert not list(out_dir.glob("*.cancellation.json"))
    assert await inbox_size(relay, practice.slug) == 0
