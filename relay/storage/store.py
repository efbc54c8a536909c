"""Every Redis key name of the relay and every call of its Lua scripts (relay/storage/lua/);
nothing else talks to Redis.

Every key of a practice starts with `tr:{slug}:`: the braces make the slug the hash tag,
so all keys of one practice live in one Redis Cluster slot and every multi-key change
below is one Lua script touching one slot. Scripts build the per-booking key names from
that prefix; they never reach outside the practice's slot.

Values are opaque bytes: sealed boxes (only the practice can open them) and AES-GCM
ciphertexts (only the relay's data keys open them). No plaintext booking field is ever
passed to this module.

Retries: the client (relay/storage/connect.py) runs a command again when its connection
broke or timed out, and then cannot know whether the first attempt ran. So every command
here must be safe to run twice. Plain commands are reads or writes of fixed values (SADD,
SREM, DEL, HSET), which are; each script's file says under "Retry-safe:" why it is.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal, cast

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from relay.errors import PracticeExists, PracticeNotFound, SlotTaken, TicketUsed, TokenGone

PRACTICES = "tr:practices"
WAKE_CHANNEL_PREFIX = "tr:wake:"
CONFIRMED = b"confirmed"
TAKEN = b"taken"


def practice_prefix(practice: str) -> str:
    return f"tr:{{{practice}}}:"


def practice_key(practice: str) -> str:
    return practice_prefix(practice) + "practice"


def profile_key(practice: str) -> str:
    return practice_prefix(practice) + "profile"


def booking_key(practice: str, token_hash: str) -> str:
    # Keyed by the hash of its confirmation token: the link leads straight to it, with no
    # second key from token to booking id (about 250 bytes per booking). The hash in
    # base64url (43 characters, not 64 in hex) keeps the key in a smaller allocation.
    name = base64.urlsafe_b64encode(bytes.fromhex(token_hash)).rstrip(b"=").decode()
    return practice_prefix(practice) + "b:" + name


def token_key(practice: str, token_hash: str) -> str:
    return practice_prefix(practice) + "t:" + token_hash


def mail_job_key(practice: str, booking_id: str) -> str:
    return practice_prefix(practice) + "m:" + booking_id


def mail_queue_key(practice: str) -> str:
    return practice_prefix(practice) + "mq"


def pending_key(practice: str) -> str:
    return practice_prefix(practice) + "pending"


def hold_key(practice: str, slot_id: str) -> str:
    # The claim on one slot (SET NX: the booking id, or "taken"); `held_key` mirrors it.
    return practice_prefix(practice) + "h:" + slot_id


def held_key(practice: str) -> str:
    # Every held and taken slot in one sorted set (slot id -> held until, ms), written
    # beside each claim: reading the free slots costs one command, not a key per slot.
    return practice_prefix(practice) + "held"


def item_key(practice: str, booking_id: str) -> str:
    return practice_prefix(practice) + "i:" + booking_id


def inbox_key(practice: str) -> str:
    return practice_prefix(practice) + "inbox"


def arrivals_key(practice: str) -> str:
    return practice_prefix(practice) + "arrived"


def ticket_key(practice: str, booking_id: str) -> str:
    # A submit ticket's use mark (relay/crypto/tickets.py): set with the booking it let in,
    # kept as long as a ticket is valid.
    return practice_prefix(practice) + "u:" + booking_id


def cancel_key(practice: str, token_hash: str) -> str:
    # A confirmed booking's cancellation record, keyed by the hash of its cancel token
    # (base64url, like booking_key). It holds the booking id (and the id of the published
    # slot it took, public profile data), then "cancelled"; it expires when the
    # appointment starts (a wish: RELAY_WISH_CANCEL_HOURS after confirming).
    name = base64.urlsafe_b64encode(bytes.fromhex(token_hash)).rstrip(b"=").decode()
    return practice_prefix(practice) + "x:" + name


def answer_key(practice: str, token_hash: str) -> str:
    # Beside the cancel record, under the same hash, for as long as it lasts: the state of
    # a request the practice answers (relay/booking/answers.py, AnswerRecord). No address,
    # no name; a time only when the practice proposed one.
    return cancel_key(practice, token_hash).replace(":x:", ":a:", 1)


def opt_out_key(practice: str, token_hash: str) -> str:
    # Beside the cancel record, for as long as it lasts: the patient wants no reminders
    # for this booking (relay/booking/reminders.py). Its presence is all it says.
    return cancel_key(practice, token_hash).replace(":x:", ":o:", 1)


def reminder_sent_key(practice: str, token_hash: str, number: int, start_ms: int) -> str:
    # The reminder `number` for the appointment starting at `start_ms` was queued: asked
    # again (a client retrying after a lost answer) it is not queued twice. Until the
    # start; a moved appointment's new start gets its reminders anew.
    name = cancel_key(practice, token_hash).replace(":x:", ":r:", 1)
    return f"{name}:{number}:{start_ms}"


def move_key(practice: str, token_hash: str) -> str:
    # Beside the cancel record, under the same hash, while a patient moving the booking
    # holds a new time (relay/booking/moves.py): `{slot id}:{hold end, ms}`, expiring with
    # the hold. Public profile data only.
    return cancel_key(practice, token_hash).replace(":x:", ":v:", 1)


def move_claim(booking_id: str) -> str:
    # A slot's claim (hold_key) while a booking's patient holds it to move there: names the
    # booking, so its own hold is told apart from another booking's.
    return "move:" + booking_id


# Abuse limits (relay/abuse/limits.py) live outside every practice's slot, under one hash tag of
# their own, so that one script sees a network's, a recipient's and the flood's counts at
# once. On Redis Cluster that is a second slot beside the practice's: one more round trip
# per submission, before the practice's own script. Networks and recipients appear only
# as keyed hashes.
LIMITS_PREFIX = "tr:{limits}:"
POW_MODE_KEY = LIMITS_PREFIX + "pow-mode"


def seen_blob_key(digest: str) -> str:
    # A browser-sealed blob's SHA-256 (hex), admitted once for any practice: under the
    # limits' hash tag, the one slot every submission's admission touches.
    return LIMITS_PREFIX + "seen:" + digest


def network_log_key(network_id: str) -> str:
    return LIMITS_PREFIX + "n:" + network_id


def recipient_log_key(recipient_id: str) -> str:
    return LIMITS_PREFIX + "r:" + recipient_id


def flood_key(bucket: int, practice: str | None = None) -> str:
    """Submissions in one flood bucket (a minute), relay-wide or of one practice."""
    if practice is None:
        return f"{LIMITS_PREFIX}f:{bucket}"
    return f"{LIMITS_PREFIX}fp:{practice}:{bucket}"


def proof_key(marker: str) -> str:
    return LIMITS_PREFIX + "pow:" + marker


def failure_log_key(kind: str, network_id: str) -> str:
    return f"{LIMITS_PREFIX}g:{kind}:{network_id}"


def wake_channel(practice: str) -> str:
    return WAKE_CHANNEL_PREFIX + practice


@dataclass(frozen=True)
class Practice:
    slug: str
    name: str
    public_key: bytes
    token_hash: str
    # Bumped with every profile change, so processes can cache the parsed profile.
    profile_version: int


@dataclass(frozen=True)
class LoadedPractice:
    practice: Practice
    # The profile JSON stored with it (b"" if missing: a corrupt store).
    profile: bytes


@dataclass(frozen=True)
class Availability:
    profile_version: int
    # Ids of the slots held by a pending booking or taken by a confirmed one.
    unavailable: list[str]


SubmitResult = Literal["stored", "stale"]


@dataclass(frozen=True)
class NewBooking:
    """A sealed booking to store pending confirmation (Store.submit). `mail_job`: the
    confirmation mail job's ciphertext; the slot fields stay None for a wish."""

    booking_id: str
    sealed: bytes
    summary: bytes
    token_hash: str
    mail_job: bytes
    ttl: int
    now_ms: int
    profile_version: int
    slot_id: str | None = None
    slot_start_ms: int | None = None
    slot_end_ms: int | None = None
    # A booking sealed in the browser: its blob (`sealed` is then the relay's envelope)
    # and how long its ticket's use mark lasts, s.
    blob: bytes = b""
    ticket_ttl: int = 0
    # Random per submission: tells the submit script's re-run from a reused ticket.
    attempt: str = ""
    # A published slot of a practice that answers requests (`"confirmation":
    # "by_practice"`): how long confirming holds the slot for the answer, ms; 0: booked.
    answer_within_ms: int = 0


