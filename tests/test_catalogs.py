"""The gettext catalogs: complete, current with the sources, compiled, and safe to fill."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog

from relay.i18n.catalogs import Message, texts
from relay.i18n.languages import LANGUAGES
from relay.i18n.templates import gettext_context
from scripts import catalogs

RELAY = Path(__file__).resolve().parent.parent / "relay"


def test_every_language_is_complete_current_and_compiled() -> None:
    """What scripts/i18n check says: every message the sources mark is in every .po,
    translated (every plural form), not fuzzy, with the msgid's placeholders, and the .mo
    beside it is what the .po compiles to."""
    problems = list(catalogs.problems(catalogs.relay_domain()))
    assert problems == []


def test_the_check_finds_what_it_must(tmp_path: Path) -> None:
    """The check is not blind: an untranslated, a fuzzy, a copied and a
    placeholder-changing entry, a stale .mo, and a message no source marks are each
    reported."""
    domain = catalogs.Domain("relay", "babel.cfg", str(tmp_path / "locale"), ("tr",))
    source = catalogs.template(catalogs.relay_domain())
    catalog = Catalog(locale="tr", domain="relay")
    catalog.update(source)
    first, second, third = [
        m for m in catalog if isinstance(m.id, str) and m.id and "%(" not in m.id
    ][:3]
    copied = next(
        m
        for m in catalog
        if isinstance(m.id, str)
        and m not in (first, second, third)
        and len(re.findall("[A-Za-z]{4,}", m.id)) > 3
    )
    placeholder = next(m for m in catalog if isinstance(m.id, str) and "%(" in m.id)
    for message in catalog:
        if message.id:
            message.string = ("x",) * 6 if not isinstance(message.id, str) else f"tr {message.id}"
    first.string = ""
    second.flags.add("fuzzy")
    placeholder.string = "kein Platzhalter"
    copied.string = copied.id
    catalog.add("No source marks this", "x")
    path = domain.po_path("tr")
    catalogs.write(catalog, path)
    domain.mo_path("tr").write_bytes(b"stale")
    found = "\n".join(catalogs.problems(domain))
    assert f"untranslated {first.id!r}" in found
    assert f"fuzzy {second.id!r}" in found
    names = sorted(set(catalogs.PLACEHOLDER.findall(placeholder.id)))
    assert f"placeholders [] instead of {names} in {placeholder.id!r}" in found
    assert "'No source marks this', which no source marks" in found
    assert "not compiled from its .po" in found
    assert f"still the English text {copied.id!r}" in found
    assert third.id not in found


@pytest.mark.parametrize("lang", [code for code in LANGUAGES if code != "en"])
def test_each_language_is_its_own(lang: str) -> None:
    """No catalog is a copy of the English one: the words a patient reads first differ."""
    for message in ("Send request", "Request an appointment", "Privacy notice"):
        assert texts(lang).gettext(message) != message


def test_plural_forms_follow_each_language() -> None:
    """ngettext picks the language's form: Polish and Ukrainian have three, Arabic six."""
    for lang, counts, expected in (
        ("pl", (1, 2, 5, 22, 25), 3),
        ("uk", (1, 3, 11, 21), 3),
        ("ar", (0, 1, 2, 3, 11, 100), 6),
        ("de", (1, 3), 2),
    ):
        words = {
            re.sub(r"\d+", "", texts(lang).ngettext("%(num)s minute", "%(num)s minutes", n))
            for n in counts
        }
        assert len(words) == expected, (lang, words)
    assert texts("de").ngettext("%(num)s minute", "%(num)s minutes", 3) == "3 Minuten"


def test_a_broken_translation_falls_back_instead_of_failing() -> None:
    """A placeholder a translation gets wrong (CI refuses those) shows the English text
    filled in, rather than failing the request."""
    t = texts("de")
    original = t.catalog._catalog  # type: ignore[attr-defined]
    t.catalog._catalog = {**original, "with %(doctor)s": "bei %(arzt)s"}  # type: ignore[attr-defined]
    try:
        assert t.gettext("with %(doctor)s", doctor="Dr. A") == "with Dr. A"
    finally:
        t.catalog._catalog = original  # type: ignore[attr-defined]


def test_templates_escape_the_translation_and_its_values() -> None:
    """In a page, neither a translation nor a value put into it can add markup."""
    gettext = gettext_context("de")["gettext"]
    shown = gettext("with %(doctor)s", doctor="<b>Dr. A</b>")
    assert str(shown) == "bei &lt;b&gt;Dr. A&lt;/b&gt;"
    assert str(gettext("<script>")) == "&lt;script&gt;"


def test_field_labels_are_messages() -> None:
    """The field list's labels are read through the catalogs."""
    label = Message("First name")
    assert label["de"] == "Vorname"
    assert label["xx"] == "Vorname"  # an unknown language gets the default one


def test_no_patient_text_is_kept_in_a_dictionary_per_language() -> None:
    """Texts live in the catalogs, not in `{"de": …, "en": …}` dictionaries in the code."""
    offenders = [
        str(path.relative_to(RELAY))
        for path in RELAY.rglob("*.py")
        # Each language's name in itself and its locale: not texts to translate.
        if path.name != "languages.py"
        and re.search(r'["\']de["\']\s*:\s*(["\']|\{)', path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
