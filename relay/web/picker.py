"""The slot picker of the booking form: filters, a week of days, the times of one day.

Its state (doctor, appointment type, week, day and the chosen slot) is public practice
data and travels in GET parameters, so a state can be bookmarked and shared. Typed
personal data never does: without JavaScript every picker control is a submit button of
the booking form that posts (`nav=go`) to the URL of the state it leads to, and the relay
answers a post with `nav` by rendering the form again, filled in, without submitting it.
Names and birth dates therefore stay out of URLs, server logs and browser history.

The free slots arrive sorted by start, so the shown week is found by bisection: the work
per page grows with the slots of that week, not with the whole calendar.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from relay.i18n.catalogs import N_, texts
from relay.practice.insurance import INSURANCES
from relay.practice.localized import Localized
from relay.practice.localtime import (
    format_clock,
    format_datetime,
    format_day,
    format_day_short,
    format_week,
)
from relay.practice.profile import Profile, Slot
from relay.practice.slot_index import fitting
from relay.rules.values import InvalidValueError, parse_aware_datetime

# The submit button name of every picker control; its post re-renders, never submits.
NAV = "nav"
NAV_GO = "go"
NAV_NEXT = "next"
# GET parameters of the picker state; doctor and type are the booking fields' own names.
STATE_PARAMS = ("doctor", "appointment_type", "week", "day", "slot", "insurance")
DAYS_PER_WEEK = 7


@dataclass(frozen=True)
class PickerState:
    """What the patient chose in the picker so far; "" or None where nothing."""

    doctor: str = ""
    appointment_type: str = ""
    week: date | None = None
    day: date | None = None
    # "{start ISO}|{doctor}" of the chosen slot, as the slot radio posts it.
    slot: str = ""
    # The patient's insurance, where the practice keeps slots for some types: the times
    # shown fit it (the booking field's own name, like doctor and type).
    insurance: str = ""

    def query(self, lang: str) -> str:
        """The state as a query string (empty values left out)."""
        params = {
            "lang": lang,
            "doctor": self.doctor,
            "appointment_type": self.appointment_type,
            "week": self.week.isoformat() if self.week else "",
            "day": self.day.isoformat() if self.day else "",
            "slot": self.slot,
            "insurance": self.insurance,
        }
        return urlencode({key: value for key, value in params.items() if value})


@dataclass(frozen=True)
class TimeOption:
    value: str
    label: str
    id: str
    checked: bool
    # The slot's type, shown under the time where the day mixes types.
    detail: str | None = None
    # The slot's end and type, public data the form's script seals with the booking.
    end: str = ""
    appointment_type: str = ""
    # The detail's language where it is not the page's (a practice's own word).
    detail_lang: str | None = None
    # The insurance types the slot is kept for, space-separated ("" for every one): the
    # form's script then sends the insurance in the clear too.
    insurance: str = ""


@dataclass(frozen=True)
class TimeGroup:
    """The times of one doctor on the shown day (legend None with a single doctor)."""

    legend: str | None
    id: str
    options: list[TimeOption]


@dataclass(frozen=True)
class DayButton:
    iso: str
    label: str
    count_label: str
    url: str
    count: int
    pressed: bool


@dataclass(frozen=True)
class PickerView:
    state: PickerState
    url: str
    week_label: str
    previous_url: str | None
    next_url: str | None
    days: list[DayButton]
    day_label: str | None
    groups: list[TimeGroup]
    # The chosen slot when it lies outside the shown day, so the choice stays visible.
    chosen_elsewhere: TimeOption | None
    next_free_label: str | None
    next_free_url: str | None
    status: str
    type_note: Localized | None
    # The practice keeps slots for some insurance types: the picker filters by it.
    filters_insurance: bool = False
    # ... and none is chosen yet: the picker asks for it instead of showing times.
    insurance_needed: bool = False

    @property
    def first_target(self) -> str | None:
        """The control an error summary link for "choose a time" moves focus to."""
        if self.chosen_elsewhere is not None:
            return self.chosen_elsewhere.id
        for group in self.groups:
            if group.options:
                return group.options[0].id
        return None


def slot_value(slot: Slot) -> str:
    """What a slot radio posts: "{start ISO}|{doctor}" (booking.form_to_data reads it back)."""
    return f"{slot.start.isoformat()}|{slot.doctor or ''}"


def read_state(
    query: Mapping[str, str],
    posted: Mapping[str, str] | None,
    profile: Profile,
    *,
    nav: str = NAV_GO,
) -> PickerState:
    """The state from the URL, with what a post says winning (its filters, its slot).

    The "next free appointment" button's URL names its slot, which then wins over the
    radio posted with it. Values that are not the practice's are dropped rather than
    refused: a stale bookmark should show the picker, not an error.
    """
    posted = posted or {}
    doctor = posted.get("doctor", query.get("doctor", ""))
    kind = posted.get("appointment_type", query.get("appointment_type", ""))
    insurance = posted.get("insurance", query.get("insurance", ""))
    doctor = doctor if doctor in profile.doctors else ""
    kind = kind if profile.appointment_type(kind) is not None else ""
    # Only where it filters: other practices' URLs never carry a patient's insurance.
    insurance = insurance if profile.limits_insurance and insurance in INSURANCES else ""
    state = PickerState(
        doctor=doctor,
        appointment_type=kind,
        week=_date(query.get("week")),
        day=_date(query.get("day")),
        slot=query.get("slot", "")
        if nav == NAV_NEXT
        else posted.get("slot", query.get("slot", "")),
        insurance=insurance,
    )
    filters_changed = posted and (
        doctor != query.get("doctor", "")
        or kind != query.get("appointment_type", "")
        or insurance != query.get("insurance", "")
    )
    if filters_changed:
        # Other filters: the day looked at before may have nothing left to offer.
        state = replace(state, week=None, day=None)
    return state


def build(
    state: PickerState,
    free: Sequence[Slot],
    profile: Profile,
    lang: str,
    *,
    path: str,
    today: date,
) -> PickerView:
    """The picker for `state` over the sorted free slots `free`."""
    if profile.limits_insurance:
        if not state.insurance:
            return _insurance_first(state, profile, lang, path=path, today=today)
        # A view over the per-insurance index: the week's work, not the calendar's.
        free = fitting(free, state.insurance)
    zone = profile.zone
    chosen = find_slot(state.slot, free)
    if chosen is not None and not _matches(chosen, state):
        # A slot the new filters exclude would contradict them when submitted.
        chosen = None
    state = replace(state, slot=slot_value(chosen) if chosen else "")
    next_free = _next_free(state, free)
    focus = (
        chosen.start.astimezone(zone).date()
        if chosen
        else next_free.start.astimezone(zone).date()
        if next_free
        else today
    )
    first = free[0].start.astimezone(zone).date() if free else today
    last = free[-1].start.astimezone(zone).date() if free else None
    week = _monday(state.day or state.week or focus)
    if last is None or not _monday(first) <= week <= last:
        # A stale bookmark: a week with nothing published, before or after the slots.
        week, state = _monday(focus), replace(state, week=None, day=None)
    week_slots = [slot for slot in _between(free, week, 7, zone) if _matches(slot, state)]
    per_day: dict[date, list[Slot]] = {}
    for slot in week_slots:
        per_day.setdefault(slot.start.astimezone(zone).date(), []).append(slot)
    day = state.day if state.day and _monday(state.day) == week else None
    if day is None:
        in_week = chosen is not None and _monday(focus) == week
        day = focus if in_week else next(iter(sorted(per_day)), None)
    state = replace(state, week=week, day=day)

    def url(changed: PickerState) -> str:
        return f"{path}?{changed.query(lang)}"

    days = [
        DayButton(
            iso=current.isoformat(),
            label=format_day_short(current, lang),
            count_label=_count_label(len(per_day.get(current, [])), lang),
            url=url(replace(state, day=current)),
            count=len(per_day.get(current, [])),
            pressed=current == day,
        )
        for current in (week + timedelta(days=offset) for offset in range(DAYS_PER_WEEK))
    ]
    shown = per_day.get(day, []) if day else []
    names = {
        kind.name: kind.display_name(lang, own_language=profile.language)
        for kind in profile.appointment_types
    }
    groups = _groups(shown, state.slot, zone, lang, names, several=not state.doctor)
    elsewhere = None
    if chosen is not None and chosen not in shown:
        elsewhere = TimeOption(
            value=state.slot,
            label=texts(lang).gettext(
                "Your choice: %(time)s", time=_long_label(chosen, zone, lang)
            ),
            id=f"slot-{chosen.id}",
            checked=True,
            end=chosen.end.isoformat(),
            appointment_type=chosen.appointment_type or "",
            insurance=" ".join(chosen.insurance),
        )
    kind = profile.appointment_type(state.appointment_type)
    note = kind.display_note(lang, own_language=profile.language) if kind is not None else None
    return PickerView(
        state=state,
        url=url(state),
        week_label=format_week(week, week + timedelta(days=6), lang),
        previous_url=url(replace(state, week=week - timedelta(days=7), day=None))
        if week > _monday(first)
        else None,
        next_url=url(replace(state, week=week + timedelta(days=7), day=None))
        if last is not None and last >= week + timedelta(days=7)
        else None,
        days=days,
        day_label=format_day(day, lang) if day else None,
        groups=groups,
        chosen_elsewhere=elsewhere,
        next_free_label=_long_label(next_free, zone, lang) if next_free else None,
        next_free_url=url(_at(state, next_free, zone)) if next_free else None,
        status=_status(len(shown), day, lang),
        type_note=note,
        filters_insurance=profile.limits_insurance,
    )


def _insurance_first(
    state: PickerState, profile: Profile, lang: str, *, path: str, today: date
) -> PickerView:
    """The picker of a practice that keeps slots for some insurance types, before the
    patient said how they are insured: no times yet, since any shown might not fit."""
    state = replace(state, week=None, day=None, slot="")
    week = _monday(today)
    kind = profile.appointment_type(state.appointment_type)
    return PickerView(
        state=state,
        url=f"{path}?{state.query(lang)}",
        week_label=format_week(week, week + timedelta(days=6), lang),
        previous_url=None,
        next_url=None,
        days=[],
        day_label=None,
        groups=[],
        chosen_elsewhere=None,
        next_free_label=None,
        next_free_url=None,
        status=texts(lang).gettext(INSURANCE_FIRST),
        type_note=kind.display_note(lang, own_language=profile.language) if kind else None,
        filters_insurance=True,
        insurance_needed=True,
    )


INSURANCE_FIRST = N_(
    "Some free times are kept for patients with a particular insurance. Please "
    "choose your insurance first; then the free times for it appear here."
)


def _groups(
    shown: list[Slot],
    chosen: str,
    zone: ZoneInfo,
    lang: str,
    names: Mapping[str, Localized],
    *,
    several: bool,
) -> list[TimeGroup]:
    doctors = list(dict.fromkeys(slot.doctor for slot in shown))
    types = {slot.appointment_type for slot in shown}
    groups = []
    for index, doctor in enumerate(doctors):
        options = []
        for slot in shown:
            if slot.doctor != doctor:
                continue
            label = format_clock(slot.start.astimezone(zone), lang)
            # Slots name only the profile's types (relay/practice/profile.py checks).
            shown_name = names.get(slot.appointment_type or "") if len(types) > 1 else None
            value = slot_value(slot)
            options.append(
                TimeOption(
                    value,
                    label,
                    f"slot-{slot.id}",
                    value == chosen,
                    shown_name.text if shown_name else None,
                    slot.end.isoformat(),
                    slot.appointment_type or "",
                    shown_name.lang if shown_name and shown_name.lang != lang else None,
                    " ".join(slot.insurance),
                )
            )
        legend = doctor if several and len(doctors) > 1 and doctor else None
        groups.append(TimeGroup(legend, f"times-{index}", options))
    return groups


def _at(state: PickerState, slot: Slot, zone: ZoneInfo) -> PickerState:
    """The state with `slot` chosen and its day shown."""
    day = slot.start.astimezone(zone).date()
    return replace(state, slot=slot_value(slot), week=_monday(day), day=day)


def _matches(slot: Slot, state: PickerState) -> bool:
    """Whether the filters admit the slot; a slot without a type suits every type."""
    return (not state.doctor or slot.doctor == state.doctor) and (
        not state.appointment_type
        or slot.appointment_type is None
        or slot.appointment_type == state.appointment_type
    )


def _next_free(state: PickerState, free: Sequence[Slot]) -> Slot | None:
    # Linear only until the first match: the filters rarely exclude long runs.
    return next((slot for slot in free if _matches(slot, state)), None)


def _between(free: Sequence[Slot], first: date, days: int, zone: ZoneInfo) -> Sequence[Slot]:
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(first + timedelta(days=days), time(), zone)
    low = bisect.bisect_left(free, start, key=lambda slot: slot.start)
    high = bisect.bisect_left(free, end, lo=low, key=lambda slot: slot.start)
    return free[low:high]


def find_slot(value: str, free: Sequence[Slot]) -> Slot | None:
    """The free slot a posted "{start}|{doctor}" names, by bisection."""
    start_text, _, doctor = value.partition("|")
    try:
        start = parse_aware_datetime(start_text)
    except InvalidValueError:
        return None
    index = bisect.bisect_left(free, start, key=lambda slot: slot.start)
    while index < len(free) and free[index].start == start:
        if (free[index].doctor or "") == doctor:
            return free[index]
        index += 1
    return None


def _long_label(slot: Slot, zone: ZoneInfo, lang: str) -> str:
    text = format_datetime(slot.start, zone, lang)
    if slot.doctor:
        return texts(lang).gettext("%(time)s, with %(doctor)s", time=text, doctor=slot.doctor)
    return text


def _count_label(count: int, lang: str) -> str:
    if count == 0:
        return texts(lang).gettext("no times")
    return texts(lang).ngettext("%(num)s free", "%(num)s free", count)


def _status(count: int, day: date | None, lang: str) -> str:
    if day is None:
        return texts(lang).gettext("There are no free appointments this week for your choice.")
    return texts(lang).ngettext(
        "%(num)s free time on %(day)s",
        "%(num)s free times on %(day)s",
        count,
        day=format_day(day, lang),
    )


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text or "")
    except ValueError:
        return None