@dataclass(frozen=True)
class PendingBooking:
    """What the confirmation page may show: the encrypted summary and the expiry."""

    booking_id: str
    summary: bytes
    expires_in_ms: int


# A pending booking is one string value: Redis keeps it in one allocation. As a hash it was
# a full hashtable (the sealed box is far over hash-max-listpack-value, 64 bytes), about
# 1 KB more per booking (bench/memory_bench.py). Layout 2, big-endian, read in Lua by
# lua/include/pending_booking.lua with struct.unpack('>BI8I8Bc0Bc0Hc0'):
#   layout (1 byte) | slot start, ms (8; 0 for a wish) | slot end, ms (8; 0 for a wish) |
#   slot id length (1), slot id ('' for a wish) | booking id length (1), booking id |
#   summary length (2), summary | sealed box
# Layout 3, a booking sealed in the browser (docs/protocol.md, "Sealed in the browser"):
#   as layout 2 up to the summary | envelope length (2), the relay's sealed envelope |
#   the browser's sealed box
# Layouts 4 and 5, a request for a slot the practice answers: as layouts 2 and 3, with
#   how long confirming holds the slot for the answer, ms (4), after the slot's end
# (only those bookings take them, so relays from before them, during a rolling upgrade,
# meet them only once a practice has chosen "by_practice").
# The start lets the confirm script write the cancel record, which lasts until the
# appointment starts, without the page reading the booking first. Layout 1 (no start) is
# still read, for bookings stored before it.
BOOKING_LAYOUT = 2
BROWSER_SEALED_LAYOUT = 3
ANSWERED_LAYOUT = 4
ANSWERED_BROWSER_SEALED_LAYOUT = 5
_BOOKING_HEAD = struct.Struct(">BQQ")
_ANSWER_WITHIN = struct.Struct(">I")
_BOOKING_HEAD_1 = struct.Struct(">BQ")
_SHORT_LENGTH = struct.Struct(">B")
_SUMMARY_LENGTH = struct.Struct(">H")


@dataclass(frozen=True)
class StoredBooking:
    """A pending booking as Redis holds it: opaque bytes and what the scripts act on."""

    booking_id: str
    slot_id: str
    slot_end_ms: int
    summary: bytes
    sealed: bytes
    slot_start_ms: int = 0
    blob: bytes = b""
    answer_within_ms: int = 0


def pack_booking(booking: StoredBooking) -> bytes:
    slot_id, booking_id = booking.slot_id.encode(), booking.booking_id.encode()
    layout = BROWSER_SEALED_LAYOUT if booking.blob else BOOKING_LAYOUT
    sealed = booking.sealed
    if booking.blob:
        sealed = _SUMMARY_LENGTH.pack(len(sealed)) + sealed + booking.blob
    answer_within = b""
    if booking.answer_within_ms:
        layout += ANSWERED_LAYOUT - BOOKING_LAYOUT
        answer_within = _ANSWER_WITHIN.pack(booking.answer_within_ms)
    return b"".join(
        (
            _BOOKING_HEAD.pack(layout, booking.slot_start_ms, booking.slot_end_ms),
            answer_within,
            _SHORT_LENGTH.pack(len(slot_id)),
            slot_id,
            _SHORT_LENGTH.pack(len(booking_id)),
            booking_id,
            _SUMMARY_LENGTH.pack(len(booking.summary)),
            booking.summary,
            sealed,
        )
    )


def unpack_booking(value: bytes) -> StoredBooking:
    """The inverse of pack_booking (and the reader of layout 1); the scripts read the same
    layouts in Lua."""
    layout = value[0] if value else None
    answer_within_ms = 0
    if layout in (ANSWERED_LAYOUT, ANSWERED_BROWSER_SEALED_LAYOUT):
        _, slot_start_ms, slot_end_ms = _BOOKING_HEAD.unpack_from(value)
        (answer_within_ms,) = _ANSWER_WITHIN.unpack_from(value, _BOOKING_HEAD.size)
        position = _BOOKING_HEAD.size + _ANSWER_WITHIN.size
        layout -= ANSWERED_LAYOUT - BOOKING_LAYOUT
    elif layout in (BOOKING_LAYOUT, BROWSER_SEALED_LAYOUT):
        _, slot_start_ms, slot_end_ms = _BOOKING_HEAD.unpack_from(value)
        position = _BOOKING_HEAD.size
    elif layout == 1:
        _, slot_end_ms = _BOOKING_HEAD_1.unpack_from(value)
        slot_start_ms, position = 0, _BOOKING_HEAD_1.size
    else:
        raise ValueError(f"unknown booking layout {layout}")
    fields: list[bytes] = []
    for length_format in (_SHORT_LENGTH, _SHORT_LENGTH, _SUMMARY_LENGTH):
        (length,) = length_format.unpack_from(value, position)
        position += length_format.size
        fields.append(value[position : position + length])
        position += length
    slot_id, booking_id, summary = fields
    sealed, blob = value[position:], b""
    if layout == BROWSER_SEALED_LAYOUT:
        (length,) = _SUMMARY_LENGTH.unpack_from(sealed)
        sealed, blob = sealed[2 : 2 + length], sealed[2 + length :]
    return StoredBooking(
        booking_id.decode(),
        slot_id.decode(),
        slot_end_ms,
        summary,
        sealed,
        slot_start_ms,
        blob,
        answer_within_ms,
    )


