"""The practice's own words per language: the profile's `language`, the types' `names` and
`notes`, `details.opening_hours_by_language` (relay/practice/localized.py): validation,
storage, the public profile and what a page in some language is shown."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from relay.errors import ValidationFailed
from relay.practice.details import PracticeDetails
from relay.practice.localized import Localized, LocalizedLines
from relay.practice.profile import (
    AppointmentType,
    default_profile,
    parse_profile,
    profile_from_json,
    profile_to_json,
)
from tests.conftest import PracticeHandle, RunningRelay
from tests.helpers import profile_json, put_profile

NOW = datetime(2026, 1, 1, tzinfo=UTC)
FIRST_VISIT = {
    "name": "Erstgespräch",
    "minutes": 20,
    "note": "Bitte Versichertenkarte mitbringen",
    # Given out of LANGUAGES order: stored and served in it.
    "names": {"tr": "İlk görüşme", "en": "First visit", "ar": "الزيارة الأولى"},
    "notes": {"tr": "Lütfen sigorta kartınızı getirin"},
}
CHECK_UP = {"name": "Kontrolle", "minutes": 10, "names": {"en": "Check-up"}}
HOURS = ["Mo–Fr 8–12 Uhr", "Di und Do 15–18 Uhr"]
HOURS_TR = ["Pzt–Cum 8–12", "Salı ve Perşembe 15–18"]


def translated(**changes: Any) -> dict[str, Any]:
    """A profile in German with Turkish, English and Arabic texts beside, changed by `changes`."""
    data: dict[str, Any] = {
        "name": "Praxis Dr. Beispiel",
        "language": "de",
        "appointment_types": [copy.deepcopy(FIRST_VISIT), copy.deepcopy(CHECK_UP)],
        "details": {
            "opening_hours": HOURS,
            "opening_hours_by_language": {"tr": HOURS_TR, "ar": ["الاثنين–الجمعة 8–12"]},
        },
    }
    data.update(changes)
    return data


def with_type(**changes: Any) -> dict[str, Any]:
    """translated(), its first type changed by `changes`."""
    return translated(appointment_types=[{**FIRST_VISIT, **changes}, CHECK_UP])


def with_hours(by_language: object) -> dict[str, Any]:
    """translated(), its opening hours by language replaced."""
    return translated(details={"opening_hours": HOURS, "opening_hours_by_language": by_language})


def errors_of(data: object) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as failure:
        parse_profile(data, now=NOW)
    return failure.value.errors


# Valid profiles -----------------------------------------------------------------------------


def test_translations_parse_into_language_ordered_pairs() -> None:
    """names, notes and opening hours by language are read, in LANGUAGES order, stripped."""
    data = with_type(names={"tr": " İlk görüşme ", "en": "First visit", "ar": "الزيارة الأولى"})
    profile = parse_profile(data, now=NOW)
    first, check_up = profile.appointment_types
    assert profile.language == "de"
    assert first == AppointmentType(
        "Erstgespräch",
        20,
        "Bitte Versichertenkarte mitbringen",
        names=(("en", "First visit"), ("tr", "İlk görüşme"), ("ar", "الزيارة الأولى")),
        notes=(("tr", "Lütfen sigorta kartınızı getirin"),),
    )
    assert check_up.names == (("en", "Check-up"),)
    assert check_up.notes == ()
    assert profile.details.opening_hours_by_language == (
        ("tr", tuple(HOURS_TR)),
        ("ar", ("الاثنين–الجمعة 8–12",)),
    )


@pytest.mark.parametrize("language", ["de", "en", "tr", "ar", "ru", "uk", "pl"])
def test_each_of_the_seven_languages_may_be_the_profiles_own(language: str) -> None:
    """`language` takes each of the seven codes."""
    assert parse_profile({"name": "Praxis", "language": language}, now=NOW).language == language


@pytest.mark.parametrize("absent", [{}, {"language": None}])
def test_language_defaults_to_german(absent: dict[str, object]) -> None:
    """Without `language` (or with null) the profile is German, as every profile was."""
    profile = parse_profile({"name": "Praxis", **absent}, now=NOW)
    assert profile.language == "de"
    assert profile == default_profile("Praxis")


def test_null_and_empty_translations_are_none() -> None:
    """null or {} for the maps, null or blank optional notes and empty opening-hours lists
    are no translation at all (they would hide the own text, not translate it)."""
    data = translated(
        appointment_types=[
            {**FIRST_VISIT, "names": None, "notes": {"tr": "  ", "en": None}},
            {**CHECK_UP, "names": {}},
        ],
        details={"opening_hours": HOURS, "opening_hours_by_language": {"tr": [], "en": None}},
    )
    profile = parse_profile(data, now=NOW)
    assert [(kind.names, kind.notes) for kind in profile.appointment_types] == [((), ()), ((), ())]
    assert profile.details.opening_hours_by_language == ()


def test_a_translation_into_the_own_language_is_the_display_name() -> None:
    """names may hold the profile's own language: shown instead of the identity `name`."""
    profile = parse_profile(with_type(names={"de": "Erstgespräch (neue Patienten)"}), now=NOW)
    kind = profile.appointment_types[0]
    assert kind.name == "Erstgespräch"
    assert kind.display_name("de", own_language="de") == Localized(
        "Erstgespräch (neue Patienten)", "de"
    )


