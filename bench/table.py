"""The table of issue 8: every request step against a bare aiohttp app, interleaved.

    .venv/bin/python -m bench.table [--repetitions 5] [--duration 4] [--connections 50]
                                    [--steps PART ...] [--baseline REV] [--py-spy DIR]
                                    [--python-parser] [--memory] [--mail]

Starts a real redis-server, `relay serve` pinned to core 0 (`taskset -c 0`) and, for the
baseline, a bare aiohttp app that parses a booking-sized form POST on the same core. wrk
(Debian package `wrk`) generates load from core 1, with a Lua script per step so every
submission is a new patient from another network. Each repetition runs every step once,
in turn, so slow phases of a shared machine hit all steps alike; the table shows medians.

Steps use two practices with the same doctors and types: one publishes 20 slots, the
other 3,000 (6 weeks x 5 doctors x 20 a day). Submissions are wishes (a suggested time,
no slot), so thousands of them do not use up the calendar; what a slot adds (one ZSCORE
and one ZADD in the submit script) does not depend on the calendar's size. The relay
runs with RELAY_MAIL_WORKER=off: mails only queue (bench/mail_bench.py measures sending).
Confirm posts confirm pending bookings the bench stored beforehand through relay.store.
The profile API steps send `Accept-Encoding: gzip`, as real clients (browsers, practice
front ends) do, and get the body the relay compressed once per profile version and held
slots; "profile API GET (3,000 slots, identity)" asks without it (the 400 KB plain JSON).
The form GET steps send no Accept-Encoding, except "form GET (3,000 slots, gzip)" (the
kept page's gzip copy, compressed once per page).

The long-poll wake is measured last, on a practice of its own with an empty inbox: a
poll waits, a confirm POST wakes it; the time from the POST to the poll's answer.

`--baseline REV` also starts the relay as it was at git revision REV (git archive) on the
same core and runs every step and the wake against both, in turn: before and after in one
run. `--steps` runs only some steps, `--py-spy DIR` samples the relay during each step.
`--python-parser` runs the relay with redis-py's pure-Python reply parser instead of
hiredis. `--memory` and `--mail` also run bench/memory_bench.py and bench/mail_bench.py
and print their output.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp
from nacl.public import PrivateKey, PublicKey, SealedBox
from redis.asyncio import Redis

from bench.launch import AOF, NOEVICTION, Launcher, http_status, server_port
from bench.profiles import profile_summary
from bench.unlimited import UNLIMITED
from relay.crypto import tokens
from relay.crypto.sealing import DataCipher, canonical_json, key_id, pad
from relay.crypto.tickets import Tickets
from relay.mail.jobs import summary_context
from relay.practice import registry
from relay.storage.store import NewBooking, Store

BERLIN = ZoneInfo("Europe/Berlin")
ROOT = Path(__file__).resolve().parent.parent
DOCTORS = [f"Dr. {letter}. Beispiel" for letter in "ABCDE"]
TYPES = [{"name": "Kontrolle", "minutes": 15}, {"name": "Erstgespräch", "minutes": 30}]
WAKE_RUNS = 200
# The relay's data key: the bench writes pending bookings whose summaries it must read.
DATA_KEY = secrets.token_bytes(32)
# The relay's signing key: the bench issues the submit tickets of its browser-sealed
# submissions itself, before the timed loop, as the relay would.
SIGNING_KEY = secrets.token_bytes(32)
SEALED_STEP = "browser-sealed JSON submit (20 slots)"
SERVER_CORE, LOAD_CORE = "0", "1"
EVENT_LOOP: list[str] = []


@dataclass(frozen=True)
class Step:
    name: str
    lua: str
    # Runs before each repetition of the step (fresh confirm tokens).
    needs_tokens: bool = False


@dataclass(frozen=True)
class Figure:
    requests_per_s: float
    p50_ms: float
    errors: int
    requests: int


# Targets: (step, reference step, minimum ratio). A reference of None means bare aiohttp.
TARGETS = (
    ("JSON submit (20 slots)", None, 0.20),
    (SEALED_STEP, None, 0.12),
    ("form submit (20 slots)", None, 0.15),
    ("confirm", None, 0.30),
    ("form GET (3,000 slots)", "form GET (20 slots)", 0.9),
    ("form submit (3,000 slots)", "form submit (20 slots)", 0.9),
    ("profile API GET (3,000 slots)", "profile API GET (20 slots)", 0.9),
    ("JSON submit (3,000 slots)", "JSON submit (20 slots)", 0.9),
)


def slots(days: int, per_day: int, doctors: list[str]) -> list[dict[str, object]]:
    """Slots on weekdays from tomorrow, `per_day` per doctor from 08:00, 30 minutes apart."""
    result: list[dict[str, object]] = []
    day = datetime.now(BERLIN).date() + timedelta(days=1)
    while len(result) < days * per_day * len(doctors):
        if day.weekday() < 5:
            for doctor in doctors:
                for index in range(per_day):
                    start = datetime(day.year, day.month, day.day, 8, tzinfo=BERLIN) + timedelta(
                        minutes=30 * index
                    )
                    result.append(
                        {
                            "start": start.isoformat(),
                            "end": (start + timedelta(minutes=15)).isoformat(),
                            "doctor": doctor,
                            "appointment_type": TYPES[index % 2]["name"],
                        }
                    )
        day += timedelta(days=1)
    return result


def profile(slot_list: list[dict[str, object]]) -> dict[str, object]:
    return {
        "name": "Praxis Bench",
        "time_zone": "Europe/Berlin",
        "doctors": DOCTORS,
        "appointment_types": TYPES,
        "slots": slot_list,
        "accept_wishes": True,
    }


def wish_time() -> datetime:
    day = datetime.now(BERLIN).date() + timedelta(days=3)
    # After the last published slot of the day: a wish, not a slot to compete for.
    return datetime(day.year, day.month, day.day, 19, 10, tzinfo=BERLIN)


def lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal here


def submit_lua(path: str, *, form: bool) -> str:
    """Every request another patient (e-mail) from another /24 network."""
    start = wish_time()
    fields: dict[str, str] = {
        "first_name": "Erika",
        "last_name": "Mustermann",
        "birth_date": "1980-01-02",
        "gender": "female",
        "insurance": "statutory",
        "new_patient": "true",
        "note": "Kontrolle nach Behandlung, bitte vormittags.",
        "doctor": DOCTORS[0],
        "appointment_type": "Kontrolle",
        "phone": "+49 30 1234567",
        "consent": "true",
    }
    if form:
        fields["start"] = start.strftime("%Y-%m-%dT%H:%M")
        body = urlencode(fields) + "&email=erika%d%%40example.org"
        content_type = "application/x-www-form-urlencoded"
    else:
        data: dict[str, object] = {**fields, "new_patient": True, "consent": True}
        data["start"] = start.isoformat()
        data["email"] = "@@EMAIL@@"
        body = json.dumps(data, ensure_ascii=False).replace("@@EMAIL@@", "erika%d@example.org")
        content_type = "application/json"
    return f"""
