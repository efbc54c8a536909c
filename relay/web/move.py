"""Moving a confirmed booking to another time in one step (relay/booking/moves.py).

- `GET /x/{token}/move` the picker for the same practice, filtered to the doctor and type
  the link's sealed parameter `m` names (relay/mail/move_links.py), with the current
  appointment shown; without the parameter (an older link) unfiltered. Picker buttons
  post `nav` and the page comes again in the new state, as on the booking form.
- `POST /x/{token}/move` with `slot` holds the chosen time and leads (303) to
- `GET /x/{token}/move/confirm`: the old and the new time, one button, which posts to
- `POST /x/{token}/move/confirm` with the held slot's id: the booking moves, and (303)
- `GET /x/{token}/move/done` shows the new time, a calendar file for it and the links.

A time taken in the meantime (at choosing, or after the hold ran out) leaves the booking
as it is: the picker again, saying so. Same-origin posts only; every page carries the
token, so it is `no-store` (the middleware's default) and never compressed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlencode

from aiohttp import web

from relay.booking.fields import FIELDS
from relay.booking.moves import Held, Movable, Moves, linked_appointment
from relay.errors import MoveRefused, TokenGone
from relay.i18n.catalogs import N_, texts
from relay.mail.move_links import MOVE_PARAM, LinkedAppointment
from relay.practice.insurance import INSURANCES
from relay.practice.localtime import format_datetime
from relay.practice.profile import Profile, Slot
from relay.rules.values import InvalidValueError, parse_aware_datetime
from relay.web import picker
from relay.web.appkeys import SERVICE, SETTINGS
from relay.web.appointment import Appointment, appointment, practice_card
from relay.web.bodies import read_form
from relay.web.language import request_language as language
from relay.web.middleware import CLIENT_NETWORK, REQUEST_ID
from relay.web.origin import is_cross_site_post
from relay.web.pages import cross_site_page, render

_REFUSALS: dict[str, tuple[str, str]] = {
    "wish": (
        N_("A requested time cannot be moved"),
        N_(
            "Only an appointment at one of the practice's published times can be moved. "
            "For a preferred time, please cancel the request and send a new one."
        ),
    ),
    "pending": (
        N_("The practice proposed another time"),
        N_("Please accept the proposed time or choose another one on the page of your link."),
    ),
    "final": (
        N_("This appointment can no longer be moved"),
        N_("It was cancelled or declined. You are welcome to request another time."),
    ),
    "gone": (
        N_("This link can no longer move the appointment"),
        N_(
            "The link has expired, because the appointment has begun, or it is not valid. "
            "Please contact the practice directly."
        ),
    ),
}
TAKEN_NOTICE = N_("This time was just taken. Your appointment stays on %(time)s.")
TAKEN_NOTICE_UNNAMED = N_("This time was just taken. Your appointment stays as it was.")


@dataclass(frozen=True)
class MoveOffer:
    """What the cancel page shows of the booking: the appointment the link names (None
    without the parameter), and where "Choose another time" leads (None: not movable,
    `refusal` says why)."""

    appointment: Appointment | None
    move_url: str | None
    refusal: str | None


async def move_offer(request: web.Request, token: str, profile: Profile | None) -> MoveOffer:
    """For the cancel page (relay/web/cancel.py): the appointment and the move link."""
    moves = request.app[SERVICE].moves
    lang = language(request)
    try:
        booking = await moves.movable(token)
    except MoveRefused as refused:
        why = _REFUSALS[refused.why][1] if refused.why == "wish" else None
        return MoveOffer(None, None, texts(lang).gettext(why) if why else None)
    except TokenGone:
        return MoveOffer(None, None, None)
    param = request.query.get(MOVE_PARAM, "")
    linked = moves.linked(booking, param)
    shown = _appointment(linked, profile, lang) if linked and profile else None
    return MoveOffer(shown, _move_url(token, param if linked else "", lang), None)


# Pages


async def move_page(request: web.Request) -> web.Response:
    """The picker in move mode."""
    return await _picker_page(request, {})


async def move_post(request: web.Request) -> web.Response:
    """A picker button (`nav`), or the chosen `slot`: held, then on to the confirmation."""
    if is_cross_site_post(request):
        return cross_site_page(request, N_("Open the page of your link on our page"))
    form = await _form(request)
    if picker.NAV in form:
        return await _picker_page(request, form)
    token = request.match_info["token"]
    moves = request.app[SERVICE].moves
    lang = language(request)
    try:
        booking = await moves.movable(token)
        cached, free_slots = await moves.free_slots(booking.practice)
        free: Sequence[Slot] = free_slots
        if cached.profile.limits_insurance:
            # Only the times kept for the insurance the patient chose, as the picker shows.
            insurance = form.get("insurance") or request.query.get("insurance", "")
            free = free_slots.for_insurance(insurance) if insurance in INSURANCES else ()
        slot = picker.find_slot(form.get("slot", ""), free)
        if slot is None:
            if not _names_a_time(form.get("slot", "")):
                return await _picker_page(request, form, 422, error=N_("Please choose a time."))
            return await _picker_page(request, form, 409, taken=True)
        held = await moves.hold(token, slot)
    except TokenGone:
        return await _refused(request, "gone", 410)
    except MoveRefused as refused:
        return await _refused(request, refused.why, 409)
    if held == "taken":
        return await _picker_page(request, form, 409, taken=True)
    if held == "same":
        return await _picker_page(
            request, form, 422, error=N_("This is the time of your appointment already.")
        )
    query = _query(_param(form, request), lang)
    raise web.HTTPSeeOther(f"{quote(request.path)}/confirm?{query}")


async def confirm_page(request: web.Request) -> web.Response:
    """The old and the new time, one button."""
    token = request.match_info["token"]
    moves = request.app[SERVICE].moves
    try:
        booking = await moves.movable(token)
        held = await moves.held(booking)
    except TokenGone:
        return await _refused(request, "gone", 410)
    except MoveRefused as refused:
        return await _refused(request, refused.why, 409)
    if held is None:
        # The hold ran out (or none was made): choose again.
        return await _picker_page(
            request, {}, error=N_("The time you chose is no longer held. Please choose again.")
        )
    return await _confirm_page(request, booking, moves, held)


async def confirm_post(request: web.Request) -> web.Response:
    """The one confirmation: the booking moves, or stays when the time was taken."""
    if is_cross_site_post(request):
        return cross_site_page(request, N_("Open the page of your link on our page"))
    form = await _form(request)
    token = request.match_info["token"]
    moves = request.app[SERVICE].moves
    if not form.get("slot"):
        return await _picker_page(request, form, 422, error=N_("Please choose a time."))
    try:
        moved = await moves.move(token, form["slot"])
    except TokenGone:
        return await _refused(request, "gone", 410)
    except MoveRefused as refused:
        return await _refused(request, refused.why, 409)
    if moved == "taken":
        return await _picker_page(request, form, 409, taken=True)
    query = _query(moved.param, language(request))
    raise web.HTTPSeeOther(f"/x/{quote(token)}/move/done?{query}")


async def done_page(request: web.Request) -> web.Response:
    """After moving: the new time, its calendar file, the cancel link."""
    token = request.match_info["token"]
    service = request.app[SERVICE]
    lang = language(request)
    try:
        booking = await service.moves.movable(token)
    except TokenGone:
        return await _refused(request, "gone", 410)
    except MoveRefused as refused:
        return await _refused(request, refused.why, 409)
    param = request.query.get(MOVE_PARAM, "")
    linked = service.moves.linked(booking, param)
    if linked is None:
        raise web.HTTPSeeOther(f"/x/{quote(token)}?lang={lang}")
    cached = await service.practice_view(booking.practice)
    profile = cached.profile
    base = request.app[SETTINGS].public_url
    cancel_path = f"/x/{quote(token)}"
    summary = _summary(linked, profile, lang, booking.status)
    calendar = service.cancellations.calendar_path(
        booking.practice, booking.booking_id, summary, f"{base}{cancel_path}"
    )
    t = texts(lang)
    proposed = booking.status == "proposed"
    return render(
        request,
        "move.html",
        mode="done",
        title=t.gettext(N_("New time requested") if proposed else N_("Appointment moved")),
        proposed=proposed,
        practice_name=profile.name,
        appointment=appointment(summary, profile, lang),
        calendar_path=calendar,
        cancel_url=f"{cancel_path}?{_query(param, lang)}",
        move_url=_move_url(token, param, lang),
        card=practice_card(profile.name, profile, lang),
    )


# Parts


async def _picker_page(
    request: web.Request,
    form: dict[str, str],
    status: int = 200,
    *,
    taken: bool = False,
    error: str | None = None,
) -> web.Response:
    token = request.match_info["token"]
    service = request.app[SERVICE]
    moves = service.moves
    lang = language(request)
    try:
        booking = await moves.movable(token)
    except TokenGone:
        return await _refused(request, "gone", 410)
    except MoveRefused as refused:
        return await _refused(request, refused.why, 409)
    cached, free = await moves.free_slots(booking.practice)
    profile = cached.profile
    param = _param(form, request)
    linked = moves.linked(booking, param)
    query = dict(request.query)
    if linked is not None:
        # The same doctor and type as the current appointment, unless the URL says else.
        query.setdefault("doctor", linked.doctor or "")
        query.setdefault("appointment_type", linked.appointment_type or "")
    nav = form.get(picker.NAV)
    posted = {name: value for name, value in form.items() if name in picker.STATE_PARAMS}
    if taken:
        posted.pop("slot", None)
    state = picker.read_state(query, posted or None, profile, nav=nav or picker.NAV_GO)
    if taken:
        state = picker.PickerState(
            state.doctor, state.appointment_type, state.week, state.day, insurance=state.insurance
        )
    path = f"/x/{quote(token)}/move"
    view = picker.build(
        state, free, profile, lang, path=path, today=service.now().astimezone(profile.zone).date()
    )
    t = texts(lang)
    current = _appointment(linked, profile, lang) if linked else None
    notice = None
    if taken:
        notice = (
            t.gettext(TAKEN_NOTICE, time=_moment(linked, profile, lang))
            if linked
            else t.gettext(TAKEN_NOTICE_UNNAMED)
        )
    return render(
        request,
        "move.html",
        status,
        mode="pick",
        title=t.gettext(N_("Choose another time")),
        practice_name=profile.name,
        current=current,
        picker=view,
        notice=notice,
        error=t.gettext(error) if error else None,
        # The picker's state rides in the URL, the sealed parameter in the form.
        action=f"{view.url}",
        param=param if linked else "",
        proposed=profile.confirmation == "by_practice",
        slots_hint=t.gettext(
            "All times in the practice's time zone (%(zone)s).", zone=profile.time_zone
        ),
        back_url=f"/x/{quote(token)}?{_query(param if linked else '', lang)}",
        card=practice_card(profile.name, profile, lang),
        # Where the practice keeps times for some insurance types: the patient's, as the
        # booking form asks it (the relay does not know it after confirming).
        insurance=_insurance_choices(state.insurance, lang) if view.filters_insurance else None,
    )


async def _confirm_page(
    request: web.Request, booking: Movable, moves: Moves, held: Held
) -> web.Response:
    lang = language(request)
    token = request.match_info["token"]
    cached = await moves.practices.current(booking.practice)
    profile = cached.profile
    param = request.query.get(MOVE_PARAM, "")
    linked = moves.linked(booking, param)
    new = held.slot
    t = texts(lang)
    new_summary = _summary(linked_appointment(booking.booking_id, new), profile, lang, "booked")
    return render(
        request,
        "move.html",
        mode="confirm",
        title=t.gettext(N_("Move your appointment?")),
        practice_name=profile.name,
        current=_appointment(linked, profile, lang) if linked else None,
        new=appointment(new_summary, profile, lang),
        held_until=format_datetime(held.until, profile.zone, lang),
        proposed=profile.confirmation == "by_practice",
        action=f"/x/{quote(token)}/move/confirm?{_query(param if linked else '', lang)}",
        slot=new.id,
        param=param if linked else "",
        back_url=_move_url(token, param if linked else "", lang),
        card=practice_card(profile.name, profile, lang),
    )


async def _refused(request: web.Request, why: str, status: int) -> web.Response:
    if why == "gone":
        # A link that leads nowhere counts like a wrong confirmation link.
        await request.app[SERVICE].limits.guess_failed(
            "confirm", request[CLIENT_NETWORK], request[REQUEST_ID]
        )
    lang = language(request)
    title, text = _REFUSALS[why]
    token = request.match_info["token"]
    slug = token.partition(".")[0]
    return render(
        request,
        "move.html",
        status,
        mode="refused",
        title=texts(lang).gettext(title),
        text=texts(lang).gettext(text),
        book_again=f"/p/{quote(slug)}?lang={lang}" if why in ("wish", "final") else None,
        cancel_url=f"/x/{quote(request.match_info['token'])}?lang={lang}"
        if why != "gone"
        else None,
        practice_name=None,
        card=None,
    )


def _insurance_choices(chosen: str, lang: str) -> tuple[str, list[tuple[str, str, bool]]]:
    field = next(field for field in FIELDS if field.name == "insurance")
    return field.label[lang], [
        (value, field.choice_labels[value][lang], value == chosen) for value in field.choices
    ]


def _names_a_time(value: str) -> bool:
    """Whether a posted slot value is "{start}|{doctor}" at all (else 422, not "taken")."""
    try:
        parse_aware_datetime(value.partition("|")[0])
    except InvalidValueError:
        return False
    return True


async def _form(request: web.Request) -> dict[str, str]:
    return dict(await read_form(request))


def _param(form: dict[str, str], request: web.Request) -> str:
    return form.get(MOVE_PARAM) or request.query.get(MOVE_PARAM, "")


def _query(param: str, lang: str) -> str:
    return urlencode({MOVE_PARAM: param, "lang": lang} if param else {"lang": lang})


def _move_url(token: str, param: str, lang: str) -> str:
    return f"/x/{quote(token)}/move?{_query(param, lang)}"


def _summary(
    linked: LinkedAppointment, profile: Profile, lang: str, status: str
) -> dict[str, object]:
    """The appointment as a confirmation summary says it (web/appointment.py, the
    calendar link): from the link's parameter and the profile, nothing of the patient."""
    return {
        "practice_name": profile.name,
        "doctor": linked.doctor,
        "appointment_type": linked.appointment_type,
        "start": linked.start,
        "end": linked.end or None,
        "time_zone": profile.time_zone,
        "kind": "slot",
        "lang": lang,
        "status": status,
    }


def _appointment(
    linked: LinkedAppointment | None, profile: Profile | None, lang: str
) -> Appointment | None:
    if linked is None or profile is None or not linked.start:
        return None
    return appointment(_summary(linked, profile, lang, "booked"), profile, lang)


def _moment(linked: LinkedAppointment, profile: Profile, lang: str) -> str:
    return format_datetime(datetime.fromisoformat(linked.start), profile.zone, lang)


def setup(app: web.Application) -> None:
    app.router.add_get("/x/{token}/move", move_page)
    app.router.add_post("/x/{token}/move", move_post)
    app.router.add_get("/x/{token}/move/confirm", confirm_page)
    app.router.add_post("/x/{token}/move/confirm", confirm_post)
    app.router.add_get("/x/{token}/move/done", done_page)
