"""The booking form's wording and its slot picker over HTTP.

Errors name the control the patient used; radio groups and lists say "Bitte wählen Sie";
contradictory choices are refused; the picker keeps its state in GET parameters and the
typed values in POST bodies; practice details appear where patients need them.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from tests.conftest import PracticeHandle, RelayFactory, RunningRelay, SmtpSink, link_in
from tests.helpers import BERLIN, DOCTORS, booking_json, put_profile
from tests.test_pages import Page, form_post

TYPE_NOTE = "Bitte Versichertenkarte und Überweisung mitbringen"
DETAILS: dict[str, Any] = {
    "address": ["Musterstraße 1", "10115 Berlin"],
    "phone": "+49 30 1234567",
    "email": "praxis@beispiel.example",
    "website": "https://praxis-beispiel.example",
    "opening_hours": ["Mo–Fr 8–12 Uhr", "Di und Do 15–18 Uhr"],
    "data_protection_officer": {
        "name": "Datenschutz Nord GmbH",
        "email": "dsb@datenschutz-nord.example",
    },
}
FORM_LIMIT = 60 * 1024


def first_monday() -> date:
    """The Monday of next week, so every published day lies ahead."""
    today = datetime.now(BERLIN).date()
    return today + timedelta(days=7 - today.weekday())


def big_profile(
    *, weeks: int = 2, doctors: list[str] | None = None, per_day: int = 21, **changes: Any
) -> dict[str, Any]:
    """The issue's practice: by default 2 weeks × 5 days × 2 doctors × 21 slots = 420,
    20 minutes each from 08:00, types alternating, with details and a type note."""
    doctors = doctors or DOCTORS
    monday = first_monday()
    slots = []
    for week in range(weeks):
        for weekday in range(5):
            day = monday + timedelta(days=7 * week + weekday)
            first = datetime(day.year, day.month, day.day, 8, 0, tzinfo=BERLIN)
            for doctor in doctors:
                for index in range(per_day):
                    start = first + timedelta(minutes=20 * index)
                    slots.append(
                        {
                            "start": start.isoformat(),
                            "end": (start + timedelta(minutes=20)).isoformat(),
                            "doctor": doctor,
                            "appointment_type": "Erstgespräch" if index % 2 == 0 else "Kontrolle",
                        }
                    )
    profile: dict[str, Any] = {
        "name": "Praxis Dr. Beispiel",
        "time_zone": "Europe/Berlin",
        "doctors": doctors,
        "appointment_types": [
            {"name": "Erstgespräch", "minutes": 20, "note": TYPE_NOTE},
            {"name": "Kontrolle", "minutes": 20},
        ],
        "slots": slots,
        "accept_wishes": True,
        "details": DETAILS,
    }
    profile.update(changes)
    return profile


def slot_post(chosen: dict[str, Any], **changes: str) -> dict[str, str]:
    """A filled-in form choosing the slot `chosen` (doctor and type lists left at "any")."""
    booking = booking_json(datetime.fromisoformat(chosen["start"]), doctor=chosen["doctor"])
    posted = form_post(booking)
    posted.update(changes)
    return posted


async def get_form(http: aiohttp.ClientSession, url: str, **params: str) -> tuple[int, str]:
    async with http.get(url, params=params) as response:
        return response.status, await response.text()


async def post_form(
    http: aiohttp.ClientSession, url: str, data: dict[str, str], **params: str
) -> tuple[int, str, str]:
    async with http.post(url, data=data, params=params) as response:
        return response.status, await response.text(), str(response.url)


def summary_links(html: str) -> dict[str, str]:
    """Error summary: link target -> its text."""
    summary = html[html.index('id="error-summary"') :]
    summary = summary[: summary.index("</ul>")]
    return {
        target: re.sub(r"\s+", " ", text).strip()
        for target, text in re.findall(r'<a href="#([^"]+)">(.*?)</a>', summary, re.S)
    }


def slot_values(page: Page) -> list[str]:
    return [attrs["value"] for _, attrs in page.named("slot") if attrs.get("value")]


# The picker at scale ------------------------------------------------------------------------


async def test_the_420_slot_form_is_small_and_shows_one_day(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """420 slots: the form stays under 60 KB and offers the first day's 42 times only."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, big_profile())
        status, html = await get_form(http, f"{relay.url}/p/{practice.slug}")
    assert status == 200
    assert len(html.encode()) <= FORM_LIMIT, len(html.encode())
    page = Page(html)
    values = slot_values(page)
    assert len(values) == 42
    monday = first_monday()
    assert all(value.startswith(monday.isoformat()) for value in values)
    # A week of day buttons: five with times, the weekend disabled.
    days = [
        attrs
        for tag, attrs in page.elements
        if tag == "button" and "day" in attrs.get("class", "").split()
    ]
    assert len(days) == 7
    assert [("disabled" in attrs) for attrs in days] == [False] * 5 + [True] * 2
    assert days[0]["aria-pressed"] == "true"
    assert "21 frei" not in page.text  # both doctors: 42 per day
    assert "42 frei" in page.text


