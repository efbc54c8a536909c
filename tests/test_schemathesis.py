"""Schemathesis against a live relay: every check it has, on every described operation.

The relay runs on loopback with real Redis and the SMTP sink; a registered practice has a
published profile with slots and confirmed bookings in its inbox, so answers beyond 401,
404 and 422 are reachable: 202, 409, 413, 429, and inbox items. The run is bounded by its
number of examples, so the statuses it reaches do not depend on the machine's speed.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from relay.web.appkeys import METRICS
from tests.conftest import PracticeHandle, RelayFactory, RunningRelay
from tests.helpers import BERLIN, DOCTORS, booking_json, profile_json, put_profile, slot_times

# Half a minute of fuzzing; runs in CI like every test (slow only selects it by marker).
pytestmark = pytest.mark.slow

# The run is bounded by its examples, not by a clock: with a time budget (`max-time`)
# Schemathesis repeats fuzzing until the budget is spent, and where a loaded machine cuts
# it off decides which answers were reached. 100 examples per operation and phase make
# about 1,400 requests: under 20 s on two shared cores, about 30 s with both kept busy.
MAX_EXAMPLES = 100
# Only a safety net for a hung run, well above the run's own length and below pytest's
# 120 s per-test timeout.
DEADLINE = 100
# Confirmed bookings waiting in the inbox; fetched items stay visible (visibility 0), so a
# long poll answers at once instead of waiting up to 60 s for an item.
INBOX_ITEMS = 5
# Loose enough that generated bookings are taken (202, and 409 for a slot taken twice)
# rather than asked for a proof of work; the recipient limit stays at its default (3 mails
# an hour), which some of the EMAILS addresses bookings are drawn from meet (429).
SUBMIT_LIMIT = 100
EMAILS = 20
# RELAY_MAX_PROFILE_BYTES at its lowest setting: the coverage phase's profiles with the
# most slots the document allows exceed it, so 413 is reached as the document says.
MAX_PROFILE_BYTES = 64 * 1024
# Which requests a seed draws depends on the document too: the clear `insurance` of a
# sealed booking (issue 18) moved 20260101's draws off every accepted booking, so 202 and
# 429 went unreached. Another seed draws them again; pick anew if the document changes so.
SEED = 20260103


async def fill_inbox(relay: RunningRelay, practice: PracticeHandle, count: int) -> None:
    """Submits and confirms `count` wishes through the service, as a patient would."""
    first = datetime.now(BERLIN).replace(hour=8, minute=0, second=0, microsecond=0)
    for index in range(count):
        start = first + timedelta(days=5, minutes=10 * index)
        booking = booking_json(start)
        submitted = await relay.service.submit(
            practice.slug, booking, client_network="198.51.100.0/24", lang="de"
        )
        assert await relay.service.confirm(submitted.token) == "confirmed"


def requests_served(relay: RunningRelay) -> Counter[str]:
    """Requests the relay answered so far, by status, from its own latency histogram."""
    served: Counter[str] = Counter()
    for metric in relay.app[METRICS].registry.collect():
        if metric.name == "terminrelay_http_request_duration_seconds":
            for sample in metric.samples:
                if sample.name.endswith("_count"):
                    served[sample.labels["status"]] += int(sample.value)
    return served


def schemathesis_command() -> list[str]:
    """The `st` of this environment, after checking it can send requests at all."""
    st = str(Path(sys.executable).parent / "st")
    # urllib3-future (pulled in by niquests) replaces urllib3 in place, and Schemathesis's
    # requests transport then fails on every call: say so rather than report 4,000 errors.
    probe = subprocess.run(
        [sys.executable, "-c", "import urllib3; print(urllib3.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    version = probe.stdout.strip()
    plain_urllib3 = version.startswith("2.") and int(version.split(".")[1]) < 20
    assert plain_urllib3, (
        f"urllib3 {version} is urllib3-future, which breaks Schemathesis: "
        "pip uninstall urllib3-future and reinstall urllib3"
    )
    return [st]


def config(tmp: Path, practice: PracticeHandle) -> Path:
    """schemathesis.toml: where generation may pick known-good values, and why 422 is fine."""
    starts = [start.isoformat() for start, _ in slot_times(count=6)]
    emails = [f"patient{index}@example.org" for index in range(EMAILS)]
    text = f"""
seed = {SEED}

[generation]
max-examples = {MAX_EXAMPLES}
database = "none"

