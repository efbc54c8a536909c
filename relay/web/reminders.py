"""The patient stops the reminders of an appointment (relay/booking/reminders.py).

- `GET /x/{token}/reminders` (the link in every reminder) asks, with one button: it
  changes nothing, as mail scanners prefetch links.
- `POST /x/{token}/reminders` stops them, queued ones included. Mail programs that offer
  "unsubscribe" post `List-Unsubscribe=One-Click` to the same address (RFC 8058, the
  reminder's `List-Unsubscribe-Post` header), from their servers, without a browser's
  Origin: origin.py's rule lets those through and refuses other sites' pages.

An expired or unknown link answers 410, like the cancel link.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from relay.errors import TokenGone
from relay.i18n.catalogs import N_, texts
from relay.web.appkeys import SERVICE
from relay.web.cancel import cancel_gone, practice_profile
from relay.web.language import request_language as language
from relay.web.origin import is_cross_site_post
from relay.web.pages import cross_site_page, render


async def reminders_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    try:
        stopped = await request.app[SERVICE].reminders.opted_out(token)
    except TokenGone:
        return await cancel_gone(request, token)
    return await _page(request, token, "stopped" if stopped else "ask")


async def stop_reminders(request: web.Request) -> web.Response:
    if is_cross_site_post(request):
        return cross_site_page(request, N_("Open the page that stops the reminders on our page"))
    token = request.match_info["token"]
    try:
        await request.app[SERVICE].reminders.opt_out(token)
    except TokenGone:
        return await cancel_gone(request, token)
    return await _page(request, token, "stopped")


async def _page(request: web.Request, token: str, state: str) -> web.Response:
    slug = token.partition(".")[0]
    profile = await practice_profile(request, slug)
    lang = language(request)
    t = texts(lang)
    title = N_("Stop the reminders") if state == "ask" else N_("No more reminders")
    return render(
        request,
        "reminders.html",
        state=state,
        title=t.gettext(title),
        practice_name=profile.name if profile else None,
        action=f"{quote(request.path)}?lang={lang}",
        cancel_link=f"/x/{quote(token)}?lang={lang}",
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/x/{token}/reminders", reminders_page)
    app.router.add_post("/x/{token}/reminders", stop_reminders)
