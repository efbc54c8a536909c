"""Slots = opening hours minus calendar busy times minus received bookings; the summary."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from practice_client.__main__ import main
from practice_client.calendar.busy import IcsFile
from practice_client.calendar.opening_hours import RulesError
from practice_client.calendar.slots import SlotSource, body_size, build_profile, summary_lines

RULES = """
name = "Praxis Dr. Beispiel"
time_zone = "Europe/Berlin"
horizon_days = 14
lead_time = "0m"

[appointment_types]
"Kontrolle" = 20
"Erstgespräch" = 40

[[doctors]]
name = "Dr. A. Beispiel"
[doctors.hours]
mo = ["08:00-11:00"]

[[doctors]]
name = "Dr. B. Muster"
[doctors.hours]
mo = ["08:00-09:00"]
"""

ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:berlin
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Berlin:20260316T090000
DTEND;TZID=Europe/Berlin:20260316T094000
RRULE:FREQ=WEEKLY
CATEGORIES:Dr. A. Beispiel
END:VEVENT
BEGIN:VEVENT
UID:utc
DTSTAMP:20260101T000000Z
DTSTART:20260316T070000Z
DTEND:20260316T072000Z
RRULE:FREQ=WEEKLY
CATEGORIES:Dr. B. Muster
END:VEVENT
END:VCALENDAR
"""

# Mondays 23 March (CET) and 30 March (CEST, after the change on the 29th).
NOW = datetime.fromisoformat("2026-03-22T12:00:00+00:00")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def offered(profile: dict[str, object]) -> dict[str, list[str]]:
    slots = profile["slots"]
    assert isinstance(slots, list)
    by_doctor: dict[str, list[str]] = {}
    for slot in slots:
        by_doctor.setdefault(slot["doctor"], []).append(slot["start"])
    return by_doctor


def test_busy_events_remove_slots_at_the_right_local_time_across_dst(tmp_path: Path) -> None:
    """Berlin-defined busy time stays at 09:00 local; the UTC one moves from 08:00 to 09:00."""
    source = SlotSource(
        write(tmp_path, "rules.toml", RULES), IcsFile(write(tmp_path, "b.ics", ICS))
    )

    built = build_profile(source, NOW)

    assert offered(built.profile) == {
        "Dr. A. Beispiel": [
            "2026-03-23T08:00:00+01:00",
            "2026-03-23T08:20:00+01:00",
            "2026-03-23T08:40:00+01:00",
            # 09:00 and 09:20 busy (09:00-09:40 Berlin time)
            "2026-03-23T09:40:00+01:00",
            "2026-03-23T10:00:00+01:00",
            "2026-03-23T10:20:00+01:00",
            "2026-03-23T10:40:00+01:00",
            "2026-03-30T08:00:00+02:00",
            "2026-03-30T08:20:00+02:00",
            "2026-03-30T08:40:00+02:00",
            "2026-03-30T09:40:00+02:00",
            "2026-03-30T10:00:00+02:00",
            "2026-03-30T10:20:00+02:00",
            "2026-03-30T10:40:00+02:00",
        ],
        # 07:00 UTC is 08:00 in winter, 09:00 in summer (outside B's hours then).
        "Dr. B. Muster": [
            "2026-03-23T08:20:00+01:00",
            "2026-03-23T08:40:00+01:00",
            "2026-03-30T08:00:00+02:00",
            "2026-03-30T08:20:00+02:00",
            "2026-03-30T08:40:00+02:00",
        ],
    }
    assert built.busy_removed == 5
    assert built.profile["appointment_types"] == [
        {"name": "Kontrolle", "minutes": 20},
        {"name": "Erstgespräch", "minutes": 40},
    ]


