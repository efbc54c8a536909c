"""The patient's cancel link and calendar download (relay/booking/cancellation.py).

- `GET /x/{token}` shows the booking's status (relay/booking/answers.py: the practice, a
  time it proposed; the relay keeps nothing else to show) and what the patient may do; it
  changes nothing, as mail scanners prefetch links.
- `POST /x/{token}` with `action=cancel` puts a sealed cancellation notice into the
  practice's inbox, a second time says "already cancelled"; `action=accept` accepts the
  time the practice proposed, `action=choose` declines it and leads to the practice's
  free times (both a sealed reply to the practice). Same-origin posts only.
- `GET /calendar/{sealed}.ics` the appointment as a calendar file, from the link alone.

An expired or unknown link answers 410 with a page that says what to do instead.
"""

from __future__ import annotations

from urllib.parse import quote
from zoneinfo import ZoneInfo

from aiohttp import web

from relay.booking.patient_calendar import render_patient_calendar
from relay.errors import PracticeNotFound, TokenGone
from relay.i18n.catalogs import N_, texts
from relay.practice.localtime import format_datetime
from relay.practice.profile import Profile
from relay.web.appkeys import SERVICE
from relay.web.appointment import practice_card
from relay.web.bodies import read_form
from relay.web.language import request_language as language
from relay.web.middleware import CLIENT_NETWORK, REQUEST_ID
from relay.web.move import move_offer
from relay.web.origin import is_cross_site_post
from relay.web.pages import cross_site_page, render

# The heading and lead of the page for each state but the ones with a form.
_STATES = {
    "cancelled": (
        N_("Appointment cancelled"),
        N_(
            "Your cancellation was handed to the practice, encrypted. Thank you for "
            "letting them know."
        ),
    ),
    "already": (
        N_("Already cancelled"),
        N_("This appointment was cancelled already; the cancellation was handed to the practice."),
    ),
    "gone": (
        N_("This link can no longer cancel"),
        N_(
            "The link has expired, because the appointment has begun or the time for "
            "cancelling is over, or it is not valid. Please contact the practice directly."
        ),
    ),
    "declined": (
        N_("The practice declined your request"),
        N_("You are welcome to request another time."),
    ),
    "cancelled_by_practice": (
        N_("The practice cancelled the appointment"),
        N_("You are welcome to request another time."),
    ),
    "accepted": (
        N_("Appointment booked"),
        N_("You accepted the time the practice proposed. The practice was told, encrypted."),
    ),
    "taken": (
        N_("This time is no longer free"),
        N_(
            "Someone else booked the proposed time in the meantime. Please choose another "
            "time or call the practice."
        ),
    ),
}
# What a status shown on the link's own page is called there.
_FINAL_PAGES = {
    "declined": "declined",
    "cancelled": "cancelled_by_practice",
    "withdrawn": "already",
}
# The states whose page offers to book again.
_BOOK_AGAIN = frozenset({"declined", "cancelled_by_practice", "cancelled", "taken"})
_ACTIONS = frozenset({"cancel", "accept", "choose"})
_CALENDAR_GONE = (
    N_("Calendar file no longer available"),
    N_(
        "This link to the calendar file has expired (it works for one day) or is not "
        "valid. The time of your appointment is in the e-mail we sent you."
    ),
)


async def cancel_page(request: web.Request) -> web.Response:
    """The patient's link: cancel a booking or withdraw a request, or answer the time the
    practice proposed; a finished booking's page says how it ended."""
    token = request.match_info["token"]
    try:
        view = await request.app[SERVICE].answers.view(token)
    except TokenGone:
        return await cancel_gone(request, token)
    profile = await practice_profile(request, view.practice)
    if view.status in _FINAL_PAGES:
        return _page(request, _FINAL_PAGES[view.status], profile, slug=view.practice)
    lang = language(request)
    zone = ZoneInfo(profile.time_zone if profile else "UTC")
    t = texts(lang)
    titles = {
        "booked": N_("Cancel the appointment"),
        "proposed": N_("Your request"),
        "pending": N_("The practice proposes another time"),
    }
    name = profile.name if profile else view.practice
    # Booked or waiting: which appointment (when the link names it) and "choose another
    # time" (relay/web/move.py).
    offer = await move_offer(request, token, profile) if view.status != "pending" else None
    return render(
        request,
        "cancel.html",
        state=view.status,
        title=t.gettext(titles[view.status]),
        practice_name=name,
        expires=format_datetime(view.expires_at, zone, lang) if view.expires_at else None,
        proposed=format_datetime(view.start, zone, lang) if view.start else None,
        action=f"{quote(request.path)}?lang={lang}",
        card=practice_card(name, profile, lang) if profile else None,
        offer=offer,
    )


