"""A profile's optional `details`: validation, storage round trip and the public profile."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from relay.errors import ValidationFailed
from relay.practice.details import (
    NO_DETAILS,
    DataProtectionOfficer,
    PracticeDetails,
    SupervisoryAuthority,
)
from relay.practice.profile import parse_profile, profile_from_json, profile_to_json
from tests.conftest import PracticeHandle, RunningRelay
from tests.helpers import profile_json, put_profile

NOW = datetime(2026, 1, 1, tzinfo=UTC)

DETAILS: dict[str, Any] = {
    "controller": "Dr. med. Anna Beispiel",
    "address": ["Musterstraße 1", "10115 Berlin"],
    "phone": "+49 30 1234567",
    "email": "praxis@beispiel.example",
    "website": "https://praxis-beispiel.example/",
    "opening_hours": ["Mo–Fr 8–12 Uhr", "Di und Do 15–18 Uhr"],
    "opening_hours_by_language": {"en": ["Mon–Fri 8am–12pm", "Tue and Thu 3–6pm"]},
    "data_protection_officer": {
        "name": "Datenschutz Nord GmbH",
        "email": "dsb@datenschutz-nord.example",
        "phone": None,
        "address": [],
    },
    "supervisory_authority": {
        "name": "Berliner Beauftragte für Datenschutz und Informationsfreiheit",
        "url": "https://www.datenschutz-berlin.de",
    },
}


OFFICER = "data_protection_officer"
AUTHORITY = "supervisory_authority"


def profile_with(details: object) -> dict[str, Any]:
    return {"name": "Praxis Dr. Beispiel", "details": details}


def errors_of(details: object) -> dict[str, str]:
    """The errors parse_profile reports for a profile with these details."""
    with pytest.raises(ValidationFailed) as failure:
        parse_profile(profile_with(details), now=NOW)
    return failure.value.errors


def test_details_parse_into_typed_values() -> None:
    """Every member is read; lists become tuples, the officer and authority objects."""
    details = parse_profile(profile_with(DETAILS), now=NOW).details
    assert details == PracticeDetails(
        controller="Dr. med. Anna Beispiel",
        address=("Musterstraße 1", "10115 Berlin"),
        phone="+49 30 1234567",
        email="praxis@beispiel.example",
        website="https://praxis-beispiel.example/",
        opening_hours=("Mo–Fr 8–12 Uhr", "Di und Do 15–18 Uhr"),
        opening_hours_by_language=(("en", ("Mon–Fri 8am–12pm", "Tue and Thu 3–6pm")),),
        data_protection_officer=DataProtectionOfficer(
            name="Datenschutz Nord GmbH", email="dsb@datenschutz-nord.example"
        ),
        supervisory_authority=SupervisoryAuthority(
            "Berliner Beauftragte für Datenschutz und Informationsfreiheit",
            "https://www.datenschutz-berlin.de",
        ),
    )
    assert details.has_contact


@pytest.mark.parametrize("absent", [None, {}])
def test_absent_or_empty_details_are_no_details(absent: object) -> None:
    """No details, null or {} all mean: nothing published."""
    assert parse_profile(profile_with(absent), now=NOW).details == NO_DETAILS
    assert parse_profile({"name": "Praxis"}, now=NOW).details == NO_DETAILS
    assert not NO_DETAILS.has_contact


def test_details_survive_the_storage_round_trip() -> None:
    """profile_to_json then profile_from_json gives the same details, and the JSON parses
    again as a published profile (a practice may PUT back what it got)."""
    profile = parse_profile(profile_with(DETAILS), now=NOW)
    stored = profile_to_json(profile)
    assert profile_from_json(stored) == profile
    assert parse_profile(stored, now=NOW) == profile


def test_profiles_stored_before_details_existed_still_load() -> None:
    """A stored profile without a "details" member loads with no details."""
    stored = profile_to_json(parse_profile({"name": "Praxis"}, now=NOW))
    del stored["details"]
    assert profile_from_json(stored).details == NO_DETAILS


@pytest.mark.parametrize(
    ("change", "path", "code"),
    [
        ({"website": "javascript:alert(1)"}, "details.website", "invalid"),
        ({"website": "ftp://praxis.example"}, "details.website", "invalid"),
        ({"website": "https://praxis.example/a b"}, "details.website", "invalid"),
        ({"website": "https://" + "a" * 300 + ".example"}, "details.website", "too_long"),
        ({"phone": "call us"}, "details.phone", "invalid_phone"),
        ({"email": "praxis@"}, "details.email", "invalid_email"),
        ({"controller": "Dr. A\nBeispiel"}, "details.controller", "line_break"),
        ({"controller": "Dr. \u202eBeispiel"}, "details.controller", "bidi_control"),
        ({"address": ["Musterstraße 1\r\n10115 Berlin"]}, "details.address[0]", "line_break"),
        ({"address": ["Musterstraße 1", "  "]}, "details.address[1]", "required"),
        ({"address": ["x" * 101]}, "details.address[0]", "too_long"),
        ({"address": ["line"] * 7}, "details.address", "too_many"),
        ({"address": "Musterstraße 1"}, "details.address", "not_list"),
        ({"opening_hours": [8]}, "details.opening_hours[0]", "not_string"),
        ({"fax": "+49 30 1"}, "details.fax", "unknown_field"),
        ({OFFICER: {"name": "Frau Muster"}}, f"details.{OFFICER}", "required"),
        ({OFFICER: {"email": "dsb@p.example", "x": 1}}, f"details.{OFFICER}.x", "unknown_field"),
        ({OFFICER: "dsb@praxis.example"}, f"details.{OFFICER}", "not_object"),
        ({AUTHORITY: {"url": "https://a.example"}}, f"details.{AUTHORITY}.name", "required"),
        ({AUTHORITY: {"name": "LfD", "url": "data:,x"}}, f"details.{AUTHORITY}.url", "invalid"),
    ],
)  # fmt: skip
def test_each_bad_detail_is_refused_with_its_path(
    change: dict[str, object], path: str, code: str
) -> None:
    """A bad member gets its own error path and code; nothing is stored."""
    assert errors_of({**DETAILS, **change}) == {path: code}


def test_details_that_are_not_an_object_are_refused() -> None:
    """ "details" must be an object."""
    assert errors_of(["Musterstraße 1"]) == {"details": "not_object"}


async def test_published_details_are_served_with_the_public_profile(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """PUT /api/v1/profile with details answers them, and the patients' JSON API shows them."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, {**profile_json(), "details": DETAILS})
        async with http.get(f"{relay.url}/api/v1/practices/{practice.slug}") as response:
            assert response.status == 200
            public = await response.json()
    assert public["details"] == DETAILS | {
        "data_protection_officer": {**DETAILS["data_protection_officer"], "address": []}
    }


async def test_bad_details_answer_422_with_paths(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """The practice API names the bad detail by its path."""
    async with (
        aiohttp.ClientSession() as http,
        http.put(
            f"{relay.url}/api/v1/profile",
            json={**profile_json(), "details": {"website": "javascript:alert(1)"}},
            headers=practice.auth,
        ) as response,
    ):
        assert response.status == 422
        assert list((await response.json())["errors"]) == ["details.website"]