def test_received_bookings_block_their_doctors_time(tmp_path: Path) -> None:
    """A booking file blocks overlapping slots of its doctor; cancelled or other JSON do not."""
    out = tmp_path / "bookings"
    out.mkdir()
    booking = {
        "id": "b1",
        "doctor": "Dr. A. Beispiel",
        "start": "2026-03-23T08:10:00+01:00",
        "end": "2026-03-23T08:30:00+01:00",
        "last_name": "never read",
    }
    write(out, "b1.json", json.dumps(booking))
    no_doctor = {"id": "b2", "start": "2026-03-30T08:40:00+02:00", "end": None}
    write(out, "b2.json", json.dumps(no_doctor))
    cancelled = {**booking, "id": "b3", "start": "2026-03-30T10:00:00+02:00", "status": "cancelled"}
    write(out, "b3.json", json.dumps(cancelled))
    write(out, "b4.fhir.json", json.dumps({**booking, "start": "2026-03-23T10:00:00+01:00"}))
    write(out, "b5.json", "{not json")

    built = build_profile(SlotSource(write(tmp_path, "r.toml", RULES), None, out), NOW)

    slots = offered(built.profile)
    assert "2026-03-23T08:00:00+01:00" not in slots["Dr. A. Beispiel"]
    assert "2026-03-23T08:20:00+01:00" not in slots["Dr. A. Beispiel"]
    assert "2026-03-23T08:00:00+01:00" in slots["Dr. B. Muster"]
    # The booking without doctor blocks the slot its start falls into, for everyone.
    assert "2026-03-30T08:40:00+02:00" not in slots["Dr. A. Beispiel"]
    assert "2026-03-30T08:40:00+02:00" not in slots["Dr. B. Muster"]
    assert "2026-03-30T10:00:00+02:00" in slots["Dr. A. Beispiel"]
    assert "2026-03-23T10:00:00+01:00" in slots["Dr. A. Beispiel"]
    assert built.booked_removed == 4


def test_summary_counts_slots_per_doctor_with_day_range(tmp_path: Path) -> None:
    """The summary names each doctor's slot count and first and last day; no slot lines."""
    built = build_profile(SlotSource(write(tmp_path, "r.toml", RULES)), NOW)
    lines = summary_lines(built.profile)
    assert lines == [
        "Praxis Dr. Beispiel: 24 slots, Mon 2026-03-23 to Mon 2026-03-30 (Europe/Berlin), "
        "accepts wishes: yes, confirmation: direct",
        "  Dr. A. Beispiel: 18 slots, Mon 2026-03-23 to Mon 2026-03-30",
        "  Dr. B. Muster: 6 slots, Mon 2026-03-23 to Mon 2026-03-30",
    ]
    assert body_size(built.profile) == len(json.dumps(built.profile).encode())


def test_the_confirmation_mode_goes_from_the_rules_into_the_profile(tmp_path: Path) -> None:
    """`confirmation` and `answer_within_hours` pass to the profile only when the file
    names them (relays before them refuse the keys); a wrong value is one line naming the
    key."""
    plain = build_profile(SlotSource(write(tmp_path, "r.toml", RULES)), NOW).profile
    assert "confirmation" not in plain
    assert "answer_within_hours" not in plain
    answering = RULES.replace(
        'name = "Praxis Dr. Beispiel"',
        'name = "Praxis Dr. Beispiel"\nconfirmation = "by_practice"\nanswer_within_hours = 24',
        1,
    )
    built = build_profile(SlotSource(write(tmp_path, "a.toml", answering)), NOW)
    assert built.profile["confirmation"] == "by_practice"
    assert built.profile["answer_within_hours"] == 24
    assert summary_lines(built.profile)[0].endswith("confirmation: by_practice")
    wrong = RULES.replace(
        'name = "Praxis Dr. Beispiel"',
        'name = "Praxis Dr. Beispiel"\nconfirmation = "later"\nanswer_within_hours = 0',
        1,
    )
    with pytest.raises(RulesError) as refused:
        build_profile(SlotSource(write(tmp_path, "w.toml", wrong)), NOW)
    message = str(refused.value)
    assert 'confirmation: must be one of "direct", "by_practice"' in message
    assert "answer_within_hours: must be a whole number of hours from 1 to 336" in message