def test_translations_at_their_longest_are_accepted() -> None:
    """Names of 100, notes of 300 characters and 14 lines of 100 are allowed per language."""
    data = with_type(names={"ru": "я" * 100}, notes={"ru": "я" * 300})
    data["details"] = {"opening_hours_by_language": {"uk": ["ї" * 100] * 14}}
    profile = parse_profile(data, now=NOW)
    assert profile.appointment_types[0].names == (("ru", "я" * 100),)
    assert profile.appointment_types[0].notes == (("ru", "я" * 300),)
    assert profile.details.opening_hours_by_language == (("uk", ("ї" * 100,) * 14),)


# Invalid profiles -----------------------------------------------------------------------------

TYPE = "appointment_types[0]"
BY_LANGUAGE = "details.opening_hours_by_language"


@pytest.mark.parametrize(
    ("data", "path", "code"),
    [
        (translated(language="fr"), "language", "invalid_choice"),
        (translated(language="DE"), "language", "invalid_choice"),
        (translated(language="de-DE"), "language", "invalid_choice"),
        (translated(language=["de"]), "language", "not_string"),
        (with_type(names={"xx": "First visit"}), f"{TYPE}.names.xx", "unknown_field"),
        (with_type(names={"EN": "First visit"}), f"{TYPE}.names.EN", "unknown_field"),
        (with_type(names=["First visit"]), f"{TYPE}.names", "not_object"),
        (with_type(names="First visit"), f"{TYPE}.names", "not_object"),
        (with_type(names={"en": None}), f"{TYPE}.names.en", "required"),
        (with_type(names={"en": " "}), f"{TYPE}.names.en", "required"),
        (with_type(names={"en": 7}), f"{TYPE}.names.en", "not_string"),
        (with_type(names={"en": "x" * 101}), f"{TYPE}.names.en", "too_long"),
        (with_type(names={"en": "First\nvisit"}), f"{TYPE}.names.en", "line_break"),
        (with_type(names={"ar": "\u202eالزيارة"}), f"{TYPE}.names.ar", "bidi_control"),
        (with_type(names={"en": "First\x1b[31m"}), f"{TYPE}.names.en", "control_character"),
        (with_type(notes={"pl": "x" * 301}), f"{TYPE}.notes.pl", "too_long"),
        (with_type(notes={"pl": "Proszę\r\nprzynieść"}), f"{TYPE}.notes.pl", "line_break"),
        (with_type(notes={"pl": ["Proszę"]}), f"{TYPE}.notes.pl", "not_string"),
        (with_type(notes={"fr": "Apportez"}), f"{TYPE}.notes.fr", "unknown_field"),
        (with_type(notes="Apportez"), f"{TYPE}.notes", "not_object"),
        # Two types a page in English would show as one.
        (with_type(names={"en": "Check-up"}), "appointment_types[1].names.en", "duplicate"),
        (with_type(names={"de": "Kontrolle"}), f"{TYPE}.names.de", "duplicate"),
        (with_type(names={"tr": "Kontrolle"}), f"{TYPE}.names.tr", "duplicate"),
        (with_hours({"xx": HOURS_TR}), f"{BY_LANGUAGE}.xx", "unknown_field"),
        (with_hours(HOURS_TR), BY_LANGUAGE, "not_object"),
        (with_hours({"tr": "Pzt–Cum 8–12"}), f"{BY_LANGUAGE}.tr", "not_list"),
        (with_hours({"tr": ["Pzt–Cum"] * 15}), f"{BY_LANGUAGE}.tr", "too_many"),
        (with_hours({"tr": ["Pzt–Cum", " "]}), f"{BY_LANGUAGE}.tr[1]", "required"),
        (with_hours({"tr": ["x" * 101]}), f"{BY_LANGUAGE}.tr[0]", "too_long"),
        (with_hours({"tr": ["Pzt\nCum"]}), f"{BY_LANGUAGE}.tr[0]", "line_break"),
        (with_hours({"tr": [8]}), f"{BY_LANGUAGE}.tr[0]", "not_string"),
    ],
)  # fmt: skip
def test_each_bad_translation_is_refused_with_its_path(
    data: dict[str, Any], path: str, code: str
) -> None:
    """A bad language, translation key or text gets its own path and code, nothing else."""
    assert errors_of(data) == {path: code}


