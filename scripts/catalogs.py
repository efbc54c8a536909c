"""The gettext catalogs: extract the texts, update the `.po` files, compile, check.

`scripts/i18n` runs these (docs/translating.md), and tests/test_catalogs.py runs `check`.
Message ids are the English texts. The template is extracted in memory each time rather
than kept as a `.pot`, so it can never be stale; the `.po` files keep file names but no
line numbers, so moving code does not touch them.
"""

from __future__ import annotations

import copy
import io
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
# `Message("…")`: the field list's labels (relay/i18n/catalogs.py); `N_`: texts marked
# where they are defined and translated where they are shown.
KEYWORDS = {**DEFAULT_KEYWORDS, "Message": None, "N_": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
COUNT = "num"


@dataclass(frozen=True)
class Domain:
    name: str
    mapping: str
    locale_dir: str
    languages: tuple[str, ...]
    source_language: str = "en"

    def po_path(self, lang: str) -> Path:
        return ROOT / self.locale_dir / lang / "LC_MESSAGES" / f"{self.name}.po"

    def mo_path(self, lang: str) -> Path:
        return self.po_path(lang).with_suffix(".mo")


def relay_domain() -> Domain:
    # Run as a script, the repository is not on the path; imported by the tests, it is.
    sys.path.insert(0, str(ROOT))
    from relay.i18n.languages import LANGUAGES  # noqa: PLC0415

    return Domain("relay", "babel.cfg", "relay/i18n/locale", LANGUAGES)


def template(domain: Domain) -> Catalog:
    """Every message the sources mark, with the files it comes from."""
    with (ROOT / domain.mapping).open(encoding="utf-8") as file:
        method_map, options_map = parse_mapping_cfg(file)
    catalog = _catalog(domain, None)
    for path, _, message, comments, context in extract_from_dir(
        ROOT,
        method_map,
        options_map,
        keywords=KEYWORDS,
        comment_tags=("Translators:",),
        strip_comment_tags=True,
    ):
        catalog.add(message, locations=[(path, None)], auto_comments=comments, context=context)
    return catalog


def _catalog(domain: Domain, lang: str | None) -> Catalog:
    # Fixed header values: a catalog changes only when its messages do.
    return Catalog(
        locale=lang,
        domain=domain.name,
        project="Terminrelay",
        version="1",
        copyright_holder="the Terminrelay authors",
        msgid_bugs_address="the Terminrelay issue tracker",
        creation_date=datetime(2026, 12, 7, tzinfo=UTC),
        revision_date=datetime(2026, 12, 7, tzinfo=UTC),
        last_translator="the Terminrelay translators (docs/translating.md)",
        language_team=f"{lang} (docs/translating.md)",
        header_comment=HEADER,
        fuzzy=False,
    )


HEADER = """\
# Terminrelay's patient texts. Translating or reviewing: docs/translating.md.
# Edit the msgstr lines only, then run scripts/i18n check and scripts/i18n compile."""


def read(path: Path, lang: str) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=lang, domain=path.stem)


def write(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, include_lineno=False, omit_header=False, sort_output=True)
    path.write_bytes(buffer.getvalue())