math.randomseed(os.time())
local counter = math.random(1, 1000000000)
local body = {lua_string(body.replace("%", "%%").replace("%%d", "%d"))}
request = function()
  counter = counter + 1
  local network = string.format("10.%d.%d.7", math.floor(counter / 256) % 256, counter % 256)
  return wrk.format("POST", {lua_string(path)}, {{
    ["Content-Type"] = {lua_string(content_type)},
    ["X-Forwarded-For"] = network,
  }}, string.format(body, counter))
end
"""


def get_lua(path: str, *, accept_gzip: bool = False) -> str:
    """A GET of `path`; `accept_gzip` sends `Accept-Encoding: gzip`, as browsers and
    practice front ends do (the profile API and the form page then answer their
    compressed body)."""
    lua = f'wrk.method = "GET"\nwrk.path = {lua_string(path)}\n'
    if accept_gzip:
        lua += 'wrk.headers["Accept-Encoding"] = "gzip"\n'
    return lua


def bare_lua() -> str:
    return submit_lua("/", form=True)


def sealed_bodies(public_key: bytes, slug: str, count: int) -> list[str]:
    """`count` browser-sealed wish submissions, each with its own ticket and blob, sealed
    here (outside the timed loop) as the patient's browser seals them: what the relay does
    with one is what the step measures."""
    tickets = Tickets(SIGNING_KEY)
    box = SealedBox(PublicKey(public_key))
    start = wish_time().isoformat()
    bodies = []
    for index in range(count):
        issued = tickets.issue(slug, now=time.time())
        email = f"erika{index}.{secrets.token_hex(3)}@example.org"
        inner = {
            "id": issued.booking_id,
            "practice": slug,
            "kind": "wish",
            "slot": None,
            "language": "de",
            "first_name": "Erika",
            "last_name": "Mustermann",
            "birth_date": "1980-01-02",
            "gender": "female",
            "insurance": "statutory",
            "note": "Kontrolle nach Behandlung, bitte vormittags.",
            "new_patient": True,
            "doctor": DOCTORS[0],
            "appointment_type": "Kontrolle",
            "start": start,
            "end": None,
            "email": email,
            "phone": "+49 30 1234567",
            "consent": True,
        }
        blob = box.encrypt(pad(canonical_json(inner)))
        body = {
            "sealed": base64.b64encode(blob).decode(),
            "key_id": key_id(public_key),
            "ticket": issued.ticket,
            "email": email,
            "consent": True,
            "start": start,
        }
        bodies.append(json.dumps(body))
    return bodies


def sealed_lua(body_file: Path, path: str) -> str:
    """Each request the next pre-sealed body, from another /24 network."""
    return f"""