def test_several_bad_translations_are_reported_together() -> None:
    """Every broken translation of one profile is reported, each under its own path."""
    data = translated(
        language="xx",
        appointment_types=[
            {**FIRST_VISIT, "names": {"en": "", "xx": "?"}},
            {**CHECK_UP, "notes": {"ru": 1}},
        ],
        details={"opening_hours_by_language": {"pl": [""]}},
    )
    assert errors_of(data) == {
        "language": "invalid_choice",
        f"{TYPE}.names.xx": "unknown_field",
        f"{TYPE}.names.en": "required",
        "appointment_types[1].notes.ru": "not_string",
        f"{BY_LANGUAGE}.pl[0]": "required",
    }


# Storage ------------------------------------------------------------------------------------


def test_translations_survive_the_storage_round_trip() -> None:
    """profile_from_json(profile_to_json(p)) through JSON text gives p back, and the stored
    JSON parses again as the same published profile."""
    profile = parse_profile(translated(language="tr"), now=NOW)
    stored = json.loads(json.dumps(profile_to_json(profile)))
    assert stored["language"] == "tr"
    assert stored["appointment_types"][0]["names"] == {
        "en": "First visit",
        "tr": "İlk görüşme",
        "ar": "الزيارة الأولى",
    }
    assert list(stored["appointment_types"][0]["names"]) == ["en", "tr", "ar"]
    assert stored["details"]["opening_hours_by_language"] == {
        "tr": HOURS_TR,
        "ar": ["الاثنين–الجمعة 8–12"],
    }
    assert profile_from_json(stored) == profile
    assert parse_profile(stored, now=NOW) == profile


def test_profiles_stored_before_languages_existed_still_load() -> None:
    """A stored profile without language, names, notes or opening hours by language loads
    as German without translations."""
    stored = profile_to_json(parse_profile(translated(), now=NOW))
    del stored["language"], stored["details"]["opening_hours_by_language"]
    for kind in stored["appointment_types"]:
        del kind["names"], kind["notes"]
    loaded = profile_from_json(stored)
    assert loaded.language == "de"
    assert [(kind.names, kind.notes) for kind in loaded.appointment_types] == [((), ()), ((), ())]
    assert loaded.details.opening_hours_by_language == ()


@pytest.mark.parametrize(
    ("corrupt", "error"),
    [
        ({"language": "xx"}, ValueError),
        ({"names": {"en": 5}}, TypeError),
        ({"names": ["First visit"]}, TypeError),
    ],
)
def test_corrupt_stored_translations_raise(corrupt: dict[str, Any], error: type[Exception]) -> None:
    """A stored language or names of the wrong shape raise rather than load half."""
    stored = profile_to_json(parse_profile(translated(), now=NOW))
    if "language" in corrupt:
        stored.update(corrupt)
    else:
        stored["appointment_types"][0].update(corrupt)
    with pytest.raises(error):
        profile_from_json(stored)


# What a page is shown -------------------------------------------------------------------------


def test_a_type_shows_the_requested_language_where_given() -> None:
    """A page in Turkish gets the Turkish name and note, marked Turkish."""
    kind = parse_profile(translated(), now=NOW).appointment_types[0]
    assert kind.display_name("tr", own_language="de") == Localized("İlk görüşme", "tr")
    assert kind.display_note("tr", own_language="de") == Localized(
        "Lütfen sigorta kartınızı getirin", "tr"
    )


def test_a_type_falls_back_to_its_own_text_in_the_profiles_language() -> None:
    """A page in Polish (no translation) gets the own name and note, marked with the
    profile's language, not the page's; the English note falls back on its own."""
    profile = parse_profile(translated(language="de"), now=NOW)
    kind = profile.appointment_types[0]
    assert kind.display_name("pl", own_language=profile.language) == Localized("Erstgespräch", "de")
    assert kind.display_note("en", own_language=profile.language) == Localized(
        "Bitte Versichertenkarte mitbringen", "de"
    )
    assert kind.display_name("en", own_language=profile.language) == Localized("First visit", "en")


