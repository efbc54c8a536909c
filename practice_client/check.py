"""`practice-client check` and `show-key`: is this set-up ready to receive bookings?

One line per check, ✓ or ✗, and for each ✗ what to do; the last check is of the booking
form page the relay serves patients (practice_client/relay/transparency.py), one ✗ line per
difference. Nothing is changed: no key is
pinned, no inbox item fetched (fetching would hide it from the running client for the
visibility timeout); the token is tested with an empty acknowledgement, which the relay
answers without touching the inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypeVar

from practice_client.handover.files import OWNER_ONLY, temp_name_for
from practice_client.i18n import gettext as _
from practice_client.i18n import ngettext
from practice_client.os_errors import explain_os_error
from practice_client.relay.api import AuthError, RelayClient, RelayRequestError
from practice_client.relay.keys import (
    KeyFileError,
    KeyRing,
    decode_key,
    encode_key,
    load_key_ring,
    read_pinned_relay_key,
    relay_key_path,
)
from practice_client.relay.retry import RelayUnreachableError, RetryPolicy, call_with_retries
from practice_client.relay.transparency import check_form_page
from practice_client.runner import (
    ExitCode,
    TokenError,
    UntrustedRelayError,
    fetch_practice_key,
    practice_slug,
)

T = TypeVar("T")

# A check should answer within seconds: two quick tries, not the run loop's patience.
CHECK_RETRIES = RetryPolicy(start=0.5, cap=2.0, attempts=2)


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str
    fix: str = ""


def show_key(key_file: Path, out: TextIO | None = None) -> int:
    """Print the public key the relay should seal to (the newest in the key file)."""
    stream = out or sys.stdout
    try:
        ring = load_key_ring(key_file)
    except KeyFileError as error:
        print(f"practice-client: {error}", file=sys.stderr)
        return ExitCode.FAILURE
    print(ring.current.public_key_b64, file=stream)
    return ExitCode.OK


async def check(
    relay_url: str,
    token: str,
    key_file: Path,
    out_dir: Path,
    *,
    relay_key: str | None = None,
    policy: RetryPolicy = CHECK_RETRIES,
    out: TextIO | None = None,
) -> int:
    """Run every check, print one line each and the public key; 0 only if all passed."""
    stream = out or sys.stdout
    findings: list[Finding] = []
    ring, finding = _key_file(key_file)
    findings.append(finding)
    slug, finding = _token(token)
    findings.append(finding)
    findings += await _relay(
        relay_url,
        token,
        slug=slug,
        ring=ring,
        key_file=key_file,
        relay_key=relay_key,
        policy=policy,
    )
    findings.append(_output_folder(out_dir))
    passed, failed = _marks(stream)
    for finding in findings:
        line = f"{passed if finding.ok else failed} {finding.what}"
        if not finding.ok and finding.fix:
            line += f" -> {finding.fix}"
        print(line, file=stream)
    if ring is not None:
        print(_("public key: %(key)s") % {"key": ring.current.public_key_b64}, file=stream)
    return ExitCode.OK if all(finding.ok for finding in findings) else ExitCode.FAILURE


def _key_file(key_file: Path) -> tuple[KeyRing | None, Finding]:
    try:
        ring = load_key_ring(key_file)
    except KeyFileError as error:
        return None, Finding(
            False,
            str(error),
            _(
                "create one with `practice-client keygen --key-file %(path)s` "
                "or restore it from your backup"
            )
            % {"path": key_file},
        )
    count = len(ring.pairs)
    what = ngettext(
        "key file %(path)s: %(count)d key pair", "key file %(path)s: %(count)d key pairs", count
    )
    return ring, Finding(True, what % {"path": key_file, "count": count})


def _token(token: str) -> tuple[str | None, Finding]:
    try:
        slug = practice_slug(token)
    except TokenError as error:
        return None, Finding(False, str(error), _("copy the token exactly as the operator gave it"))
    return slug, Finding(True, _("the token names practice %(slug)r") % {"slug": slug})


async def _relay(
    relay_url: str,
    token: str,
    *,
    slug: str | None,
    ring: KeyRing | None,
    key_file: Path,
    relay_key: str | None,
    policy: RetryPolicy,
) -> list[Finding]:
    async with RelayClient(relay_url, token) as relay:
        try:
            published = decode_key(await _retrying(relay.relay_key, relay_url, policy))
        except (RelayUnreachableError, RelayRequestError, ValueError) as error:
            return [
                Finding(
                    False,
                    _("relay at %(url)s unreachable (%(error)s)")
                    % {"url": relay_url, "error": error.__cause__ or error},
                    _("check the URL, the network and the proxy settings"),
                ),
                Finding(False, _("token accepted: not checked: the relay is unreachable")),
                Finding(False, _("relay signing key: not checked: the relay is unreachable")),
                Finding(
                    False, _("practice key at the relay: not checked: the relay is unreachable")
                ),
                Finding(False, _("booking form page: not checked: the relay is unreachable")),
            ]
        findings = [Finding(True, _("relay at %(url)s reachable") % {"url": relay_url})]
        findings.append(await _token_accepted(relay, relay_url, slug, policy))
        findings.append(_relay_key(published, key_file, relay_key))
        findings.append(await _practice_key(relay, relay_url, slug, ring, policy))
        findings += await _form_page(relay, slug, ring)
    return findings


async def _token_accepted(
    relay: RelayClient, relay_url: str, slug: str | None, policy: RetryPolicy
) -> Finding:
    fix = _("ask the relay operator for a new token (`relay practice token %(slug)s`)") % {
        "slug": slug or "SLUG"
    }
    try:
        await _retrying(functools.partial(relay.ack, []), relay_url, policy)
    except AuthError:
        return Finding(False, _("the relay rejects the token"), fix)
    except (RelayUnreachableError, RelayRequestError) as error:
        return Finding(
            False, _("the token could not be checked (%(error)s)") % {"error": error}, fix
        )
    return Finding(True, _("the relay accepts the token"))


def _relay_key(published: bytes, key_file: Path, relay_key: str | None) -> Finding:
    shown = encode_key(published)
    if relay_key is not None and decode_key(relay_key) != published:
        return Finding(
            False,
            _("the relay publishes the signing key %(key)s, not the one given with --relay-key")
            % {"key": shown},
            _("compare the key with your relay operator; do not run until they match"),
        )
    try:
        pinned = read_pinned_relay_key(key_file)
    except KeyFileError as error:
        return Finding(
            False,
            str(error),
            _("delete %(path)s and check again") % {"path": relay_key_path(key_file)},
        )
    if pinned is None:
        return Finding(
            True,
            _(
                "relay signing key %(key)s is not pinned yet; `run` pins it on first contact "
                "(compare it with the one your operator gave you)"
            )
            % {"key": shown},
        )
    if pinned != published:
        return Finding(
            False,
            _("the relay publishes the signing key %(key)s, not the pinned %(pinned)s")
            % {"key": shown, "pinned": encode_key(pinned)},
            _("if your operator really changed it, run once with --relay-key NEWKEY"),
        )
    return Finding(True, _("relay signing key matches the pinned one (%(key)s)") % {"key": shown})


async def _practice_key(
    relay: RelayClient,
    relay_url: str,
    slug: str | None,
    ring: KeyRing | None,
    policy: RetryPolicy,
) -> Finding:
    if slug is None or ring is None:
        return Finding(
            False, _("practice key at the relay: not checked (key file or token missing)")
        )
    try:
        published = await _retrying(
            functools.partial(fetch_practice_key, relay, slug), relay_url, policy
        )
    except (TokenError, UntrustedRelayError, RelayUnreachableError, RelayRequestError) as error:
        return Finding(
            False,
            _("practice key at the relay: %(error)s") % {"error": error},
            _("ask the relay operator"),
        )
    if published == ring.current.public_key:
        return Finding(True, _("the relay seals bookings to our newest public key"))
    if ring.holds(published):
        return Finding(
            False,
            _("the relay seals bookings to an older key of ours"),
            _("a key rotation did not reach the relay: run `practice-client rotate-key` again"),
        )
    return Finding(
        False,
        _("the relay seals bookings to a public key that is not in our key file"),
        _("give the operator the public key below (`relay practice add ... --public-key`)"),
    )


async def _form_page(relay: RelayClient, slug: str | None, ring: KeyRing | None) -> list[Finding]:
    if slug is None or ring is None:
        return [Finding(False, _("booking form page: not checked (key file or token missing)"))]
    report = await check_form_page(relay, slug, ring.current.public_key)
    if report.ok:
        return [Finding(True, report.summary())]
    fix = _("tell the relay operator: patients may not get the booking form this release trusts")
    return [Finding(False, problem, fix) for problem in report.problems]


def _output_folder(out_dir: Path) -> Finding:
    """Writable: a file can be created and removed there (or the folder can be created)."""
    target = out_dir
    while not target.exists() and target.parent != target:
        target = target.parent
    if not target.is_dir():
        return Finding(
            False,
            _("output folder %(path)s: %(target)s is not a folder")
            % {"path": out_dir, "target": target},
            _("choose another --out"),
        )
    probe = temp_name_for(target / "check")
    try:
        descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY)
        os.close(descriptor)
        probe.unlink()
    except OSError as error:
        with contextlib.suppress(OSError):
            probe.unlink()
        return Finding(
            False,
            _("output folder %(path)s: %(problem)s")
            % {"path": out_dir, "problem": explain_os_error(error, "write to")},
        )
    if target != out_dir:
        return Finding(
            True,
            _("output folder %(path)s does not exist yet; it can be created") % {"path": out_dir},
        )
    return Finding(True, _("output folder %(path)s is writable") % {"path": out_dir})


def _marks(stream: TextIO) -> tuple[str, str]:
    """✓ and ✗, or ASCII where the console cannot show them (a Windows code page)."""
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "✓✗".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return "[ok]", "[FAIL]"
    return "✓", "✗"


async def _retrying(
    operation: Callable[[], Awaitable[T]], relay_url: str, policy: RetryPolicy
) -> T:
    return await call_with_retries(
        operation, policy=policy, stop=asyncio.Event(), give_up=True, relay_url=relay_url
    )