local bodies = {{}}
for line in io.lines({lua_string(str(body_file))}) do bodies[#bodies + 1] = line end
local index = 0
request = function()
  index = index + 1
  local network = string.format("10.%d.%d.9", math.floor(index / 256) % 256, index % 256)
  return wrk.format("POST", {lua_string(path)}, {{
    ["Content-Type"] = "application/json",
    ["X-Forwarded-For"] = network,
  }}, bodies[(index - 1) % #bodies + 1])
end
"""


def confirm_lua(token_file: Path) -> str:
    return f"""
local tokens = {{}}
for line in io.lines({lua_string(str(token_file))}) do tokens[#tokens + 1] = line end
local index = 0
request = function()
  index = index + 1
  return wrk.format("POST", "/c/" .. tokens[(index - 1) % #tokens + 1], {{
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }}, "action=confirm")
end
"""


_RATE = re.compile(r"Requests/sec:\s+([0-9.]+)")
_P50 = re.compile(r"^\s+50%\s+([0-9.]+)(us|ms|s)\s*$", re.MULTILINE)
_TOTAL = re.compile(r"([0-9]+) requests in")
_ERRORS = re.compile(r"Non-2xx or 3xx responses: ([0-9]+)")
_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(
    url: str,
    script: Path,
    duration: float,
    connections: int,
    profile: tuple[int, Path] | None = None,
) -> Figure:
    """One wrk run; with `profile` (pid, file), py-spy samples that process meanwhile."""
    sampler = None
    if profile is not None:
        pid, folded = profile
        sampler = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "py-spy"),
                *("record", "--pid", str(pid), "--format", "raw", "--rate", "250"),
                *("--duration", str(max(1, round(duration))), "--output", str(folded)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    output = subprocess.run(
        [
            "taskset",
            "-c",
            LOAD_CORE,
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    if sampler is not None:
        sampler.wait(timeout=60)
    rate, p50, total = _RATE.search(output), _P50.search(output), _TOTAL.search(output)
    if rate is None or p50 is None or total is None:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    errors = _ERRORS.search(output)
    return Figure(
        float(rate.group(1)),
        float(p50.group(1)) * _UNIT[p50.group(2)],
        int(errors.group(1)) if errors else 0,
        int(total.group(1)),
    )


@dataclass
class Practice:
    slug: str
    token: str


async def register(store: Store, slug: str) -> Practice:
    token = await registry.add_practice(
        store, slug, name="Praxis Bench", public_key=bytes(PrivateKey.generate().public_key)
    )
    return Practice(slug, token)


async def publish(url: str, practice: Practice, body: dict[str, object]) -> None:
    """PUT the profile gzip-compressed, as practice-client does."""
    headers = {
        "Authorization": f"Bearer {practice.token}",
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
    }
    data = gzip.compress(json.dumps(body).encode())
    async with (
        aiohttp.ClientSession() as http,
        http.put(f"{url}/api/v1/profile", data=data, headers=headers) as response,
    ):
        if response.status != 200:
            raise RuntimeError(
                f"publishing {practice.slug}: {response.status} {await response.text()}"
            )


async def pending_tokens(store: Store, slug: str, count: int) -> list[str]:
    """`count` pending wish bookings stored as a submit stores them, and their confirmation
    tokens. The sealed box is random bytes (confirm never looks inside); the summary is
    encrypted under the relay's data key, as the confirm page reads it."""
    version = (await store.load_practice(slug)).practice.profile_version
    now_ms = int(time.time() * 1000)
    sealed = secrets.token_bytes(2048)
    cipher = DataCipher((DATA_KEY,))
    start_time = wish_time()
    result: list[str] = []
    for start in range(0, count, 50):
        batch = []
        for index in range(min(50, count - start)):
            token = tokens.new_confirmation_token(slug)
            _, secret = token.split(".", 1)
            booking_id = str(uuid.uuid4())
            summary = {
                "practice_name": "Praxis Bench",
                "doctor": DOCTORS[0],
                "appointment_type": "Kontrolle",
                "start": start_time.isoformat(),
                "end": None,
                "time_zone": "Europe/Berlin",
                "wish": True,
                "kind": "wish",
                "lang": "de",
                "to": f"erika{start + index}@example.org",
            }
            encrypted = cipher.encrypt_json(summary, context=summary_context(slug, booking_id))
            batch.append((token, tokens.token_hash(secret), booking_id, encrypted))
        await asyncio.gather(
            *(
                store.submit(
                    slug,
                    NewBooking(
                        booking_id,
                        sealed=sealed,
                        summary=encrypted,
                        token_hash=token_hash,
                        mail_job=b"job",
                        ttl=3600,
                        now_ms=now_ms,
                        profile_version=version,
                    ),
                )
                for _, token_hash, booking_id, encrypted in batch
            )
        )
        result += [token for token, *_ in batch]
    return result


async def wake_latency(url: str, store: Store, practice: Practice) -> list[float]:
    """Confirm POST to the answer of the practice's waiting long poll, in ms."""
    auth = {"Authorization": f"Bearer {practice.token}"}
    waits: list[float] = []
    async with aiohttp.ClientSession() as http:
        for token in await pending_tokens(store, practice.slug, WAKE_RUNS):
            poll = asyncio.create_task(
                http.get(f"{url}/api/v1/inbox?wait=30&limit=1", headers=auth)
            )
            await asyncio.sleep(0.02)
            started = time.perf_counter()
            async with http.post(f"{url}/c/{token}", data={"action": "confirm"}) as page:
                if page.status != 200:
                    raise RuntimeError(f"confirm answered {page.status}")
            response = await poll
            items = (await response.json())["items"]
            if len(items) != 1:
                raise RuntimeError(f"the long poll answered {len(items)} items, not the one")
            waits.append((time.perf_counter() - started) * 1000)
            response.release()
            async with http.post(
                f"{url}/api/v1/inbox/ack", json={"ids": [i["id"] for i in items]}, headers=auth
            ) as ack:
                await ack.read()
    return waits


def relay_env(redis_url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    env.update(
        PYTHONPATH=str(ROOT),
        RELAY_REDIS_URL=redis_url,
        RELAY_SMTP_URL="smtp://127.0.0.1:1",
        RELAY_MAIL_FROM="bench@relay.test",
        RELAY_SIGNING_KEY=base64.b64encode(SIGNING_KEY).decode(),
        RELAY_DATA_KEYS=base64.b64encode(DATA_KEY).decode(),
        RELAY_PORT=str(port),
        RELAY_PUBLIC_URL=f"http://127.0.0.1:{port}",
        RELAY_MAIL_WORKER="off",
        **UNLIMITED,
        RELAY_TRUSTED_PROXIES="127.0.0.1/32",
        RELAY_LOG_LEVEL="INFO",
        RELAY_EVENT_LOOP=EVENT_LOOP[0] if EVENT_LOOP else "auto",
    )
    return env


def median_figure(figures: list[Figure]) -> Figure:
    return Figure(
        statistics.median(f.requests_per_s for f in figures),
        statistics.median(f.p50_ms for f in figures),
        sum(f.errors for f in figures),
        sum(f.requests for f in figures),
    )


def print_table(results: dict[str, Figure], wakes: dict[str, list[float]]) -> None:
    bare = results["bare aiohttp form POST"].requests_per_s
    print("\n| step | req/s | p50 | ratio to bare aiohttp | non-2xx |")
    print("|---|---|---|---|---|")
    for name, figure in results.items():
        print(
            f"| {name} | {figure.requests_per_s:,.0f} | {figure.p50_ms:.1f} ms "
            f"| {figure.requests_per_s / bare if bare else 0:.3f} "
            f"| {figure.errors} of {figure.requests} |"
        )
    print("\n| target | figure | met |")
    print("|---|---|---|")
    for name, reference, minimum in TARGETS:
        if name not in results or (reference is not None and reference not in results):
            continue
        base = bare if reference is None else results[reference].requests_per_s
        ratio = results[name].requests_per_s / base if base else 0.0
        against = "bare aiohttp" if reference is None else reference
        print(
            f"| {name} ≥ {minimum} × {against} | {ratio:.3f} "
            f"| {'met' if ratio >= minimum else 'MISSED'} |"
        )
    for suffix, wake in wakes.items():
        ordered = sorted(wake)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        slowest = ", ".join(f"{w:.1f}" for w in ordered[-4:])
        print(
            f"| long-poll wake p99 < 10 ms{suffix} ({len(wake)} runs, confirm POST included) "
            f"| {p99:.1f} ms (p50 {statistics.median(wake):.1f} ms; slowest {slowest} ms) "
            f"| {'met' if p99 < 10 else 'MISSED'} |"
        )


def step_scripts(chosen: list[str] | None) -> dict[str, str]:
    """Each step's wrk script; with `chosen`, only the baseline and the matching steps."""
    scripts = {
        "bare aiohttp form POST": bare_lua(),
        "form GET (20 slots)": get_lua("/p/p20?lang=de"),
        "form GET (3,000 slots)": get_lua("/p/p3000?lang=de"),
        # With Accept-Encoding: the kept page's gzip copy, as phones get it (no target).
        "form GET (3,000 slots, gzip)": get_lua("/p/p3000?lang=de", accept_gzip=True),
        "profile API GET (20 slots)": get_lua("/api/v1/practices/p20", accept_gzip=True),
        "profile API GET (3,000 slots)": get_lua("/api/v1/practices/p3000", accept_gzip=True),
        # Without Accept-Encoding: the 400 KB plain JSON (no target).
        "profile API GET (3,000 slots, identity)": get_lua("/api/v1/practices/p3000"),
        "JSON submit (20 slots)": submit_lua("/api/v1/practices/p20/bookings", form=False),
        "JSON submit (3,000 slots)": submit_lua("/api/v1/practices/p3000/bookings", form=False),
        "form submit (20 slots)": submit_lua("/p/p20?lang=de", form=True),
        "form submit (3,000 slots)": submit_lua("/p/p3000?lang=de", form=True),
    }
    if chosen:
        scripts = {
            name: step
            for name, step in scripts.items()
            if name.startswith("bare") or any(part in name for part in chosen)
        }
    return scripts


@dataclass(frozen=True)
class Relay:
    """A relay under test: `suffix` names it in the table ("" for the working tree)."""

    suffix: str
    url: str
    pid: int


def relay_command(tree: Path, python_parser: bool) -> list[str]:
    command = [sys.executable, str(tree / "bench/serve_relay.py")]
    return [*command, "--python-parser"] if python_parser else command


def baseline_tree(revision: str, work: Path) -> Path:
    """The relay as it was at `revision`, unpacked (git archive) into `work`."""
    tree = work / "baseline"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "archive", revision], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


async def start_relays(
    arguments: argparse.Namespace, redis_url: str, launch: Launcher
) -> list[Relay]:
    trees = [("", ROOT)]
    if arguments.baseline:
        trees.append((f" @ {arguments.baseline}", baseline_tree(arguments.baseline, launch.work)))
    relays = []
    for suffix, tree in trees:
        port = server_port()
        env = relay_env(redis_url, port) | {"PYTHONPATH": str(tree)}
        child = launch.relay(
            env,
            command=relay_command(tree, arguments.python_parser),
            port=port,
            core=SERVER_CORE,
            name=f"relay{suffix}",
            # RELAY_LOG_LEVEL=INFO logs every request: kept off the disk and the table.
            output=subprocess.DEVNULL,
            wait=False,
        )
        await asyncio.to_thread(child.wait_ready)
        relays.append(Relay(suffix, child.url, child.pid))
    return relays


async def set_up_practices(store: Store, url: str) -> bytes:
    """p20 (20 slots, browser sealing allowed) and p3000; p20's public key."""
    small, large = await register(store, "p20"), await register(store, "p3000")
    await publish(url, small, {**profile(slots(1, 4, DOCTORS)), "sealing": "either"})
    await publish(url, large, profile(slots(30, 20, DOCTORS)))
    return (await store.load_practice("p20")).practice.public_key


async def measure(arguments: argparse.Namespace, redis_url: str, launch: Launcher) -> None:
    work = launch.work
    bare_port = server_port()
    bare_url = f"http://127.0.0.1:{bare_port}"
    redis = Redis.from_url(redis_url)
    store = Store(redis)
    chosen = arguments.steps
    bare = launch.process(
        "bare aiohttp app",
        [sys.executable, "bench/bare_app.py", str(bare_port)],
        core=SERVER_CORE,
    )
    relays = await start_relays(arguments, redis_url, launch)
    await asyncio.to_thread(bare.wait_for, lambda: http_status(f"{bare_url}/") < 500, "answer HTTP")
    small_key = await set_up_practices(store, relays[0].url)
    # Each step against each relay in turn: (name, relay or None for the bare app, lua)
    steps: list[tuple[str, Relay | None, str]] = []
    for name, lua in step_scripts(chosen).items():
        if name.startswith("bare"):
            steps.append((name, None, lua))
        else:
            steps += [(name + relay.suffix, relay, lua) for relay in relays]
    with_confirm = not chosen or any(part in "confirm" for part in chosen)
    confirms = [("confirm" + relay.suffix, relay) for relay in relays if with_confirm]
    # A baseline from before protocol 2 answers these with errors (the non-2xx column).
    with_sealed = not chosen or any(part in SEALED_STEP for part in chosen)
    sealed_steps = [(SEALED_STEP + relay.suffix, relay) for relay in relays if with_sealed]
    names = [step[0] for step in steps] + [name for name, _ in [*sealed_steps, *confirms]]
    figures: dict[str, list[Figure]] = {name: [] for name in names}
    token_file, script, body_file = work / "tokens.txt", work / "step.lua", work / "sealed.txt"

    def sampled(name: str, relay: Relay | None, repetition: int) -> tuple[int, Path] | None:
        if arguments.py_spy is None or relay is None:
            return None
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        return relay.pid, arguments.py_spy / f"{slug}-{repetition}.txt"

    def timed(name: str, relay: Relay | None, repetition: int) -> None:
        figures[name].append(
            run_wrk(
                bare_url if relay is None else relay.url,
                script,
                arguments.duration,
                arguments.connections,
                sampled(name, relay, repetition),
            )
        )

    for repetition in range(1, arguments.repetitions + 1):
        for name, relay, lua in steps:
            script.write_text(lua)
            timed(name, relay, repetition)
        # Fresh pending bookings, tickets and blobs: each of those works once.
        expected = max(f.requests_per_s for f in figures["bare aiohttp form POST"])
        for name, relay in sealed_steps:
            count = int(expected * arguments.duration * 0.3) + 1000
            bodies = await asyncio.to_thread(sealed_bodies, small_key, "p20", count)
            body_file.write_text("\n".join(bodies) + "\n")
            script.write_text(sealed_lua(body_file, "/api/v1/practices/p20/bookings"))
            timed(name, relay, repetition)
        for name, relay in confirms:
            # Enough pending bookings that no confirm meets an already confirmed one.
            count = int(expected * arguments.duration * 0.6) + 1000
            tokens_now = await pending_tokens(store, "p20", count)
            token_file.write_text("\n".join(tokens_now) + "\n")
            script.write_text(confirm_lua(token_file))
            timed(name, relay, repetition)
        print(f"repetition {repetition} of {arguments.repetitions} done", flush=True)
    # A practice of its own: the confirm steps filled p20's inbox, and a poll there
    # would be answered at once, without waiting for a wake.
    waking = await register(store, "pwake")
    await publish(relays[0].url, waking, profile(slots(1, 4, DOCTORS)))
    wakes = {relay.suffix: await wake_latency(relay.url, store, waking) for relay in relays}
    await redis.aclose()
    print(
        f"\n{arguments.repetitions} interleaved repetitions of {arguments.duration:g} s, "
        f"{arguments.connections} connections; relay on core {SERVER_CORE}, wrk on core "
        f"{LOAD_CORE}; redis-py parser: {'Python' if arguments.python_parser else 'hiredis'}"
    )
    print_table({name: median_figure(values) for name, values in figures.items() if values}, wakes)
    if arguments.py_spy is not None:
        print("\nWhere the relay's time goes (py-spy, inclusive):")
        for folded in sorted(arguments.py_spy.glob("*.txt")):
            print(profile_summary(folded))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--duration", type=int, default=4, help="seconds per step and run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--python-parser", action="store_true")
    parser.add_argument(
        "--event-loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="RELAY_EVENT_LOOP of the relay under test",
    )
    parser.add_argument(
        "--steps",
        nargs="+",
        metavar="PART",
        help="run only the steps whose names contain one of these (the baseline always runs)",
    )
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also run every step against the relay at git revision REV, interleaved",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="sample the relay with py-spy during each step; folded stacks into DIR",
    )
    parser.add_argument("--memory", action="store_true", help="also run bench/memory_bench.py")
    parser.add_argument("--mail", action="store_true", help="also run bench/mail_bench.py")
    arguments = parser.parse_args()
    EVENT_LOOP.append(arguments.event_loop)
    # This process is load too (the long-poll wake clients, storing pending bookings):
    # on the load core, so it never takes the relay's.
    os.sched_setaffinity(0, {int(LOAD_CORE)})
    for tool in ("wrk", "taskset", "redis-server"):
        if shutil.which(tool) is None:
            sys.exit(
                f"bench.table needs {tool} on PATH "
                "(Debian: apt-get install wrk util-linux redis-server)"
            )
    with Launcher("terminrelay-table-") as launch:
        # Redis shares the load generator's core, as a separate database host would not.
        redis_server = launch.redis(*AOF, *NOEVICTION, core=LOAD_CORE)
        asyncio.run(measure(arguments, redis_server.url(), launch))
    for flag, module in (
        (arguments.memory, "bench.memory_bench"),
        (arguments.mail, "bench.mail_bench"),
    ):
        if flag:
            print(f"\n$ python -m {module}", flush=True)
            subprocess.run([sys.executable, "-m", module], cwd=ROOT, check=False)


if __name__ == "__main__":
    main()
