"""The lock files: what each is made from, how scripts/lock writes them, how to read them.

Every install of this project comes from a lock: exact versions with the sha256 of every
file, resolved once by uv for Python 3.11 and newer on any platform (`--universal`), so
the same lock serves CI on 3.11-3.13, the Docker image and a practice's Windows PC. The
ranges stay in pyproject.toml for anyone who installs the package as a library.

Each lock begins with the digest of the inputs it was made from (requirements, Python
range, uv's options), so tests/test_locks.py notices offline when pyproject.toml changed
and the lock did not. Standard library only: scripts/lock runs this with a Python that has
nothing but uv installed.

    python scripts/locks.py write [uv options...]   # scripts/lock, with uv beside Python
    python scripts/locks.py check                   # exit 1 and name each stale lock
    python scripts/locks.py moved                   # this environment against dev.lock
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# uv's options for every lock. Wheels only: an install from a lock never builds a
# dependency from source, which would run a build backend that no lock pins.
UV_OPTIONS = (
    "--universal",
    "--generate-hashes",
    "--only-binary",
    ":all:",
    "--python-version",
    "3.11",
    "--quiet",
)


@dataclass(frozen=True)
class Lock:
    """One lock file and the parts of a pyproject.toml it pins."""

    path: str  # relative to the repository
    project: str  # the pyproject.toml it is made from
    what: str  # one line for the header
    extras: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    # project.dependencies and build-system.requires (the latter so that the project
    # itself builds from the lock, with --no-build-isolation).
    runtime: bool = True
    # A lock written before this one whose versions this one keeps: what ships is what
    # the tests ran with.
    constraint: str | None = None


DEV = Lock(
    "requirements/dev.lock",
    "pyproject.toml",
    "development and CI: relay, practice client and the [test] extra (scripts/bootstrap)",
    extras=("test",),
)
LOCKS = (
    DEV,
    Lock(
        "requirements/relay.lock",
        "pyproject.toml",
        "the relay's runtime alone (Dockerfile)",
        constraint=DEV.path,
    ),
    Lock(
        "clients/practice-client/requirements.lock",
        "clients/practice-client/pyproject.toml",
        "the practice client alone (a practice's install; docs/dependencies.md)",
        constraint=DEV.path,
    ),
    Lock(
        "requirements/tools.lock",
        "pyproject.toml",
        "uv, which writes these locks (scripts/lock)",
        groups=("lock",),
        runtime=False,
    ),
)

DIGEST_LINE = re.compile(r"^# inputs-sha256: ([0-9a-f]{64})$", re.MULTILINE)


@dataclass(frozen=True)
class Pin:
    """One `name==version ; marker --hash=...` entry of a lock."""

    name: str  # normalised (PEP 503)
    version: str
    marker: str | None
    hashes: tuple[str, ...]


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject(lock: Lock) -> dict[str, object]:
    return tomllib.loads((ROOT / lock.project).read_text(encoding="utf-8"))


def build_requirements(lock: Lock) -> list[str]:
    data = pyproject(lock)
    return list(data["build-system"]["requires"]) if lock.runtime else []  # type: ignore[index]


def requirements(lock: Lock) -> list[str]:
    """Every requirement the lock is made from, as written in the pyproject.toml."""
    data = pyproject(lock)
    project: dict[str, object] = data["project"]  # type: ignore[assignment]
    found = build_requirements(lock)
    if lock.runtime:
        found += project["dependencies"]  # type: ignore[operator]
    for extra in lock.extras:
        found += project["optional-dependencies"][extra]  # type: ignore[index]
    for group in lock.groups:
        found += data["dependency-groups"][group]  # type: ignore[index]
    return found


def inputs_digest(lock: Lock) -> str:
    """sha256 of what the lock is made from: requirements, Python range and uv's options."""
    project: dict[str, object] = pyproject(lock)["project"]  # type: ignore[assignment]
    inputs = {
        "requirements": sorted({"".join(r.split()) for r in requirements(lock)}),
        "requires-python": project["requires-python"],
        "uv": [*UV_OPTIONS, *(["constraint", lock.constraint] if lock.constraint else [])],
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def recorded_digest(text: str) -> str | None:
    found = DIGEST_LINE.search(text)
    return found.group(1) if found else None


def header(lock: Lock) -> str:
    parts = ["dependencies", "build-system"] if lock.runtime else []
    parts += [f"[{extra}]" for extra in lock.extras]
    parts += [f"group {group}" for group in lock.groups]
    return (
        f"# {lock.path}: {lock.what}.\n"
        f"# Made from {lock.project} ({', '.join(parts)}) by scripts/lock; do not edit.\n"
        f"# inputs-sha256: {inputs_digest(lock)}\n"
    )


def pins(text: str) -> list[Pin]:
    """The entries of a lock (or any hashed requirements file with `==` pins)."""
    logical = re.sub(r"\\\n", " ", text)
    found = []
    for raw in logical.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        requirement, *hashes = (part.strip() for part in line.split("--hash="))
        spec, _, marker = requirement.partition(";")
        name, separator, version = spec.strip().partition("==")
        if not separator:
            raise ValueError(f"not an exact pin: {line}")
        found.append(Pin(normalise(name), version.strip(), marker.strip() or None, tuple(hashes)))
    return found


def stale() -> list[Lock]:
    """The locks whose recorded inputs are not what the pyproject.toml files say now."""
    return [
        lock
        for lock in LOCKS
        if not (ROOT / lock.path).is_file()
        or recorded_digest((ROOT / lock.path).read_text(encoding="utf-8")) != inputs_digest(lock)
    ]


def write(uv: str, uv_arguments: list[str]) -> None:
    """Write every lock with uv, in order (a constrained lock after its constraint)."""
    for lock in LOCKS:
        command = [uv, "pip", "compile", *UV_OPTIONS, *uv_arguments]
        command += ["--custom-compile-command", "scripts/lock", "--output-file", lock.path]
        if lock.runtime:
            # The build requirements come in on standard input, which uv names nowhere.
            command += [lock.project, "-"]
        command += [f"--extra={extra}" for extra in lock.extras]
        command += [f"--group={lock.project}:{group}" for group in lock.groups]
        if lock.constraint:
            command += ["--constraint", lock.constraint]
        subprocess.run(  # noqa: S603 - uv from the tools environment, our own arguments
            command,
            input="".join(f"{r}\n" for r in build_requirements(lock)),
            text=True,
            check=True,
            cwd=ROOT,
        )
        path = ROOT / lock.path
        path.write_text(header(lock) + path.read_text(encoding="utf-8"), encoding="utf-8")
        print(f"lock: wrote {lock.path} ({len(pins(path.read_text(encoding='utf-8')))} pins)")


def moved() -> list[str]:
    """How the running environment differs from dev.lock (for scripts/try-latest)."""
    import importlib.metadata  # noqa: PLC0415 - only this command needs these

    from packaging.markers import Marker  # noqa: PLC0415 - installed with the test extra

    locked = {
        pin.name: pin.version
        for pin in pins((ROOT / DEV.path).read_text(encoding="utf-8"))
        if pin.marker is None or Marker(pin.marker).evaluate()
    }
    installed = {
        normalise(dist.metadata["Name"]): dist.version
        for dist in importlib.metadata.distributions()
    }
    installed.pop("terminrelay", None)
    lines = [
        f"  {name}: {locked[name]} -> {installed[name]}"
        for name in sorted(locked.keys() & installed.keys())
        if locked[name] != installed[name]
    ]
    lines += [
        f"  {name}: not installed (locked {locked[name]})"
        for name in sorted(locked.keys() - installed.keys())
    ]
    lines += [
        f"  {name}: {installed[name]} (not in the lock)"
        for name in sorted(installed.keys() - locked.keys())
    ]
    return lines


def main(argv: list[str]) -> int:
    if argv[:1] == ["write"]:
        write(str(Path(sys.executable).with_name("uv")), argv[1:])
        return 0
    if argv == ["check"]:
        for lock in stale():
            print(f"{lock.path} was not made from {lock.project} as it is now: run scripts/lock")
        return 1 if stale() else 0
    if argv == ["moved"]:
        lines = moved()
        print(f"moved against {DEV.path} (name: locked -> newest): {len(lines) or 'none'}")
        for line in lines:
            print(line)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
