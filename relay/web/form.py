"""The booking form as data for its template, built from relay.fields.FIELDS.

Every field of the field list becomes a control here; the template only lays them out.
A field added to FIELDS shows up in the form (section "other") without touching this file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as member
from datetime import datetime

from relay.booking.fields import FIELD_NAMES, FIELDS, Field, field, worded
from relay.booking.rules_file import SEALED_ONLY
from relay.i18n.catalogs import N_, texts
from relay.practice.profile import LegalBasis, Profile, Slot
from relay.web.error_messages import error_message
from relay.web.picker import PickerState, PickerView, find_slot
from relay.web.picker import build as build_picker

# Where each field appears, in reading order: the appointment first (what the patient
# came for), then who they are, how to reach them, the note, and consent last.
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("appointment", ("doctor", "appointment_type", "start", "end")),
    ("person", ("first_name", "last_name", "birth_date", "gender", "insurance", "new_patient")),
    ("contact", ("email", "phone")),
    ("final", ("note", "consent", "reminder")),
)
# A practice that keeps slots for some insurance types asks for the insurance first, in
# the appointment section: the times the picker shows depend on it.
INSURANCE_FIRST_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (
        name,
        ("insurance", *names)
        if name == "appointment"
        else tuple(n for n in names if n != "insurance"),
    )
    for name, names in SECTIONS
)
SHORT_LABEL = 60
# The slot picker posts this instead of `start` (see relay.booking.form_to_data).
SLOT = "slot"
# Bool fields posted as a checkbox; every other bool field is a yes/no question.
CHECKBOXES = frozenset({"consent", "reminder"})
# The hint beside a field (also the embedded form's: relay/web/form_texts.py).
HINTS = {
    "email": N_("We send the confirmation link to this address."),
    "phone": N_(
        "So the practice can reach you quickly with questions or changes. For example "
        "+49 30 1234567."
    ),
    "birth_date": N_("For example 23/04/1980."),
    "end": N_("Only if you want a particular end time."),
}
# The note's hint: optional, what it is for (the Datenschutzkonferenz asks that fields
# about symptoms be optional), and its bound.
NOTE_HINT = N_(
    "Optional: the reason for your visit or what the practice should know to plan the "
    "appointment. Please write only what the practice needs to know in advance. At most "
    "%(max)s characters."
)
# The consent box's message where the booking rests on the contract: an acknowledgement.
ACKNOWLEDGE_REQUIRED = N_("Please confirm that you have read the privacy notice.")
# The reminder box's hint: when, and that every reminder can switch them off.
REMINDER_ONE = N_("We send the reminder %(days)s before the appointment.")
REMINDER_TWO = N_("We send reminders %(first)s and %(second)s before the appointment.")
REMINDER_OFF = N_("You can switch the reminders off from every reminder.")
REMINDER_WISH = N_(
    "For a preferred time, the reminder applies once the practice has fixed the time."
)
# The booking without the internet (the Datenschutzkonferenz asks that one exist).
BY_PHONE = N_("You can also book by phone: %(phone)s")
# The insurance's hint where it filters the free times.
INSURANCE_FILTER_HINT = N_("The free times shown below are those for your insurance.")
# The heading of each section of SECTIONS.
SECTION_TITLES = {
    "appointment": N_("Your appointment"),
    "person": N_("About you"),
    "contact": N_("Your contact details"),
    "final": N_("Note and consent"),
}
# The error summary names a field whose label is a sentence (consent) by a short word.
SUMMARY_LABELS = {"consent": N_("Consent"), "reminder": N_("Reminder")}
# What a browser-sealed post carries beside the clear fields (relay/booking/browser_sealed.py).
_SEALED_PART = frozenset({"sealed", "key_id", "ticket"})
_INPUT_TYPES = {"text": "text", "date": "date", "datetime": "datetime-local", "email": "email"}


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    id: str
    checked: bool = False
    # The label's language where it is not the page's: a practice's own word.
    lang: str | None = None


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
    options: list[Option] = member(default_factory=list)
    # The required mark when it is not the plain "required" ("required for a wish").
    marker: str | None = None
    # A list's empty first option ("Please choose", "Any doctor").
    empty: str = ""
    # An optional field the patient fills in (the note, the phone, the reminder box): the
    # form says it is optional.
    optional: bool = False
    # What the error summary calls it where its label is a sentence (the consent box).
    summary_label: str | None = None
    # Only the sealed inner document carries it where the browser seals (protocol 2): the
    # form's script takes its name away, so the plain form cannot send it.
    sealed: bool = False

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
    # None when the practice publishes no slots: then only a wish names the time.
    picker: PickerView | None
    slot_error: str | None
    wish_checked: bool
    # Whether the wish box (a <details>) is open: chosen, typed in, or with an error.
    wish_open: bool
    accept_wishes: bool
    time_zone: str
    wish_min: str

    @property
    def start_error_at_slots(self) -> bool:
        """Whether a start error belongs beside the slot picker rather than the wish field."""
        return self.picker is not None and (not self.accept_wishes or not self.wish_checked)

    @property
    def slots_target(self) -> str:
        """Where "choose a time" takes the focus: the first time, else the picker itself."""
        if self.picker is None:
            return "field-start"
        return self.picker.first_target or ("next-free" if self.picker.next_free_url else "slots")


def build(
    profile: Profile,
    free_slots: Sequence[Slot],
    lang: str,
    *,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    now: datetime,
    state: PickerState | None = None,
    path: str = "",
) -> FormView:
    """The form for `profile`, filled with `values` and marked with `errors` (field -> code).

    `state` is the slot picker's (doctor, type, week, day, slot); `path` the form's URL
    path, which the picker's buttons lead to.
    """
    values = values or {}
    errors = errors or {}
    zone = profile.zone
    state = state or PickerState(slot=values.get(SLOT, ""))
    publishes = bool(profile.slots) or not profile.accept_wishes
    picker = (
        build_picker(state, free_slots, profile, lang, path=path, today=now.astimezone(zone).date())
        if publishes
        else None
    )
    chosen_slot = values.get(SLOT)
    # Without a picker the wish fields are the only way to name a time.
    wish_checked = profile.accept_wishes and (
        picker is None
        or chosen_slot == ""
        or (not chosen_slot and bool(values.get("start")))
        or not free_slots
    )
    context = _Context(
        lang=lang,
        wish=wish_checked,
        publishes=picker is not None,
        accept_wishes=profile.accept_wishes,
        values=values,
        chosen=find_slot(values.get(SLOT, ""), free_slots),
        insurance_filter=state.insurance if profile.limits_insurance else None,
        legal_basis=profile.legal_basis,
    )
    by_name = {
        f.name: _control(worded(f, profile.legal_basis), profile, context, errors)
        for f in FIELDS
        # Only where the practice sends reminders, and only where a fixed time can be
        # chosen: a wish alone has none to remind of.
        if f.name != "reminder" or (profile.offers_reminders and picker is not None)
    }

    sections: list[Section] = []
    placed: set[str] = set()
    for name, field_names in INSURANCE_FIRST_SECTIONS if profile.limits_insurance else SECTIONS:
        controls = [by_name[n] for n in field_names if n in by_name]
        placed.update(field_names)
        sections.append(Section(name, texts(lang).gettext(SECTION_TITLES[name]), controls))
    rest = [control for name, control in by_name.items() if name not in placed]
    if rest:
        sections.append(Section("other", texts(lang).gettext("Further details"), rest))

    view = FormView(
        sections=sections,
        summary=[],
        picker=picker,
        slot_error=by_name["start"].error,
        wish_checked=wish_checked,
        wish_open=wish_checked
        or bool(values.get("start") or values.get("end"))
        or (("start" in errors or "end" in errors) and not chosen_slot),
        accept_wishes=profile.accept_wishes,
        time_zone=profile.time_zone,
        wish_min=now.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
    )
    view.summary.extend(_summary(view, by_name, errors, lang))
    return view


@dataclass(frozen=True)
class _Context:
    """What the wording of a control depends on beyond its field."""

    lang: str
    # The patient chose to suggest a time (or must: no picker, nothing free).
    wish: bool
    publishes: bool
    accept_wishes: bool
    values: Mapping[str, str]
    chosen: Slot | None
    # Where the practice keeps slots for some insurance types: the picker's insurance
    # ("" before one is chosen), which the insurance field shows chosen. None elsewhere.
    insurance_filter: str | None = None
    legal_basis: LegalBasis = "contract"


def _control(
    spec: Field, profile: Profile, context: _Context, errors: Mapping[str, str]
) -> Control:
    lang = context.lang
    value = context.values.get(spec.name, "")
    hint = HINTS.get(spec.name)
    base = Control(
        name=spec.name,
        kind="input",
        label=spec.label[lang],
        required=spec.required,
        value=value,
        error=_message(errors, spec.name, context),
        hint=None if hint is None else texts(lang).gettext(hint),
        autocomplete=spec.autocomplete,
        max_length=spec.max_length,
        input_type=_INPUT_TYPES.get(spec.kind, spec.kind),
        sealed=spec.name in SEALED_ONLY,
        optional=spec.name in ("note", "phone", "reminder"),
    )
    if spec.name == "note":
        return replace(
            base, kind="textarea", hint=texts(lang).gettext(NOTE_HINT, max=spec.max_length)
        )
    if spec.name == "reminder":
        return replace(
            base,
            kind="checkbox",
            hint=reminder_hint(profile, lang, wishes=context.accept_wishes),
        )
    if spec.name == "consent":
        # The acknowledgement's error names the notice, the consent's the consent.
        short = "Privacy notice" if context.legal_basis == "contract" else SUMMARY_LABELS[spec.name]
        base = replace(base, summary_label=texts(lang).gettext(short))
    if spec.required_when_offered:
        return _offered_list(spec, profile, context, base)
    if spec.name == "insurance" and context.insurance_filter is not None:
        value = value or context.insurance_filter
        base = replace(base, value=value, hint=texts(lang).gettext(INSURANCE_FILTER_HINT))
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
            Option("true", texts(lang).gettext("Yes"), f"{spec.name}-yes", checked=value == "true"),
            Option("false", texts(lang).gettext("No"), f"{spec.name}-no", checked=value == "false"),
        ]
        return replace(base, kind="radio", options=options)
    if spec.kind == "datetime":
        # start and end belong to the wish box of the slot picker; the template places them.
        wished = spec.name == "start" and context.accept_wishes
        return replace(
            base,
            kind="datetime",
            required=wished and not context.publishes,
            marker=texts(lang).gettext("required for a preferred time")
            if wished and context.publishes
            else None,
        )
    if spec.kind == "textarea":
        return replace(base, kind="textarea")
    return base


def days_before(lang: str, days: int) -> str:
    """ "1 Tag", "7 Tage": how long before the appointment a reminder goes out."""
    return texts(lang).ngettext("%(num)s day", "%(num)s days", days)


def reminder_hint(profile: Profile, lang: str, *, wishes: bool) -> str:
    """When the reminders go out (profile.reminder_days, largest first), that every one can
    switch them off, and with `wishes` that a wished time gets them once it is fixed."""
    t = texts(lang)
    days = profile.reminder_days
    if len(days) == 1:
        when = t.gettext(REMINDER_ONE, days=days_before(lang, days[0]))
    else:
        when = t.gettext(
            REMINDER_TWO, first=days_before(lang, days[0]), second=days_before(lang, days[1])
        )
    parts = [when, t.gettext(REMINDER_OFF)]
    if wishes:
        parts.append(t.gettext(REMINDER_WISH))
    return " ".join(parts)


def _offered_list(spec: Field, profile: Profile, context: _Context, base: Control) -> Control:
    """The doctor or type list: a filter of the slot picker and, for a wish, a choice.

    SPEC makes both required where the practice lists them. A published slot names them
    itself, so the lists are required exactly for a wish, and the form says so next to
    them instead of asking silently after the post.
    """
    lang = context.lang
    offered: list[tuple[str, str, str | None]] = []
    if spec.name == "doctor":
        offered = [(d, d, None) for d in profile.doctors]
    for kind in profile.appointment_types if spec.name != "doctor" else ():
        name = kind.display_name(lang, own_language=profile.language)
        length = texts(lang).gettext("%(minutes)s min", minutes=kind.minutes)
        offered.append(
            (kind.name, f"{name.text} ({length})", None if name.lang == lang else name.lang)
        )
    options = [
        Option(value, label, f"{spec.name}-{index}", checked=value == base.value, lang=label_lang)
        for index, (value, label, label_lang) in enumerate(offered)
    ]
    if not options:
        return replace(base, kind="hidden")
    if not context.publishes:
        return replace(
            base,
            kind="select",
            required=True,
            options=options,
            empty=texts(lang).gettext("Please choose"),
        )
    return replace(
        base,
        kind="select",
        required=False,
        marker=texts(lang).gettext("required for a preferred time")
        if context.accept_wishes
        else None,
        hint=texts(lang).gettext(
            "Narrows the free appointments. Please choose one for a preferred time."
        )
        if context.accept_wishes
        else None,
        options=options,
        empty=texts(lang).gettext("Any doctor")
        if spec.name == "doctor"
        else texts(lang).gettext("Any type"),
    )


def _message(errors: Mapping[str, str], name: str, context: _Context) -> str | None:
    """The message for a field's error, worded for the control the patient used."""
    code = errors.get(name)
    if code is None:
        return None
    lang = context.lang
    spec = field(name) if name in FIELD_NAMES else None
    chosen = context.chosen
    if name == "consent" and code == "must_accept" and context.legal_basis == "contract":
        return texts(lang).gettext(ACKNOWLEDGE_REQUIRED)
    if name == "start" and code == "required":
        if context.wish:
            return texts(lang).gettext(
                "Please enter the day and time of your preferred appointment."
            )
        if context.accept_wishes:
            return texts(lang).gettext("Please choose a time or suggest a preferred time.")
        return texts(lang).gettext("Please choose a time.")
    if name in ("doctor", "appointment_type") and code == "required" and context.wish:
        if name == "doctor":
            return texts(lang).gettext("Please choose a doctor for your preferred time.")
        return texts(lang).gettext("Please choose a type of appointment for your preferred time.")
    if name == "doctor" and code == "slot_mismatch" and chosen is not None:
        return texts(lang).gettext(
            "The chosen time is with %(slot_doctor)s, but the list says %(doctor)s. "
            "Please choose a time with %(doctor)s or change the choice in the list.",
            slot_doctor=chosen.doctor or "",
            doctor=context.values.get("doctor", ""),
        )
    if name == "appointment_type" and code == "slot_mismatch" and chosen is not None:
        return texts(lang).gettext(
            "The chosen time is for “%(slot_type)s”, but the list says “%(type)s”. "
            "Please choose a matching time or change the choice in the list.",
            slot_type=chosen.appointment_type or "",
            type=context.values.get("appointment_type", ""),
        )
    return error_message(code, lang, field=spec)