async def test_2000_slots_of_five_doctors_stay_small(relay_factory: RelayFactory) -> None:
    """6 weeks × 5 doctors at the profile's 2000-slot cap: still one day, under 60 KB."""
    # Such a profile is larger than the default 64 KiB request body.
    relay = await relay_factory(max_body_bytes=1024 * 1024)
    practice = await relay.add_practice()
    doctors = [f"Dr. {letter}. Beispiel" for letter in "ABCDE"]
    profile = big_profile(weeks=6, doctors=doctors, per_day=13)
    assert len(profile["slots"]) == 1950
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
        status, html = await get_form(http, f"{relay.url}/p/{practice.slug}")
    assert status == 200
    assert len(html.encode()) <= FORM_LIMIT, len(html.encode())
    assert len(slot_values(Page(html))) == 65


async def test_get_parameters_choose_doctor_type_week_and_day(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """?doctor=&appointment_type=&week=&day= show exactly that day's matching times."""
    day = first_monday() + timedelta(days=8)  # Tuesday of the second week
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, big_profile())
        status, html = await get_form(
            http,
            f"{relay.url}/p/{practice.slug}",
            doctor=DOCTORS[1],
            appointment_type="Erstgespräch",
            week=day.isoformat(),
            day=day.isoformat(),
            lang="en",
        )
    assert status == 200
    page = Page(html)
    values = slot_values(page)
    assert len(values) == 11
    assert all(v.startswith(day.isoformat()) and v.endswith(f"|{DOCTORS[1]}") for v in values)
    assert page.by_id(f"day-{day.isoformat()}")["aria-pressed"] == "true"
    assert "11 free times on" in html
    # The type's note shows because that type is chosen.
    assert TYPE_NOTE in page.text
    # The previous week is reachable, and the form posts back to this state.
    action = next(
        a for tag, a in page.elements if tag == "form" and "booking" in a.get("class", "")
    )
    query = parse_qs(urlsplit(action["action"]).query)
    assert query["day"] == [day.isoformat()]
    assert query["doctor"] == [DOCTORS[1]]
    assert "disabled" not in page.by_id("week-previous")