# A queued mail job is one string, not a hash (job, attempts): with the job's ciphertext
# over hash-max-listpack-value that hash was a full hashtable, about 250 bytes more per
# queued mail (bench/memory_bench.py). Layout:
#   attempts (1 byte, counted by the claim script in place) | format (1) | body
# format 0 (MAIL_JOB_SEALED): the job, a ciphertext under the data keys (relay/mail/jobs.py)
# format 1 (MAIL_JOB_HANDED): the "handed to the practice" mail, put together by the
#   confirm script: cancel until, ms (8; 0 for no cancel link) | summary length (2) |
#   the booking's encrypted summary | the page's encrypted cancel link
MAIL_JOB_SEALED = 0
MAIL_JOB_HANDED = 1
_HANDED_HEAD = struct.Struct(">QH")


def pack_mail_job(sealed_job: bytes) -> bytes:
    """A new job of format 0, no attempt made yet."""
    return bytes((0, MAIL_JOB_SEALED)) + sealed_job


@dataclass(frozen=True)
class MailJob:
    """A claimed job. `payload`: the job's ciphertext (format 0) or, for a job the confirm
    script put together (format 1), the page's encrypted cancel link beside the booking's
    encrypted `summary` and the cancel record's end (`cancel_until_ms`, 0 for none)."""

    practice: str
    booking_id: str
    payload: bytes
    attempts: int
    summary: bytes | None = None
    cancel_until_ms: int = 0


def unpack_mail_job(practice: str, job_id: str, body: bytes, attempts: int) -> MailJob:
    """A claimed job from what follows its attempts byte."""
    if not body or body[0] not in (MAIL_JOB_SEALED, MAIL_JOB_HANDED):
        raise ValueError(f"unknown mail job format {body[:1]!r}")
    if body[0] == MAIL_JOB_SEALED:
        return MailJob(practice, job_id, body[1:], attempts)
    cancel_until_ms, summary_length = _HANDED_HEAD.unpack_from(body, 1)
    start = 1 + _HANDED_HEAD.size
    summary = body[start : start + summary_length]
    link = body[start + summary_length :]
    return MailJob(practice, job_id, link, attempts, summary, cancel_until_ms)


@dataclass(frozen=True)
class MailSettlement:
    """What became of a claimed mail job: `d` done (sent or given up), `r` retry at
    `due_ms`, `u` released unsent (at shutdown), due again at `due_ms`."""

    booking_id: str
    kind: Literal["d", "r", "u"]
    due_ms: int = 0


@dataclass(frozen=True)
class InboxItem:
    booking_id: str
    sealed: bytes
    confirmed_at: str
    # The patient's browser's sealed box beside the relay's envelope (protocol 2), or b"".
    blob: bytes = b""


@dataclass(frozen=True)
class InboxBatch:
    items: list[InboxItem]
    # When the next fetched-but-unacknowledged item becomes visible again, if any.
    next_visible_ms: int | None
    # Items fetched before and not yet acknowledged, hidden until their visibility ends.
    in_flight: int = 0


@dataclass(frozen=True)
class PracticeStats:
    pending: int
    inbox: int
    oldest_arrival_ms: int | None


Outcome = Literal["confirmed", "already", "gone", "withdrawn"]


@dataclass(frozen=True)
class AfterConfirm:
    """What confirming also writes (relay/booking/cancellation.py): the cancel record, until the
    slot starts or, for a wish, `wish_cancel_ms` after confirming (none once the
    appointment has begun), and the second mail from the page's encrypted `cancel_link`
    (None: no second mail), tried for `mail_ttl` seconds."""

    cancel_token_hash: str
    wish_cancel_ms: int
    cancel_link: bytes | None
    mail_ttl: int


@dataclass(frozen=True)
class Confirmed:
    """What the confirm script did. For "confirmed" also the booking's id, its encrypted
    summary (deleted with the booking, returned for the result page) and the cancel
    record's end (None: the appointment has begun, or no record was asked for)."""

    outcome: Outcome
    booking_id: str | None = None
    summary: bytes | None = None
    cancel_until_ms: int | None = None


# A confirmed request's answer record (answer_key), one string:
#   status:held until, ms:slot end, ms:mails sent:proposed slot id:proposed start, ms:
#   proposed end, ms
# `held until` is when the claim this booking holds ends (on its slot; while the patient
# is to reply, on the proposed slot): a claim of its slot found after that may be another
# booking's. The proposed fields are empty but for a time the practice proposed.
@dataclass(frozen=True)
class AnswerRecord:
    status: str
    held_until_ms: int = 0
    slot_end_ms: int = 0
    mails: int = 0
    proposed_slot: str = ""
    proposed_start_ms: int = 0
    proposed_end_ms: int = 0

    def pack(self) -> str:
        return ":".join(
            (
                self.status,
                str(self.held_until_ms),
                str(self.slot_end_ms),
                str(self.mails),
                self.proposed_slot,
                str(self.proposed_start_ms) if self.proposed_start_ms else "",
                str(self.proposed_end_ms) if self.proposed_end_ms else "",
            )
        )

    @classmethod
    def unpack(cls, value: str) -> AnswerRecord:
        status, held, slot_end, mails, slot, start, end = value.split(":")
        return cls(
            status, int(held), int(slot_end), int(mails), slot, int(start or 0), int(end or 0)
        )


@dataclass(frozen=True)
class AnswerState:
    """What Store.answer_state read: the cancel record's value (`{booking id}:{slot id}`
    or "cancelled"; "" for none) and end, and the answer record as read ("" for none)."""

    cancel_record: str
    answer_record: str
    ends_ms: int


