"""HTML pages for patients: rendering, language choice, confirmation and error pages."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web

from relay.appkeys import SERVICE, TEMPLATES
from relay.localtime import format_datetime
from relay.web.language import request_language as language

STATIC = Path(__file__).parent / "static"

_TEXTS = {
    "de": {
        "confirm_title": "Terminanfrage bestätigen",
        "confirm_lead": "Bitte prüfen Sie Ihre Anfrage. Erst mit Ihrer Bestätigung wird sie "
        "an die Praxis übergeben.",
        "practice": "Praxis",
        "doctor": "Ärztin / Arzt",
        "appointment_type": "Terminart",
        "time": "Termin",
        "wish": "(Wunschtermin)",
        "expires": "Diese Anfrage wird gelöscht, wenn sie nicht bestätigt wird bis",
        "confirm": "Anfrage bestätigen",
        "withdraw": "Anfrage zurückziehen",
        "confirmed_title": "Anfrage bestätigt",
        "confirmed_text": "Ihre Anfrage wurde verschlüsselt an die Praxis übergeben. Die Praxis "
        "meldet sich bei Ihnen.",
        "already_title": "Bereits bestätigt",
        "already_text": "Diese Anfrage wurde bereits bestätigt und an die Praxis übergeben.",
        "withdrawn_title": "Anfrage zurückgezogen",
        "withdrawn_text": "Ihre Anfrage wurde gelöscht. Die Praxis hat nichts davon erhalten.",
        "error_410_title": "Link nicht mehr gültig",
        "error_410_text": "Diese Anfrage wurde zurückgezogen, ist abgelaufen oder existiert "
        "nicht. Sie wurde nicht an die Praxis übergeben.",
        "error_404_title": "Nicht gefunden",
        "error_404_text": "Diese Seite gibt es nicht.",
        "error_429_title": "Zu viele Anfragen",
        "error_429_text": "Bitte versuchen Sie es in einigen Minuten erneut.",
        "error_409_title": "Termin nicht mehr frei",
        "error_409_text": "Dieser Termin wurde inzwischen vergeben.",
        "error_503_title": "Vorübergehend nicht erreichbar",
        "error_503_text": "Bitte versuchen Sie es in einigen Minuten erneut.",
        "error_title": "Fehler",
        "error_text": "Die Anfrage konnte nicht bearbeitet werden.",
    },
    "en": {
        "confirm_title": "Confirm your appointment request",
        "confirm_lead": "Please check your request. It is handed to the practice only once you "
        "confirm it.",
        "practice": "Practice",
        "doctor": "Doctor",
        "appointment_type": "Type of appointment",
        "time": "Appointment",
        "wish": "(preferred time)",
        "expires": "This request is deleted unless you confirm it by",
        "confirm": "Confirm request",
        "withdraw": "Withdraw request",
        "confirmed_title": "Request confirmed",
        "confirmed_text": "Your request was handed to the practice, encrypted. The practice will "
        "get in touch with you.",
        "already_title": "Already confirmed",
        "already_text": "This request was confirmed already and handed to the practice.",
        "withdrawn_title": "Request withdrawn",
        "withdrawn_text": "Your request was deleted. The practice received nothing.",
        "error_410_title": "Link no longer valid",
        "error_410_text": "This request was withdrawn, has expired or does not exist. It was not "
        "handed to the practice.",
        "error_404_title": "Not found",
        "error_404_text": "This page does not exist.",
        "error_429_title": "Too many requests",
        "error_429_text": "Please try again in a few minutes.",
        "error_409_title": "Slot no longer available",
        "error_409_text": "This slot was taken in the meantime.",
        "error_503_title": "Temporarily unavailable",
        "error_503_text": "Please try again in a few minutes.",
        "error_title": "Error",
        "error_text": "The request could not be processed.",
    },
}


def render(
    request: web.Request, template: str, status: int = 200, **context: object
) -> web.Response:
    lang = language(request)
    html = (
        request.app[TEMPLATES]
        .get_template(template)
        .render(lang=lang, t=_TEXTS[lang], path=request.path, **context)
    )
    return web.Response(text=html, status=status, content_type="text/html")


def error_page(request: web.Request, status: int) -> web.Response:
    texts = _TEXTS[language(request)]
    key = f"error_{status}" if f"error_{status}_title" in texts else "error"
    return render(
        request, "error.html", status, title=texts[f"{key}_title"], message=texts[f"{key}_text"]
    )


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


def setup(app: web.Application) -> None:
    app.router.add_get("/c/{token}", confirmation_page)
    app.router.add_post("/c/{token}", confirmation_action)
    app.router.add_static("/static/", STATIC, append_version=True)
