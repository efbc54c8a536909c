"""The practice client speaks German or English, as the locale says (practice_client/i18n.py),
from catalogs kept current with the sources (scripts/i18n-client)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from practice_client import i18n
from scripts import i18n_client
from tests.conftest import subprocess_env

ROOT = Path(__file__).resolve().parents[1]
LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def client(*args: str, **locale: str) -> subprocess.CompletedProcess[str]:
    """`python -m practice_client ARGS` under exactly the locale variables given."""
    env = {k: v for k, v in subprocess_env().items() if k not in LOCALE_VARIABLES}
    env.update(locale, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "practice_client", *args],
        check=False,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=60,
    )


def test_the_catalogs_are_current_and_complete() -> None:
    """scripts/i18n-client check finds nothing: .pot, .po and .mo match the sources."""
    assert i18n_client.check() == []


def test_the_template_holds_exactly_the_sources_messages(tmp_path: Path) -> None:
    """Extraction in-process, compared by message, not by date, with the committed .pot."""
    fresh = tmp_path / "practice_client.pot"
    fresh.write_bytes(i18n_client.po_bytes(i18n_client.extracted()))
    assert i18n_client.ids(i18n_client.read(fresh)) == i18n_client.ids(
        i18n_client.read(i18n_client.TEMPLATE)
    )
    assert "show this help message and exit" in i18n_client.ids(i18n_client.read(fresh))


def test_the_check_command_reports_an_untranslated_message(tmp_path: Path) -> None:
    """A .po with an empty msgstr is one problem line naming the message."""
    catalog = i18n_client.read(i18n_client.po_path("de"), "de")
    catalog["create a key file"].string = ""
    assert i18n_client._translation_problems(catalog) == ["'create a key file' is not translated"]


def test_the_check_command_reports_differing_placeholders() -> None:
    """A translation that drops or renames a placeholder is named."""
    catalog = i18n_client.read(i18n_client.po_path("de"), "de")
    catalog["public key: %(key)s"].string = "öffentlicher Schlüssel: %(schluessel)s"
    (problem,) = i18n_client._translation_problems(catalog)
    assert "placeholders differ" in problem


@pytest.mark.parametrize(
    ("environ", "language"),
    [
        ({"LANG": "de_DE.UTF-8"}, "de"),
        ({"LANG": "de_AT"}, "de"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "tr_TR.UTF-8"}, "en"),
        ({}, "en"),
        ({"LC_ALL": "en_GB.UTF-8", "LANG": "de_DE.UTF-8"}, "en"),
        ({"LC_MESSAGES": "de_DE.UTF-8", "LANG": "en_US.UTF-8"}, "de"),
        ({"LC_ALL": "de_DE.UTF-8", "LC_MESSAGES": "en_US.UTF-8"}, "de"),
        ({"LANGUAGE": "de:en", "LANG": "en_US.UTF-8"}, "de"),
        ({"LANGUAGE": "tr:en", "LANG": "de_DE.UTF-8"}, "en"),
        ({"LANGUAGE": "de", "LANG": "C"}, "en"),  # GNU: LANGUAGE is ignored under C
    ],
)
def test_the_language_follows_the_locale_variables(environ: dict[str, str], language: str) -> None:
    """LANGUAGE first, then LC_ALL, LC_MESSAGES, LANG; German only for de, English else."""
    assert i18n.system_language(environ, windows=False) == language


def test_windows_asks_the_user_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without locale variables, Windows' "German_Germany" means German."""
    monkeypatch.setattr(i18n.locale, "getlocale", lambda: ("German_Germany", "1252"))
    assert i18n.system_language({}, windows=True) == "de"
    monkeypatch.setattr(i18n.locale, "getlocale", lambda: ("English_United States", "1252"))
    assert i18n.system_language({}, windows=True) == "en"


def test_help_is_german_under_a_german_locale() -> None:
    """--help: our words and argparse's own ("Aufruf:", "Optionen") in German."""
    result = client("run", "--help", LANG="de_DE.UTF-8")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Aufruf: practice-client run")
    assert "Optionen:" in result.stdout
    assert "diese Hilfe anzeigen und beenden" in result.stdout
    assert "Terminanfragen abholen, entschlüsseln und ablegen" in result.stdout
    assert "den Eingang leeren, dann beenden" in result.stdout
    assert "Rückgabewerte: 0 erledigt" in result.stdout
    assert "usage:" not in result.stdout


@pytest.mark.parametrize("lang", ["C", "C.UTF-8", "en_US.UTF-8"])
def test_help_is_english_under_other_locales(lang: str) -> None:
    """--help in English, as before, under C and English locales."""
    result = client("run", "--help", LANG=lang)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: practice-client run")
    assert "show this help message and exit" in result.stdout
    assert "drain the inbox, then exit" in result.stdout
    assert "Aufruf" not in result.stdout


def test_usage_errors_are_german_under_a_german_locale() -> None:
    """A bad option value: argparse's frame and our message, both German."""
    result = client("run", "--wait", "x", LANG="de_DE.UTF-8")
    assert result.returncode == 1
    assert "practice-client run: Fehler: Argument --wait: keine ganze Zahl von Sekunden: 'x'" in (
        result.stderr
    )


def check_run(tmp_path: Path, **locale: str) -> subprocess.CompletedProcess[str]:
    """A real `check` against a closed port, with no key file: every line is a ✗ or ✓."""
    return client(
        "check",
        *("--relay", "http://127.0.0.1:9", "--token", "praxis-a.secret"),
        *("--key-file", str(tmp_path / "missing.key"), "--out", str(tmp_path / "out")),
        PYTHONIOENCODING="utf-8",
        **locale,
    )


def test_check_lines_are_german_under_a_german_locale(tmp_path: Path) -> None:
    """`check` prints its lines and fixes in German."""
    result = check_run(tmp_path, LANG="de_DE.UTF-8")
    assert result.returncode == 1
    assert "-> mit `practice-client keygen --key-file" in result.stdout
    assert "✗ Relay unter http://127.0.0.1:9 nicht erreichbar" in result.stdout
    assert "✗ Token angenommen: nicht geprüft: das Relay ist nicht erreichbar" in result.stdout
    assert "gibt es noch nicht; er kann angelegt werden" in result.stdout


def test_check_lines_are_english_under_the_c_locale(tmp_path: Path) -> None:
    """`check` in English under LANG=C."""
    result = check_run(tmp_path, LANG="C")
    assert result.returncode == 1
    assert "-> create one with `practice-client keygen --key-file" in result.stdout
    assert "relay at http://127.0.0.1:9 unreachable" in result.stdout
    assert "token accepted: not checked: the relay is unreachable" in result.stdout
    assert "does not exist yet; it can be created" in result.stdout
