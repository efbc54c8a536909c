"""Opening-hours rules: validation messages, slot grid, breaks, holidays, lead time, DST."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from practice_client.calendar.durations import parse_duration
from practice_client.calendar.opening_hours import (
    Candidate,
    RulesError,
    candidate_slots,
    load_rules,
    parse_rules,
)

BERLIN = ZoneInfo("Europe/Berlin")
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "opening-hours.toml"

RULES = """
name = "Praxis Dr. Beispiel"
time_zone = "Europe/Berlin"
horizon_days = {horizon}
lead_time = "{lead}"
holidays = [{holidays}]
breaks = [{breaks}]

[appointment_types]
"Kontrolle" = 20
"Erstgespräch" = 30

[[doctors]]
name = "Dr. A. Beispiel"
appointment_types = ["Kontrolle", "Erstgespräch"]

[doctors.hours]
{hours}
"""


def rules_text(
    hours: str = 'mo = ["09:00-10:00"]',
    *,
    horizon: int = 14,
    lead: str = "0m",
    holidays: str = "",
    breaks: str = "",
) -> str:
    return RULES.format(hours=hours, horizon=horizon, lead=lead, holidays=holidays, breaks=breaks)


def starts(candidates: list[Candidate]) -> list[str]:
    return [slot.start.isoformat() for slot in candidates]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_example_file_is_valid_and_offers_both_doctors() -> None:
    """The documented example parses and offers slots for each of its doctors."""
    rules = load_rules(EXAMPLE)
    slots = candidate_slots(rules, at("2026-03-02T06:00:00+00:00"))
    assert {slot.doctor for slot in slots} == {doctor.name for doctor in rules.doctors}
    assert rules.horizon_days == 42


def test_weekly_rule_keeps_local_time_across_both_clock_changes() -> None:
    """A Monday 09:00 Berlin rule gives 09:00 local before and after March and October."""
    rules = parse_rules(rules_text(horizon=14))
    spring = candidate_slots(rules, at("2026-03-22T12:00:00+00:00"))  # DST starts Mar 29
    autumn = candidate_slots(rules, at("2026-10-18T12:00:00+00:00"))  # DST ends Oct 25

    assert starts(spring) == [
        "2026-03-23T09:00:00+01:00",
        "2026-03-23T09:20:00+01:00",
        "2026-03-23T09:40:00+01:00",
        "2026-03-30T09:00:00+02:00",
        "2026-03-30T09:20:00+02:00",
        "2026-03-30T09:40:00+02:00",
    ]
    assert starts(autumn)[0] == "2026-10-19T09:00:00+02:00"
    assert starts(autumn)[3] == "2026-10-26T09:00:00+01:00"
    assert [slot.start.astimezone(UTC).hour for slot in autumn[::3]] == [7, 8]


def test_night_of_the_spring_change_skips_times_that_do_not_exist() -> None:
    """On 29 March 02:00-03:00 does not exist: no slot starts or runs through it."""
    rules = parse_rules(rules_text('so = ["01:00-04:00 Erstgespräch"]', horizon=1))
    slots = candidate_slots(rules, at("2026-03-28T23:00:00+00:00"))  # 00:00 local on the 29th
    assert starts(slots) == [
        "2026-03-29T01:00:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T03:30:00+02:00",
    ]
    assert all(slot.end - slot.start == parse_duration("30m") for slot in slots)


def test_breaks_holidays_and_lead_time_remove_slots() -> None:
    """A break cuts a range, holidays close days (single and range), lead time hides soon slots."""
    rules = parse_rules(
        rules_text(
            'mo-fr = ["08:00-10:00"]',
            horizon=14,
            lead="2h",
            holidays='"2026-03-04", "2026-03-09..2026-03-11"',
            breaks='"08:40-09:00", "fr 08:00-09:00"',
        )
    )
    now = at("2026-03-02T05:30:00+00:00")  # Monday 06:30 local: 08:00 and 08:20 are too soon
    slots = candidate_slots(rules, now)
    by_day: dict[str, list[str]] = {}
    for slot in slots:
        by_day.setdefault(slot.start.date().isoformat(), []).append(f"{slot.start:%H:%M}")

    assert by_day["2026-03-02"] == ["09:00", "09:20", "09:40"]
    assert by_day["2026-03-03"] == ["08:00", "08:20", "09:00", "09:20", "09:40"]
    assert "2026-03-04" not in by_day
    assert by_day["2026-03-06"] == ["09:00", "09:20", "09:40"]
    assert not {"2026-03-09", "2026-03-10", "2026-03-11"} & set(by_day)
    assert "2026-03-12" in by_day
    assert max(by_day) == "2026-03-13"  # horizon: today and the next 13 days


def test_range_with_type_uses_its_length() -> None:
    """ "14:00-15:00 Erstgespräch" offers 30-minute slots of that type; others the default."""
    rules = parse_rules(rules_text('mo = ["09:00-09:40", "14:00-15:00 Erstgespräch"]', horizon=1))
    slots = candidate_slots(rules, at("2026-03-01T23:00:00+00:00"))
    assert [
        (f"{slot.start:%H:%M}", f"{slot.end:%H:%M}", slot.appointment_type) for slot in slots
    ] == [
        ("09:00", "09:20", "Kontrolle"),
        ("09:20", "09:40", "Kontrolle"),
        ("14:00", "14:30", "Erstgespräch"),
        ("14:30", "15:00", "Erstgespräch"),
    ]


def test_german_and_english_weekday_names() -> None:
    """Weekdays may be written mo, mon, Montag; ranges di-do and tue-thu mean the same."""
    german = parse_rules(rules_text('Montag = ["09:00-09:20"]\ndi-do = ["09:00-09:20"]'))
    english = parse_rules(rules_text('mon = ["09:00-09:20"]\ntue-thu = ["09:00-09:20"]'))
    assert german.doctors[0].hours == english.doctors[0].hours
    assert [hours.weekday for hours in german.doctors[0].hours] == [0, 1, 2, 3]


def test_every_problem_is_reported_with_key_and_line() -> None:
    """Each mistake gets one message naming the file, its line and the key."""
    text = rules_text(
        'mo = ["08:00-12:00", "11:00-13:00"]\n'
        'xx = ["08:00-09:00"]\n'
        'di = ["8-9", "09:00-10:00 Gibtsnicht"]',
        lead="2 hours",
        holidays='"2026-02-30"',
        breaks='"12:30-1300"',
    ).replace('time_zone = "Europe/Berlin"', 'time_zone = "Europe/Berln"\ncolour = "blue"')
    lines = text.splitlines()

    def line_of(fragment: str) -> int:
        return next(number for number, line in enumerate(lines, 1) if fragment in line)

    with pytest.raises(RulesError) as raised:
        parse_rules(text, source="hours.toml")
    problems = raised.value.problems

    expected = {
        f"hours.toml, line {line_of('colour')}: colour: unknown key",
        f"hours.toml, line {line_of('Berln')}: time_zone:",
        f"hours.toml, line {line_of('2 hours')}: lead_time:",
        f"hours.toml, line {line_of('2026-02-30')}: holidays[0]:",
        f"hours.toml, line {line_of('1300')}: breaks[0]:",
        f'hours.toml, line {line_of("xx =")}: doctor "Dr. A. Beispiel": hours.xx:',
        f"hours.toml, line {line_of('8-9')}: doctor \"Dr. A. Beispiel\": hours.di: '8-9'",
        f'hours.toml, line {line_of("Gibtsnicht")}: doctor "Dr. A. Beispiel": hours.di: '
        "'Gibtsnicht'",
        f'hours.toml, line {line_of("11:00-13:00")}: doctor "Dr. A. Beispiel": hours: '
        "ranges overlap on Mon",
    }
    for start in expected:
        assert any(problem.startswith(start) for problem in problems), (start, problems)
    assert len(problems) == len(expected)


def test_missing_required_parts_are_named() -> None:
    """Without name, types and doctors the messages say what is required."""
    with pytest.raises(RulesError) as raised:
        parse_rules('time_zone = "Europe/Berlin"\n', source="x.toml")
    text = str(raised.value)
    assert "name: is required" in text
    assert "appointment_types: is required" in text
    assert "doctors: at least one [[doctors]] table is required" in text


def test_toml_syntax_error_names_the_line() -> None:
    """A TOML syntax error is reported with tomllib's line and column."""
    with pytest.raises(RulesError, match=r"x\.toml: not valid TOML: .*line 2"):
        parse_rules('name = "A"\nhorizon_days = = 3\n', source="x.toml")


def test_native_toml_dates_work_as_holidays() -> None:
    """holidays = [2026-03-02] (a TOML date, no quotes) closes that day."""
    text = rules_text(horizon=8).replace("holidays = []", "holidays = [2026-03-02]")
    assert tomllib.loads(text)["holidays"]
    slots = candidate_slots(parse_rules(text), at("2026-03-01T23:00:00+00:00"))
    assert {slot.start.date().isoformat() for slot in slots} == {"2026-03-09"}


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("15m", 15), ("2h", 120), ("1h30m", 90), ("1d", 1440), ("0m", 0), (" 2H ", 120)],
)
def test_durations(text: str, minutes: int) -> None:
    """Durations are written as staff would: 15m, 2h, 1h30m, 1d."""
    assert parse_duration(text).total_seconds() == minutes * 60


@pytest.mark.parametrize("text", ["", "15", "2 hours", "h", "-1h", "400d"])
def test_bad_durations(text: str) -> None:
    """Anything else is refused with the expected form in the message."""
    with pytest.raises(ValueError, match=r"duration|longer than a year"):
        parse_duration(text)
