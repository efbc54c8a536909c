"""The code in wings: the import contracts in pyproject.toml hold, and they have teeth.

`lint-imports` (import-linter) reads [tool.importlinter] from pyproject.toml. The wings'
`__init__.py` docstrings say the same in words; these tests keep words, contracts and the
folder list in step.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# What may stay beside the wings: entry points, the app factory and the few base modules
# every wing shares. A new module belongs in a wing.
TOP_LEVEL = {
    "relay": {"__init__", "__main__", "app", "dev", "errors", "settings", "encoded"},
    "practice_client": {
        "__init__",
        "__main__",
        "runner",
        "check",
        "commands",
        "publisher",
        "answering",  # the `answer` command, an entry point like check and publisher
        "limits",
        "os_errors",
        "i18n",
    },
}


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def contracts() -> list[dict[str, Any]]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return list(tomllib.load(file)["tool"]["importlinter"]["contracts"])


def wings(package: str) -> list[Path]:
    return sorted(p.parent for p in (ROOT / package).glob("*/__init__.py"))


def test_the_import_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(contracts())} kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "wrong_import", "contract"),
    [
        # Something below web importing web.
        ("relay/ops/logs.py", "import relay.web.pages", "relay: wings are layered, top down"),
        # A wing importing one above it.
        ("relay/storage/store.py", "import relay.booking.service", "relay: wings are layered"),
        ("relay/settings.py", "import relay.storage.store", "relay: errors, settings"),
        (
            "practice_client/handover/sink.py",
            "import practice_client.calendar.slots",
            "practice client: wings are layered",
        ),
        (
            "practice_client/relay/api.py",
            "import relay.crypto.sealing",
            "the practice client never imports the relay server",
        ),
    ],
)
def test_a_wrong_way_import_breaks_its_contract(
    tmp_path: Path, module: str, wrong_import: str, contract: str
) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copy(ROOT / "pyproject.toml", tree)
    for package in TOP_LEVEL:
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("*.pyc"))
    target = tree / module
    target.write_text(target.read_text() + f"\n{wrong_import}  # noqa\n")

    result = lint_imports(tree)

    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(line.startswith(contract) for line in broken), result.stdout


@pytest.mark.parametrize("package", sorted(TOP_LEVEL))
def test_beside_the_wings_only_entry_points_and_base_modules(package: str) -> None:
    modules = {p.stem for p in (ROOT / package).glob("*.py")}
    assert modules == TOP_LEVEL[package]


@pytest.mark.parametrize("package", sorted(TOP_LEVEL))
def test_every_wing_is_in_a_layers_contract(package: str) -> None:
    layered: set[str] = set()
    for contract in contracts():
        if contract["type"] == "layers":
            for layer in contract["layers"]:
                layered.update(name.strip() for name in layer.split("|"))
    missing = {f"{package}.{wing.name}" for wing in wings(package)} - layered
    assert not missing


@pytest.mark.parametrize(
    "wing",
    [w for package in sorted(TOP_LEVEL) for w in [ROOT / package, *wings(package)]],
    ids=lambda wing: wing.relative_to(ROOT).as_posix(),
)
def test_every_wing_says_what_it_holds_and_may_import(wing: Path) -> None:
    docstring = ast.get_docstring(ast.parse((wing / "__init__.py").read_text()))
    assert docstring, f"{wing.name}/__init__.py has no docstring"
    assert "import" in docstring.lower(), f"{wing.name}/__init__.py does not say what it may import"
