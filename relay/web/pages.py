"""HTML pages for patients: the booking form, confirmation, privacy and error pages.

Server-rendered and complete without JavaScript; static/form.js only adds comfort.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from aiohttp import web

from relay.appkeys import SERVICE, SETTINGS, TEMPLATES
from relay.booking import form_to_data
from relay.errors import SlotTaken, ValidationFailed
from relay.localtime import format_datetime
from relay.service import PublicProfile
from relay.web import form as booking_form
from relay.web import privacy
from relay.web.i18n import LANGUAGES, page_text, page_texts
from relay.web.language import request_language as language
from relay.web.middleware import CLIENT_NETWORK, FRAME_ANCESTORS

STATIC = Path(__file__).parent / "static"
STATIC_FILES = ("site.css", "form.js")


def _static_versions() -> dict[str, str]:
    # Content hashes in the URLs, so a changed file is never served stale from a cache.
    return {
        name: f"/static/{name}?v={hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]}"
        for name in STATIC_FILES
    }


_STATIC_URLS = _static_versions()


def render(
    request: web.Request, template: str, status: int = 200, **context: object
) -> web.Response:
    """A page in the request's language, with the layout's shared context."""
    lang = language(request)
    other = next(code for code in LANGUAGES if code != lang)
    html = (
        request.app[TEMPLATES]
        .get_template(template)
        .render(
            lang=lang,
            other_lang=other,
            t=page_texts(lang),
            path=request.path,
            # The switch keeps the page (the path) and changes only the language.
            switch_url=f"{quote(request.path)}?lang={other}",
            static=_STATIC_URLS,
            **context,
        )
    )
    return web.Response(text=html, status=status, content_type="text/html")


def error_page(request: web.Request, status: int) -> web.Response:
    texts = page_texts(language(request))
    key = f"error_{status}" if f"error_{status}_title" in texts else "error"
    return render(
        request, "error.html", status, title=texts[f"{key}_title"], message=texts[f"{key}_text"]
    )


# Booking form ---------------------------------------------------------------------------


async def _practice(request: web.Request) -> PublicProfile:
    """The practice's public profile; lets the practice's own sites embed the form."""
    public = await request.app[SERVICE].profile(request.match_info["practice"])
    if public.profile.frame_ancestors:
        request[FRAME_ANCESTORS] = " ".join(public.profile.frame_ancestors)
    return public


def _form_page(
    request: web.Request,
    public: PublicProfile,
    status: int = 200,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    slot_taken: bool = False,
) -> web.Response:
    lang = language(request)
    view = booking_form.build(
        public.profile,
        public.free_slots,
        lang,
        values=values,
        errors=errors,
        now=request.app[SERVICE].now(),
    )
    return render(
        request,
        "form.html",
        status,
        practice=public.practice,
        profile=public.profile,
        form=view,
        slot_taken=slot_taken,
        lead=page_text(lang, "form_lead", practice=public.practice.name),
        slots_hint=page_text(lang, "slots_hint", zone=public.profile.time_zone),
        wish_hint=page_text(lang, "wish_hint", zone=public.profile.time_zone),
        action=f"{quote(request.path)}?lang={lang}",
    )


async def booking_page(request: web.Request) -> web.Response:
    return _form_page(request, await _practice(request))


async def booking_post(request: web.Request) -> web.Response:
    """Submits through RelayService.submit, the JSON API's path: one validator for both."""
    public = await _practice(request)
    posted = await request.post()
    values: dict[str, str] = {}
    for name, value in posted.items():
        if isinstance(value, str):
            values.setdefault(name, value)
    service = request.app[SERVICE]
    lang = language(request)
    data = form_to_data(values, time_zone=public.profile.time_zone)
    try:
        submitted = await service.submit(
            public.practice.slug, data, client_network=request[CLIENT_NETWORK], lang=lang
        )
    except ValidationFailed as failed:
        return _form_page(request, public, 422, values=values, errors=failed.errors)
    except SlotTaken:
        # Fresh slots: the one just lost is no longer among them.
        fresh = await _practice(request)
        kept = {name: value for name, value in values.items() if name != booking_form.SLOT}
        return _form_page(request, fresh, 409, values=kept, slot_taken=True)
    minutes = max(1, request.app[SETTINGS].pending_ttl // 60)
    zone = public.profile.zone
    return render(
        request,
        "sent.html",
        practice=public.practice,
        minutes=minutes,
        lead=page_text(
            lang,
            "sent_lead",
            minutes=minutes,
            expires=format_datetime(submitted.expires_at, zone, lang),
        ),
        expiry=page_text(lang, "sent_expiry", minutes=minutes),
        again_url=f"{quote(request.path)}?lang={lang}",
    )


# Confirmation ---------------------------------------------------------------------------


async def confirmation_page(request: web.Request) -> web.Response:
    """Shows what would be confirmed; changes nothing, as mail scanners prefetch links."""
    view = await request.app[SERVICE].pending(request.match_info["token"])
    if view is None:
        return render(request, "result.html", outcome="already")
    lang = language(request)
    summary = view.summary
    zone = ZoneInfo(str(summary["time_zone"]))
    start = datetime.fromisoformat(str(summary["start"]))
    return render(
        request,
        "confirm.html",
        summary=summary,
        start=format_datetime(start, zone, lang),
        expires=format_datetime(view.expires_at, zone, lang),
        action=f"{quote(request.path)}?lang={lang}",
    )


async def confirmation_action(request: web.Request) -> web.Response:
    form = await request.post()
    action = form.get("action")
    service = request.app[SERVICE]
    token = request.match_info["token"]
    if action == "confirm":
        outcome = await service.confirm(token)
    elif action == "withdraw":
        outcome = await service.withdraw(token)
    else:
        raise web.HTTPBadRequest(reason="action must be confirm or withdraw")
    return render(request, "result.html", outcome=outcome)


# Privacy --------------------------------------------------------------------------------


async def privacy_page(request: web.Request) -> web.Response:
    lang = language(request)
    minutes = max(1, request.app[SETTINGS].pending_ttl // 60)
    return render(
        request,
        "privacy.html",
        fields=privacy.collected_fields(lang),
        retention=page_text(lang, "privacy_retention_text", minutes=minutes),
    )


@web.middleware
async def http_error_pages(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """aiohttp's own 404/405 answers as pages for browsers (the API keeps its JSON errors)."""
    try:
        return await handler(request)
    except web.HTTPException as http_error:
        if request.path.startswith("/api/") or http_error.status not in (404, 405):
            raise
        response = error_page(request, http_error.status)
        if "Allow" in http_error.headers:
            response.headers["Allow"] = http_error.headers["Allow"]
        return response


def setup(app: web.Application) -> None:
    # Innermost, so security headers and the request log still see the page it renders.
    app.middlewares.append(http_error_pages)
    app.router.add_get("/p/{practice}", booking_page)
    app.router.add_post("/p/{practice}", booking_post)
    app.router.add_get("/c/{token}", confirmation_page)
    app.router.add_post("/c/{token}", confirmation_action)
    app.router.add_get("/privacy", privacy_page)
    app.router.add_static("/static/", STATIC, name="static")