@dataclass(frozen=True)
class AnswerStep:
    """What Store.answer writes, if the records are still `read`: see lua/answer.lua."""

    read: AnswerState
    record: AnswerRecord
    now_ms: int
    cancel_record: str = ""
    ends_ms: int = 0
    claim: str = ""
    claim_until_ms: int = 0
    claim_only_if_free: bool = False
    release: str = ""
    mail_job: bytes = b""
    mail_job_id: str = ""
    mail_ttl: int = 0
    notice_id: str = ""
    notice: bytes = b""
    notice_at: str = ""
    inbox_ttl: int = 0


@dataclass(frozen=True)
class ReminderStep:
    """What Store.remind writes, if the records are still `read`: see lua/remind.lua."""

    read: AnswerState
    number: int
    start_ms: int
    now_ms: int
    job_id: str
    mail_job: bytes
    mail_ttl: int


@dataclass(frozen=True)
class MoveStep:
    """What Store.move writes, if the records are still `read`: see lua/move.lua."""

    read: AnswerState
    booking_id: str
    slot: str
    slot_until_ms: int
    release: str
    cancel_record: str
    ends_ms: int
    answer_record: str
    notice_id: str
    notice: bytes
    notice_at: str
    inbox_ttl: int
    now_ms: int


# The Lua scripts, one file each under relay/storage/lua/, read once at import. Each file
# starts with its contract: KEYS and ARGV, what it returns and why it is retry-safe.
# Fragments under lua/include/ define a local function that some scripts share; the script
# that calls it is sent with the fragment in front (`_lua("include/...", "script.lua")`).
_LUA = resources.files("relay.storage") / "lua"


def _lua(*names: str) -> str:
    """The text of the named files under relay/storage/lua/, in order, as one script."""
    return "\n".join(_LUA.joinpath(*name.split("/")).read_text(encoding="utf-8") for name in names)


def _as_function(name: str, script: _Script) -> str:
    """A whole script as `local function name(KEYS, ARGV) ... end`: its parameters shadow
    the outer script's KEYS and ARGV, so it runs inside another with its own numbering."""
    return f"local function {name}(KEYS, ARGV)\n{script.source}\nend\n"


