"""The rules file's [details] and per-type notes: checked in the client, carried into the
profile, and the relay's refusals shown with the line of the file to change."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from practice_client.__main__ import main
from practice_client.calendar.opening_hours import RulesError, candidate_slots, parse_rules
from practice_client.calendar.slots import profile_json, relay_problems
from relay.practice.details import DataProtectionOfficer, PracticeDetails, SupervisoryAuthority
from relay.practice.profile import AppointmentType, parse_profile, profile_from_json

if TYPE_CHECKING:
    from tests.conftest import PracticeHandle, RunningRelay

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)

HEAD = """
name = "Praxis Dr. Beispiel"
time_zone = "Europe/Berlin"
horizon_days = 14
lead_time = "0m"
"""

TYPES = """
[appointment_types]
"Kontrolle" = 10
"Erstgespräch" = { minutes = 20, note = "Bitte Versichertenkarte und Überweisung mitbringen" }

[appointment_types.Vorsorge]
minutes = 30
note = "Bitte nüchtern kommen"
"""

DOCTORS = """
[[doctors]]
name = "Dr. A. Beispiel"
[doctors.hours]
mo = ["08:00-09:00", "09:00-10:00 Erstgespräch", "10:00-11:00 Vorsorge"]
"""

DETAILS = """
[details]
controller = "Dr. med. Anna Beispiel"
address = ["Musterstraße 1", "10115 Berlin"]
phone = "+49 30 1234567"
email = "praxis@praxis-beispiel.de"
website = "https://praxis-beispiel.de"
opening_hours = ["Mo–Fr 8–12 Uhr", "Di und Do 15–18 Uhr"]

[details.data_protection_officer]
name = "Datenschutz Nord GmbH"
email = "dsb@datenschutz-nord.example"

