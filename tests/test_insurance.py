"""Slots kept for some insurance types (issue 18): the profile member, the per-insurance
slot view, the picker without JavaScript, the relay's refusal through the JSON API, the
form and browser-sealed submissions, and the practice client's check of the sealed
insurance against the clear one."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from nacl.signing import SigningKey

from practice_client.__main__ import main
from practice_client.calendar.opening_hours import RulesError, parse_rules
from practice_client.calendar.slots import SlotSource, build_profile, summary_lines
from practice_client.relay.keys import KeyPair, KeyRing
from relay.practice.profile import Slot, parse_profile, profile_from_json, profile_to_json
from relay.practice.slot_index import SlotIndex
from tests.browser_sealed import inner_document, sealed_item
from tests.conftest import PracticeHandle, RunningRelay, SmtpSink, link_in
from tests.helpers import booking_json, put_profile, submit
from tests.sealed import sealed_body
from tests.test_browser_sealed_api import open_envelope, public_slots, sealed_profile
from tests.test_form_wording import big_profile, get_form, post_form, slot_post, slot_values
from tests.test_pages import Page
from tests.test_practice_client_inner import opened, rejected

NOW = datetime.now(UTC)


def limited_profile(**changes: Any) -> dict[str, Any]:
    """The 420-slot practice with its Erstgespräch slots kept for privately insured and
    self-paying patients; the Kontrolle slots are open to everyone."""
    profile = big_profile(**changes)
    for slot in profile["slots"]:
        if slot["appointment_type"] == "Erstgespräch":
            slot["insurance"] = ["private", "self_pay"]
    return profile


def chosen_values(page: Page, name: str) -> list[str]:
    return [attrs["value"] for _, attrs in page.named(name) if "checked" in attrs]


# The profile ------------------------------------------------------------------------------


async def test_bad_insurance_values_are_refused_per_field(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """A slot's insurance must be a non-empty list of statutory, private, self_pay without
    repeats: 422 naming each bad value's path, in words."""
    profile = big_profile()
    bad = [["privat"], "private", [], ["private", "private"], [3]]
    for slot, value in zip(profile["slots"], bad, strict=False):
        slot["insurance"] = value
    async with (
        aiohttp.ClientSession() as http,
        http.put(
            f"{relay.url}/api/v1/profile?lang=en",
            json=profile,
            headers={"Authorization": f"Bearer {practice.token}"},
        ) as response,
    ):
        assert response.status == 422
        errors = (await response.json())["errors"]
    assert set(errors) == {
        "slots[0].insurance[0]",
        "slots[1].insurance",
        "slots[2].insurance",
        "slots[3].insurance[1]",
        "slots[4].insurance[0]",
    }
    assert errors["slots[0].insurance[0]"] == "Please choose one of the options offered."
    assert errors["slots[3].insurance[1]"] == "This entry appears twice."


def test_the_member_survives_storage_and_every_type_means_open() -> None:
    """Stored and read back, a slot keeps its types in the field's order; all three types
    are stored as no limit, and an open slot's JSON has no member at all."""
    profile = big_profile(weeks=1, doctors=["Dr. A"], per_day=3)
    profile["slots"][0]["insurance"] = ["self_pay", "private"]
    profile["slots"][1]["insurance"] = ["statutory", "self_pay", "private"]

    parsed = parse_profile(profile, now=NOW)
    stored = profile_to_json(parsed)
    again = profile_from_json(stored)

    assert [slot.insurance for slot in again.slots[:3]] == [("private", "self_pay"), (), ()]
    assert again == parsed
    slots = stored["slots"]
    assert isinstance(slots, list)
    assert slots[0]["insurance"] == ["private", "self_pay"]
    assert "insurance" not in slots[1]
    assert again.limits_insurance
    assert not parse_profile(big_profile(weeks=1, per_day=2), now=NOW).limits_insurance


def test_the_per_insurance_view_keeps_holds_and_is_built_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """FreeSlots.for_insurance is the free slots a patient may book, held ones still out;
    its index is built once per type, so later requests do not look at every slot."""
    profile = parse_profile(limited_profile(), now=NOW)
    index = SlotIndex(profile)
    held = {index.ids[0], index.ids[1]}  # an Erstgespräch and a Kontrolle
    free = index.free(held, NOW)

    statutory = free.for_insurance("statutory")
    assert list(statutory) == [s for s in free if s.appointment_type == "Kontrolle"]
    assert list(free.for_insurance("private")) == list(free)
    assert index.slots[1] not in statutory

    calls = 0
    original = Slot.fits

    def counting(slot: Slot, insurance: str) -> bool:
        nonlocal calls
        calls += 1
        return original(slot, insurance)

    monkeypatch.setattr(Slot, "fits", counting)
    again = index.free(held, NOW).for_insurance("statutory")
    assert calls == 0
    assert again == statutory
    assert index.for_insurance("statutory") is index.for_insurance("statutory")


# The picker without JavaScript --------------------------------------------------------------


