"""A practice installs the client alone (clients/practice-client/pyproject.toml) and runs it
as a hardened systemd service (deploy/practice-client.service)."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLIENT_PROJECT = ROOT / "clients" / "practice-client" / "pyproject.toml"
UNIT = ROOT / "deploy" / "practice-client.service"

# Import names of what only the relay server needs.
SERVER_ONLY = (
    "relay",
    "redis",
    "jinja2",
    "aiosmtpd",
    "aiosmtplib",
    "prometheus_client",
    "babel",
    "cryptography",
)
# Import name -> distribution name, where they differ.
DISTRIBUTIONS = {"nacl": "pynacl", "recurring_ical_events": "recurring-ical-events"}


def client_modules() -> list[str]:
    return sorted(f"practice_client.{p.stem}" for p in (ROOT / "practice_client").glob("*.py"))


def requirement_names(requirements: list[str]) -> dict[str, str]:
    """{lower-case distribution name: the whole requirement}."""
    return {re.split(r"[<>=!~ \[;]", r, maxsplit=1)[0].lower(): r for r in requirements}


def project(path: Path) -> dict[str, object]:
    return tomllib.loads(path.read_text(encoding="utf-8"))["project"]  # type: ignore[no-any-return]


def test_importing_every_client_module_loads_nothing_of_the_server() -> None:
    """In a fresh interpreter, all practice_client modules import no server-only library."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {client_modules()!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert "practice_client" in loaded
    assert loaded.isdisjoint(SERVER_ONLY), sorted(loaded & set(SERVER_ONLY))


def test_the_client_declares_every_library_it_imports() -> None:
    """Each third-party import of practice_client is a dependency of the client project."""
    declared = set(requirement_names(project(CLIENT_PROJECT)["dependencies"]))  # type: ignore[arg-type]
    imported: set[str] = set()
    for path in (ROOT / "practice_client").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"practice_client", "__future__"}
    missing = {DISTRIBUTIONS.get(name, name).lower() for name in third_party} - declared
    assert not missing, f"practice_client imports undeclared libraries: {sorted(missing)}"


def test_client_dependencies_are_the_roots_with_the_same_ranges() -> None:
    """The two projects cannot drift: same versions, and every client dependency in the root."""
    root, client = project(ROOT / "pyproject.toml"), project(CLIENT_PROJECT)
    root_requirements = requirement_names(root["dependencies"])  # type: ignore[arg-type]
    for name, requirement in requirement_names(client["dependencies"]).items():  # type: ignore[arg-type]
        assert root_requirements.get(name) == requirement, name
    assert client["version"] == root["version"]
    assert set(requirement_names(client["dependencies"])).isdisjoint(  # type: ignore[arg-type]
        {"redis", "jinja2", "aiosmtpd", "aiosmtplib", "prometheus-client", "babel"}
    )
    assert client["scripts"] == {"practice-client": "practice_client.__main__:main"}