[details.supervisory_authority]
name = "Berliner Beauftragte für Datenschutz und Informationsfreiheit"
url = "https://www.datenschutz-berlin.de"
"""


def rules_text(details: str = DETAILS) -> str:
    return HEAD + details + TYPES + DOCTORS


def problems_of(text: str) -> tuple[str, ...]:
    with pytest.raises(RulesError) as raised:
        parse_rules(text, source="hours.toml")
    return raised.value.problems


def line_of(text: str, fragment: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_details_and_notes_reach_the_profile_the_relay_accepts() -> None:
    """Every details member and both ways of writing a note end up in a valid profile."""
    rules = parse_rules(rules_text())
    profile = profile_json(rules, candidate_slots(rules, NOW))

    accepted = parse_profile(profile, now=NOW)

    assert accepted.details == PracticeDetails(
        controller="Dr. med. Anna Beispiel",
        address=("Musterstraße 1", "10115 Berlin"),
        phone="+49 30 1234567",
        email="praxis@praxis-beispiel.de",
        website="https://praxis-beispiel.de",
        opening_hours=("Mo–Fr 8–12 Uhr", "Di und Do 15–18 Uhr"),
        data_protection_officer=DataProtectionOfficer(
            name="Datenschutz Nord GmbH", email="dsb@datenschutz-nord.example"
        ),
        supervisory_authority=SupervisoryAuthority(
            name="Berliner Beauftragte für Datenschutz und Informationsfreiheit",
            url="https://www.datenschutz-berlin.de",
        ),
    )
    assert accepted.appointment_types == (
        AppointmentType("Kontrolle", 10),
        AppointmentType("Erstgespräch", 20, "Bitte Versichertenkarte und Überweisung mitbringen"),
        AppointmentType("Vorsorge", 30, "Bitte nüchtern kommen"),
    )
    # The types' lengths still cut the slots: 6 + 3 + 2 on the first Monday.
    first_monday = [
        slot for slot in accepted.slots if slot.start.date().isoformat() == "2026-03-02"
    ]
    assert [slot.appointment_type for slot in first_monday].count("Vorsorge") == 2


def test_without_details_the_profile_has_none_and_empty_texts_are_not_given() -> None:
    """No [details]: no `details` key; an empty text is left out, not sent as ""."""
    plain = parse_rules(rules_text(details=""))
    assert "details" not in profile_json(plain, [])

    sparse = parse_rules(
        rules_text(details='[details]\nphone = ""\nwebsite = "  "\naddress = []\n')
    )
    profile = profile_json(sparse, [])
    assert profile["details"] == {"address": []}
    assert parse_profile(profile, now=NOW).details == PracticeDetails()


def test_every_local_mistake_is_named_with_file_line_and_key() -> None:
    """Types, lengths, one line, http(s) and required parts: one message each, with its line."""
    details = f'''
[details]
controller = 5
address = """Musterstraße 1
10115 Berlin"""
website = "javascript:alert(1)"
opening_hours = ["Mo 8-12", ""]
phone = "{"1" * 31}"
fax = "030 1234"

[details.data_protection_officer]
name = "Datenschutz Nord GmbH"

[details.supervisory_authority]
url = "ftp://datenschutz.example"
'''
    text = rules_text(details).replace(
        '"Kontrolle" = 10', f'"Kontrolle" = {{ minutes = 10, note = "{"x" * 301}", colour = 1 }}'
    )

    problems = problems_of(text)

    expected = {
        f"hours.toml, line {line_of(text, 'controller = 5')}: details.controller: must be a text",
        f"hours.toml, line {line_of(text, 'address =')}: details.address: must be a list of lines",
        f"hours.toml, line {line_of(text, 'javascript')}: details.website: must be a web address",
        f"hours.toml, line {line_of(text, 'opening_hours')}: details.opening_hours[1]: is empty",
        f"hours.toml, line {line_of(text, 'phone =')}: details.phone: is longer than 30",
        f"hours.toml, line {line_of(text, 'fax')}: details.fax: unknown key",
        f"hours.toml, line {line_of(text, '[details.data_protection_officer]')}: "
        "details.data_protection_officer: needs at least one of email, phone, address",
        f"hours.toml, line {line_of(text, 'ftp://')}: details.supervisory_authority.url: "
        "must be a web address",
        f"hours.toml, line {line_of(text, '[details.supervisory_authority]')}: "
        "details.supervisory_authority: needs a name",
        f"hours.toml, line {line_of(text, 'colour')}: appointment_types.Kontrolle.note: "
        "is longer than 300 characters",
        f"hours.toml, line {line_of(text, 'colour')}: appointment_types.Kontrolle.colour: "
        "unknown key (known: minutes, note, names, notes)",
    }
    for start in expected:
        assert any(problem.startswith(start) for problem in problems), (start, problems)
    assert len(problems) == len(expected)


def test_inline_tables_and_line_breaks_point_at_their_own_line() -> None:
    """An inline officer table and a note with a line break are found on their lines."""
    text = rules_text(
        '[details]\nphone = "+49 30 1234567"\n'
        'data_protection_officer = { name = "Datenschutz Nord", phone = 12 }\n'
    ).replace('note = "Bitte nüchtern kommen"', 'note = "Bitte\\nnüchtern kommen"')

    problems = problems_of(text)

    assert problems == (
        f"hours.toml, line {line_of(text, 'nüchtern')}: appointment_types.Vorsorge.note: "
        "must be one line: write several lines as a list",
        f"hours.toml, line {line_of(text, 'Datenschutz Nord')}: "
        "details.data_protection_officer.phone: must be a text in quotes",
    )


def test_a_value_found_inside_another_is_reported_on_its_own_key_line() -> None:
    """A website without scheme is reported on its line, not on the e-mail line holding it."""
    text = rules_text().replace('"https://praxis-beispiel.de"', '"praxis-beispiel.de"')

    problems = problems_of(text)

    assert problems == (
        f"hours.toml, line {line_of(text, 'website =')}: details.website: "
        "must be a web address starting with https:// (or http://)",
    )


def test_relay_error_paths_point_at_the_rules_key_that_made_them(tmp_path: Path) -> None:
    """Profile paths of a 422 become the rules file's keys and lines; a slot names itself."""
    text = rules_text()
    rules_file = tmp_path / "hours.toml"
    rules_file.write_text(text, encoding="utf-8")
    rules = parse_rules(text)
    profile = profile_json(rules, candidate_slots(rules, NOW))
    errors = {
        "name": "m1",
        "details.address[1]": "m2",
        "details.supervisory_authority.url": "m3",
        "appointment_types[1].name": "m4",
        "appointment_types[2].note": "m5",
        "doctors[0]": "m6",
        "slots[0].end": "m7",
    }

    lines = relay_problems(rules_file, profile, errors)

    where = f"{rules_file}, line"
    name_line = line_of(text, 'name = "Praxis')
    type_line = line_of(text, '"Erstgespräch" =')
    assert lines == [
        f"{where} {name_line}: name: refused by the relay: m1",
        f"{where} {line_of(text, '10115 Berlin')}: details.address[1]: refused by the relay: m2",
        f"{where} {line_of(text, 'datenschutz-berlin')}: details.supervisory_authority.url: "
        "refused by the relay: m3",
        f"{where} {type_line}: appointment_types.Erstgespräch: refused by the relay: m4",
        f"{where} {line_of(text, 'nüchtern')}: appointment_types.Vorsorge.note: "
        "refused by the relay: m5",
        f"{where} {line_of(text, 'Dr. A. Beispiel')}: doctors[0].name: refused by the relay: m6",
        f"{rules_file}: slots[0].end (Dr. A. Beispiel, 2026-03-02T08:00:00+01:00): "
        "refused by the relay: m7",
    ]


