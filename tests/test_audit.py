"""scripts/audit.py: what fails the run (a fixable vulnerability, an expired exception),
what is only said, and how it reads pip-audit's JSON report. Offline: pip-audit itself is
replaced by the report it would write."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import audit, locks

ROOT = Path(__file__).resolve().parents[1]
TODAY = datetime.date(2026, 12, 7)

# The shape `pip-audit --format json` writes (pip_audit/_format/json.py): one entry per
# package, either audited (version, vulns with id, fix_versions, aliases, description) or
# skipped (skip_reason only), and the fixes it applied (none without --fix).
REPORT = {
    "dependencies": [
        {
            "name": "jinja2",
            "version": "3.1.4",
            "vulns": [
                {
                    "id": "GHSA-q2x7-8rv6-6q7h",
                    "fix_versions": ["3.1.5"],
                    "aliases": ["CVE-2024-56326"],
                    "description": "An oversight in how the sandbox detects str.format calls.",
                }
            ],
        },
        {
            "name": "ecdsa",
            "version": "0.19.0",
            "vulns": [
                {
                    "id": "GHSA-wj6h-64fc-37mp",
                    "fix_versions": [],
                    "aliases": ["CVE-2024-23342"],
                    "description": "Minerva timing attack on P-256.",
                }
            ],
        },
        {"name": "six", "version": "1.17.0", "vulns": []},
        {
            "name": "internal-tool",
            "skip_reason": "Dependency not found on PyPI and could not be audited: "
            "internal-tool (1.0)",
        },
    ],
    "fixes": [],
}
EXCEPTION = """
[[exception]]
id = "CVE-2024-56326"
package = "Jinja2"
reason = "Terminrelay renders only its own templates, never in the sandbox."
review_by = 2027-01-31
"""


def test_a_report_is_read_into_findings_skips_and_a_count() -> None:
    """Audited packages with their vulnerabilities, skipped ones with pip-audit's reason."""
    findings, skipped, audited = audit.read_report(json.dumps(REPORT))
    assert audited == 3
    assert skipped == [REPORT["dependencies"][3]["skip_reason"]]  # type: ignore[index]
    assert findings == [
        audit.Finding("jinja2", "3.1.4", "GHSA-q2x7-8rv6-6q7h", ("CVE-2024-56326",), ("3.1.5",)),
        audit.Finding("ecdsa", "0.19.0", "GHSA-wj6h-64fc-37mp", ("CVE-2024-23342",), ()),
    ]


def test_a_vulnerability_with_a_fixed_release_fails_and_one_without_is_only_said() -> None:
    """Without exceptions: jinja2 (fixed in 3.1.5) fails the run, ecdsa (no fix) does not."""
    findings, _, _ = audit.read_report(json.dumps(REPORT))
    failures, notes = audit.judge(findings, [], TODAY)
    assert failures == [
        "vulnerable: jinja2 3.1.4: GHSA-q2x7-8rv6-6q7h (CVE-2024-56326); fixed in 3.1.5"
    ]
    assert notes == [
        "vulnerable, nothing to move to yet: ecdsa 0.19.0: GHSA-wj6h-64fc-37mp"
        " (CVE-2024-23342); fixed in no fixed release"
    ]


def test_an_exception_accepts_a_vulnerability_by_alias_until_its_review_date() -> None:
    """Given an exception naming the CVE alias, the run passes until 2027-01-31, then fails."""
    findings, _, _ = audit.read_report(json.dumps(REPORT))
    exceptions = audit.read_exceptions(EXCEPTION)
    failures, notes = audit.judge(findings, exceptions, TODAY)
    assert failures == []
    assert notes[0].startswith("accepted until 2027-01-31: jinja2 3.1.4")
    failures, _ = audit.judge(findings, exceptions, datetime.date(2027, 2, 1))
    assert len(failures) == 1
    assert "CVE-2024-56326 (jinja2) was due for review on 2027-01-31" in failures[0]


