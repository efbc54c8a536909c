"""The Lua scripts live in relay/storage/lua/, one file each, and ship in the wheel: every
script the Store runs is made of those files, every file is used, and each file starts
with its contract (KEYS, ARGV, what it returns, why it is retry-safe). Builds nothing and
needs no Redis."""

from __future__ import annotations

import glob
import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from relay.storage.store import Store, _Script

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(str(resources.files("relay")))
LUA = PACKAGE / "storage" / "lua"
# What store.py may add around the files' text: whitespace, and `local function
# name(KEYS, ARGV)` ... `end` around a script run inside another (_as_function).
GLUE = re.compile(r"(?:\s|local function \w+\(KEYS, ARGV\)|end)*")
INDEX = re.compile(r"\b(KEYS|ARGV)\[(\d+)\]")
# KEYS[3], and ranges: ARGV[1..7], ARGV[2..] (to the end).
NAMED = re.compile(r"\b(KEYS|ARGV)\[(\d+)(\.\.)?(\d*)\]")


def lua_files() -> dict[str, str]:
    """{path under lua/: text} of every .lua file in the package."""
    return {
        path.relative_to(LUA).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(LUA.rglob("*.lua"))
    }


def scripts() -> dict[str, _Script]:
    return {name: value for name, value in vars(Store).items() if isinstance(value, _Script)}


def header_and_body(text: str) -> tuple[list[str], str]:
    """The leading `--` comment lines and the rest."""
    lines = text.splitlines()
    count = 0
    while count < len(lines) and lines[count].startswith("--"):
        count += 1
    return lines[:count], "\n".join(lines[count:])


def test_the_store_runs_scripts() -> None:
    assert lua_files(), f"no .lua files under {LUA}"
    assert len(scripts()) >= 20


@pytest.mark.parametrize("name", sorted(scripts()))
def test_every_script_is_read_from_lua_files(name: str) -> None:
    source = scripts()[name].source
    assert source.strip()
    rest, used = source, []
    for path, text in sorted(lua_files().items(), key=lambda item: -len(item[1])):
        if text in rest:
            used.append(path)
            rest = rest.replace(text, "")
    assert used, f"Store.{name} is read from no file under relay/storage/lua/"
    assert GLUE.fullmatch(rest), f"Store.{name} holds Lua of its own, beside {used}: {rest!r}"


def test_every_lua_file_is_used() -> None:
    sources = [script.source for script in scripts().values()]
    unused = [path for path, text in lua_files().items() if not any(text in s for s in sources)]
    assert not unused, f"no Store script reads {unused}"


@pytest.mark.parametrize("path", sorted(lua_files()))
def test_each_lua_file_states_its_contract(path: str) -> None:
    text = lua_files()[path]
    assert text.endswith("\n"), "a file joined to the next must end its last line"
    header, body = header_and_body(text)
    assert body.strip(), "no code after the header"
    # `--[[` or `--[=[` would open a long comment running past the header.
    assert not [line for line in header if line.startswith("--[")]
    words = "\n".join(header)
    for needed in ("KEYS", "ARGV", "Returns", "Retry-safe:"):
        assert needed in words, f"the header names no {needed!r}"
    named: dict[str, list[tuple[int, int | None]]] = {"KEYS": [], "ARGV": []}
    for kind, first, dots, last in NAMED.findall(words):
        named[kind].append((int(first), int(last) if last else None if dots else int(first)))
    for kind, index in {(kind, int(index)) for kind, index in INDEX.findall(body)}:
        assert any(
            first <= index and (last is None or index <= last) for first, last in named[kind]
        ), f"{kind}[{index}] is used but the header does not say what it is"


def test_lua_files_ship_in_the_wheel() -> None:
    """Every .lua file matches a package-data pattern of the relay (globbed as setuptools
    does), so the wheel carries it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = project["tool"]["setuptools"]["package-data"]["relay"]
    shipped = {
        match
        for pattern in patterns
        for match in glob.glob(pattern, root_dir=PACKAGE, recursive=True)
    }
    missing = [path for path in lua_files() if f"storage/lua/{path}" not in shipped]
    assert not missing, f"not in [tool.setuptools.package-data] relay: {missing}"
