"""The check of the booking form page the relay serves patients
(practice_client/relay/transparency.py), its list of accepted scripts, and where the client
runs it: `check`, and `run` at start and every few hours.

Against the real relay, and against a stand-in relay (tests/browser_sealed.py) serving the
parts of a protocol-2 page the relay's templates do not have yet (the sealing key, data-seal)
and every way a page can be wrong.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from practice_client.__main__ import main
from practice_client.check import check
from practice_client.relay.api import RelayClient
from practice_client.relay.keys import KeyPair, create_key_file
from practice_client.relay.retry import RetryPolicy
from practice_client.relay.transparency import (
    PageReport,
    accepted_scripts,
    check_form_page,
    policy_problems,
)
from practice_client.runner import RunConfig, run
from tests.browser_sealed import (
    SLUG,
    STRICT_POLICY,
    TOKEN,
    FormPage,
    StandInRelay,
    integrity,
    stand_in_relay,
)
from tests.capture_proxy import CaptureProxy
from tests.helpers import wait_until_async
from tests.test_slots import RULES

if TYPE_CHECKING:
    from tests.conftest import PracticeHandle, RunningRelay

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = tuple(sorted(p.name for p in (ROOT / "relay" / "web" / "static").glob("*.js")))
QUICK = RetryPolicy(start=0.01, cap=0.05, attempts=2)


@pytest.fixture
async def stand_in(tmp_path: Path) -> AsyncIterator[StandInRelay]:
    """A stand-in relay serving a correct protocol-2 form page sealing to our key."""
    ring = create_key_file(tmp_path / "practice.key", KeyPair.generate())
    async with stand_in_relay(ring.current.public_key) as relay:
        relay.page = FormPage(ring.current.public_key)
        yield relay


async def page_report(relay: StandInRelay, **options: bool) -> PageReport:
    async with RelayClient(relay.url) as client:
        return await check_form_page(client, SLUG, relay.practice_key, **options)


def only_problem(report: PageReport) -> str:
    (problem,) = report.problems
    assert problem.startswith(f"the booking form page {report.url}: ")
    return problem


# The list of accepted scripts -------------------------------------------------------------


def test_the_committed_list_accepts_the_current_scripts() -> None:
    """Every script of relay/web/static the page may load has its current hash in
    accepted_scripts.json: run scripts/pin-scripts after changing one."""
    accepted = accepted_scripts()
    for name in SCRIPTS:
        path = ROOT / "relay" / "web" / "static" / name
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            assert digest in accepted[name], f"{name} changed: run scripts/pin-scripts"


def test_pin_scripts_adds_current_hashes_keeps_old_ones_and_skips_missing_files(
    tmp_path: Path,
) -> None:
    """Given a list holding an old form.js hash and a seal.js gone since, pin-scripts adds
    the hashes of the current form.js and pow.js, keeps the old ones and says seal.js is
    missing."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "pin-scripts", tmp_path / "scripts")
    static = tmp_path / "relay" / "web" / "static"
    static.mkdir(parents=True)
    (static / "form.js").write_bytes(b"new form")
    (static / "pow.js").write_bytes(b"pow")
    listed = tmp_path / "practice_client" / "relay" / "accepted_scripts.json"
    listed.parent.mkdir(parents=True)
    listed.write_text(
        json.dumps({"scripts": {"form.js": ["0" * 64], "seal.js": ["1" * 64]}}), encoding="utf-8"
    )

    result = subprocess.run(
        ["bash", str(tmp_path / "scripts" / "pin-scripts")],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert "skipped seal.js" in result.stdout
    assert json.loads(listed.read_text(encoding="utf-8")) == {
        "scripts": {
            "form.js": ["0" * 64, hashlib.sha256(b"new form").hexdigest()],
            "pow.js": [hashlib.sha256(b"pow").hexdigest()],
            "seal.js": ["1" * 64],
        }
    }


# Against the real relay ---------------------------------------------------------------------

REAL_PROFILE = {
    "name": "Praxis Dr. Beispiel",
    "doctors": [],
    "appointment_types": [],
    "slots": [],
    "accept_wishes": True,
}


async def test_the_real_relays_form_page_passes(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """The relay's own page, for a practice that published a profile as the client does
    (sealing "either"): every script accepted and the policy strict; where the relay seals
    in the browser, the page names our key and marks every sensitive field."""
    async with RelayClient(relay.url, practice.token) as client:
        await client.put_profile({**REAL_PROFILE, "sealing": "either"})
        report = await check_form_page(
            client, practice.slug, bytes(practice.private_key.public_key)
        )
        html = (await client.fetch_page(f"/p/{practice.slug}")).body.decode()

    assert report.ok, report.problems
    assert "sealing-config" in html
    assert report.sealing
    assert {"seal.js", "sealing.js", "form.js"} <= set(report.scripts)
    assert report.sealed_fields > 0


@pytest.mark.parametrize(
    ("tampered", "said"),
    [
        ("/static/seal.js", "the script 'seal.js' is not one this release accepts"),
        ("/static/sealing.js", "the script 'sealing.js' is not one this release accepts"),
        ("/p/", "'seal.js' does not match its integrity attribute"),
    ],
)
async def test_one_byte_changed_on_the_way_fails_the_check(
    relay: RunningRelay, practice: PracticeHandle, tampered: str, said: str
) -> None:
    """A proxy in front of the real relay changes one byte of a script, or of the page's
    integrity attribute for it (so the browser would run the changed script): the check
    fails, naming the script, and `practice-client check` would exit non-zero."""

    def change(path: str, body: bytes) -> bytes:
        if not path.startswith(tampered):
            return body
        if tampered == "/p/":
            # The page vouches for a changed seal.js: its integrity attribute is another.
            marker = b"seal.js?v="
            start = body.index(b'integrity="', body.index(marker)) + len(b'integrity="sha384-')
            flipped = b"A" if body[start : start + 1] != b"A" else b"B"
            return body[:start] + flipped + body[start + 1 :]
        return body[:100] + bytes([body[100] ^ 1]) + body[101:]

    proxy = CaptureProxy(tamper=change)
    async with RelayClient(relay.url, practice.token) as client:
        await client.put_profile({**REAL_PROFILE, "sealing": "either"})
    await proxy.start(relay.url)
    try:
        async with RelayClient(proxy.url, practice.token) as client:
            report = await check_form_page(
                client, practice.slug, bytes(practice.private_key.public_key)
            )
    finally:
        await proxy.stop()
    assert not report.ok
    assert any(said in problem for problem in report.problems), report.problems


async def test_the_real_relays_security_policy_passes(relay: RunningRelay) -> None:
    """The relay's Content-Security-Policy, read from its answer, is one the check accepts."""
    async with RelayClient(relay.url) as client:
        answer = await client.fetch_page("/privacy")

    assert policy_problems(answer.headers["content-security-policy"]) == []


# Against a stand-in relay serving protocol-2 pages --------------------------------------


async def test_a_correct_page_passes(stand_in: StandInRelay) -> None:
    """Released scripts with matching integrity, our key, strict policy, data-seal."""
    report = await page_report(stand_in)

    assert report.ok, report.problems
    assert report.sealing
    assert report.scripts == ("form.js", "pow.js")
    assert report.sealed_fields == 6  # four inputs, the gender list, the note
    assert report.summary().startswith(
        f"the booking form page {stand_in.url}/p/{SLUG} seals to our current key"
    )


async def test_one_byte_changed_in_a_served_script_fails(stand_in: StandInRelay) -> None:
    """A changed form.js (its integrity attribute updated to match) is not accepted."""
    assert stand_in.page is not None
    changed = bytearray(stand_in.page.scripts["form.js"])
    changed[100] ^= 0x20
    stand_in.page.scripts["form.js"] = bytes(changed)
    stand_in.page.integrity_of["form.js"] = integrity(bytes(changed))

    problem = only_problem(await page_report(stand_in))

    assert "the script 'form.js' is not one this release accepts (SHA-256 " in problem
    assert hashlib.sha256(bytes(changed)).hexdigest() in problem


async def test_a_script_not_matching_its_integrity_or_without_one_fails(
    stand_in: StandInRelay,
) -> None:
    """The served bytes must match the integrity attribute, and there must be one."""
    assert stand_in.page is not None
    stand_in.page.integrity_of["pow.js"] = integrity(b"something else")
    assert "'pow.js' does not match its integrity attribute" in only_problem(
        await page_report(stand_in)
    )

    stand_in.page.extra_head = '<script src="/static/form.js"></script>'
    report = await page_report(stand_in)
    assert any("'form.js' has no integrity attribute" in problem for problem in report.problems)


async def test_a_page_sealing_to_another_key_fails(stand_in: StandInRelay) -> None:
    """The page names a key that is not our current one: bookings sealed to its holder."""
    other = KeyPair.generate().public_key
    assert stand_in.page is not None
    stand_in.page.public_key = other

    problem = only_problem(await page_report(stand_in))

    assert "it seals to the public key" in problem
    assert "not to our current one" in problem


@pytest.mark.parametrize(
    ("policy", "complaint"),
    [
        ("default-src 'none'; script-src 'self' 'unsafe-inline'; object-src 'none'", "script-src"),
        ("default-src 'none'; script-src 'self' 'unsafe-eval'; object-src 'none'", "script-src"),
        ("script-src 'self' https://cdn.example; object-src 'none'", "script-src"),
        ("default-src 'self' https:; object-src 'none'", "more than 'self'"),
        ("script-src 'self'", "object-src 'none'"),
        ("default-src 'self'; script-src 'self'", "object-src 'none'"),
        (
            "script-src 'self'; script-src-attr 'unsafe-inline'; object-src 'none'",
            "script-src-attr",
        ),
        ("object-src 'none'", "no script-src"),
        ("", "no Content-Security-Policy"),
    ],
)
async def test_a_page_with_a_weak_security_policy_fails(
    stand_in: StandInRelay, policy: str, complaint: str
) -> None:
    """script-src must be 'self' only; plugins must be off; the header must be there."""
    assert stand_in.page is not None
    stand_in.page.policy = policy

    problems = (await page_report(stand_in)).problems

    assert problems, policy
    assert any(complaint in problem for problem in problems), problems


async def test_default_src_none_stands_for_an_absent_object_src(stand_in: StandInRelay) -> None:
    """`default-src 'none'; script-src 'self'` (the relay's policy) forbids plugins."""
    assert stand_in.page is not None
    stand_in.page.policy = "default-src 'none'; script-src 'self'"

    assert (await page_report(stand_in)).ok


async def test_a_sensitive_field_without_data_seal_fails(stand_in: StandInRelay) -> None:
    """The last name input lacks data-seal: the form would post it to the relay."""
    assert stand_in.page is not None
    stand_in.page.unsealed = ("last_name", "note")

    problem = only_problem(await page_report(stand_in))

    assert "the field(s) last_name, note lack data-seal" in problem


async def test_a_foreign_script_an_inline_script_and_a_base_fail(stand_in: StandInRelay) -> None:
    """Scripts come from the relay's origin only; nothing inline; no <base>."""
    assert stand_in.page is not None
    stand_in.page.extra_head = (
        '<script src="//cdn.example/x.js" integrity="sha384-AAAA"></script>'
        "<script>fetch('/steal')</script><base href=\"https://elsewhere.example/\">"
    )

    problems = (await page_report(stand_in)).problems

    assert len(problems) == 3
    assert any("loads the script '//cdn.example/x.js' from another origin" in p for p in problems)
    assert any("1 inline script(s)" in p for p in problems)
    assert any("<base>" in p for p in problems)


async def test_a_page_that_does_not_seal_passes_unless_the_practice_requires_it(
    stand_in: StandInRelay,
) -> None:
    """Without a sealing key the relay seals, which sealing "either" allows; with
    require_sealing (sealing "browser") it is a problem."""
    assert stand_in.page is not None
    stand_in.page.sealing = False

    report = await page_report(stand_in)
    assert report.ok
    assert not report.sealing

    problem = only_problem(await page_report(stand_in, require_sealing=True))
    assert "names no sealing key" in problem


async def test_a_page_that_cannot_be_fetched_is_a_problem(stand_in: StandInRelay) -> None:
    """No page (404) is one problem line, not an exception."""
    stand_in.page = None

    assert "answered HTTP 404" in only_problem(await page_report(stand_in))


# Where the client runs the check ----------------------------------------------------------


async def test_check_exits_1_with_a_line_naming_the_changed_script(
    stand_in: StandInRelay, tmp_path: Path
) -> None:
    """`practice-client check`: one ✗ line per difference, exit 1."""
    assert stand_in.page is not None
    stand_in.page.scripts["pow.js"] += b"\n// changed"
    stand_in.page.integrity_of["pow.js"] = integrity(stand_in.page.scripts["pow.js"])
    console = io.StringIO()

    code = await check(
        stand_in.url, TOKEN, tmp_path / "practice.key", tmp_path / "out", policy=QUICK, out=console
    )

    assert code == 1
    (line,) = [line for line in console.getvalue().splitlines() if "pow.js" in line]
    assert line.startswith(f"[FAIL] the booking form page {stand_in.url}/p/{SLUG}: the script")
    assert "-> tell the relay operator" in line


async def test_check_passes_a_correct_page(stand_in: StandInRelay, tmp_path: Path) -> None:
    """Every line ✓, the page's among them."""
    console = io.StringIO()

    code = await check(
        stand_in.url, TOKEN, tmp_path / "practice.key", tmp_path / "out", policy=QUICK, out=console
    )

    assert code == 0, console.getvalue()
    assert "[ok] the booking form page" in console.getvalue()


async def test_run_once_checks_the_page_at_start_and_still_delivers(
    stand_in: StandInRelay, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real command: a changed script is one error line; delivery goes on, exit 0."""
    assert stand_in.page is not None
    stand_in.page.scripts["form.js"] = b"/* not the released form.js */"
    stand_in.page.integrity_of["form.js"] = integrity(stand_in.page.scripts["form.js"])
    sealed = stand_in.item()
    stand_in.add(sealed)

    code = await asyncio.to_thread(
        main,
        [
            *("run", "--once", "--relay", stand_in.url, "--token", TOKEN),
            *("--key-file", str(tmp_path / "practice.key"), "--out", str(tmp_path / "out")),
        ],
    )

    assert code == 0
    assert (tmp_path / "out" / f"{sealed.id}.json").is_file()
    errors = [line for line in capsys.readouterr().err.splitlines() if " ERROR " in line]
    assert len(errors) == 1
    assert "the script 'form.js' is not one this release accepts" in errors[0]


async def test_run_with_rules_asking_for_browser_sealing_names_a_page_that_does_not(
    stand_in: StandInRelay, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sealing = "browser"` in the rules: a page without a sealing key is an error line
    (the relay would read what patients type); the profile says "browser"."""
    assert stand_in.page is not None
    stand_in.page.sealing = False
    rules = tmp_path / "rules.toml"
    rules.write_text(f'sealing = "browser"\n{RULES}', encoding="utf-8")

    code = await asyncio.to_thread(
        main,
        [
            *("run", "--once", "--relay", stand_in.url, "--token", TOKEN),
            *("--key-file", str(tmp_path / "practice.key"), "--out", str(tmp_path / "out")),
            *("--rules", str(rules), "--publish-every", "15m"),
        ],
    )

    assert code == 0
    assert [profile["sealing"] for profile in stand_in.profiles] == ["browser"]
    errors = [line for line in capsys.readouterr().err.splitlines() if " ERROR " in line]
    (line,) = errors
    assert "names no sealing key" in line
    assert 'sealing is "browser"' in line


async def test_continuous_run_checks_the_page_again_and_a_failure_never_stops_delivery(
    stand_in: StandInRelay, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Given a wrong key on the page, `run` logs it at start and at each interval, and
    delivers a booking that arrives meanwhile."""
    caplog.set_level(logging.INFO)
    assert stand_in.page is not None
    stand_in.page.public_key = KeyPair.generate().public_key
    stop = asyncio.Event()
    config = RunConfig(
        stand_in.url,
        TOKEN,
        tmp_path / "practice.key",
        tmp_path / "out",
        wait=0,
        retry=QUICK,
        page_check_every=0.05,
    )
    running = asyncio.create_task(run(config, once=False, stop=stop))

    def page_errors() -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.levelno == logging.ERROR and "not to our current one" in r.getMessage()
        ]

    async def checked_twice() -> bool:
        return len(page_errors()) >= 2

    async def written() -> bool:
        return (tmp_path / "out" / f"{sealed.id}.json").is_file()

    sealed = stand_in.item()
    try:
        await wait_until_async(checked_twice, "two page checks")
        stand_in.add(sealed)
        await wait_until_async(written, "the booking written")
    finally:
        stop.set()
        code = await asyncio.wait_for(running, 10)

    assert code == 0
    assert stand_in.page_fetches >= 2


def test_accepted_scripts_are_keyed_by_file_name() -> None:
    """The shipped list names seal.js, form.js and pow.js, each with hex SHA-256 values."""
    accepted = accepted_scripts()

    assert set(accepted) == set(SCRIPTS)
    assert all(len(digest) == 64 for digests in accepted.values() for digest in digests)


def test_the_relay_policy_constant_passes() -> None:
    """The stand-in's policy and the relay's are strict; a second weak policy beside a
    strict one changes nothing (every policy sent is enforced)."""
    assert policy_problems([STRICT_POLICY]) == []
    assert policy_problems(["script-src *", STRICT_POLICY]) == []
    assert policy_problems(["script-src *, " + STRICT_POLICY]) == []
    assert policy_problems(["script-src *"]) != []