def test_an_exception_for_another_package_accepts_nothing() -> None:
    """The id must match in the package the exception names."""
    findings, _, _ = audit.read_report(json.dumps(REPORT))
    other = EXCEPTION.replace('package = "Jinja2"', 'package = "markupsafe"')
    failures, _ = audit.judge(findings, audit.read_exceptions(other), TODAY)
    assert len(failures) == 1
    assert failures[0].startswith("vulnerable: jinja2")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('reason = "Terminrelay renders only its own templates, never in the sandbox."', ""),
            "missing reason",
        ),
        (
            ("Terminrelay renders only its own templates, never in the sandbox.", " "),
            "reason is empty",
        ),
        (("review_by = 2027-01-31", 'review_by = "soon"'), "must be a date"),
        (("review_by = 2027-01-31", "review_by = 2027-01-31T00:00:00"), "must be a date"),
    ],
)
def test_an_exception_without_reason_or_date_is_refused(
    change: tuple[str, str], message: str
) -> None:
    """Every exception states why it is accepted and when to look again, as a date."""
    with pytest.raises(ValueError, match=message):
        audit.read_exceptions(EXCEPTION.replace(*change))


def test_the_checked_in_exceptions_are_valid_and_not_expired() -> None:
    """requirements/audit-exceptions.toml parses, and no entry is past its review date."""
    exceptions = audit.read_exceptions(audit.EXCEPTIONS.read_text(encoding="utf-8"))
    expired = [e for e in exceptions if e.review_by < datetime.date.today()]
    assert expired == []


def test_the_audit_input_has_every_pin_once_without_markers(tmp_path: Path) -> None:
    """Windows-only pins are audited too; a package in two locks is asked about once."""
    hashed = "--hash=sha256:" + "a" * 64
    (tmp_path / "one.lock").write_text(
        f"colorama==0.4.6 ; sys_platform == 'win32' {hashed}\nsix==1.17.0 {hashed}\n",
        encoding="utf-8",
    )
    (tmp_path / "two.lock").write_text(f"six==1.17.0 {hashed}\n", encoding="utf-8")
    text = audit.audit_input([tmp_path / "one.lock", tmp_path / "two.lock"])
    assert text.splitlines() == [f"colorama==0.4.6 {hashed}", f"six==1.17.0 {hashed}"]


def run_main(monkeypatch: pytest.MonkeyPatch, report: str | None, errors: str = "") -> int:
    monkeypatch.setattr(audit, "run_pip_audit", lambda _requirements: (report, errors))
    return audit.main([str(ROOT / locks.DEV.path)])


def test_main_fails_on_a_fixable_vulnerability(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command's exit code is 1 and the vulnerable pin is named."""
    assert run_main(monkeypatch, json.dumps(REPORT)) == 1
    assert "audit: vulnerable: jinja2 3.1.4" in capsys.readouterr().out


def test_main_says_in_one_line_when_the_service_cannot_be_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every package skipped (a proxy's 404s): one line with the count, exit 0; exit 1
    when TERMINRELAY_AUDIT_REQUIRED=1."""
    total = len(locks.pins((ROOT / locks.DEV.path).read_text(encoding="utf-8")))
    skipped = {
        "dependencies": [
            {"name": f"p{n}", "skip_reason": "Dependency not found on PyPI and could not be"}
            for n in range(total)
        ],
        "fixes": [],
    }
    monkeypatch.delenv(audit.REQUIRED, raising=False)
    assert run_main(monkeypatch, json.dumps(skipped)) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"audit: {total} of {total} pinned packages went unaudited")
    assert line.endswith("not failing")
    monkeypatch.setenv(audit.REQUIRED, "1")
    assert run_main(monkeypatch, json.dumps(skipped)) == 1


def test_main_treats_a_connection_error_as_unreachable_and_other_errors_as_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No report and a connection error: unaudited, exit 0. No report otherwise: exit 1."""
    monkeypatch.delenv(audit.REQUIRED, raising=False)
    refused = "requests.exceptions.ConnectionError: Max retries exceeded with url: /v1/query\n"
    assert run_main(monkeypatch, None, refused) == 0
    assert "went unaudited" in capsys.readouterr().out
    assert run_main(monkeypatch, None, "error: requirement six does not contain a hash\n") == 1


def test_pip_audit_reads_the_audit_input(tmp_path: Path) -> None:
    """The real pip-audit accepts what audit_input writes (it fails on the first parse
    error before it asks any service; --dry-run asks none)."""
    pins = tmp_path / "pins.txt"
    pins.write_text(audit.audit_input([ROOT / lock.path for lock in locks.LOCKS]))
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pip_audit", "--requirement", str(pins)),
            *("--require-hashes", "--disable-pip", "--dry-run", "--progress-spinner", "off"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