class _Script:
    """A Lua script run by SHA, loaded on first use and again after a node restart."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(self, redis: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await redis.eval(self.source, len(keys), *keys, *args)


class Store:
    """The relay's Redis operations. `redis` is a redis-py asyncio client (plain, sentinel
    or cluster) created with `decode_responses=False`."""

    # Each script's KEYS, ARGV and answer are in its file (relay/storage/lua/).
    _add_practice = _Script(_lua("add_practice.lua"))
    _put_profile = _Script(_lua("put_profile.lua"))
    _load_practice = _Script(_lua("load_practice.lua"))
    _availability = _Script(_lua("availability.lua"))
    _set_public_key = _Script(_lua("set_public_key.lua"))
    _adopt_holds = _Script(_lua("adopt_holds.lua"))
    _submit = _Script(_lua("submit.lua"))
    _confirm = _Script(_lua("include/pending_booking.lua", "include/holds.lua", "confirm.lua"))
    _withdraw = _Script(_lua("include/pending_booking.lua", "withdraw.lua"))
    _pending = _Script(_lua("include/pending_booking.lua", "pending.lua"))
    _claim_mail = _Script(_lua("claim_mail.lua"))
    _finish_mail = _Script(_lua("finish_mail.lua"))
    _fetch = _Script(_lua("fetch_inbox.lua"))
    _ack = _Script(_lua("ack_inbox.lua"))
    _sweep_expired = _Script(_lua("sweep_expired.lua"))
    _limit_state = _Script(_lua("include/limit_state.lua", "limit_state.lua"))
    _admit = _Script(_lua("include/limit_state.lua", "admit.lua"))
    # The two scripts above as functions admit() and submit(), then the file that calls them.
    _admit_and_submit = _Script(
        _as_function("admit", _admit)
        + _as_function("submit", _submit)
        + _lua("admit_and_submit.lua")
    )
    _log_hit = _Script(_lua("log_hit.lua"))
    _resend_mail = _Script(_lua("resend_mail.lua"))
    _answer_state = _Script(_lua("answer_state.lua"))
    _answer = _Script(_lua("include/holds.lua", "include/reminders.lua", "answer.lua"))
    _remind = _Script(_lua("remind.lua"))
    _opt_out = _Script(_lua("include/reminders.lua", "opt_out.lua"))
    _move_hold = _Script(_lua("include/holds.lua", "move_hold.lua"))
    _move = _Script(_lua("include/holds.lua", "move.lua"))

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        # One node holds every key, so one script may touch a practice's and the limits'.
        self.one_node = not isinstance(redis, RedisCluster)

    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    # Practices

    async def add_practice(
        self,
        slug: str,
        *,
        name: str,
        public_key: bytes,
        token_hash: str,
        created_at: str,
        profile: bytes,
    ) -> None:
        added = await self._add_practice(
            self.redis,
            [practice_key(slug), profile_key(slug)],
            [name, public_key, token_hash, created_at, profile],
        )
        if not added:
            raise PracticeExists(slug)
        await self.redis.sadd(PRACTICES, slug)

    async def practice(self, slug: str) -> Practice:
        fields = await self.redis.hmget(
            practice_key(slug), "name", "public_key", "token_hash", "profile_version"
        )
        if fields[0] is None:
            raise PracticeNotFound(slug)
        return Practice(
            slug, fields[0].decode(), bytes(fields[1]), fields[2].decode(), int(fields[3] or 0)
        )

    async def practice_slugs(self) -> list[str]:
        return sorted(slug.decode() for slug in await self.redis.smembers(PRACTICES))

    async def remove_practice(self, slug: str) -> None:
        """Deletes the practice and everything it holds, inbox included."""
        await self.practice(slug)
        keys = [key async for key in self.redis.scan_iter(match=practice_prefix(slug) + "*")]
        # One slot, so one DEL is valid on a cluster too; chunked to keep each call small.
        for start in range(0, len(keys), 500):
            await self.redis.delete(*keys[start : start + 500])
        await self.redis.srem(PRACTICES, slug)

    async def set_practice_field(self, slug: str, field: str, value: bytes | str) -> None:
        await self.practice(slug)
        await self.redis.hset(practice_key(slug), field, value)

    async def profile(self, slug: str) -> bytes:
        profile = await self.redis.get(profile_key(slug))
        if profile is None:
            raise PracticeNotFound(slug)
        return bytes(profile)

    async def put_profile(self, slug: str, profile: bytes) -> int:
        """Replaces the profile; the practice's new version."""
        version = await self._put_profile(
            self.redis, [practice_key(slug), profile_key(slug)], [profile]
        )
        if not version:
            raise PracticeNotFound(slug)
        return int(version)

    async def load_practice(self, slug: str) -> LoadedPractice:
        """The practice record and its profile JSON at one version, in one round trip."""
        fields = await self._load_practice(self.redis, [practice_key(slug), profile_key(slug)], [])
        if not fields:
            raise PracticeNotFound(slug)
        name, public_key, token_hash, version, profile = fields
        practice = Practice(
            slug, name.decode(), bytes(public_key), token_hash.decode(), int(version or 0)
        )
        return LoadedPractice(practice, bytes(profile))

    async def availability(self, slug: str, *, now_ms: int) -> Availability:
        """The profile version and the ids of the slots held or taken at `now_ms`."""
        found = await self._availability(self.redis, [practice_key(slug), held_key(slug)], [now_ms])
        if not found:
            raise PracticeNotFound(slug)
        return Availability(int(found[0]), [slot_id.decode() for slot_id in found[1]])

    async def set_public_key(self, slug: str, public_key: bytes) -> None:
        if not await self._set_public_key(self.redis, [practice_key(slug)], [public_key]):
            raise PracticeNotFound(slug)

    async def adopt_legacy_holds(self) -> int:
        """Copies slot holds written before the held set existed into it (one scan over
        all practices, at start); the number copied."""
        by_practice: dict[str, list[str]] = {}
        async for key in self.redis.scan_iter(match="tr:{*}:h:*", count=1000):
            prefix, _, slot_id = key.decode().partition("}:h:")
            by_practice.setdefault(prefix[len("tr:{") :], []).append(slot_id)
        adopted = 0
        for slug, slot_ids in by_practice.items():
            for start in range(0, len(slot_ids), 500):
                adopted += int(
                    await self._adopt_holds(
                        self.redis,
                        [held_key(slug)],
                        [practice_prefix(slug), *slot_ids[start : start + 500]],
                    )
                )
        return adopted

    # Bookings

    async def submit(self, practice: str, booking: NewBooking) -> SubmitResult:
        """Stores a pending booking, its token, summary, mail job and slot hold at once,
        if the practice is still at `profile_version`: "stale" (nothing stored) if not."""
        keys, args = _submit_call(practice, booking)
        stored = await self._submit(self.redis, keys, args)
        return _submitted(stored, practice, booking.slot_id)

    async def admit_and_submit(
        self, ticket: AdmissionTicket, booking: NewBooking
    ) -> tuple[Admission, SubmitResult | Literal["refused"]]:
        """`admit` and `submit` in one round trip, on one Redis node only (a Cluster keeps
        the limits' keys in other slots than the practice's): the submission is counted
        and the booking stored, or, refused by a limit, nothing is stored."""
        admit_keys, admit_args = _admit_call(ticket)
        keys, args = _submit_call(ticket.practice, booking)
        outcome = await self._admit_and_submit(
            self.redis,
            [*admit_keys, *keys],
            [len(admit_keys), len(admit_args), *admit_args, *args],
        )
        admission = Admission(outcome[0].decode(), int(outcome[1]), float(outcome[2]))
        if admission.outcome != "ok":
            return admission, "refused"
        return admission, _submitted(outcome[3], ticket.practice, booking.slot_id)

    async def pending(self, practice: str, token_hash: str) -> PendingBooking | None:
        """What a confirmation page shows, None once confirmed; changes nothing (mail
        scanners prefetch links). TokenGone for a withdrawn, expired or unknown token."""
        found = await self._pending(
            self.redis, _booking_keys(practice, token_hash), [practice_prefix(practice)]
        )
        if found[0] == CONFIRMED:
            return None
        if found[0] != b"pending" or int(found[3]) < 0:
            raise TokenGone
        return PendingBooking(found[1].decode(), bytes(found[2]), int(found[3]))

    async def confirm(
        self,
        practice: str,
        token_hash: str,
        *,
        now_ms: int,
        confirmed_at: str,
        inbox_ttl: int,
        pending_ttl: int,
        after: AfterConfirm | None = None,
    ) -> Confirmed:
        """Moves the pending booking to the inbox; with `after`, also writes its cancel
        record and queues the "handed to the practice" mail, in the same step."""
        keys = [*_booking_keys(practice, token_hash), inbox_key(practice), arrivals_key(practice)]
        args: list[str | int | bytes] = [
            practice_prefix(practice),
            now_ms,
            confirmed_at,
            inbox_ttl,
            pending_ttl,
            wake_channel(practice),
            practice,
        ]
        if after is not None:
            keys.append(cancel_key(practice, after.cancel_token_hash))
            keys.append(answer_key(practice, after.cancel_token_hash))
            args += [after.wish_cancel_ms, after.cancel_link or "", after.mail_ttl]
        result = await self._confirm(self.redis, keys, args)
        outcome, booking_id = _outcome(result)
        if outcome != "confirmed":
            return Confirmed(outcome)
        cancel_until_ms = int(result[3])
        return Confirmed(outcome, booking_id, bytes(result[2]), cancel_until_ms or None)

    # After confirming: the patient's cancellation, the practice's answers, the patient's
    # reply to a proposed time (relay/booking/answers.py)

    async def answer_state(self, practice: str, token_hash: str) -> AnswerState:
        """A confirmed booking's cancel and answer records; changes nothing."""
        found = await self._answer_state(
            self.redis, [cancel_key(practice, token_hash), answer_key(practice, token_hash)], []
        )
        return AnswerState(found[0].decode(), found[1].decode(), int(found[2]))

    async def answer(
        self, practice: str, token_hash: str, step: AnswerStep
    ) -> Literal["done", "raced", "taken"]:
        """Applies `step` if the records are still as read (lua/answer.lua)."""
        prefix = practice_prefix(practice)
        keys = [
            cancel_key(practice, token_hash),
            answer_key(practice, token_hash),
            mail_queue_key(practice),
            mail_job_key(practice, step.mail_job_id or "-"),
            inbox_key(practice),
            arrivals_key(practice),
            item_key(practice, step.notice_id or "-"),
        ]
        result = await self._answer(
            self.redis,
            keys,
            [
                prefix,
                step.now_ms,
                step.read.cancel_record,
                step.read.answer_record,
                step.cancel_record,
                step.ends_ms,
                step.record.pack(),
                step.claim,
                step.claim_until_ms,
                "1" if step.claim_only_if_free else "",
                step.release,
                pack_mail_job(step.mail_job) if step.mail_job else "",
                step.mail_ttl,
                step.notice,
                step.notice_at,
                step.inbox_ttl,
                wake_channel(practice),
                practice,
            ],
        )
        outcome = result[0].decode()
        if outcome not in ("done", "raced", "taken"):
            raise ValueError(f"answer.lua answered {outcome!r}")
        return cast(Literal["done", "raced", "taken"], outcome)

    # Reminders the practice's client asks for (relay/booking/reminders.py)

    async def remind(
        self, practice: str, token_hash: str, reminder: ReminderStep
    ) -> Literal["queued", "already", "opted_out", "raced"]:
        """Queues the reminder's mail if the records are still as read (lua/remind.lua)."""
        result = await self._remind(
            self.redis,
            [
                cancel_key(practice, token_hash),
                answer_key(practice, token_hash),
                opt_out_key(practice, token_hash),
                reminder_sent_key(practice, token_hash, reminder.number, reminder.start_ms),
                mail_job_key(practice, reminder.job_id),
                mail_queue_key(practice),
            ],
            [
                practice_prefix(practice),
                reminder.now_ms,
                reminder.read.cancel_record,
                reminder.read.answer_record,
                reminder.start_ms,
                pack_mail_job(reminder.mail_job),
                reminder.mail_ttl,
            ],
        )
        outcome = result[0].decode()
        if outcome not in ("queued", "already", "opted_out", "raced"):
            raise ValueError(f"remind.lua answered {outcome!r}")
        return cast(Literal["queued", "already", "opted_out", "raced"], outcome)

    async def opt_out_of_reminders(self, practice: str, token_hash: str) -> bool:
        """Marks the booking as wanting no reminders and deletes those queued; False if
        there is no such booking (or it is cancelled)."""
        result = await self._opt_out(
            self.redis,
            [cancel_key(practice, token_hash), opt_out_key(practice, token_hash)],
            [practice_prefix(practice)],
        )
        return bool(result[0] == b"done")

    async def opted_out_of_reminders(self, practice: str, token_hash: str) -> bool:
        return bool(await self.redis.exists(opt_out_key(practice, token_hash)))

    # Moving a confirmed booking to another slot (relay/booking/moves.py)

    async def move_record(self, practice: str, token_hash: str) -> tuple[str, int] | None:
        """The held new slot's id and the hold's end (ms), None when nothing is held."""
        found = await self.redis.get(move_key(practice, token_hash))
        if found is None:
            return None
        slot, _, until = found.decode().partition(":")
        return slot, int(until or 0)

    async def move_hold(
        self,
        practice: str,
        token_hash: str,
        *,
        read: AnswerState,
        booking_id: str,
        slot: str,
        until_ms: int,
    ) -> Literal["held", "raced", "taken"]:
        """Holds `slot` for this booking's move until `until_ms` (lua/move_hold.lua)."""
        result = await self._move_hold(
            self.redis,
            [cancel_key(practice, token_hash), move_key(practice, token_hash)],
            [practice_prefix(practice), read.cancel_record, slot, until_ms, move_claim(booking_id)],
        )
        outcome = result[0].decode()
        if outcome not in ("held", "raced", "taken"):
            raise ValueError(f"move_hold.lua answered {outcome!r}")
        return cast(Literal["held", "raced", "taken"], outcome)

    async def move(
        self, practice: str, token_hash: str, step: MoveStep
    ) -> Literal["moved", "raced", "taken"]:
        """Moves the booking to its held slot, if the records are still as read
        (lua/move.lua): one reschedule notice, the reminders dropped."""
        keys = [
            cancel_key(practice, token_hash),
            answer_key(practice, token_hash),
            move_key(practice, token_hash),
            inbox_key(practice),
            arrivals_key(practice),
            item_key(practice, step.notice_id),
            mail_queue_key(practice),
            mail_job_key(practice, f"{step.booking_id}.r1"),
            mail_job_key(practice, f"{step.booking_id}.r2"),
        ]
        result = await self._move(
            self.redis,
            keys,
            [
                practice_prefix(practice),
                step.now_ms,
                step.read.cancel_record,
                step.read.answer_record,
                step.slot,
                move_claim(step.booking_id),
                step.slot_until_ms,
                step.release,
                step.cancel_record,
                step.ends_ms,
                step.answer_record,
                step.notice,
                step.notice_at,
                step.inbox_ttl,
                wake_channel(practice),
                practice,
                step.booking_id,
            ],
        )
        outcome = result[0].decode()
        if outcome not in ("moved", "raced", "taken"):
            raise ValueError(f"move.lua answered {outcome!r}")
        return cast(Literal["moved", "raced", "taken"], outcome)

    async def withdraw(self, practice: str, token_hash: str) -> tuple[Outcome, str | None]:
        result = await self._withdraw(
            self.redis, _booking_keys(practice, token_hash), [practice_prefix(practice)]
        )
        return _outcome(result)

    async def sweep_expired(self, practice: str, *, now_ms: int) -> int:
        """Forgets pending bookings past their TTL (Redis already dropped their data)."""
        return int(await self._sweep_expired(self.redis, [pending_key(practice)], [now_ms]))

    # Mail queue

    async def mail_queue_heads(self, slugs: Iterable[str]) -> dict[str, int]:
        """{slug: score (ms) of the queue's earliest entry} for practices with queued mail:
        due when it is not in the future. One round trip for all practices."""
        slugs = list(slugs)
        if not slugs:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for slug in slugs:
                pipe.zrange(mail_queue_key(slug), 0, 0, withscores=True)
            heads = await pipe.execute()
        return {slug: int(head[0][1]) for slug, head in zip(slugs, heads, strict=True) if head}

    async def claim_mail(
        self, practice: str, *, now_ms: int, lease_ms: int, limit: int
    ) -> list[MailJob]:
        """Takes due jobs, hiding them for `lease_ms` so no other worker sends them too."""
        flat = await self._claim_mail(
            self.redis,
            [mail_queue_key(practice)],
            [practice_prefix(practice), now_ms, lease_ms, limit],
        )
        return [
            unpack_mail_job(practice, flat[i].decode(), bytes(flat[i + 1]), int(flat[i + 2]))
            for i in range(0, len(flat), 3)
        ]

    async def finish_mail(self, practice: str, settled: Sequence[MailSettlement]) -> None:
        """Records the outcome of claimed jobs of one practice in one script call."""
        if not settled:
            return
        args: list[str | int] = [practice_prefix(practice)]
        for item in settled:
            args += [item.booking_id, item.kind, item.due_ms]
        await self._finish_mail(self.redis, [mail_queue_key(practice)], args)

    async def mail_done(self, practice: str, booking_id: str) -> None:
        await self.finish_mail(practice, [MailSettlement(booking_id, "d")])

    async def mail_retry_at(self, practice: str, booking_id: str, *, due_ms: int) -> None:
        await self.finish_mail(practice, [MailSettlement(booking_id, "r", due_ms)])

    # Inbox

    async def fetch_inbox(
        self, practice: str, *, now_ms: int, visibility_ms: int, limit: int
    ) -> InboxBatch:
        flat = await self._fetch(
            self.redis,
            [inbox_key(practice), arrivals_key(practice)],
            [practice_prefix(practice), now_ms, visibility_ms, limit],
        )
        next_visible, in_flight = flat[-2], int(flat[-1])
        items = [
            InboxItem(
                flat[i].decode(), bytes(flat[i + 1]), flat[i + 2].decode(), bytes(flat[i + 3])
            )
            for i in range(0, len(flat) - 2, 4)
        ]
        return InboxBatch(items, int(float(next_visible)) if next_visible else None, in_flight)

    async def ack(self, practice: str, booking_ids: Sequence[str]) -> int:
        if not booking_ids:
            return 0
        return int(
            await self._ack(
                self.redis,
                [inbox_key(practice), arrivals_key(practice)],
                [practice_prefix(practice), *booking_ids],
            )
        )

    async def stats(self, slugs: Sequence[str]) -> dict[str, PracticeStats]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for slug in slugs:
                pipe.zcard(pending_key(slug))
                pipe.zcard(arrivals_key(slug))
                pipe.zrange(arrivals_key(slug), 0, 0, withscores=True)
            replies = await pipe.execute()
        stats = {}
        for index, slug in enumerate(slugs):
            pending, inbox, oldest = replies[3 * index : 3 * index + 3]
            stats[slug] = PracticeStats(
                int(pending), int(inbox), int(oldest[0][1]) if oldest else None
            )
        return stats

    async def flood_rates(
        self, slugs: Sequence[str], *, now_ms: int
    ) -> tuple[float, dict[str, float]]:
        """Submissions in the last minute, relay-wide and per practice, weighted as the
        limits weigh them (lua/include/limit_state.lua): for the flood gauges. One MGET,
        as every flood counter lives under the limits' hash tag."""
        bucket, into_bucket = divmod(now_ms, FLOOD_BUCKET_MS)
        kept = 1 - into_bucket / FLOOD_BUCKET_MS
        names: list[str | None] = [None, *slugs]
        keys = [
            key for name in names for key in (flood_key(bucket, name), flood_key(bucket - 1, name))
        ]
        values = await self.redis.mget(keys)
        rates = [
            int(values[2 * index] or 0) + int(values[2 * index + 1] or 0) * kept
            for index in range(len(names))
        ]
        return rates[0], dict(zip(slugs, rates[1:], strict=True))

    async def memory_use(self) -> list[tuple[int, int, str]]:
        """(used_memory, maxmemory, maxmemory_policy) of every node that takes writes, from
        INFO memory: for the gauges that warn before Redis refuses writes or evicts."""
        if self.one_node:
            replies = [await self.redis.info("memory")]
        else:
            answer = await self.redis.info("memory", target_nodes=RedisCluster.PRIMARIES)
            # One node answers with its dict, several with {node name: dict}.
            replies = [answer] if "used_memory" in answer else list(answer.values())
        return [
            (
                int(reply.get("used_memory", 0)),
                int(reply.get("maxmemory", 0)),
                str(reply.get("maxmemory_policy", "noeviction")),
            )
            for reply in replies
        ]

    async def slot_holder(self, practice: str, slot_id: str) -> str | None:
        """The id of the pending booking holding a slot; None if free or taken."""
        holder = await self.redis.get(hold_key(practice, slot_id))
        if holder is None or holder == TAKEN:
            return None
        return bytes(holder).decode()

    async def resend_mail(
        self, practice: str, booking_id: str, *, token_hash: str, mail_job: bytes, now_ms: int
    ) -> int:
        """Queues `mail_job` again for a pending booking: 1 queued, 0 its mail is still
        queued or in hand (nothing to do), -1 the booking is no longer pending."""
        keys = [
            booking_key(practice, token_hash),
            mail_job_key(practice, booking_id),
            mail_queue_key(practice),
        ]
        return int(
            await self._resend_mail(self.redis, keys, [booking_id, pack_mail_job(mail_job), now_ms])
        )

    # Abuse limits (relay/abuse/limits.py)

    async def limit_state(
        self, policy: LimitPolicy, *, network_id: str, practice: str | None, now_ms: int
    ) -> LimitState:
        """Where a network, the practice and the relay stand: for the difficulty of a
        challenge and whether the form should carry one."""
        keys, args = _limit_keys(policy, network_id, practice, now_ms)
        mode, count, until_soft_ms, pressure = await self._limit_state(self.redis, keys, args)
        return LimitState(mode.decode(), int(count), int(until_soft_ms), float(pressure))

    async def admit(self, ticket: AdmissionTicket) -> Admission:
        """Admits one submission against every limit at once, or says which refuses it."""
        keys, args = _admit_call(ticket)
        outcome, detail, pressure = await self._admit(self.redis, keys, args)
        return Admission(outcome.decode(), int(detail), float(pressure))

    async def refund(self, ticket: AdmissionTicket) -> None:
        """Takes back an admitted submission that stored nothing: its log entries and its
        blob's seen mark. The flood counters keep it: they measure load, refused too."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrem(network_log_key(ticket.network_id), ticket.member)
            pipe.zrem(recipient_log_key(ticket.recipient_id), ticket.member)
            if ticket.blob_digest is not None:
                pipe.delete(seen_blob_key(ticket.blob_digest))
            await pipe.execute()

    async def recipient_hit(
        self, recipient_id: str, *, now_ms: int, window_ms: int, limit: int, member: str
    ) -> int:
        """Counts one mail to a recipient: 0, or the ms until the limit lets one through."""
        return int(
            await self._log_hit(
                self.redis, [recipient_log_key(recipient_id)], [now_ms, window_ms, limit, member]
            )
        )

    async def forget_recipient_hit(self, recipient_id: str, member: str) -> None:
        await self.redis.zrem(recipient_log_key(recipient_id), member)

    async def guess_failed(
        self, kind: str, network_id: str, *, now_ms: int, window_ms: int, limit: int, member: str
    ) -> int:
        """Counts one failed token of a network: 0, or the ms until failures count again."""
        return int(
            await self._log_hit(
                self.redis,
                [failure_log_key(kind, network_id)],
                [now_ms, window_ms, limit, member],
            )
        )

    async def pow_mode(self) -> str | None:
        """The operator's proof-of-work mode (`relay pow`), None when RELAY_POW applies."""
        mode = await self.redis.get(POW_MODE_KEY)
        return None if mode is None else bytes(mode).decode()

    async def set_pow_mode(self, mode: str | None) -> None:
        if mode is None:
            await self.redis.delete(POW_MODE_KEY)
        else:
            await self.redis.set(POW_MODE_KEY, mode)


