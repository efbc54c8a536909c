"""The practice client's catalogs (practice_client/locale/), kept with Babel.

    scripts/i18n-client extract   # the sources' messages -> practice_client.pot
    scripts/i18n-client update    # .pot -> de and en .po (en: msgstr = msgid)
    scripts/i18n-client compile   # .po -> .mo, the same bytes for the same .po
    scripts/i18n-client check     # exit 1, one line per problem, unless all is current

Equivalent of extract: `pybabel extract -F babel-client.cfg -k N_ -k Nn_:1,2 --no-location
-o practice_client/locale/practice_client.pot .`. The .mo files are committed: an
install from pipx, a fresh clone and the Docker image need no compile step. Self-contained
(no import of the relay's scripts), so it can later merge with scripts/i18n.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
MAPPING = ROOT / "babel-client.cfg"
LOCALE_DIR = ROOT / "practice_client" / "locale"
DOMAIN = "practice_client"
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"
LANGUAGES = ("de", "en")
# practice_client/i18n.py's markers: N_ for argparse's messages, Nn_ for a plural of them.
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None, "Nn_": (1, 2)}
PROJECT = "Terminrelay practice client"
HEADER = "# The practice client's messages; written by scripts/i18n-client.\n#"
# printf-style placeholders: %(name)s, %s, %r, %d ...; "%%" is a literal percent sign.
_PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\d+|\*)?(?:\.\d+)?[diouxXeEfFgGcrsa%]")


def extracted(root: Path = ROOT) -> Catalog:
    """The messages of the sources that babel-client.cfg names, as a template."""
    with MAPPING.open(encoding="utf-8") as mapping:
        method_map, options_map = parse_mapping_cfg(mapping)
    catalog = Catalog(header_comment=HEADER, project=PROJECT, domain=DOMAIN, fuzzy=False)
    found = extract_from_dir(
        str(root), method_map, options_map, keywords=KEYWORDS, comment_tags=("Translators:",)
    )
    for filename, lineno, message, comments, context in found:
        catalog.add(
            message,
            None,
            [(Path(filename).as_posix(), lineno)],
            auto_comments=comments,
            context=context,
        )
    return catalog


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(language: str) -> Path:
    return po_path(language).with_suffix(".mo")


def read(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=language, domain=DOMAIN)


def po_bytes(catalog: Catalog) -> bytes:
    """The catalog as a .po/.pot file: no line numbers, so moving code changes nothing."""
    buffer = io.BytesIO()
    write_po(buffer, catalog, include_lineno=False, ignore_obsolete=True, width=96)
    return buffer.getvalue()


def mo_bytes(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def ids(catalog: Iterable[Message]) -> set[object]:
    return {message.id for message in catalog if message.id}


def extract() -> None:
    template = extracted()
    if TEMPLATE.exists() and _comparable(read(TEMPLATE)) == _comparable(template):
        print(f"{_shown(TEMPLATE)} is current")
        return
    TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
    TEMPLATE.write_bytes(po_bytes(template))
    print(f"wrote {_shown(TEMPLATE)}")


def update() -> None:
    template = read(TEMPLATE)
    for language in LANGUAGES:
        path = po_path(language)
        if path.exists():
            catalog = read(path, language)
        else:
            catalog = Catalog(
                locale=language, header_comment=HEADER, project=PROJECT, domain=DOMAIN, fuzzy=False
            )
        catalog.update(template, update_creation_date=False)
        catalog.obsolete.clear()
        if language == "en":
            # The msgids are English: the en catalog says so for each, so that every
            # message counts as translated and an English locale never falls back.
            for message in catalog:
                if message.id:
                    message.string = message.id
                    message.flags.discard("fuzzy")
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_if_changed(path, po_bytes(catalog))


def compile_catalogs() -> None:
    for language in LANGUAGES:
        _write_if_changed(mo_path(language), mo_bytes(read(po_path(language), language)))


def check() -> list[str]:
    """One line per problem; none when the catalogs are current and complete."""
    problems: list[str] = []
    sources = extracted()
    if not TEMPLATE.exists():
        return [f"{_shown(TEMPLATE)}: missing (run scripts/i18n-client extract)"]
    template = read(TEMPLATE)
    if _comparable(template) != _comparable(sources):
        problems.append(
            f"{_shown(TEMPLATE)}: not current with the sources (run scripts/i18n-client extract)"
        )
    for language in LANGUAGES:
        path = po_path(language)
        if not path.exists():
            problems.append(f"{_shown(path)}: missing (run scripts/i18n-client update)")
            continue
        catalog = read(path, language)
        missing, extra = ids(sources) - ids(catalog), ids(catalog) - ids(sources)
        for message_id in sorted(map(str, missing)):
            problems.append(f"{_shown(path)}: {message_id!r} missing (run update)")
        for message_id in sorted(map(str, extra)):
            problems.append(f"{_shown(path)}: {message_id!r} no longer in the sources (run update)")
        problems += [f"{_shown(path)}: {problem}" for problem in _translation_problems(catalog)]
        mo = mo_path(language)
        if not mo.exists() or mo.read_bytes() != mo_bytes(catalog):
            problems.append(f"{_shown(mo)}: not compiled from the .po (run compile)")
    return problems


def _translation_problems(catalog: Catalog) -> list[str]:
    problems = []
    for message in catalog:
        if not message.id:
            continue
        shown = repr(message.id if isinstance(message.id, str) else message.id[0])
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy:
            problems.append(f"{shown} is fuzzy")
        if not all(strings):
            problems.append(f"{shown} is not translated")
            continue
        originals = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = sorted(_PLACEHOLDER.findall(originals[-1]))
        for string in strings:
            if sorted(_PLACEHOLDER.findall(string)) != wanted:
                problems.append(f"{shown}: placeholders differ in {string!r}")
    return problems


def _comparable(catalog: Catalog) -> set[tuple[object, object]]:
    """What must match between template and sources: ids, plurals and contexts."""
    return {(message.id, message.context) for message in catalog if message.id}


def _write_if_changed(path: Path, data: bytes) -> None:
    if path.exists() and path.read_bytes() == data:
        print(f"{_shown(path)} is current")
        return
    path.write_bytes(data)
    print(f"wrote {_shown(path)}")


def _shown(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def main(argv: list[str]) -> int:
    commands = {"extract": extract, "update": update, "compile": compile_catalogs}
    if len(argv) != 1 or argv[0] not in (*commands, "check"):
        print("usage: scripts/i18n-client extract|update|compile|check", file=sys.stderr)
        return 2
    if argv[0] == "check":
        problems = check()
        for problem in problems:
            print(f"i18n-client: {problem}")
        return 1 if problems else 0
    commands[argv[0]]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