def client_source(tmp_path: Path) -> Path:
    """A copy of just the client's files (practice_client/* and its project); its folder."""
    source = tmp_path / "source"
    shutil.copytree(
        ROOT / "practice_client",
        source / "practice_client",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (source / "clients" / "practice-client").mkdir(parents=True)
    shutil.copy(CLIENT_PROJECT, source / "clients" / "practice-client")
    return source / "clients" / "practice-client"


def test_the_client_wheel_holds_the_client_only(tmp_path: Path) -> None:
    """Built from a copy of just the client's files: practice_client/* and its metadata."""
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"),
            *("--wheel-dir", str(tmp_path / "wheels"), str(client_source(tmp_path))),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = (tmp_path / "wheels").glob("terminrelay_practice_client-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith("/METADATA"))).decode()
    packages = {name.split("/")[0] for name in names if not name.endswith(".dist-info/")}
    assert {p for p in packages if not p.endswith(".dist-info")} == {"practice_client"}
    assert "practice_client/__main__.py" in names
    # The data the client reads at run time: the booking rules, the accepted scripts.
    assert "practice_client/relay/booking_rules.json" in names
    assert "practice_client/relay/accepted_scripts.json" in names
    # The compiled catalogs, shipped: an install runs no compile step.
    for language in ("de", "en"):
        assert f"practice_client/locale/{language}/LC_MESSAGES/practice_client.mo" in names
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert not any(server in line.lower() for line in requires for server in ("redis", "jinja"))


def test_the_client_installs_from_its_lock_and_runs(tmp_path: Path) -> None:
    """As docs/dependencies.md tells a practice, on the Python running this test: a fresh
    venv, the client's lock with every hash checked, then the client itself; each module
    imports from that venv without a server library, and `practice-client --help` runs."""
    venv = tmp_path / "venv"
    python = str(venv / "bin" / "python")
    lock = CLIENT_PROJECT.with_name("requirements.lock")
    install = [python, "-m", "pip", "install", "-q", "--no-deps"]
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [*install, "--require-hashes", "--only-binary", ":all:", "-r", str(lock)],
        [*install, "--no-build-isolation", str(client_source(tmp_path))],
        [python, "-m", "pip", "check"],
    ]
    for step in steps:
        result = subprocess.run(
            step, cwd=tmp_path, check=False, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, f"{step}: {result.stderr}"
    code = (
        "import importlib, json, sys\n"
        f"for name in {client_modules()!r}: importlib.import_module(name)\n"
        "import practice_client\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules})\n"
        "print(json.dumps([practice_client.__file__, loaded]))\n"
    )
    result = subprocess.run(
        [python, "-I", "-c", code],
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    location, loaded = json.loads(result.stdout)
    assert Path(location).is_relative_to(venv)
    assert set(loaded).isdisjoint(SERVER_ONLY), sorted(set(loaded) & set(SERVER_ONLY))
    result = subprocess.run(
        [str(venv / "bin" / "practice-client"), "--help"],
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "keygen" in result.stdout


# --- the systemd unit ------------------------------------------------------------------


def unit_directives() -> dict[str, list[str]]:
    """{Section.Key: [values]} of the unit, continuation lines joined."""
    directives: dict[str, list[str]] = {}
    section = ""
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        directives.setdefault(f"{section}.{key}", []).append(value)
    return directives


@pytest.mark.parametrize(
    ("directive", "value"),
    [
        ("Service.NoNewPrivileges", "yes"),
        ("Service.ProtectSystem", "strict"),
        ("Service.ProtectHome", "yes"),
        ("Service.PrivateTmp", "yes"),
        ("Service.CapabilityBoundingSet", ""),
        ("Service.RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("Service.SystemCallFilter", "@system-service"),
        ("Service.Restart", "on-failure"),
        ("Service.LoadCredential", "token:/etc/terminrelay/token"),
        ("Service.User", "terminrelay"),
        ("Install.WantedBy", "multi-user.target"),
    ],
)
def test_the_unit_sets_each_hardening_directive(directive: str, value: str) -> None:
    """Dedicated user, read-only system, no privileges, token as a credential, restart."""
    assert value in unit_directives().get(directive, []), directive


def test_the_unit_writes_only_to_the_key_and_output_folders() -> None:
    """ReadWritePaths names exactly the folders the environment points the client at."""
    directives = unit_directives()
    environment = dict(value.split("=", 1) for value in directives["Service.Environment"])
    writable = " ".join(directives["Service.ReadWritePaths"]).split()
    key_folder = str(Path(environment["PRACTICE_KEY_FILE"]).parent)
    assert sorted(writable) == sorted([key_folder, environment["PRACTICE_OUT"]])
    assert "PRACTICE_TOKEN" not in environment  # the credential, never the environment
    (command,) = directives["Service.ExecStart"]
    assert command.split()[1] == "run"
    assert "--once" not in command


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    """`systemd-analyze verify` finds no error (with ExecStart pointed at this install)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed; the directive tests above still ran")
    client = Path(sys.executable).with_name("practice-client")
    assert client.exists(), "the practice-client script of this environment"
    unit = tmp_path / "practice-client.service"
    unit.write_text(
        UNIT.read_text(encoding="utf-8").replace("/usr/local/bin/practice-client", str(client)),
        encoding="utf-8",
    )
    result = subprocess.run(
        [analyze, "verify", str(unit)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    problems = [line for line in result.stderr.splitlines() if unit.name in line]
    assert problems == [], problems