def _summary(
    view: FormView, controls: Mapping[str, Control], errors: Mapping[str, str], lang: str
) -> list[SummaryEntry]:
    """One entry per error, labelled with the control the patient used, linking to it."""
    entries = []
    # In the order the fields appear on the page, so the summary reads top to bottom.
    order = [c.name for s in view.sections for c in s.controls]
    for name in sorted(errors, key=lambda n: order.index(n) if n in order else len(order)):
        control = controls.get(name)
        if control is None:
            # The sealed part's own fields (protocol 2) under one name; anything else is
            # not a field of the form (a hand-made post): said, with nothing to link to.
            label = texts(lang).gettext("Encryption") if name in _SEALED_PART else name
            entries.append(SummaryEntry(label, error_message(errors[name], lang), None))
            continue
        message = control.error or error_message(errors[name], lang)
        label = control.label
        target: str | None = control.target
        if name == "start" and view.start_error_at_slots:
            label, target = texts(lang).gettext("Time"), view.slots_target
        elif name in ("start", "end"):
            wish = texts(lang).gettext("Preferred time")
            label = wish if name == "start" else f"{wish}: {control.label}"
        elif control.summary_label is not None:
            label = control.summary_label
        elif len(control.label) > SHORT_LABEL:
            # A sentence-long label (consent) would bury the message: name the checkbox.
            label = texts(lang).gettext(SUMMARY_LABELS[name])
        entries.append(SummaryEntry(label, message, target))
    return entries