def test_the_legal_basis_and_reminders_go_from_the_rules_into_the_profile(
    tmp_path: Path,
) -> None:
    """`legal_basis` and `[reminders] days_before` pass to the profile only when the file
    names them; wrong values are one line each naming the key."""
    plain = build_profile(SlotSource(write(tmp_path, "r.toml", RULES)), NOW).profile
    assert "legal_basis" not in plain
    assert "reminder_days" not in plain
    named = (
        RULES.replace(
            'name = "Praxis Dr. Beispiel"',
            'name = "Praxis Dr. Beispiel"\nlegal_basis = "consent"',
            1,
        )
        + "\n[reminders]\ndays_before = [1, 7]\n"
    )
    built = build_profile(SlotSource(write(tmp_path, "a.toml", named)), NOW)
    assert built.profile["legal_basis"] == "consent"
    assert built.profile["reminder_days"] == [7, 1]
    for days in ("[0]", "[1, 1]", "[7, 3, 1]", '["1"]'):
        wrong = (
            RULES.replace(
                'name = "Praxis Dr. Beispiel"',
                'name = "Praxis Dr. Beispiel"\nlegal_basis = "implied"',
                1,
            )
            + f"\n[reminders]\ndays_before = {days}\n"
        )
        with pytest.raises(RulesError) as refused:
            build_profile(SlotSource(write(tmp_path, "w.toml", wrong)), NOW)
        message = str(refused.value)
        assert 'legal_basis: must be one of "contract", "consent"' in message
        assert "reminders.days_before: must be a list of at most 2 different days" in message


SIX_WEEKS = """
name = "Gemeinschaftspraxis am Markt"
time_zone = "Europe/Berlin"
horizon_days = 42
lead_time = "2h"
breaks = ["12:00-13:00"]

[appointment_types]
"Kontrolle" = 15
"Erstgespräch" = 30
"""

DOCTOR = """
[[doctors]]
name = "Dr. {letter}. Arzt"
[doctors.hours]
mo-fr = ["08:00-12:00", "13:00-16:00 Erstgespräch"]
"""


def test_six_weeks_five_doctors(tmp_path: Path) -> None:
    """6 weeks x 5 doctors gives about 3,000 slots, each valid (end after start, offsets)."""
    rules = SIX_WEEKS + "".join(DOCTOR.format(letter=letter) for letter in "ABCDE")
    now = datetime.fromisoformat("2026-03-01T20:00:00+00:00")  # a Sunday evening

    built = build_profile(SlotSource(write(tmp_path, "r.toml", rules)), now)

    # 30 weekdays x (16 + 6) slots x 5 doctors
    assert built.slots == 30 * 22 * 5 == 3300
    slots = built.profile["slots"]
    assert isinstance(slots, list)
    starts = {(slot["start"], slot["doctor"]) for slot in slots}
    assert len(starts) == len(slots)
    for slot in slots:
        assert datetime.fromisoformat(slot["end"]) > datetime.fromisoformat(slot["start"])
    assert {slot["start"][-6:] for slot in slots} == {"+01:00", "+02:00"}
    # 3,300 slots come to about 450 KB: about 136 bytes a slot, however they are written.
    assert 120 * built.slots < body_size(built.profile) < 150 * built.slots


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["publish", "p.json", "--rules", "r.toml"], "give either PROFILE_JSON or --rules"),
        (["publish"], "give either PROFILE_JSON or --rules"),
        (["publish", "--rules", "r.toml"], "--relay is required"),
        (["publish", "p.json", "--busy-ics", "b.ics"], "--busy-ics needs --rules"),
        (["publish", "--rules", "r.toml", "--caldav-user", "u", "--dry-run"], "need --caldav"),
        (["publish", "--rules", "r.toml", "--caldav", "ftp://x/", "--dry-run"], "http:// or"),
        (["run", "--rules", "r.toml"], "--publish-every and --rules go together"),
        (["run", "--publish-every", "15m"], "--publish-every and --rules go together"),
        (["run", "--publish-every", "10s", "--rules", "r.toml"], "not a duration"),
        (["run", "--publish-every", "0m", "--rules", "r.toml"], "must be at least 1m"),
    ],
)
def test_slot_options_that_do_not_fit_together_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each wrong combination exits 1 with a usage line naming the problem."""
    run_args = ["--relay", "http://127.0.0.1:9", "--token", "praxis.t", "--key-file", "k"]
    if argv[0] == "run":
        argv = [*argv, *run_args, "--out", "out"]
    code = main(argv)
    assert code == 1
    assert message in capsys.readouterr().err
