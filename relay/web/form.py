"""The booking form as data for its template, built from relay.fields.FIELDS.

Every field of the field list becomes a control here; the template only lays them out.
A field added to FIELDS shows up in the form (section "other") without touching this file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import groupby
from zoneinfo import ZoneInfo

from relay.fields import FIELDS, Field
from relay.localtime import format_clock, format_day
from relay.profile import Profile, Slot
from relay.web.i18n import error_message, page_text

# Where each field appears, in reading order: the appointment first (what the patient
# came for), then who they are, how to reach them, the note, and consent last.
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("appointment", ("doctor", "appointment_type", "start", "end")),
    ("person", ("first_name", "last_name", "birth_date", "gender", "insurance", "new_patient")),
    ("contact", ("email", "phone")),
    ("final", ("note", "consent")),
)
SHORT_LABEL = 60
# The slot picker posts this instead of `start` (see relay.booking.form_to_data).
SLOT = "slot"
# Bool fields posted as a checkbox; every other bool field is a yes/no question.
CHECKBOXES = frozenset({"consent"})
_HINTS = {
    "email": "email_hint",
    "phone": "phone_hint",
    "birth_date": "birth_date_hint",
    "end": "end_hint",
}
_INPUT_TYPES = {"text": "text", "date": "date", "datetime": "datetime-local", "email": "email"}


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    id: str
    checked: bool = False
    # Used by static/form.js to offer only the slots of the chosen doctor and type.
    doctor: str = ""
    appointment_type: str = ""


@dataclass(frozen=True)
class SlotDay:
    label: str
    id: str
    slots: list[Option]


@dataclass(frozen=True)
class Control:
    """One field as the template shows it."""

    name: str
    kind: str
    label: str
    required: bool
    value: str
    error: str | None
    hint: str | None = None
    autocomplete: str | None = None
    max_length: int | None = None
    input_type: str = "text"
    options: list[Option] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"field-{self.name}"

    @property
    def error_id(self) -> str:
        return f"error-{self.name}"

    @property
    def hint_id(self) -> str:
        return f"hint-{self.name}"

    @property
    def target(self) -> str:
        """The element an error summary link moves focus to."""
        return self.options[0].id if self.options and self.kind != "select" else self.id

    @property
    def described_by(self) -> str:
        ids = [self.hint_id] if self.hint else []
        if self.error:
            ids.append(self.error_id)
        return " ".join(ids)


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    controls: list[Control]


@dataclass(frozen=True)
class SummaryEntry:
    label: str
    message: str
    target: str | None


@dataclass(frozen=True)
class FormView:
    sections: list[Section]
    summary: list[SummaryEntry]
    slot_days: list[SlotDay]
    slot_error: str | None
    wish_checked: bool
    accept_wishes: bool
    time_zone: str
    wish_min: str

    @property
    def start_error_at_slots(self) -> bool:
        """Whether a start error belongs beside the slot picker rather than the wish field."""
        return not self.accept_wishes or (bool(self.slot_days) and not self.wish_checked)

    @property
    def slots_target(self) -> str:
        if self.slot_days:
            return self.slot_days[0].slots[0].id
        return "field-start"


def slot_value(slot: Slot) -> str:
    """What a slot radio posts: "{start ISO}|{doctor}" (form_to_data reads it back)."""
    return f"{slot.start.isoformat()}|{slot.doctor or ''}"


def build(
    profile: Profile,
    free_slots: list[Slot],
    lang: str,
    *,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    now: datetime,
) -> FormView:
    """The form for `profile`, filled with `values` and marked with `errors` (field -> code)."""
    values = values or {}
    errors = errors or {}
    zone = profile.zone
    chosen_slot = values.get(SLOT)
    days = slot_days(free_slots, zone, lang, chosen_slot or "")
    by_name = {f.name: _control(f, profile, lang, values, errors) for f in FIELDS}

    sections: list[Section] = []
    placed: set[str] = set()
    for name, field_names in SECTIONS:
        controls = [by_name[n] for n in field_names if n in by_name]
        placed.update(field_names)
        sections.append(Section(name, page_text(lang, f"section_{name}"), controls))
    rest = [control for name, control in by_name.items() if name not in placed]
    if rest:
        sections.append(Section("other", page_text(lang, "section_other"), rest))

    view = FormView(
        sections=sections,
        summary=[],
        slot_days=days,
        slot_error=_message(errors, "start", lang),
        # Without slots the wish fields are the only way to name a time.
        wish_checked=profile.accept_wishes
        and (not days or chosen_slot == "" or (chosen_slot is None and bool(values.get("start")))),
        accept_wishes=profile.accept_wishes,
        time_zone=profile.time_zone,
        wish_min=now.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
    )
    view.summary.extend(_summary(view, by_name, errors, lang))
    return view


def slot_days(slots: list[Slot], zone: ZoneInfo, lang: str, chosen: str) -> list[SlotDay]:
    """Free slots grouped by their day in the practice's zone, in time order."""
    days: list[SlotDay] = []
    ordered = sorted(slots, key=lambda slot: slot.start)
    for day, day_slots in groupby(ordered, key=lambda slot: slot.start.astimezone(zone).date()):
        options = []
        for slot in day_slots:
            value = slot_value(slot)
            start, end = slot.start.astimezone(zone), slot.end.astimezone(zone)
            label = f"{format_clock(start, lang)}–{format_clock(end, lang)}"
            details = [slot.appointment_type] if slot.appointment_type else []
            if slot.doctor:
                details.insert(0, page_text(lang, "slot_with", doctor=slot.doctor))
            if details:
                label = f"{label} · {' · '.join(details)}"
            options.append(
                Option(
                    value=value,
                    label=label,
                    id=f"slot-{slot.id}",
                    checked=value == chosen,
                    doctor=slot.doctor or "",
                    appointment_type=slot.appointment_type or "",
                )
            )
        days.append(SlotDay(format_day(day, lang), f"day-{day.isoformat()}", options))
    return days