async def test_the_picker_asks_for_the_insurance_first_and_shows_only_fitting_times(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """Given a practice with limited slots, the form asks for the insurance before any
    time; with ?insurance= it shows only the fitting times and has the insurance chosen;
    a nav post with another insurance in the form filters by that one."""
    profile = limited_profile()
    url = f"{relay.url}/p/{practice.slug}"
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
        status, html = await get_form(http, url, lang="en")
        assert status == 200
        first = Page(html)
        assert first.by_id("insurance-first") is not None
        assert slot_values(first) == []
        # The insurance stands first in the appointment section, before the doctor list.
        assert html.index('name="insurance"') < html.index('name="doctor"')

        status, html = await get_form(http, url, lang="en", insurance="statutory")
        statutory = Page(html)
        assert chosen_values(statutory, "insurance") == ["statutory"]
        shown = slot_values(statutory)
        kontrolle = {
            f"{s['start']}|{s['doctor']}" for s in profile["slots"] if "insurance" not in s
        }
        assert shown
        assert set(shown) <= kontrolle
        assert "data-insurance=" not in html

        posted = slot_post(profile["slots"][0], nav="go", insurance="private")
        status, html, state_url = await post_form(http, url, posted, insurance="statutory")
        private = Page(html)
    assert status == 200
    assert chosen_values(private, "insurance") == ["private"]
    assert "insurance=private" in private.by_id("picker")["data-url"]
    assert set(slot_values(private)) - kontrolle  # private patients see the Erstgespräch times
    assert 'data-insurance="private self_pay"' in html
    # The typed values stay out of the URL, as for every picker post.
    assert posted["first_name"] not in state_url


async def test_a_practice_without_limited_slots_never_puts_the_insurance_in_a_url(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """No slot is limited: the picker shows times at once and ignores ?insurance=."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, big_profile())
        _, html = await get_form(http, f"{relay.url}/p/{practice.slug}", insurance="private")
    page = Page(html)
    assert slot_values(page)
    assert "insurance=" not in page.by_id("picker")["data-url"]
    assert 'id="insurance-first"' not in html


# The relay's refusal ------------------------------------------------------------------------


async def test_the_json_api_refuses_an_insurance_the_slot_is_not_kept_for(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """A statutory patient booking a slot kept for private and self-pay gets 422 under
    `insurance`; a privately insured one books it."""
    profile = limited_profile()
    slot = profile["slots"][0]
    start = datetime.fromisoformat(slot["start"])
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
        async with http.post(
            f"{relay.url}/api/v1/practices/{practice.slug}/bookings?lang=en",
            json=booking_json(start, doctor=slot["doctor"], insurance="statutory"),
        ) as refused:
            assert refused.status == 422
            errors = (await refused.json())["errors"]
        booked = await submit(
            http,
            relay.url,
            practice.slug,
            booking_json(start, doctor=slot["doctor"], insurance="private"),
        )
    assert set(errors) == {"insurance"}
    assert errors["insurance"].startswith("The chosen time is kept for patients")
    assert booked.status == 202


async def test_the_form_refuses_the_mismatch_beside_the_insurance_field(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """Without JavaScript, a slot chosen for one insurance and the field changed to another
    comes back 422 with the message at the insurance field and in the summary."""
    profile = limited_profile()
    url = f"{relay.url}/p/{practice.slug}"
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
        posted = slot_post(profile["slots"][0], insurance="statutory")
        status, html, _ = await post_form(http, url, posted, insurance="private", lang="en")
    assert status == 422
    page = Page(html)
    assert page.by_id("error-insurance") is not None
    assert "kept for patients with another insurance" in html


async def test_browser_sealed_slots_need_the_insurance_in_the_clear_for_limited_slots_only(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """Protocol 2: a limited slot without the clear insurance, or with one it is not kept
    for, is refused under `insurance`; an open slot with it is refused as not for the
    clear; a fitting one reaches the inbox with the insurance in the envelope."""
    profile = sealed_profile()
    profile["slots"][0]["insurance"] = ["private"]
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
        limited, open_slot = (await public_slots(http, relay, practice.slug))[:2]
        assert limited["insurance"] == ["private"]
        assert "insurance" not in open_slot
        codes = {}
        for name, slot, clear in (
            ("missing", limited, None),
            ("wrong", limited, "statutory"),
            ("open", open_slot, "private"),
        ):
            body, _ = await sealed_body(
                http, relay.url, practice.slug, slot=slot, insurance=clear or "private"
            )
            if clear is not None:
                body["insurance"] = clear
            async with http.post(
                f"{relay.url}/api/v1/practices/{practice.slug}/bookings?lang=en", json=body
            ) as response:
                assert response.status == 422, name
                codes[name] = (await response.json())["errors"]
        body, inner = await sealed_body(
            http, relay.url, practice.slug, slot=limited, insurance="private"
        )
        body["insurance"] = "private"
        accepted = await submit(http, relay.url, practice.slug, body)
        assert accepted.status == 202, accepted
        envelope = await _confirmed_envelope(http, relay, practice, smtp_sink)
    assert set(codes["missing"]) == {"insurance"}
    assert "kept for patients with another insurance" in codes["wrong"]["insurance"]
    assert "encrypted part" in codes["open"]["insurance"]
    assert inner["insurance"] == "private"
    assert envelope["insurance"] == "private"


async def _confirmed_envelope(
    http: aiohttp.ClientSession, relay: RunningRelay, practice: PracticeHandle, sink: SmtpSink
) -> Any:
    """The envelope of the one pending booking: confirmed through its mail link, then
    fetched from the inbox and opened with the practice key."""
    (message,) = await sink.wait_for(1)
    async with http.post(
        link_in(message), data={"action": "confirm"}, headers={"Origin": relay.url}
    ) as done:
        assert done.status == 200
    async with http.get(
        f"{relay.url}/api/v1/inbox?wait=0", headers={"Authorization": f"Bearer {practice.token}"}
    ) as inbox:
        (item,) = (await inbox.json())["items"]
    return open_envelope(item, practice, relay)


# The practice client ---------------------------------------------------------------------


def test_the_client_refuses_a_sealed_insurance_other_than_the_clear_one(
    signing_key: SigningKey, pair: KeyPair
) -> None:
    """The envelope names the insurance the relay checked against the slot: a sealed part
    naming another is rejected, one naming the same opens."""
    inner = inner_document(insurance="private")
    fitting = sealed_item(signing_key, pair.public_key, inner, insurance="private")
    assert opened(fitting, signing_key, KeyRing([pair]))["insurance"] == "private"

    other = sealed_item(
        signing_key,
        pair.public_key,
        inner,
        sealed_inner={**copy.deepcopy(inner), "insurance": "statutory"},
        insurance="private",
    )
    failure = rejected(other, signing_key, pair)
    assert failure.reason == "the sealed part names another insurance than the relay's envelope"


@pytest.fixture
def signing_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def pair() -> KeyPair:
    return KeyPair.generate()


# The opening hours and publish's summary --------------------------------------------------

RULES = """
name = "Praxis Dr. Beispiel"
time_zone = "Europe/Berlin"
horizon_days = 14
lead_time = "0m"

[appointment_types]
"Kontrolle" = 20
"Erstgespräch" = 30

[[doctors]]
name = "Dr. A. Beispiel"
appointment_types = ["Kontrolle", "Erstgespräch"]

[doctors.hours]
mo = ["08:00-09:00", { range = "09:00-10:00 Erstgespräch", insurance = ["private"] }]
di = [{ range = "08:00-09:00", insurance = [INSURANCE] }]
"""
# Mondays 23 and 30 March 2026, Tuesdays 24 and 31.
MARCH = datetime.fromisoformat("2026-03-22T12:00:00+00:00")


def test_a_range_kept_for_some_types_gives_slots_with_the_member(tmp_path: Path) -> None:
    """Slots of a table range carry its types into the profile; plain ranges none, and a
    range naming every type is the same as a plain one."""
    rules = tmp_path / "r.toml"
    every = '"statutory", "private", "self_pay"'
    rules.write_text(RULES.replace("INSURANCE", every), encoding="utf-8")

    slots = build_profile(SlotSource(rules), MARCH).profile["slots"]

    assert isinstance(slots, list)
    kept = {slot["start"]: slot.get("insurance") for slot in slots}
    assert kept["2026-03-23T09:00:00+01:00"] == ["private"]
    assert kept["2026-03-23T08:00:00+01:00"] is None
    assert kept["2026-03-24T08:00:00+01:00"] is None


def test_a_wrong_insurance_in_a_range_is_one_line_naming_key_and_line() -> None:
    """A misspelt type is one problem with the file, line, doctor and key, and the choices."""
    text = RULES.replace("INSURANCE", '"privat"')
    line = next(n for n, row in enumerate(text.splitlines(), 1) if 'privat"' in row)

    with pytest.raises(RulesError) as raised:
        parse_rules(text, source="hours.toml")

    assert raised.value.problems == (
        f'hours.toml, line {line}: doctor "Dr. A. Beispiel": hours.di: insurance: '
        "'privat' is not one or more of statutory, private, self_pay, such as [\"private\"]",
    )


def test_the_publish_summary_counts_the_slots_per_insurance_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """publish --dry-run names what each insurance type can book: open slots count for
    every type, kept ones for theirs."""
    rules = tmp_path / "r.toml"
    rules.write_text(RULES.replace("INSURANCE", '"statutory", "self_pay"'), encoding="utf-8")
    built = build_profile(SlotSource(rules), MARCH)
    assert summary_lines(built.profile)[-1] == (
        "  by insurance: statutory 12 slots, private 10 slots, self_pay 12 slots"
    )

    assert main(["publish", "--rules", str(rules), "--dry-run"]) == 0
    assert "  by insurance: statutory " in capsys.readouterr().out