async def test_relay_refusals_are_shown_with_the_rules_line_and_the_fix_publishes(
    relay: RunningRelay,
    practice: PracticeHandle,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A phone and an e-mail address the relay refuses (422) are listed with their lines in
    the rules file; nothing changes on the relay; the corrected file publishes details and notes."""
    # Given rules whose phone has too few digits and whose officer address has no domain
    today = datetime.now(UTC).date()
    bad = (
        rules_text()
        .replace('phone = "+49 30 1234567"', 'phone = "+49 30 1"')
        .replace("dsb@datenschutz-nord.example", "dsb@localhost")
        .replace("horizon_days = 14", "horizon_days = 8")
    )
    rules = tmp_path / "opening-hours.toml"
    rules.write_text(bad, encoding="utf-8")
    argv = ["publish", "--rules", str(rules), "--relay", relay.url, "--token", practice.token]

    # When the practice publishes
    refused = await asyncio.to_thread(main, argv)
    output = capsys.readouterr()

    # Then each refusal names the file, line and key, with the relay's message
    assert refused == 1
    lines = output.out.splitlines()
    phone_line = line_of(bad, 'phone = "+49 30 1"')
    assert (
        f"{rules}, line {phone_line}: details.phone: refused by the relay: "
        "Bitte geben Sie eine gültige Telefonnummer an (zum Beispiel +49 30 1234567)."
    ) in lines, output.out
    assert any(
        line.startswith(
            f"{rules}, line {line_of(bad, 'dsb@localhost')}: "
            "details.data_protection_officer.email: refused by the relay: "
        )
        for line in lines
    ), output.out
    assert "2 problem(s) listed above" in output.err
    assert "nothing changed on the relay" in output.err

    # When the practice corrects the file and publishes again
    rules.write_text(
        bad.replace('"+49 30 1"', '"+49 30 1234567"').replace("@localhost", "@dsb.example"),
        encoding="utf-8",
    )
    published = await asyncio.to_thread(main, argv)

    # Then the relay stores the details and the notes
    assert published == 0, capsys.readouterr()
    stored = profile_from_json(json.loads(await relay.store.profile(practice.slug)))
    assert stored.details.phone == "+49 30 1234567"
    assert stored.details.data_protection_officer == DataProtectionOfficer(
        name="Datenschutz Nord GmbH", email="dsb@dsb.example"
    )
    assert {kind.name: kind.note for kind in stored.appointment_types}["Erstgespräch"] == (
        "Bitte Versichertenkarte und Überweisung mitbringen"
    )
    assert stored.slots, f"no Monday slots published in the 8 days from {today}"


LANGUAGE_TYPES = """
[appointment_types]
"Kontrolle" = 10
"Erstgespräch" = { minutes = 20, note = "Bitte Überweisung mitbringen", names = { tr = "İlk görüşme", en = "First visit" }, notes = { tr = "Lütfen sevk belgenizi getirin" } }
"""  # noqa: E501 - one inline table, as staff write it

LANGUAGE_DETAILS = """
[details]
opening_hours = ["Mo–Fr 8–12 Uhr"]
opening_hours_by_language = { tr = ["Pzt–Cum 8–12"], en = ["Mon–Fri 8–12"] }
"""


def test_the_practices_words_per_language_reach_the_profile() -> None:
    """names, notes, opening_hours_by_language and language go into the profile as given."""
    text = (
        'language = "de"\n'
        + HEAD
        + LANGUAGE_DETAILS
        + LANGUAGE_TYPES
        + DOCTORS.replace(" Vorsorge", "")
    )
    rules = parse_rules(text)
    profile = profile_json(rules, [])

    assert profile["language"] == "de"
    assert rules.practice_language == "de"
    assert profile["appointment_types"] == [
        {"name": "Kontrolle", "minutes": 10},
        {
            "name": "Erstgespräch",
            "minutes": 20,
            "note": "Bitte Überweisung mitbringen",
            "names": {"tr": "İlk görüşme", "en": "First visit"},
            "notes": {"tr": "Lütfen sevk belgenizi getirin"},
        },
    ]
    assert profile["details"] == {
        "opening_hours": ["Mo–Fr 8–12 Uhr"],
        "opening_hours_by_language": {"tr": ["Pzt–Cum 8–12"], "en": ["Mon–Fri 8–12"]},
    }


def test_without_per_language_texts_the_profile_has_none_of_the_new_keys() -> None:
    """Nothing given, nothing sent: a relay that does not know the keys still accepts it."""
    rules = parse_rules(rules_text())
    profile = profile_json(rules, candidate_slots(rules, NOW))

    assert "language" not in profile
    assert rules.practice_language == "de"
    assert not any({"names", "notes"} & set(kind) for kind in profile["appointment_types"])
    assert "opening_hours_by_language" not in profile["details"]
    parse_profile(profile, now=NOW)


def test_per_language_mistakes_are_named_with_line_and_key() -> None:
    """An unknown language code, a too long name, a note of two lines, a bad language."""
    types = f'''
[appointment_types]
"Kontrolle" = 10
"Erstgespräch" = {{ minutes = 20, names = {{ fr = "Première visite", tr = "{"x" * 101}" }} }}

[appointment_types.Vorsorge]
minutes = 30
notes = {{ en = """Please come
fasting""" }}
'''
    details = '\n[details]\nopening_hours_by_language = { en = "Mon-Fri" }\n'
    text = 'language = "fr"\n' + HEAD + details + types + DOCTORS

    problems = problems_of(text)

    expected = {
        'hours.toml, line 1: language: must be one of "de", "en", "tr", "ar", "ru", "uk", "pl"',
        f"hours.toml, line {line_of(text, 'Première')}: appointment_types.Erstgespräch.names.fr: "
        "not a language of the relay (known: de, en, tr, ar, ru, uk, pl)",
        f"hours.toml, line {line_of(text, 'xxxx')}: appointment_types.Erstgespräch.names.tr: "
        "is longer than 100 characters",
        f"hours.toml, line {line_of(text, 'Please come')}: appointment_types.Vorsorge.notes.en: "
        "must be one line",
        f"hours.toml, line {line_of(text, 'Mon-Fri')}: details.opening_hours_by_language.en: "
        "must be a list of lines",
    }
    for start in expected:
        assert any(problem.startswith(start) for problem in problems), (start, problems)
    assert len(problems) == len(expected)