# One flood bucket: a minute.
FLOOD_BUCKET_MS = 60_000


@dataclass(frozen=True)
class LimitPolicy:
    """The limits' settings, as the scripts take them."""

    window_ms: int
    soft_limit: int
    hard_limit: int
    recipient_window_ms: int
    recipient_limit: int
    relay_flood: int
    practice_flood: int
    default_mode: str


@dataclass(frozen=True)
class LimitState:
    mode: str
    network_count: int
    until_soft_ms: int
    pressure: float


@dataclass(frozen=True)
class AdmissionTicket:
    """One submission to count against the abuse limits (Store.admit). `member` is random,
    not the booking id: the logs link no booking to a network or an address."""

    policy: LimitPolicy
    network_id: str
    recipient_id: str
    practice: str
    member: str
    now_ms: int
    proof_marker: str | None
    proof_expires_ms: int
    # A browser-sealed blob's SHA-256 (hex) and how long its seen mark lasts, ms.
    blob_digest: str | None = None
    blob_seen_ms: int = 0


@dataclass(frozen=True)
class Admission:
    """`outcome`: ok, network, recipient, pow or pow_used; `detail`: for ok 1 if a proof
    of work was used, else the ms until the refusing limit may let the request through."""

    outcome: str
    detail: int
    pressure: float


