"""The patient's cancel link and calendar download (relay/booking/cancellation.py).

- `GET /x/{token}` shows what would be cancelled (the practice; the relay keeps nothing
  else to show) and a button; it changes nothing, as mail scanners prefetch links.
- `POST /x/{token}` with `action=cancel` puts a sealed cancellation notice into the
  practice's inbox; a second time says "already cancelled". Same-origin posts only.
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
from relay.web.origin import is_cross_site_post
from relay.web.pages import cross_site_page, render

# The heading and lead of the page for each state after the cancel page itself.
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
}
_CALENDAR_GONE = (
    N_("Calendar file no longer available"),
    N_(
        "This link to the calendar file has expired (it works for one day) or is not "
        "valid. The time of your appointment is in the e-mail we sent you."
    ),
)


async def cancel_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    cancellations = request.app[SERVICE].cancellations
    try:
        view = await cancellations.view(token)
    except TokenGone:
        return await _gone(request, token)
    profile = await _profile(request, view.practice)
    if view.state == "cancelled":
        return _page(request, "already", profile)
    lang = language(request)
    name = profile.name if profile else view.practice
    expires = (
        format_datetime(view.expires_at, ZoneInfo(profile.time_zone), lang)
        if profile and view.expires_at
        else None
    )
    return render(
        request,
        "cancel.html",
        state="active",
        title=texts(lang).gettext("Cancel the appointment"),
        practice_name=name,
        expires=expires,
        action=f"{quote(request.path)}?lang={lang}",
        card=practice_card(name, profile, language(request)) if profile else None,
    )


async def cancel_action(request: web.Request) -> web.Response:
    if is_cross_site_post(request):
        return cross_site_page(request, N_("Open the cancellation page on our page"))
    form = await read_form(request)
    if form.get("action") != "cancel":
        raise web.HTTPBadRequest(reason="action must be cancel")
    token = request.match_info["token"]
    try:
        outcome = await request.app[SERVICE].cancellations.cancel(token)
    except TokenGone:
        return await _gone(request, token)
    slug = token.partition(".")[0]
    return _page(request, outcome, await _profile(request, slug))


async def calendar_file(request: web.Request) -> web.Response:
    """The appointment as an .ics file, for the patient's own calendar."""
    service = request.app[SERVICE]
    try:
        entry = service.cancellations.calendar_entry(request.match_info["sealed"])
    except TokenGone:
        await _guess_failed(request)
        return _page(request, "gone", None, status=410, calendar=True)
    profile = await _profile(request, entry.practice)
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


async def _gone(request: web.Request, token: str) -> web.Response:
    await _guess_failed(request)
    slug = token.partition(".")[0]
    return _page(request, "gone", await _profile(request, slug), status=410)


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
    status: int = 200,
    calendar: bool = False,
) -> web.Response:
    title, text = _CALENDAR_GONE if calendar else _STATES[state]
    t = texts(language(request))
    name = profile.name if profile else None
    return render(
        request,
        "cancel.html",
        status,
        state=state,
        title=t.gettext(title),
        text=t.gettext(text),
        practice_name=name,
        card=practice_card(name, profile, language(request)) if profile and name else None,
    )


async def _profile(request: web.Request, slug: str) -> Profile | None:
    """The practice's public profile, for its name and contact; None if it is unknown."""
    try:
        return (await request.app[SERVICE].profile(slug)).profile
    except PracticeNotFound:
        return None


def setup(app: web.Application) -> None:
    app.router.add_get("/x/{token}", cancel_page)
    app.router.add_post("/x/{token}", cancel_action)
    app.router.add_get(r"/calendar/{sealed:[A-Za-z0-9_-]{1,4096}}.ics", calendar_file)