async def test_unknown_parameters_fall_back_to_the_first_free_day(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """A stale or hand-made URL shows the picker, never an error."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, big_profile())
        status, html = await get_form(
            http, f"{relay.url}/p/{practice.slug}", doctor="Dr. Niemand", week="x", day="1999-01-01"
        )
    assert status == 200
    assert len(slot_values(Page(html))) == 42


async def test_nav_post_keeps_typed_values_out_of_the_url_and_submits_nothing(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """A picker button without JavaScript posts the form: typed values come back filled in,
    the URL holds only public choices, nothing is stored or mailed."""
    day = first_monday() + timedelta(days=3)
    profile = big_profile()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
        posted = slot_post(profile["slots"][0], nav="go", doctor=DOCTORS[0])
        status, html, url = await post_form(
            http,
            f"{relay.url}/p/{practice.slug}",
            posted,
            doctor=DOCTORS[0],
            week=day.isoformat(),
            day=day.isoformat(),
        )
    assert status == 200
    page = Page(html)
    assert page.by_id("field-first_name")["value"] == posted["first_name"]
    assert page.by_id("field-email")["value"] == posted["email"]
    assert posted["note"] in html
    assert "error-summary" not in html
    for value in (posted["first_name"], posted["email"], posted["birth_date"]):
        assert value not in url
        assert value not in page.by_id("picker")["data-url"]
    # The day shown is the one asked for, and the time chosen earlier stays chosen.
    assert page.by_id(f"day-{day.isoformat()}")["aria-pressed"] == "true"
    chosen = [a for _, a in page.named("slot") if "checked" in a]
    assert [a["value"] for a in chosen] == [posted["slot"]]
    assert relay.store is not None
    assert smtp_sink.messages == []


async def test_next_free_button_chooses_the_next_matching_time(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """The next free appointment with the Kontrolle filter is 08:20 of the first day."""
    profile = big_profile()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
        status, html = await get_form(
            http, f"{relay.url}/p/{practice.slug}", appointment_type="Kontrolle"
        )
        button = Page(html).by_id("next-free")
        assert "08:20" in html[html.index('id="next-free"') :][:400]
        next_url = button["formaction"]
        posted = {
            "first_name": "Zerlina",
            "appointment_type": "Kontrolle",
            "slot": "",
            "nav": "next",
        }
        status, html, _ = await post_form(http, f"{relay.url}{next_url}", posted)
    assert status == 200
    chosen = [a["value"] for _, a in Page(html).named("slot") if "checked" in a]
    expected = next(s for s in profile["slots"] if s["appointment_type"] == "Kontrolle")
    assert chosen == [f"{expected['start']}|{expected['doctor']}"]
    assert Page(html).by_id("field-first_name")["value"] == "Zerlina"


# Wording ------------------------------------------------------------------------------------


async def test_no_time_chosen_asks_to_choose_a_time_not_to_fill_terminbeginn(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """Nothing chosen: "Bitte wählen Sie eine Uhrzeit …", labelled Uhrzeit, linked to a time."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, big_profile())
        posted = slot_post(big_profile()["slots"][0])
        del posted["slot"]
        status, html, _ = await post_form(http, f"{relay.url}/p/{practice.slug}", posted)
    assert status == 422
    links = summary_links(html)
    (target, text), *_ = links.items()
    assert text.startswith(
        "Uhrzeit: Bitte wählen Sie eine Uhrzeit oder nennen Sie einen Wunschtermin."
    )
    assert "Terminbeginn" not in " ".join(links.values())
    assert "Bitte füllen Sie dieses Feld aus" not in html
    page = Page(html)
    assert page.by_id(target)["name"] == "slot"
    assert page.by_id(target)["aria-invalid"] == "true"


async def test_radio_groups_and_consent_say_choose_and_name_the_control(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """Empty radio groups say "Bitte wählen Sie …"; the acknowledgement's error (the default
    basis, the contract) names the privacy notice; each link goes to the first radio of its
    group or to the checkbox."""
    profile = big_profile()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
        posted = slot_post(profile["slots"][0])
        for name in ("gender", "insurance", "new_patient", "consent"):
            del posted[name]
        status, html, _ = await post_form(http, f"{relay.url}/p/{practice.slug}", posted)
    assert status == 422
    links = summary_links(html)
    assert (
        links["gender-female"] == "Geschlecht: Bitte wählen Sie Ihr Geschlecht oder „keine Angabe“."
    )
    assert (
        links["insurance-statutory"] == "Versicherung: Bitte wählen Sie, wie Sie versichert sind."
    )
    assert links["new_patient-yes"].startswith(
        "Ich bin zum ersten Mal in dieser Praxis: Bitte wählen Sie Ja oder Nein"
    )
    assert links["field-consent"] == (
        "Datenschutzhinweise: Bitte bestätigen Sie, dass Sie die Datenschutzhinweise gelesen haben."
    )
    assert "Einwilligung" not in links["field-consent"]
    assert "Nachricht und Einwilligung:" not in " ".join(links.values())
    assert "Bitte füllen Sie dieses Feld aus" not in html


async def test_english_wording(relay: RunningRelay, practice: PracticeHandle) -> None:
    """The same in English, for a practice on consent: "Please choose …" and "Consent"."""
    profile = big_profile(legal_basis="consent")
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
        posted = slot_post(profile["slots"][0])
        del posted["slot"], posted["gender"], posted["consent"]
        status, html, _ = await post_form(http, f"{relay.url}/p/{practice.slug}", posted, lang="en")
    assert status == 422
    texts = list(summary_links(html).values())
    assert "Time: Please choose a time or suggest a preferred time." in texts
    assert "Gender: Please choose your gender or “prefer not to say”." in texts
    assert any(text.startswith("Consent: Without your consent") for text in texts)


async def test_a_wish_without_doctor_says_so_for_the_wish(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """SPEC: doctor and type are required where listed; for a wish the form marks them so
    beforehand and the error names the wish, linking to the list."""
    profile = big_profile()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
        status, html = await get_form(http, f"{relay.url}/p/{practice.slug}")
        assert "(Pflichtfeld bei Wunschtermin)" in Page(html).text
        posted = slot_post(profile["slots"][0], slot="")
        wished = datetime.fromisoformat(profile["slots"][0]["start"]) + timedelta(days=30)
        posted["start"] = wished.strftime("%Y-%m-%dT%H:%M")
        status, html, _ = await post_form(http, f"{relay.url}/p/{practice.slug}", posted)
    assert status == 422
    links = summary_links(html)
    assert links["field-doctor"] == (
        "Ärztin oder Arzt: Bitte wählen Sie für Ihren Wunschtermin eine Ärztin oder einen Arzt."
    )
    assert links["field-appointment_type"] == (
        "Terminart: Bitte wählen Sie für Ihren Wunschtermin eine Terminart."
    )
    # The wish box stays open with its value, and the wish stays chosen.
    page = Page(html)
    assert "open" in page.by_id("wish-box")
    assert "checked" in page.by_id("slot-wish")


async def test_a_doctor_in_the_list_and_a_slot_of_another_doctor_are_refused(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """Doctor list says B, the chosen time is A's: 422 naming both, nothing submitted."""
    profile = big_profile()
    slot = next(s for s in profile["slots"] if s["doctor"] == DOCTORS[0])
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
        posted = slot_post(slot, doctor=DOCTORS[1])
        status, html, _ = await post_form(http, f"{relay.url}/p/{practice.slug}", posted)
    assert status == 422
    message = summary_links(html)["field-doctor"]
    assert DOCTORS[0] in message
    assert DOCTORS[1] in message
    assert message.startswith("Ärztin oder Arzt: Die gewählte Uhrzeit ist bei")
    assert smtp_sink.messages == []


async def test_a_type_in_the_list_and_a_slot_of_another_type_are_refused(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """Type list says Kontrolle, the chosen time is for Erstgespräch: 422 naming both."""
    profile = big_profile()
    slot = profile["slots"][0]
    assert slot["appointment_type"] == "Erstgespräch"
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
        posted = slot_post(slot, appointment_type="Kontrolle")
        status, html, _ = await post_form(http, f"{relay.url}/p/{practice.slug}", posted, lang="en")
    assert status == 422
    message = summary_links(html)["field-appointment_type"]
    assert "“Erstgespräch”" in message
    assert "“Kontrolle”" in message


async def test_matching_doctor_in_the_list_books(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """The list and the slot agreeing is no contradiction: the request is sent."""
    profile = big_profile()
    slot = profile["slots"][0]
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
        posted = slot_post(slot, doctor=slot["doctor"], appointment_type=slot["appointment_type"])
        status, html, _ = await post_form(http, f"{relay.url}/p/{practice.slug}", posted)
    assert status == 200, html
    await smtp_sink.wait_for(1)


# Practice details and the confirmation ----------------------------------------------------------


async def test_form_shows_practice_details_and_the_header_names_the_practice(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """Address, tel: link, website, opening hours and the data protection officer."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, big_profile())
        _, html = await get_form(http, f"{relay.url}/p/{practice.slug}")
    page = Page(html)
    assert 'href="tel:+49301234567"' in html
    assert 'href="https://praxis-beispiel.example"' in html
    for text in ("Musterstraße 1", "Di und Do 15–18 Uhr", "Datenschutz Nord GmbH"):
        assert text in page.text
    assert '<p class="brand"><bdi>Praxis Dr. Beispiel</bdi></p>' in html


async def test_confirmation_page_shows_the_whole_appointment_in_the_patients_language(
    relay: RunningRelay, practice: PracticeHandle, smtp_sink: SmtpSink
) -> None:
    """Date, start and end, duration, doctor, type, address, the type's note; in English when
    the patient booked in English, even if the browser now says German."""
    profile = big_profile()
    slot = profile["slots"][0]
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
        status, _, _ = await post_form(
            http, f"{relay.url}/p/{practice.slug}", slot_post(slot), lang="en"
        )
        assert status == 200
        (message,) = await smtp_sink.wait_for(1)
        async with http.get(link_in(message), headers={"Accept-Language": "de"}) as response:
            html = await response.text()
        async with http.post(
            link_in(message), data={"action": "confirm"}, params={"lang": "en"}
        ) as response:
            result = await response.text()
    start = datetime.fromisoformat(slot["start"])
    text = Page(html).text
    assert '<html lang="en" dir="ltr">' in html
    for expected in (
        f"{start:%A}, {start.day} {start:%B %Y}",
        "08:00–08:20",
        "20 minutes",
        slot["doctor"],
        "Erstgespräch",
        "Musterstraße 1",
        TYPE_NOTE,
    ):
        assert expected in text, expected
    assert '<p class="brand"><bdi>Praxis Dr. Beispiel</bdi></p>' in html
    result_text = Page(result).text
    for expected in ("Appointment booked", "08:00–08:20", "What happens next", "+49 30 1234567"):
        assert expected in result_text, expected


# The legal basis, the reminder box, the phone ---------------------------------------------


def checkbox_label(html: str, name: str) -> str:
    """The text of the label of checkbox `name`, whitespace collapsed."""
    found = re.search(rf'<label for="field-{name}">(.*?)</label>', html, re.S)
    assert found is not None, name
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", found.group(1))).strip()


async def test_contract_basis_asks_for_an_acknowledgement_not_consent(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """Given the default basis (the contract), the required box acknowledges the privacy
    notice, links to it and says nothing of consent; on consent it stays the consent."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, big_profile())
        _, contract = await get_form(http, f"{relay.url}/p/{practice.slug}")
        await put_profile(http, relay.url, practice.token, big_profile(legal_basis="consent"))
        _, consent = await get_form(http, f"{relay.url}/p/{practice.slug}")
    label = checkbox_label(contract, "consent")
    assert label.startswith("Ich habe die Datenschutzhinweise gelesen. (Pflichtfeld)")
    assert "willige" not in label
    assert f'href="/p/{practice.slug}/privacy' in contract
    assert Page(contract).by_id("field-consent").get("required") is not None
    assert checkbox_label(consent, "consent").startswith("Ich willige ein")
    assert "Art. 9 Abs. 2 lit. a DSGVO" in checkbox_label(consent, "consent")


async def test_reminder_box_is_unticked_optional_and_says_when(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """With reminder_days the form offers a separate, unticked, optional reminder box whose
    hint names the days and the opt-out; without, no box."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, big_profile())
        _, none = await get_form(http, f"{relay.url}/p/{practice.slug}")
        await put_profile(http, relay.url, practice.token, big_profile(reminder_days=[1]))
        _, one = await get_form(http, f"{relay.url}/p/{practice.slug}")
        await put_profile(http, relay.url, practice.token, big_profile(reminder_days=[1, 7]))
        _, two = await get_form(http, f"{relay.url}/p/{practice.slug}", lang="en")
    assert 'name="reminder"' not in none
    box = Page(one).by_id("field-reminder")
    assert box["type"] == "checkbox"
    assert "checked" not in box
    assert "required" not in box
    assert checkbox_label(one, "reminder") == (
        "Erinnern Sie mich per E-Mail vor dem Termin (freiwillig)"
    )
    hint = Page(one).by_id("hint-reminder")
    assert hint is not None
    assert "Wir senden die Erinnerung 1 Tag vor dem Termin." in Page(one).text
    assert "in jeder Erinnerung abbestellen" in Page(one).text
    # The practice takes wishes too: the hint says when a wish gets its reminder.
    assert "sobald die Praxis die Zeit festgelegt hat" in Page(one).text
    assert "We send reminders 7 days and 1 day before the appointment." in Page(two).text


async def test_wishes_only_practice_offers_no_reminder(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """A practice that publishes no slots has no fixed time to remind of: no box."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, big_profile(slots=[], reminder_days=[1]))
        _, html = await get_form(http, f"{relay.url}/p/{practice.slug}")
    assert 'name="reminder"' not in html


async def test_optional_fields_say_so_and_what_they_are_for(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """The note and the phone are marked optional; the note's hint says what it is for."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, big_profile())
        _, html = await get_form(http, f"{relay.url}/p/{practice.slug}")
    for name in ("note", "phone"):
        found = re.search(rf'<label for="field-{name}">(.*?)</label>', html, re.S)
        assert found is not None
        assert "(freiwillig)" in found.group(1)
    assert "Freiwillig: der Grund Ihres Besuchs" in Page(html).text
    assert "Damit die Praxis Sie bei Rückfragen" in Page(html).text


async def test_form_names_the_phone_to_book_without_the_internet(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """The practice's phone as a tel: link in "Sie können auch telefonisch buchen"; nothing
    of the kind without a phone in the details."""
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, big_profile())
        _, html = await get_form(http, f"{relay.url}/p/{practice.slug}")
        await put_profile(
            http, relay.url, practice.token, big_profile(details={"address": ["Musterstraße 1"]})
        )
        _, without = await get_form(http, f"{relay.url}/p/{practice.slug}")
    line = re.search(r'<p class="by-phone" id="by-phone">(.*?)</p>', html, re.S)
    assert line is not None
    assert "Sie können auch telefonisch buchen:" in line.group(1)
    assert '<a href="tel:+49301234567">' in line.group(1)
    assert 'id="by-phone"' not in without
    assert "telefonisch buchen" not in without


async def test_reminder_ticked_where_not_offered_is_refused(
    relay: RunningRelay, practice: PracticeHandle
) -> None:
    """A hand-made post ticking the reminder of a practice without reminders gets a 422."""
    profile = big_profile()
    async with aiohttp.ClientSession() as http:
        await put_profile(http, relay.url, practice.token, profile)
        posted = slot_post(profile["slots"][0], reminder="true")
        status, _, _ = await post_form(http, f"{relay.url}/p/{practice.slug}", posted)
    assert status == 422