def _limit_keys(
    policy: LimitPolicy, network_id: str, practice: str | None, now_ms: int
) -> tuple[list[str], list[str | int]]:
    """KEYS and ARGV of lua/include/limit_state.lua."""
    bucket, into_bucket = divmod(now_ms, FLOOD_BUCKET_MS)
    # Without a practice its counters are keys that never exist: a rate of 0.
    slug = practice if practice is not None else ""
    keys = [
        network_log_key(network_id),
        flood_key(bucket),
        flood_key(bucket - 1),
        flood_key(bucket, slug),
        flood_key(bucket - 1, slug),
        POW_MODE_KEY,
    ]
    args: list[str | int] = [
        now_ms,
        policy.window_ms,
        policy.soft_limit,
        f"{into_bucket / FLOOD_BUCKET_MS:.4f}",
        policy.default_mode,
        policy.relay_flood,
        policy.practice_flood,
    ]
    return keys, args


def _admit_call(ticket: AdmissionTicket) -> tuple[list[str], list[str | int]]:
    """KEYS and ARGV of lua/admit.lua."""
    policy = ticket.policy
    keys, args = _limit_keys(policy, ticket.network_id, ticket.practice, ticket.now_ms)
    keys.append(recipient_log_key(ticket.recipient_id))
    if ticket.proof_marker is not None:
        keys.append(proof_key(ticket.proof_marker))
    if ticket.blob_digest is not None:
        keys.append(seen_blob_key(ticket.blob_digest))
    args += [
        policy.hard_limit,
        policy.recipient_window_ms,
        policy.recipient_limit,
        ticket.member,
        ticket.proof_expires_ms,
        2 * FLOOD_BUCKET_MS,
        "1" if ticket.proof_marker is not None else "",
        ticket.blob_seen_ms if ticket.blob_digest is not None else "",
    ]
    return keys, args