def compiled(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def new(domain: Domain, lang: str) -> Path:
    """A `.po` for `lang` with every message untranslated and Babel's plural forms."""
    path = domain.po_path(lang)
    if path.exists():
        raise SystemExit(f"{_shown(path)} exists; edit it, or run update")
    catalog = _catalog(domain, lang)
    catalog.update(template(domain), update_creation_date=False)
    write(catalog, path)
    return path


def update(domain: Domain) -> list[Path]:
    """Each `.po` gains the new messages and loses the ones no source marks any more.

    The source language's own catalog translates each message as itself."""
    source = template(domain)
    written = []
    for lang in domain.languages:
        path = domain.po_path(lang)
        catalog = read(path, lang) if path.exists() else _catalog(domain, lang)
        # A copy each: Catalog.update shares the template's messages with the catalog, and
        # the source language's filling-in would reach the languages after it.
        catalog.update(copy.deepcopy(source), no_fuzzy_matching=True, update_creation_date=False)
        catalog.obsolete.clear()
        if lang == domain.source_language:
            for message in catalog:
                if message.id and not _translated(message):
                    message.string = (
                        message.id if isinstance(message.id, str) else tuple(message.id)
                    )
        write(catalog, path)
        written.append(path)
    return written


def compile_all(domain: Domain) -> list[Path]:
    written = []
    for lang in domain.languages:
        domain.mo_path(lang).write_bytes(compiled(read(domain.po_path(lang), lang)))
        written.append(domain.mo_path(lang))
    return written


def problems(domain: Domain) -> Iterator[str]:
    """One line per problem: stale, untranslated, fuzzy, placeholders, not compiled."""
    source = {_key(message) for message in template(domain) if message.id}
    for lang in domain.languages:
        path = domain.po_path(lang)
        name = _shown(path)
        if not path.exists():
            yield f"{name}: missing (scripts/i18n new {lang})"
            continue
        catalog = read(path, lang)
        have = {_key(message) for message in catalog if message.id}
        for key in sorted(source - have, key=str):
            yield f"{name}: lacks {key[1]!r} (scripts/i18n update)"
        for key in sorted(have - source, key=str):
            yield f"{name}: has {key[1]!r}, which no source marks (scripts/i18n update)"
        for message in catalog:
            if not message.id:
                continue
            if message.fuzzy:
                yield f"{name}: fuzzy {message.id!r}"
            elif not _translated(message):
                yield f"{name}: untranslated {message.id!r}"
            elif lang != domain.source_language and _left_in_english(message):
                yield f"{name}: still the English text {message.id!r}"
            else:
                yield from (f"{name}: {problem}" for problem in _placeholder_problems(message))
        # Babel's own checkers: python-format types and placeholders, plural counts.
        for message, errors in catalog.check():
            yield from (f"{name}: {error} in {message.id!r}" for error in errors)
        mo = domain.mo_path(lang)
        if not mo.exists() or mo.read_bytes() != compiled(catalog):
            yield f"{_shown(mo)}: not compiled from its .po (scripts/i18n compile)"


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _key(message: Message) -> tuple[str | None, str]:
    ids = message.id if isinstance(message.id, str) else "\x00".join(message.id)
    return (message.context, ids)


def _left_in_english(message: Message) -> bool:
    # A copied msgid is no translation, unless it is a word or two ("Website", a time span).
    if message.string != message.id:
        return False
    words = PLACEHOLDER.sub("", str(message.id)).replace("Terminrelay", "")
    return len(re.findall(r"[A-Za-z]{4,}", words)) >= 2


def _translated(message: Message) -> bool:
    if not message.string:
        return False
    strings = [message.string] if isinstance(message.string, str) else list(message.string)
    return bool(strings) and all(strings)


def _placeholder_problems(message: Message) -> Iterator[str]:
    if isinstance(message.id, str):
        expected = set(PLACEHOLDER.findall(message.id))
        found = set(PLACEHOLDER.findall(str(message.string)))
        if found != expected:
            yield f"placeholders {sorted(found)} instead of {sorted(expected)} in {message.id!r}"
        return
    # A plural's forms may leave out the count ("eine Minute"), but nothing else.
    allowed = set(PLACEHOLDER.findall(message.id[0])) | set(PLACEHOLDER.findall(message.id[1]))
    needed = allowed - {COUNT}
    for index, form in enumerate(message.string):
        found = set(PLACEHOLDER.findall(form))
        if not needed <= found <= allowed:
            yield (
                f"placeholders {sorted(found)} in form {index} of {message.id[0]!r}; "
                f"expected {sorted(needed)} (and may have {COUNT!r})"
            )


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    domain = relay_domain()
    if command == "update":
        paths = update(domain)
    elif command == "compile":
        paths = compile_all(domain)
    elif command == "new" and len(argv) == 2:
        paths = [new(domain, argv[1])]
    elif command == "check":
        found = list(problems(domain))
        for line in found:
            print(line)
        print(f"{len(found)} problems" if found else "catalogs complete and compiled")
        return 1 if found else 0
    else:
        print("usage: scripts/i18n update | compile | check | new <lang>", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {_shown(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
