"""The browser's sealing script is built reproducibly from pinned, hashed packages:
frontend/seal's package.json pins exact versions, its lock holds an integrity hash for every
package, and relay/web/static/seal.js is what they build (scripts/build-seal --check, a
step of scripts/test, checks the same after a fresh `npm ci`)."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRONTEND = ROOT / "frontend" / "seal"
SEAL_JS = ROOT / "relay" / "web" / "static" / "seal.js"
EXACT = re.compile(r"\d+\.\d+\.\d+")
# Bundled into seal.js; esbuild only builds it.
BUNDLED = ("@noble/hashes", "tweetnacl")
GZIPPED_LIMIT = 25 * 1024


def read_json(path: Path) -> dict[str, Any]:
    value = json.loads(path.read_text())
    assert isinstance(value, dict)
    return value


def lock_packages() -> dict[str, dict[str, Any]]:
    packages = read_json(FRONTEND / "package-lock.json")["packages"]
    assert isinstance(packages, dict)
    return packages


def locked_version(name: str) -> str:
    version = lock_packages()[f"node_modules/{name}"]["version"]
    assert isinstance(version, str)
    return version


def test_package_json_pins_exact_versions() -> None:
    """Every dependency of frontend/seal is an exact version, no range or tag."""
    manifest = read_json(FRONTEND / "package.json")
    pins = {**manifest["dependencies"], **manifest["devDependencies"]}
    assert set(pins) == {*BUNDLED, "esbuild"}
    assert {name: pin for name, pin in pins.items() if not EXACT.fullmatch(pin)} == {}


def test_the_lock_holds_every_package_with_its_sha512_and_no_registry_host() -> None:
    """lockfileVersion 3, the root as package.json says, each pin at its exact version, and
    every package (esbuild's binaries for other platforms too) with a sha512 integrity
    hash; no tarball address, so any registry npm is set up for serves the same bytes."""
    lock = read_json(FRONTEND / "package-lock.json")
    manifest = read_json(FRONTEND / "package.json")
    assert lock["lockfileVersion"] == 3
    root = lock["packages"][""]
    assert root["dependencies"] == manifest["dependencies"]
    assert root["devDependencies"] == manifest["devDependencies"]
    packages = {key: value for key, value in lock["packages"].items() if key}
    assert len(packages) > len(BUNDLED) + 1
    for key, entry in packages.items():
        assert key.startswith("node_modules/"), key
        assert re.fullmatch(r"sha512-[A-Za-z0-9+/]{86}==", entry.get("integrity", "")), key
        assert "resolved" not in entry, key
    for name, pin in {**manifest["dependencies"], **manifest["devDependencies"]}.items():
        assert locked_version(name) == pin, name


def test_seal_js_is_one_small_minified_script_naming_what_it_bundles() -> None:
    """The committed seal.js starts with the licence comment naming each bundled package at
    its locked version, is one minified IIFE without a source map, eval, Function or
    WebAssembly (the relay's CSP is script-src 'self'), and is at most 25 KB gzipped."""
    text = SEAL_JS.read_text(encoding="ascii")
    banner, code = text.rstrip("\n").split("\n")
    assert banner.startswith("/*! Terminrelay seal.js")
    assert banner.endswith("*/")
    for name in BUNDLED:
        assert f"{name} {locked_version(name)} (" in banner, name
    assert f"esbuild {locked_version('esbuild')}" in banner
    assert code.startswith("(()=>{")
    assert code.endswith("})();")
    for forbidden in ("sourceMappingURL", "eval(", "Function(", "WebAssembly", "Math.random"):
        assert forbidden not in code, forbidden
    assert "window.TerminrelaySeal=Object.freeze(" in code
    assert len(gzip.compress(SEAL_JS.read_bytes(), compresslevel=9, mtime=0)) <= GZIPPED_LIMIT


def installed_from_the_lock() -> bool:
    """Whether frontend/seal/node_modules holds exactly the lock's versions (npm writes
    node_modules/.package-lock.json on install)."""
    hidden = FRONTEND / "node_modules" / ".package-lock.json"
    if not hidden.exists():
        return False
    installed = read_json(hidden)["packages"]
    return all(
        installed.get(f"node_modules/{name}", {}).get("version") == locked_version(name)
        for name in (*BUNDLED, "esbuild")
    )


@pytest.mark.skipif(
    shutil.which("node") is None or not installed_from_the_lock(),
    reason="needs node and frontend/seal/node_modules from the lock (scripts/build-seal)",
)
def test_the_lock_and_the_source_build_the_committed_seal_js_twice_alike(tmp_path: Path) -> None:
    """Bundling src/seal.js with the locked packages twice gives the committed file, byte
    for byte, both times."""
    builds = [tmp_path / "first.js", tmp_path / "second.js"]
    for output in builds:
        subprocess.run(
            ["node", str(FRONTEND / "build.mjs"), str(output)],
            check=True,
            timeout=60,
        )
    assert builds[0].read_bytes() == SEAL_JS.read_bytes()
    assert builds[1].read_bytes() == SEAL_JS.read_bytes()