def test_a_type_without_a_note_shows_none_where_untranslated() -> None:
    """Without an own note, only pages in a language with a translated note show one."""
    kind = AppointmentType("Kontrolle", 10, notes=(("uk", "Візьміть картку"),))
    assert kind.display_note("de", own_language="de") is None
    assert kind.display_note("uk", own_language="de") == Localized("Візьміть картку", "uk")


def test_opening_hours_in_a_language_and_their_fallback() -> None:
    """The requested language's lines where given, else the own lines in the profile's
    language; an unpackable pair with a `lang` for the template."""
    details = parse_profile(translated(language="en"), now=NOW).details
    assert details.opening_hours_in("tr", own_language="en") == LocalizedLines(
        tuple(HOURS_TR), "tr"
    )
    lines, lang = details.opening_hours_in("ru", own_language="en")
    assert (lines, lang) == (tuple(HOURS), "en")
    assert details.opening_hours_in("ru", own_language="en").lang == "en"
    assert PracticeDetails().opening_hours_in("tr", own_language="de") == ((), "de")


# The public profile ---------------------------------------------------------------------------


async def test_published_translations_are_served_with_the_public_profile(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """PUT /api/v1/profile with translations stores them; the patients' JSON API shows the
    language, names, notes and opening hours by language."""
    body = {
        **profile_json(),
        "language": "tr",
        "appointment_types": [FIRST_VISIT, {"name": "Kontrolle", "minutes": 10}],
        "details": {"opening_hours": HOURS, "opening_hours_by_language": {"de": HOURS}},
    }
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, body)
        async with http.get(f"{relay.url}/api/v1/practices/{practice.slug}") as response:
            assert response.status == 200
            public = await response.json()
    assert public["language"] == "tr"
    assert public["appointment_types"][0] == {
        **FIRST_VISIT,
        "names": {"en": "First visit", "tr": "İlk görüşme", "ar": "الزيارة الأولى"},
    }
    assert public["appointment_types"][1] == {
        "name": "Kontrolle",
        "minutes": 10,
        "note": None,
        "names": {},
        "notes": {},
    }
    assert public["details"]["opening_hours_by_language"] == {"de": HOURS}


async def test_refused_translations_change_nothing_and_name_their_path(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """Given a published translated profile, each PUT with one bad translation answers 422
    naming its path, and the public profile stays exactly as it was."""
    good = {**profile_json(), **translated()}
    bad = [
        ({**good, "language": "fr"}, "language"),
        (
            {**good, "appointment_types": [{**FIRST_VISIT, "names": {"xx": "?"}}, CHECK_UP]},
            f"{TYPE}.names.xx",
        ),
        (
            {**good, "details": {"opening_hours_by_language": {"tr": ["a\nb"]}}},
            f"{BY_LANGUAGE}.tr[0]",
        ),
    ]
    url = f"{relay.url}/api/v1/practices/{practice.slug}"
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, good)
        async with http.get(url) as response:
            before = await response.read()
        for data, path in bad:
            async with http.put(
                f"{relay.url}/api/v1/profile", json=data, headers=practice.auth
            ) as response:
                assert response.status == 422
                assert list((await response.json())["errors"]) == [path]
        async with http.get(url) as response:
            assert await response.read() == before
    assert json.loads(before)["appointment_types"][0]["names"]["tr"] == "İlk görüşme"


async def test_pages_show_the_practice_words_in_the_patient_language(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """The form shows a type's translated name, note and the translated opening hours; a
    language without a translation shows the practice's own words, marked with their
    `lang` so that a screen reader pronounces them right."""
    profile = profile_json()
    profile["appointment_types"] = [FIRST_VISIT, CHECK_UP]
    for slot in profile["slots"]:
        slot["appointment_type"] = "Erstgespräch"
    profile["details"] = {
        "phone": "+49 30 1234567",
        "opening_hours": HOURS,
        "opening_hours_by_language": {"tr": HOURS_TR},
    }
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
        pages = {}
        for lang in ("tr", "ru"):
            url = f"{relay.url}/p/{practice.slug}"
            query = {"lang": lang, "appointment_type": "Erstgespräch"}
            async with http.get(url, params=query) as response:
                pages[lang] = await response.text()
    turkish, russian = pages["tr"], pages["ru"]
    assert ">İlk görüşme (20 " in turkish
    assert 'lang="de">Erstgespräch (20 ' in russian
    assert "Lütfen sigorta kartınızı getirin" in turkish
    assert 'lang="de">Bitte Versichertenkarte mitbringen' in russian
    assert "Salı ve Perşembe 15–18" in turkish
    assert "Mo–Fr 8–12 Uhr" not in turkish
    assert '<dd lang="de">Mo–Fr 8–12 Uhr' in russian
