"""Known vulnerabilities in the locks, with pip-audit; scripts/test runs this.

Every pin of every lock is asked about, whatever its environment marker (the Windows-only
ones too: a practice's PC runs them). The run fails when

- a pinned version has a known vulnerability that a newer release fixes, unless
  requirements/audit-exceptions.toml accepts it (with a reason and a review date), or
- an exception's review date has passed: look again, then renew or delete it.

A vulnerability without a fixed release is printed, not failed on: there is nothing to
move to yet. When the vulnerability service cannot be asked (no network, a proxy that
answers 404 for every package), the run says so in one line, with how many packages went
unaudited, and does not fail; set TERMINRELAY_AUDIT_REQUIRED=1 to fail then as well.

    python scripts/audit.py [LOCK ...]   # default: every lock of scripts/locks.py
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

if __package__:
    from . import locks
else:  # run as scripts/audit.py
    import locks

EXCEPTIONS = locks.ROOT / "requirements" / "audit-exceptions.toml"
REQUIRED = "TERMINRELAY_AUDIT_REQUIRED"
# What pip-audit prints when it could not reach its service at all (it then writes no
# report): its own advice, or the connection error it let through.
UNREACHABLE = ("Tip: your network may be blocking", "ConnectionError", "Max retries exceeded")


@dataclass(frozen=True)
class Accepted:
    """An accepted vulnerability: `id` (or one of its aliases) in `package`."""

    id: str
    package: str
    reason: str
    review_by: datetime.date


@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    id: str
    aliases: tuple[str, ...]
    fix_versions: tuple[str, ...]

    def __str__(self) -> str:
        fixed = ", ".join(self.fix_versions) or "no fixed release"
        also = f" ({', '.join(self.aliases)})" if self.aliases else ""
        return f"{self.package} {self.version}: {self.id}{also}; fixed in {fixed}"


def read_exceptions(text: str) -> list[Accepted]:
    """The [[exception]] tables of audit-exceptions.toml, every field required."""
    found = []
    for number, entry in enumerate(tomllib.loads(text).get("exception", []), start=1):
        missing = {"id", "package", "reason", "review_by"} - set(entry)
        if missing:
            raise ValueError(f"exception {number}: missing {', '.join(sorted(missing))}")
        if type(entry["review_by"]) is not datetime.date:  # TOML's 2027-03-01, no time
            raise ValueError(f"exception {number}: review_by must be a date, like 2027-03-01")
        if not str(entry["reason"]).strip():
            raise ValueError(f"exception {number}: the reason is empty")
        found.append(
            Accepted(
                str(entry["id"]),
                locks.normalise(str(entry["package"])),
                str(entry["reason"]),
                entry["review_by"],
            )
        )
    return found


def read_report(text: str) -> tuple[list[Finding], list[str], int]:
    """(findings, why each unaudited package was skipped, packages audited) of pip-audit's
    JSON report (`--format json`)."""
    findings, skipped, audited = [], [], 0
    for dependency in json.loads(text)["dependencies"]:
        if "skip_reason" in dependency:
            skipped.append(dependency["skip_reason"])
            continue
        audited += 1
        findings += [
            Finding(
                locks.normalise(dependency["name"]),
                dependency["version"],
                vuln["id"],
                tuple(vuln.get("aliases", ())),
                tuple(vuln.get("fix_versions", ())),
            )
            for vuln in dependency["vulns"]
        ]
    return findings, skipped, audited


def judge(
    findings: list[Finding], exceptions: list[Accepted], today: datetime.date
) -> tuple[list[str], list[str]]:
    """(failures, notes): what fails the run and what is only said."""
    failures = [
        f"the exception for {e.id} ({e.package}) was due for review on {e.review_by}: "
        "check whether a fixed release exists, then renew or delete it"
        for e in exceptions
        if e.review_by < today
    ]
    notes = []
    for finding in findings:
        accepted = [
            e
            for e in exceptions
            if e.package == finding.package and e.id in (finding.id, *finding.aliases)
        ]
        if accepted:
            notes.append(f"accepted until {accepted[0].review_by}: {finding}")
        elif finding.fix_versions:
            failures.append(f"vulnerable: {finding}")
        else:
            notes.append(f"vulnerable, nothing to move to yet: {finding}")
    return failures, notes


def audit_input(paths: list[Path]) -> str:
    """One pin a line, markers dropped, each version once: pip-audit judges markers by the
    running interpreter and would skip what only another platform or Python installs."""
    seen: dict[tuple[str, str], locks.Pin] = {}
    for path in paths:
        for pin in locks.pins(path.read_text(encoding="utf-8")):
            seen.setdefault((pin.name, pin.version), pin)
    names = [name for name, _ in seen]
    if len(names) != len(set(names)):
        # One name at two versions (per Python or platform) would be refused as a
        # conflicting duplicate; none of our locks has one yet.
        raise SystemExit("audit: a lock pins one package at two versions; extend audit.py")
    return "".join(
        f"{pin.name}=={pin.version} {' '.join(f'--hash={h}' for h in pin.hashes)}\n"
        for pin in seen.values()
    )


def run_pip_audit(requirements: str) -> tuple[str | None, str]:
    """pip-audit's JSON report, or None with its error when it produced none."""
    with tempfile.TemporaryDirectory() as folder:
        source, report = Path(folder, "pins.txt"), Path(folder, "report.json")
        source.write_text(requirements, encoding="utf-8")
        result = subprocess.run(  # noqa: S603 - pip-audit of this environment, our arguments
            [
                *(sys.executable, "-m", "pip_audit", "--requirement", str(source)),
                *("--require-hashes", "--disable-pip", "--progress-spinner", "off"),
                *("--format", "json", "--output", str(report)),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        text = report.read_text(encoding="utf-8") if report.is_file() else ""
    return (text or None), result.stderr


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or [locks.ROOT / lock.path for lock in locks.LOCKS]
    exceptions = read_exceptions(EXCEPTIONS.read_text(encoding="utf-8"))
    requirements = audit_input(paths)
    total = len(requirements.splitlines())
    report, errors = run_pip_audit(requirements)
    if report is not None:
        findings, skipped, audited = read_report(report)
    elif any(sign in errors for sign in UNREACHABLE):
        last = errors.strip().splitlines()[-1]
        findings, skipped, audited = [], [last] * total, 0
    else:
        print(errors, file=sys.stderr, end="")
        print("audit: pip-audit failed", file=sys.stderr)
        return 1
    failures, notes = judge(findings, exceptions, datetime.date.today())
    for line in notes + failures:
        print(f"audit: {line}")
    required = os.environ.get(REQUIRED) == "1"
    if skipped:
        outcome = f"failing, as {REQUIRED}=1 asks" if required else "not failing"
        print(
            f"audit: {len(skipped)} of {total} pinned packages went unaudited, the vulnerability"
            f" service could not be asked or did not know them ({skipped[0]}); {outcome}"
        )
    else:
        print(f"audit: {audited} pinned packages, {len(findings)} known vulnerabilities")
    return 1 if failures or (skipped and required) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