def _control(
    spec: Field,
    profile: Profile,
    lang: str,
    values: Mapping[str, str],
    errors: Mapping[str, str],
) -> Control:
    value = values.get(spec.name, "")
    hint_key = _HINTS.get(spec.name)
    base = Control(
        name=spec.name,
        kind="input",
        label=spec.label[lang],
        required=spec.required,
        value=value,
        error=_message(errors, spec.name, lang),
        hint=None if hint_key is None else page_text(lang, hint_key),
        autocomplete=spec.autocomplete,
        max_length=spec.max_length,
        input_type=_INPUT_TYPES.get(spec.kind, spec.kind),
    )
    if spec.name == "note":
        return replace(
            base, kind="textarea", hint=page_text(lang, "note_hint", max=spec.max_length)
        )
    if spec.required_when_offered:
        offered = (
            [(d, d) for d in profile.doctors]
            if spec.name == "doctor"
            else [
                (t.name, f"{t.name} ({page_text(lang, 'minutes', minutes=t.minutes)})")
                for t in profile.appointment_types
            ]
        )
        options = [
            Option(v, label, f"{spec.name}-{index}", checked=v == value)
            for index, (v, label) in enumerate(offered)
        ]
        # A chosen slot names its doctor and type; the lists are needed only for a wish.
        return replace(
            base,
            kind="select" if options else "hidden",
            required=bool(options) and not profile.slots,
            hint=page_text(lang, "choice_hint") if options and profile.slots else None,
            options=options,
        )
    if spec.kind == "choice":
        options = [
            Option(c, spec.choice_labels[c][lang], f"{spec.name}-{c}", checked=value == c)
            for c in spec.choices
        ]
        return replace(base, kind="radio", options=options)
    if spec.kind == "bool" and spec.name in CHECKBOXES:
        return replace(base, kind="checkbox")
    if spec.kind == "bool":
        options = [
            Option("true", page_text(lang, "yes"), f"{spec.name}-yes", checked=value == "true"),
            Option("false", page_text(lang, "no"), f"{spec.name}-no", checked=value == "false"),
        ]
        return replace(base, kind="radio", options=options)
    if spec.kind == "datetime":
        # start and end belong to the wish block of the slot picker; the template places them.
        return replace(base, kind="datetime")
    if spec.kind == "textarea":
        return replace(base, kind="textarea")
    return base


def _message(errors: Mapping[str, str], name: str, lang: str) -> str | None:
    code = errors.get(name)
    if code is None:
        return None
    spec = next((f for f in FIELDS if f.name == name), None)
    return error_message(code, lang, field=spec)


def _summary(
    view: FormView, controls: Mapping[str, Control], errors: Mapping[str, str], lang: str
) -> list[SummaryEntry]:
    entries = []
    # In the order the fields appear on the page, so the summary reads top to bottom.
    order = [c.name for s in view.sections for c in s.controls]
    section_of = {c.name: s.title for s in view.sections for c in s.controls}
    for name in sorted(errors, key=lambda n: order.index(n) if n in order else len(order)):
        control = controls.get(name)
        if control is None:
            # Not a field of the form (a hand-made post): say so, with nothing to link to.
            entries.append(SummaryEntry(name, error_message(errors[name], lang), None))
            continue
        message = control.error or error_message(errors[name], lang)
        # A sentence-long label (consent) would bury the message; its section names it.
        label = control.label if len(control.label) <= SHORT_LABEL else section_of[name]
        target: str | None = control.target
        if name == "start" and view.start_error_at_slots:
            target = view.slots_target
        entries.append(SummaryEntry(label, message, target))
    return entries