# Real values now and then, so generated requests also reach the paths behind the checks
# for a registered practice and a published slot: bookings that pass every rule (202),
# take a slot twice (409) and run into the limits (429), and mutations of accepted
# bodies that must be refused.
[dictionaries.slugs]
values = [{json.dumps(practice.slug)}]
[dictionaries.starts]
values = {json.dumps(starts)}
[dictionaries.doctors]
values = {json.dumps(DOCTORS)}
[dictionaries.types]
values = ["Erstgespräch", "Kontrolle"]
[dictionaries.names]
values = ["Erika", "Mustermann", "Anna-Lena", "Özdemir"]
[dictionaries.birth_dates]
values = ["1984-03-05", "1950-12-31", "2001-07-15"]
[dictionaries.emails]
values = {json.dumps(emails)}
[dictionaries.no_end]
# A blank end means the slot's own (or, for a wish, the appointment type's length).
values = [""]
[dictionaries.phones]
values = ["+49 30 5550100", "030 555-0101"]

[parameters]
"path.practice" = {{ dictionary = "slugs", probability = 0.7 }}
"body.start" = {{ dictionary = "starts", probability = 0.5 }}
"body.doctor" = {{ dictionary = "doctors", probability = 0.5 }}
"body.appointment_type" = {{ dictionary = "types", probability = 0.5 }}
"body.first_name" = {{ dictionary = "names", probability = 0.5 }}
"body.last_name" = {{ dictionary = "names", probability = 0.5 }}
"body.birth_date" = {{ dictionary = "birth_dates", probability = 0.7 }}
"body.email" = {{ dictionary = "emails", probability = 0.7 }}
"body.end" = {{ dictionary = "no_end", probability = 0.7 }}
"body.phone" = {{ dictionary = "phones", probability = 0.5 }}

# Schemathesis's list plus 413: a body past the size limit is refused before it is read.
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "404", "405", "409", "413", "415", "422", "429"]

# Schema-valid bookings may still break rules JSON Schema cannot state: a birth date in
# the past relative to today, a start that is a published free slot or a future wish, a
# doctor the practice lists, a free slot (409), the abuse limits (429); and the practice
# may not exist (404). The relay answers those as the document says.
[[operations]]
include-operation-id = ["submitBooking"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "409", "422", "429"]

# A schema-valid profile may name an unknown time zone, a doctor its list lacks, a slot
# twice (422), or be larger than RELAY_MAX_PROFILE_BYTES (413).
[[operations]]
include-operation-id = ["putProfile"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "413", "422"]

# A schema-valid answer may end before it starts, propose a time in the past (422), or
# not fit the booking's status (409); no booking has the generated id and address (404).
[[operations]]
include-operation-id = ["answerBooking"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "409", "422", "429"]

# The same for a reminder: a start in the past or an end before it (422), no booking with
# the generated id and address (404).
[[operations]]
include-operation-id = ["remindPatient"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "409", "422", "429"]

# These two ignore members other than `ids` / `public_key`, which may hold any JSON, but
# the relay's JSON reader refuses integers past 18 digits and nesting past 16 levels with
# 400 (documented under 400), and any body past the body limit with 413.
[[operations]]
include-operation-id = ["putKey", "acknowledgeItems"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "413"]
"""
    path = tmp / "schemathesis.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_schemathesis_finds_no_failure(relay_factory: RelayFactory, tmp_path: Path) -> None:
    """Every Schemathesis check passes on every operation of the document, live."""
    relay = await relay_factory(
        inbox_visibility=0,
        submit_limit=SUBMIT_LIMIT,
        max_profile_bytes=MAX_PROFILE_BYTES,
    )
    practice = await relay.add_practice()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile_json(count=6))
    await fill_inbox(relay, practice, INBOX_ITEMS)

    report = tmp_path / "report.json"
    before = requests_served(relay)
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *schemathesis_command(),
        "--config-file",
        str(config(tmp_path, practice)),
        "run",
        f"{relay.url}/api/v1/openapi.json",
        "--checks",
        "all",
        "--header",
        f"Authorization: Bearer {practice.token}",
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,  # its cache directory lands there, not in the work tree
        env={**os.environ, "NO_PROXY": "127.0.0.1", "SCHEMATHESIS_TELEMETRY": "false"},
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), DEADLINE)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"schemathesis did not finish within {DEADLINE} s") from None
    text = output.decode(errors="replace")
    print(text)
    served = requests_served(relay) - before
    summary = json.loads(report.read_text(encoding="utf-8"))
    print(
        f"schemathesis: {summary['test_cases']['generated']} test cases, "
        f"{served.total()} requests answered by the relay in "
        f"{time.monotonic() - started:.0f} s, by status: {dict(sorted(served.items()))}"
    )
    assert process.returncode == 0, text[-6000:]
    assert summary["failures"] == [], summary["failures"]
    assert summary["errors"] == [], summary["errors"]
    assert not [status for status in served if status.startswith("5")]
    # The interesting answers were reached, not only 401, 404 and 422: bookings taken and
    # limited, an oversize profile, unreadable bodies. (409 needs two generated bookings
    # for the same free slot, which the fixed seed reaches only now and then.)
    reached = set(served)
    expected = {"200", "202", "400", "401", "404", "405", "413", "415", "422", "429"}
    assert expected <= reached, f"not reached: {sorted(expected - reached)}"