def _submit_call(practice: str, booking: NewBooking) -> tuple[list[str], list[str | int | bytes]]:
    """KEYS and ARGV of lua/submit.lua."""
    stored = StoredBooking(
        booking.booking_id,
        booking.slot_id or "",
        booking.slot_end_ms or 0,
        booking.summary,
        booking.sealed,
        booking.slot_start_ms or 0,
        booking.blob,
        booking.answer_within_ms if booking.slot_id is not None else 0,
    )
    keys = [
        booking_key(practice, booking.token_hash),
        token_key(practice, booking.token_hash),
        mail_job_key(practice, booking.booking_id),
        mail_queue_key(practice),
        pending_key(practice),
        practice_key(practice),
        held_key(practice),
    ]
    if booking.slot_id is not None:
        keys.append(hold_key(practice, booking.slot_id))
    if booking.ticket_ttl:
        keys.append(ticket_key(practice, booking.booking_id))
    args: list[str | int | bytes] = [
        booking.booking_id,
        pack_booking(stored),
        pack_mail_job(booking.mail_job),
        booking.ttl,
        booking.now_ms,
        booking.profile_version,
        booking.slot_id or "",
        booking.ticket_ttl or "",
        booking.attempt,
    ]
    return keys, args


def _submitted(stored: int, practice: str, slot_id: str | None) -> SubmitResult:
    """lua/submit.lua's answer: "stored" or "stale", or the error it means."""
    if stored == -2:
        return "stale"
    if stored == -3:
        raise TicketUsed
    if stored == -1:
        raise PracticeNotFound(practice)
    if not stored:
        raise SlotTaken(slot_id)
    return "stored"


def _booking_keys(practice: str, token_hash: str) -> list[str]:
    """KEYS[1] and KEYS[2] of the scripts that read a pending booking
    (lua/include/pending_booking.lua)."""
    return [booking_key(practice, token_hash), token_key(practice, token_hash)]


def _outcome(result: list[bytes]) -> tuple[Outcome, str | None]:
    outcome = result[0].decode()
    booking_id = result[1].decode() if len(result) > 1 else None
    if outcome not in ("confirmed", "already", "gone", "withdrawn"):
        raise RuntimeError(f"unexpected script outcome {outcome!r}")
    return cast(Outcome, outcome), booking_id
