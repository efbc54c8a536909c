"""HTML pages for patients: the booking form, confirmation and error pages.

Server-rendered and complete without JavaScript; static/form.js only adds comfort.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from aiohttp import web

from relay.abuse.pow import Challenge
from relay.booking.browser_sealed import is_browser_sealed, sealed_form_to_data
from relay.booking.cancellation import ConfirmedLinks
from relay.booking.service import PublicProfile, Submitted
from relay.booking.submission import form_contradictions, form_to_data
from relay.crypto import tokens
from relay.errors import (
    PracticeNotFound,
    ProofOfWorkRequired,
    RateLimited,
    RecipientLimited,
    SlotTaken,
    TokenGone,
    ValidationFailed,
)
from relay.i18n.catalogs import N_, texts
from relay.i18n.languages import LANGUAGES, SELF_NAMES, direction
from relay.i18n.templates import gettext_context
from relay.practice.localtime import format_datetime
from relay.practice.profile import Profile
from relay.rules.values import ErrorCode
from relay.storage.store import Outcome
from relay.web import form as booking_form
from relay.web import picker
from relay.web.appkeys import SERVICE, SETTINGS, TEMPLATES
from relay.web.appointment import Appointment, appointment, practice_card
from relay.web.bodies import read_form
from relay.web.encoding import encoded_response
from relay.web.form_pages import FORM_PAGES, FormPages
from relay.web.language import request_language as language
from relay.web.middleware import CLIENT_NETWORK, FRAME_ANCESTORS, REQUEST_ID
from relay.web.origin import is_cross_site_post
from relay.web.page_shells import PAGE_SHELLS, Hole, PageShells
from relay.web.sealing_page import integrity, sealing_config

STATIC = Path(__file__).parent / "static"
# Known at start-up from the folder itself, so a request never makes the file system look
# up a name it sent.
STATIC_FILES = frozenset(path.name for path in STATIC.iterdir() if path.is_file())
# The form field that carries a solved proof-of-work challenge (the ALTCHA convention).
POW_FIELD = "altcha"


def _static_versions() -> dict[str, str]:
    # Content hashes in the URLs, so a changed file is never served stale from a cache.
    return {
        name: f"/static/{name}?v={hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]}"
        for name in STATIC_FILES
    }


_STATIC_URLS = _static_versions()
_INTEGRITY = integrity(STATIC, STATIC_FILES)


def render(
    request: web.Request,
    template: str,
    status: int = 200,
    *,
    lang: str | None = None,
    **context: object,
) -> web.Response:
    """A page in `lang` (default: the request's language), with the layout's context."""
    lang = lang or language(request)
    html = _html(request, template, lang, switch_url=_switch_url(request, lang), **context)
    return web.Response(text=html, status=status, content_type="text/html")


def _switch_url(request: web.Request, lang: str) -> str:
    """The language switcher's link without its code: the page (the path, which may hold
    a token) and its query with `lang=` last, which base.html completes per language."""
    return _with_language(f"{quote(request.path)}?{request.query_string}")


def _with_language(url: str, lang: str = "") -> str:
    path, _, query = url.partition("?")
    kept = [part for part in query.split("&") if part and not part.startswith("lang=")]
    return f"{path}?{'&'.join([*kept, f'lang={lang}'])}"


def _html(
    request: web.Request, template: str, lang: str, *, switch_url: str | None, **context: object
) -> str:
    return (
        request.app[TEMPLATES]
        .get_template(template)
        .render(
            lang=lang,
            dir=direction(lang),
            languages=SELF_NAMES,
            **gettext_context(lang),
            path=request.path,
            switch_url=switch_url,
            static=_STATIC_URLS,
            integrity=_INTEGRITY,
            # Every page links the operator's legal notice (Impressum) when it is set.
            imprint_url=request.app[SETTINGS].operator.imprint_url,
            **context,
        )
    )


# The title and text of the error page for a status; others get the generic one.
_ERROR_TEXTS = {
    404: (N_("Not found"), N_("This page does not exist. Please check the address.")),
    405: (N_("Not possible"), N_("This address cannot be used this way.")),
    409: (N_("Slot no longer available"), N_("This slot was taken in the meantime.")),
    410: (
        N_("Link no longer valid"),
        N_(
            "This request was withdrawn, has expired or does not exist. It was not "
            "handed to the practice."
        ),
    ),
    429: (
        N_("Too many requests"),
        N_(
            "Very many requests came from your network just now. Please try again in a few minutes."
        ),
    ),
    503: (N_("Temporarily unavailable"), N_("Please try again in a few minutes.")),
}
_ERROR_TEXT = (N_("Error"), N_("The request could not be processed."))


def error_page(request: web.Request, status: int) -> web.Response:
    t = texts(language(request))
    title, message = _ERROR_TEXTS.get(status, _ERROR_TEXT)
    return render(request, "error.html", status, title=t.gettext(title), message=t.gettext(message))


def cross_site_page(request: web.Request, link_text: str) -> web.Response:
    """403 for a post from another site, with a link to this page on the relay itself."""
    lang = language(request)
    return render(
        request,
        "cross_site.html",
        403,
        link_url=f"{quote(request.path)}?lang={lang}",
        link_text=texts(lang).gettext(link_text),
    )


# Booking form ---------------------------------------------------------------------------


async def _practice(request: web.Request, *, holds: bool = True) -> PublicProfile:
    """The practice's public profile; lets the practice's own sites embed the form.

    `holds=False`: the cached practice without a Redis round trip (a submission, whose
    script checks the version); its `free_slots` then ignore held slots, so a page that
    shows slots must ask again with holds."""
    service = request.app[SERVICE]
    slug = request.match_info["practice"]
    if holds:
        public = await service.profile(slug)
    else:
        cached = await service.practice_view(slug)
        free = cached.index.free((), service.now())
        public = PublicProfile(cached.practice, cached.profile, free)
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
    state: picker.PickerState | None = None,
    challenge: Challenge | None = None,
    notice: Notice | None = None,
    now: datetime | None = None,
) -> web.Response:
    lang = language(request)
    path = quote(request.path)
    view = booking_form.build(
        public.profile,
        public.free_slots,
        lang,
        values=values,
        errors=errors,
        now=now or request.app[SERVICE].now(),
        state=state or picker.read_state(request.query, None, public.profile),
        path=path,
    )
    action = view.picker.url if view.picker else f"{path}?lang={lang}"
    return render(
        request,
        "form.html",
        status,
        practice=public.practice,
        profile=public.profile,
        form=view,
        slot_taken=slot_taken,
        slots_hint=texts(lang).gettext(
            "All times in the practice's time zone (%(zone)s).", zone=public.profile.time_zone
        ),
        wish_hint=texts(lang).gettext(
            "Give the day and time you would like to come. The practice will let "
            "you know whether it is possible. Practice time zone: %(zone)s.",
            zone=public.profile.time_zone,
        ),
        # The picker's state rides in the URL (public data only), so a post that shows
        # the form again shows the same week and day.
        action=action,
        # Without JavaScript the switcher posts the form, so nothing typed is lost.
        switch_posts={code: _with_language(action, code) for code in LANGUAGES},
        card=practice_card(public.practice.name, public.profile, lang),
        privacy_url=f"/p/{quote(public.practice.slug)}/privacy?lang={lang}",
        challenge=challenge,
        challenge_json=json.dumps(challenge.to_json()) if challenge else "",
        challenge_url=f"/api/v1/challenge?practice={quote(public.practice.slug)}",
        notice=notice,
        sealing_config=sealing_config(
            public.practice, public.profile, lang, rules_url=_STATIC_URLS["booking-rules.json"]
        )
        if public.profile.browser_sealing
        else None,
        browser_notice=_browser_notice(lang, public.profile)
        if public.profile.sealing == "browser"
        else None,
    )


def _browser_notice(lang: str, profile: Profile) -> Notice:
    """What a patient whose browser cannot seal is told where the practice takes only
    browser-sealed requests: use a current browser, or phone (the profile's number)."""
    phone = profile.details.phone
    text = (
        texts(lang).gettext(
            "This practice accepts only requests your browser has encrypted itself, "
            "so that nobody in between can read them. For that this page needs "
            "JavaScript. Please open it in a current browser with JavaScript, or "
            "call the practice: %(phone)s.",
            phone=phone,
        )
        if phone
        else texts(lang).gettext(
            "This practice accepts only requests your browser has encrypted itself, "
            "so that nobody in between can read them. For that this page needs "
            "JavaScript. Please open it in a current browser with JavaScript, or "
            "contact the practice directly."
        )
    )
    return Notice(texts(lang).gettext("Please use a current browser"), text)


@dataclass(frozen=True)
class Notice:
    """Why a limit refused the request, shown above the refilled form."""

    title: str
    text: str


async def _challenge(request: web.Request, public: PublicProfile) -> Challenge | None:
    """A proof-of-work challenge for the form, when the limits ask for one right now."""
    return await request.app[SERVICE].limits.form_challenge(
        public.practice.slug, request[CLIENT_NETWORK]
    )


def _limit_notice(request: web.Request, refusal: RateLimited) -> Notice:
    lang = language(request)
    minutes = max(1, -(-refusal.retry_after // 60))
    t = texts(lang)
    if isinstance(refusal, ProofOfWorkRequired):
        return Notice(
            t.gettext("One moment, please"),
            t.ngettext(
                "Very many requests are coming in just now. Your browser therefore runs "
                "a short security check (it needs JavaScript for it); please send the "
                "request again afterwards. Without JavaScript, please try again in "
                "about %(num)s minute. What you entered is kept below.",
                "Very many requests are coming in just now. Your browser therefore runs "
                "a short security check (it needs JavaScript for it); please send the "
                "request again afterwards. Without JavaScript, please try again in "
                "about %(num)s minutes. What you entered is kept below.",
                minutes,
            ),
        )
    if isinstance(refusal, RecipientLimited):
        return Notice(
            t.gettext("Requests are already waiting in your mailbox"),
            t.ngettext(
                "We have already sent several confirmation e-mails to this address "
                "within the last hour. Please look in your mailbox (and the spam "
                "folder) and confirm your request there. We can send another e-mail in "
                "about %(num)s minute. What you entered is kept below.",
                "We have already sent several confirmation e-mails to this address "
                "within the last hour. Please look in your mailbox (and the spam "
                "folder) and confirm your request there. We can send another e-mail in "
                "about %(num)s minutes. What you entered is kept below.",
                minutes,
            ),
        )
    return Notice(
        t.gettext("Too many requests from your network"),
        t.ngettext(
            "Very many requests came from your network just now. Please send your "
            "request again in about %(num)s minute. What you entered is kept below.",
            "Very many requests came from your network just now. Please send your "
            "request again in about %(num)s minutes. What you entered is kept below.",
            minutes,
        ),
    )


async def booking_page(request: web.Request) -> web.Response:
    public = await _practice(request)
    challenge = await _challenge(request, public)
    if challenge is not None:
        return _form_page(request, public, challenge=challenge)
    # A plain view: the same page for every patient until a slot, the practice or the
    # minute changes (relay/web/form_pages.py).
    pages = request.app[FORM_PAGES]
    state = picker.read_state(request.query, None, public.profile)
    now = request.app[SERVICE].now()
    key = (
        public.practice.slug,
        language(request),
        request.path,
        state,
        public.free_slots.key,
        # The page shows the time to the minute (the earliest wish) and today's date.
        int(now.timestamp() // 60),
    )
    cached = pages.get(key, public.practice, public.profile)
    if cached is None:
        page = _form_page(request, public, state=state, now=now)
        if page.status != 200 or not isinstance(page.body, bytes):
            return page
        # Kept encoded: a 3,000-slot page is not encoded again for every view.
        cached = pages.put(key, public.practice, public.profile, page.body)
    # Compressed (once per cached page) only here. BREACH recovers a secret from the size
    # of compressed HTML that also reflects an attacker's input; this page reflects the
    # path and the picker's query but holds no secret: it is the same bytes for every
    # patient of the key (no session or cookie, no CSRF token: posts are checked by
    # origin, relay/web/origin.py; no per-user data). A page with a proof-of-work
    # challenge (public and signed anyway), values, errors or a notice is not cached and
    # goes out uncompressed (the branch above, booking_post). Pages with tokens (the sent
    # page's resend token, /c/... confirmation, /x/... cancel, result pages) never come
    # here: never compress them.
    return encoded_response(request, cached, content_type="text/html")


async def booking_post(request: web.Request) -> web.Response:
    """Submits through RelayService.submit, the JSON API's path: one validator for both."""
    # No round trip before the submit script; pages showing slots fetch the holds.
    public = await _practice(request, holds=False)
    # The practice's own sites may post its form; refused before the body is read.
    if is_cross_site_post(request, trusted_sources=public.profile.frame_ancestors):
        return cross_site_page(request, N_("Open the appointment form on our page"))
    values = await read_form(request)
    nav = values.pop(picker.NAV, None)
    state = picker.read_state(request.query, values, public.profile, nav=nav or picker.NAV_GO)
    if nav is not None:
        # A slot picker button without JavaScript: the form again, in the picker's new
        # state, with everything typed kept. Nothing is validated, stored or logged; the
        # typed values travel in this post's body, never in a URL.
        if nav == picker.NAV_NEXT:
            values[booking_form.SLOT] = state.slot
        return _form_page(request, await _practice(request), values=values, state=state)
    service = request.app[SERVICE]
    lang = language(request)
    # Single use: a refilled form never carries the solution it was posted with.
    proof = values.pop(POW_FIELD, None)
    sealed = is_browser_sealed(values)
    if not sealed and public.profile.sealing == "browser":
        # Posted without the script (or past its failed self-test): nothing is taken.
        refusal = _browser_notice(lang, public.profile)
        return _form_page(request, await _practice(request), 422, state=state, notice=refusal)
    if sealed:
        # The browser sealed it: the form's script sent the clear fields and the blob only.
        data = sealed_form_to_data(values, time_zone=public.profile.time_zone)
        contradictions: dict[str, ErrorCode] = {}
    else:
        data = form_to_data(values, time_zone=public.profile.time_zone)
        contradictions = form_contradictions(values)
    try:
        submitted = await service.submit(
            public.practice.slug,
            data,
            client_network=request[CLIENT_NETWORK],
            lang=lang,
            refused=contradictions,
            proof=proof or None,
        )
    except ValidationFailed as failed:
        public = await _practice(request)
        challenge = await _challenge(request, public)
        return _form_page(
            request,
            public,
            422,
            values=values,
            errors=failed.errors,
            state=state,
            challenge=challenge,
        )
    except SlotTaken:
        # Fresh slots: the one just lost is no longer among them.
        fresh = await _practice(request)
        kept = {name: value for name, value in values.items() if name != booking_form.SLOT}
        lost = picker.PickerState(
            state.doctor, state.appointment_type, state.week, state.day, insurance=state.insurance
        )
        challenge = await _challenge(request, fresh)
        return _form_page(
            request, fresh, 409, values=kept, slot_taken=True, state=lost, challenge=challenge
        )
    except RateLimited as refusal:
        # Everything typed comes back, with the reason on top and, where a proof of work
        # would let the request through, a fresh challenge for the browser to solve.
        public = await _practice(request)
        challenge = await _challenge(request, public)
        if challenge is None and isinstance(refusal, ProofOfWorkRequired):
            challenge = await service.limits.challenge(
                public.practice.slug, request[CLIENT_NETWORK]
            )
        page = _form_page(
            request,
            public,
            429,
            values=values,
            state=state,
            challenge=challenge,
            notice=_limit_notice(request, refusal),
        )
        page.headers["Retry-After"] = str(refusal.retry_after)
        return page
    return _sent_page(request, public, submitted)


def _sent_page(
    request: web.Request,
    public: PublicProfile,
    submitted: Submitted,
    status: int = 200,
    *,
    notice: Notice | None = None,
) -> web.Response:
    lang = language(request)
    minutes = max(1, request.app[SETTINGS].pending_ttl // 60)
    zone = public.profile.zone
    slug = quote(public.practice.slug)
    if notice is None and submitted.resent:
        notice = Notice(
            texts(lang).gettext("E-mail sent again"),
            texts(lang).gettext(
                "We have sent the e-mail for your waiting request once more. The "
                "appointment stays reserved for you."
            ),
        )
    # What differs between two patients of a practice; the rest is kept rendered
    # (relay/web/page_shells.py). A notice (a resend, a limit) is rare: rendered as is.
    values: dict[str, str | None] = {
        "switch_url": _switch_url(request, lang),
        "lead": texts(lang).ngettext(
            "We have sent an email to the address you gave. Please open the link in "
            "it within %(num)s minute (by %(expires)s).",
            "We have sent an email to the address you gave. Please open the link in "
            "it within %(num)s minutes (by %(expires)s).",
            minutes,
            expires=format_datetime(submitted.expires_at, zone, lang),
        ),
        "resend_token": request.app[SERVICE].resend_token(
            public.practice.slug, submitted.booking_id, submitted.email
        ),
    }

    def build(hole: Hole) -> str:
        return _html(
            request,
            "sent.html",
            lang,
            switch_url=hole("switch_url"),
            practice=public.practice,
            minutes=minutes,
            lead=hole("lead"),
            expiry=texts(lang).ngettext(
                "Without confirmation the request is deleted unread after %(num)s "
                "minute. No email? Check your spam folder or send the request again.",
                "Without confirmation the request is deleted unread after %(num)s "
                "minutes. No email? Check your spam folder or send the request again.",
                minutes,
            ),
            again_url=f"/p/{slug}?lang={lang}",
            card=practice_card(public.practice.name, public.profile, lang),
            resend_url=f"/p/{slug}/resend?lang={lang}",
            resend_token=hole("resend_token"),
            notice=notice,
        )

    if notice is None:
        key = ("sent.html", lang, public.practice.slug)
        owners = (public.practice, public.profile)
        html = request.app[PAGE_SHELLS].render(key, owners, values, build)
    else:
        html = build(values.__getitem__)
    return web.Response(text=html, status=status, content_type="text/html")


async def resend_post(request: web.Request) -> web.Response:
    """The sent page's "send the mail again": counted against the address's limit."""
    public = await _practice(request)
    if is_cross_site_post(request, trusted_sources=public.profile.frame_ancestors):
        return cross_site_page(request, N_("Open the appointment form on our page"))
    token = (await read_form(request)).get("resend", "")
    service = request.app[SERVICE]
    try:
        submitted = await service.resend(
            public.practice.slug, token, client_network=request[CLIENT_NETWORK]
        )
    except RecipientLimited as refusal:
        # The page stays as it was, with the button, and says when another mail can go.
        lang = language(request)
        minutes = max(1, -(-refusal.retry_after // 60))
        notice = Notice(
            texts(lang).gettext("Requests are already waiting in your mailbox"),
            texts(lang).ngettext(
                "We have already sent several e-mails to this address within the last "
                "hour. Please look in your mailbox; we can send another one in about "
                "%(num)s minute.",
                "We have already sent several e-mails to this address within the last "
                "hour. Please look in your mailbox; we can send another one in about "
                "%(num)s minutes.",
                minutes,
            ),
        )
        booking_id = token.partition(".")[0]
        kept = Submitted(booking_id, service.now(), "", token)
        page = _sent_page(request, public, kept, 429, notice=notice)
        page.headers["Retry-After"] = str(refusal.retry_after)
        return page
    if not submitted.resent:
        lang = language(request)
        notice = Notice(
            texts(lang).gettext("E-mail sent again"),
            texts(lang).gettext(
                "Your e-mail is already on its way. Please wait a moment and look in "
                "the spam folder too."
            ),
        )
        return _sent_page(request, public, submitted, notice=notice)
    return _sent_page(request, public, submitted)


# Confirmation ---------------------------------------------------------------------------


async def confirmation_page(request: web.Request) -> web.Response:
    """Shows what would be confirmed; changes nothing, as mail scanners prefetch links.

    In the language the patient used on the form, unless the link asks for another.
    """
    token = request.match_info["token"]
    try:
        view = await request.app[SERVICE].pending(token)
    except TokenGone:
        await _guess_failed(request)
        raise
    if view is None:
        return await _result_page(request, token, "already")
    summary = view.summary
    stored_lang = str(summary.get("lang", ""))
    lang = (
        language(request)
        if "lang" in request.query or stored_lang not in LANGUAGES
        else stored_lang
    )
    profile = await _profile_of(request, view.practice)
    zone = ZoneInfo(str(summary["time_zone"]))
    name = str(summary["practice_name"])
    return render(
        request,
        "confirm.html",
        lang=lang,
        summary=summary,
        practice_name=name,
        appointment=appointment(summary, profile, lang),
        card=practice_card(name, profile, language(request)) if profile else None,
        expires=format_datetime(view.expires_at, zone, lang),
        action=f"{quote(request.path)}?lang={lang}",
    )


async def confirmation_action(request: web.Request) -> web.Response:
    if is_cross_site_post(request):
        return cross_site_page(request, N_("Open the confirmation page on our page"))
    form = await read_form(request)
    action = form.get("action")
    service = request.app[SERVICE]
    token = request.match_info["token"]
    try:
        if action == "confirm":
            # One round trip: the confirm script returns the summary it deletes.
            confirmed = await service.confirm_booking(token)
            return await _result_page(
                request,
                token,
                confirmed.outcome,
                confirmed.summary,
                booking_id=confirmed.booking_id,
            )
        if action == "withdraw":
            return await _result_page(request, token, await service.withdraw(token))
    except TokenGone:
        await _guess_failed(request)
        raise
    raise web.HTTPBadRequest(reason="action must be confirm or withdraw")


async def _guess_failed(request: web.Request) -> None:
    """A confirmation token that leads nowhere: counted for the client's network, which
    past the limit gets 429 instead of 410 (relay/abuse/limits.py)."""
    await request.app[SERVICE].limits.guess_failed(
        "confirm", request[CLIENT_NETWORK], request[REQUEST_ID]
    )


async def _result_page(
    request: web.Request,
    token: str,
    outcome: Outcome,
    summary: Mapping[str, object] | None = None,
    *,
    booking_id: str | None = None,
) -> web.Response:
    """Confirmed, already confirmed or withdrawn: with the appointment when the summary is
    at hand, what happens next, how to reach the practice; once confirmed, the calendar
    download and the cancel link (relay/booking/cancellation.py)."""
    lang = language(request)
    parts = tokens.split_token(token)
    slug = parts[0] if parts else ""
    profile = await _profile_of(request, slug)
    name = str(summary["practice_name"]) if summary else (profile.name if profile else None)
    shown = appointment(summary, profile, lang) if summary and outcome == "confirmed" else None
    # Booked at once (a practice that books directly), or a request the practice answers.
    booked = outcome == "confirmed" and summary is not None and summary.get("status") == "booked"
    links = ConfirmedLinks(None, None)
    if outcome in ("confirmed", "already"):
        links = request.app[SERVICE].cancellations.links(
            token, booking_id=booking_id, summary=summary if outcome == "confirmed" else None
        )
    # What differs between two patients of a practice; the rest is kept rendered
    # (relay/web/page_shells.py).
    values: dict[str, str | None] = {
        "switch_url": _switch_url(request, lang),
        "practice_name": name,
        "date": shown.date if shown else None,
        "time": shown.time if shown else None,
        "duration": shown.duration if shown else None,
        "doctor": shown.doctor if shown else None,
        "appointment_type": shown.appointment_type if shown else None,
        "type_note": shown.type_note if shown else None,
        "type_lang": shown.type_lang if shown else None,
        "type_note_lang": shown.type_note_lang if shown else None,
        "cancel_path": links.cancel_path,
        "calendar_path": links.calendar_path,
        "move_path": links.move_path,
    }

    def build(hole: Hole) -> str:
        held_name = hole("practice_name")
        held = None
        if shown is not None:
            held = Appointment(
                date=hole("date") or "",
                time=hole("time") or "",
                duration=hole("duration"),
                doctor=hole("doctor"),
                appointment_type=hole("appointment_type"),
                wish=shown.wish,
                type_note=hole("type_note"),
                type_lang=hole("type_lang"),
                type_note_lang=hole("type_note_lang"),
            )
        title, text = _OUTCOMES["booked" if booked else outcome]
        return _html(
            request,
            "result.html",
            lang,
            switch_url=hole("switch_url"),
            outcome=outcome,
            booked=booked,
            title=texts(lang).gettext(title),
            text=texts(lang).gettext(text),
            practice_name=held_name,
            appointment=held,
            card=practice_card(held_name, profile, lang) if profile and held_name else None,
            links=ConfirmedLinks(hole("cancel_path"), hole("calendar_path"), hole("move_path")),
        )

    key = (
        "result.html",
        lang,
        outcome,
        slug,
        shown is not None,
        shown is not None and shown.wish,
        booked,
    )
    html = request.app[PAGE_SHELLS].render(key, (profile,), values, build)
    return web.Response(text=html, content_type="text/html")


# The heading and lead of the result page for each outcome of a confirmation.
_OUTCOMES = {
    "booked": (
        N_("Appointment booked"),
        N_("Your appointment is booked. Your details were handed to the practice, encrypted."),
    ),
    "confirmed": (
        N_("Request confirmed"),
        N_(
            "Your request was handed to the practice, encrypted. The practice will confirm "
            "it or propose another time; you will receive an e-mail."
        ),
    ),
    "already": (
        N_("Already confirmed"),
        N_("This request was confirmed already and handed to the practice."),
    ),
    "withdrawn": (
        N_("Request withdrawn"),
        N_("Your request was deleted. The practice received nothing."),
    ),
}


async def _profile_of(request: web.Request, slug: str) -> Profile | None:
    """The practice's profile for its contact details; None once the practice is gone."""
    try:
        # The cached practice: contact details need no holds and no round trip.
        return (await request.app[SERVICE].practice_view(slug)).profile
    except PracticeNotFound:
        return None


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
    app[FORM_PAGES] = FormPages()
    app[PAGE_SHELLS] = PageShells()
    app.router.add_get("/p/{practice}", booking_page)
    app.router.add_post("/p/{practice}", booking_post)
    app.router.add_post("/p/{practice}/resend", resend_post)
    app.router.add_get("/c/{token}", confirmation_page)
    app.router.add_post("/c/{token}", confirmation_action)
    app.router.add_get("/static/{name}", static_file, name="static")


async def static_file(request: web.Request) -> web.FileResponse:
    """One of STATIC_FILES. Not add_static: it looks any name up on disk, and a name past
    the file system's limit made it fail with a 500 (ENAMETOOLONG)."""
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise web.HTTPNotFound
    return web.FileResponse(STATIC / name)