async def cancel_action(request: web.Request) -> web.Response:
    if is_cross_site_post(request):
        return cross_site_page(request, N_("Open the cancellation page on our page"))
    form = await read_form(request)
    action = form.get("action")
    if action not in _ACTIONS:
        raise web.HTTPBadRequest(reason="action must be cancel, accept or choose")
    token = request.match_info["token"]
    answers = request.app[SERVICE].answers
    slug = token.partition(".")[0]
    try:
        if action == "cancel":
            outcome = await answers.cancel(token)
        else:
            outcome = await answers.reply(token, accept=action == "accept")
    except TokenGone:
        return await cancel_gone(request, token)
    if action == "choose" and outcome == "declined":
        # Declined, so the practice knows: on to the practice's free times.
        raise web.HTTPSeeOther(f"/p/{quote(slug)}?lang={language(request)}")
    return _page(request, outcome, await practice_profile(request, slug), slug=slug)


async def calendar_file(request: web.Request) -> web.Response:
    """The appointment as an .ics file, for the patient's own calendar."""
    service = request.app[SERVICE]
    try:
        entry = service.cancellations.calendar_entry(request.match_info["sealed"])
    except TokenGone:
        await _guess_failed(request)
        return _page(request, "gone", None, status=410, calendar=True)
    profile = await practice_profile(request, entry.practice)
    body = render_patient_calendar(
        uid=entry.uid,
        appointment=entry.appointment,
        details=profile.details if profile else None,
        cancel_url=entry.cancel_url,
        now=service.now(),
    )
    return web.Response(
        body=body,
        content_type="text/calendar",
        charset="utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="termin.ics"',
            # It names the appointment: kept out of shared caches and the back/forward cache.
            "Cache-Control": "no-store",
        },
    )


async def cancel_gone(request: web.Request, token: str) -> web.Response:
    await _guess_failed(request)
    slug = token.partition(".")[0]
    return _page(request, "gone", await practice_profile(request, slug), status=410)


async def _guess_failed(request: web.Request) -> None:
    """A link that leads nowhere counts against the client's network like a wrong
    confirmation link: past the limit, 429 instead of 410 (relay/abuse/limits.py)."""
    await request.app[SERVICE].limits.guess_failed(
        "confirm", request[CLIENT_NETWORK], request[REQUEST_ID]
    )


def _page(
    request: web.Request,
    state: str,
    profile: Profile | None,
    *,
    slug: str | None = None,
    status: int = 200,
    calendar: bool = False,
) -> web.Response:
    title, text = _CALENDAR_GONE if calendar else _STATES[state]
    lang = language(request)
    t = texts(lang)
    name = profile.name if profile else None
    book_again = (
        f"/p/{quote(slug)}?lang={lang}" if slug and profile and state in _BOOK_AGAIN else None
    )
    return render(
        request,
        "cancel.html",
        status,
        state=state,
        title=t.gettext(title),
        text=t.gettext(text),
        practice_name=name,
        book_again=book_again,
        card=practice_card(name, profile, lang) if profile and name else None,
    )


async def practice_profile(request: web.Request, slug: str) -> Profile | None:
    """The practice's public profile, for its name and contact; None if it is unknown."""
    try:
        return (await request.app[SERVICE].profile(slug)).profile
    except PracticeNotFound:
        return None


def setup(app: web.Application) -> None:
    app.router.add_get("/x/{token}", cancel_page)
    app.router.add_post("/x/{token}", cancel_action)
    app.router.add_get(r"/calendar/{sealed:[A-Za-z0-9_-]{1,4096}}.ics", calendar_file)
