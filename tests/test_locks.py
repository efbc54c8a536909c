"""The lock files (scripts/locks.py) match the pyproject.toml files they were made from,
pin every direct requirement inside its range with hashes, and the locks that ship keep
the versions the tests ran with. Offline."""

from __future__ import annotations

import importlib.metadata
import shutil
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from scripts import locks

ROOT = Path(__file__).resolve().parents[1]
LOCK_IDS = [lock.path for lock in locks.LOCKS]


def pinned(lock: locks.Lock) -> dict[str, list[locks.Pin]]:
    found: dict[str, list[locks.Pin]] = defaultdict(list)
    for pin in locks.pins((ROOT / lock.path).read_text(encoding="utf-8")):
        found[pin.name].append(pin)
    return found


@pytest.mark.parametrize("lock", locks.LOCKS, ids=LOCK_IDS)
def test_the_lock_was_made_from_its_pyproject_as_it_is_now(lock: locks.Lock) -> None:
    """The inputs digest a lock records is the digest of its pyproject.toml today."""
    recorded = locks.recorded_digest((ROOT / lock.path).read_text(encoding="utf-8"))
    assert recorded == locks.inputs_digest(lock), (
        f"{lock.project} changed since {lock.path} was written: run scripts/lock"
    )


@pytest.mark.parametrize("lock", locks.LOCKS, ids=LOCK_IDS)
def test_every_direct_requirement_is_pinned_inside_its_range(lock: locks.Lock) -> None:
    """Each requirement of the pyproject.toml has a pin, and every pin of it is in range."""
    pins = pinned(lock)
    for line in locks.requirements(lock):
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert pins.get(name), f"{lock.path} pins nothing for {line}: run scripts/lock"
        for pin in pins[name]:
            version = Version(pin.version)
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{lock.path} pins {name}=={pin.version}, outside {line}: run scripts/lock"
            )


@pytest.mark.parametrize("lock", locks.LOCKS, ids=LOCK_IDS)
def test_every_pin_is_exact_and_hashed(lock: locks.Lock) -> None:
    """A valid version and at least one sha256 for every entry (pip --require-hashes)."""
    for pins in pinned(lock).values():
        for pin in pins:
            Version(pin.version)
            if pin.marker:
                Marker(pin.marker)
            assert pin.hashes, pin
            for digest in pin.hashes:
                algorithm, _, value = digest.partition(":")
                assert algorithm == "sha256", digest
                assert len(value) == 64, digest
                int(value, 16)


@pytest.mark.parametrize(
    "lock", [lock for lock in locks.LOCKS if lock.constraint], ids=lambda lock: lock.path
)
def test_what_ships_keeps_the_versions_the_tests_ran_with(lock: locks.Lock) -> None:
    """The relay's and the client's locks pin nothing at another version than dev.lock."""
    dev = {(pin.name, pin.version) for pins in pinned(locks.DEV).values() for pin in pins}
    for pins in pinned(lock).values():
        for pin in pins:
            assert (pin.name, pin.version) in dev, f"{lock.path}: {pin}; run scripts/lock"


def test_a_changed_range_makes_the_lock_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a copy of the project, when one range changes, then that lock is stale."""
    (tmp_path / "requirements").mkdir()
    (tmp_path / "clients" / "practice-client").mkdir(parents=True)
    for lock in locks.LOCKS:
        shutil.copy(ROOT / lock.path, tmp_path / lock.path)
        shutil.copy(ROOT / lock.project, tmp_path / lock.project)
    monkeypatch.setattr(locks, "ROOT", tmp_path)
    assert locks.stale() == []
    project = tmp_path / "clients" / "practice-client" / "pyproject.toml"
    text = project.read_text(encoding="utf-8")
    assert '"PyNaCl>=1.5,<2"' in text
    project.write_text(text.replace('"PyNaCl>=1.5,<2"', '"PyNaCl>=1.6,<2"'), encoding="utf-8")
    assert [lock.path for lock in locks.stale()] == ["clients/practice-client/requirements.lock"]


def test_pins_reads_markers_continuations_and_comments() -> None:
    """uv's output format: `name==version ; marker \\` then hash lines and `# via` lines."""
    text = (
        "# header\n"
        "Async_Timeout==5.0.1 ; python_full_version < '3.11.3' \\\n"
        "    --hash=sha256:" + "a" * 64 + " \\\n"
        "    --hash=sha256:" + "b" * 64 + "\n"
        "    # via aiohttp\n"
        "six==1.17.0 --hash=sha256:" + "c" * 64 + "\n"
    )
    assert locks.pins(text) == [
        locks.Pin(
            "async-timeout",
            "5.0.1",
            "python_full_version < '3.11.3'",
            ("sha256:" + "a" * 64, "sha256:" + "b" * 64),
        ),
        locks.Pin("six", "1.17.0", None, ("sha256:" + "c" * 64,)),
    ]
    with pytest.raises(ValueError, match="not an exact pin"):
        locks.pins("six>=1.16\n")


def test_this_environment_holds_the_locked_versions() -> None:
    """A venv that scripts/bootstrap made has every pin of dev.lock for this Python."""
    stamp = Path(sys.prefix) / ".installed-lock"
    if not stamp.is_file():
        pytest.skip("not an environment of scripts/bootstrap (scripts/try-latest's, say)")
    for pins in pinned(locks.DEV).values():
        for pin in pins:
            if pin.marker and not Marker(pin.marker).evaluate():
                continue
            installed = importlib.metadata.version(pin.name)
            assert Version(installed) == Version(pin.version), (
                f"{pin.name} {installed} installed, {pin.version} locked: run scripts/bootstrap"
            )
