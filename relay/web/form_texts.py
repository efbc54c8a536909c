"""GET /api/v1/practices/{practice}/form-texts?lang=: the words of the embedded form.

Embed mode (docs/embedding.md) builds the booking form on the practice's own page, in
relay/web/static/embed.js. Its words come from the sources of the relay's own form, so
the two never say different things: the field list's labels and choice labels
(relay/booking/fields.py), the sections and hints of relay/web/form.py, the page texts
and the validation messages (relay/web/error_messages.py), all through the gettext
catalogs. The field rules themselves are in /static/booking-rules.json.

The body is the same for every practice (the route names one so that CORS can answer for
its origins and an unknown practice gets 404): built once per language. Placeholders stay
in the texts, `{practice}`, `{zone}`, `{doctor}`, `{start}`, `{end}`, `{minutes}`,
`{expires}`, `{max}`, and the script fills them by plain replacement.
"""

from __future__ import annotations

import functools
import hashlib
import re

import orjson
from aiohttp import web

from relay.booking.fields import ACKNOWLEDGEMENT_LABEL, FIELDS, Field
from relay.errors import ValidationFailed
from relay.i18n.catalogs import N_, texts
from relay.i18n.languages import BABEL_LOCALES, LANGUAGES, direction
from relay.practice.profile import MAX_REMINDER_DAYS
from relay.web import form
from relay.web.appkeys import SERVICE
from relay.web.error_messages import ERROR_MESSAGES, error_message
from relay.web.language import request_language
from relay.web.picker import INSURANCE_FIRST

routes = web.RouteTableDef()

# Texts change only with a release; an hour keeps the practice's page from asking on
# every view, and the ETag makes asking again cheap.
CACHE_CONTROL = "public, max-age=3600"

# The page texts the embedded form shows (embed.js asks for no other; a test checks).
TEXTS: dict[str, str] = {
    "form_title": N_("Request an appointment"),
    "form_lead": N_(
        "Request an appointment with %(practice)s here. We will then send you "
        "an email with a link. The practice receives your request only once you "
        "confirm it through that link."
    ),
    "form_required_note": N_("Fields marked “required” must be filled in."),
    "required": N_("required"),
    "optional": N_("optional"),
    "yes": N_("Yes"),
    "no": N_("No"),
    "please_choose": N_("Please choose"),
    "minutes": N_("%(minutes)s min"),
    "opens_new_window": N_("(opens in a new window)"),
    "privacy_title": N_("Privacy notice"),
    "slots_legend": N_("Free appointment"),
    "slots_hint": N_("All times in the practice's time zone (%(zone)s)."),
    "slot_with": N_("with %(doctor)s"),
    "no_slots": N_("No free appointments are published at the moment."),
    # A practice that keeps slots for some insurance types (relay/web/picker.py's words).
    "insurance_first": INSURANCE_FIRST,
    "insurance_filter_hint": form.INSURANCE_FILTER_HINT,
    "time_span": N_("%(start)s–%(end)s"),
    "wish_option": N_("None of these suits me: I will suggest a time"),
    "wish_legend": N_("Preferred time"),
    "wish_hint": N_(
        "Give the day and time you would like to come. The practice will let "
        "you know whether it is possible. Practice time zone: %(zone)s."
    ),
    "picker_all_doctors": N_("Any doctor"),
    "picker_all_types": N_("Any type"),
    "picker_filter_hint": N_(
        "Narrows the free appointments. Please choose one for a preferred time."
    ),
    "required_for_wish": N_("required for a preferred time"),
    "choose_slot": N_("Please choose a time."),
    "choose_slot_or_wish": N_("Please choose a time or suggest a preferred time."),
    "wish_start_required": N_("Please enter the day and time of your preferred appointment."),
    "wish_doctor_required": N_("Please choose a doctor for your preferred time."),
    "wish_type_required": N_("Please choose a type of appointment for your preferred time."),
    "submit": N_("Send request"),
    "error_summary_title": N_("Please check your details"),
    "error_summary_lead": N_("The request has not been sent yet. Please correct:"),
    "error_title_prefix": N_("Error"),
    "slot_taken_title": N_("This appointment is no longer free"),
    "slot_taken_text": N_(
        "Someone else has just requested this appointment. Your other details "
        "are kept. Please choose another appointment."
    ),
    "summary_label_slot": N_("Time"),
    "summary_label_wish": N_("Preferred time"),
    "sent_title": N_("Please confirm your request by email"),
    "sent_not_yet": N_(
        "Your request has not reached the practice yet. It is encrypted and "
        "waits for your confirmation."
    ),
    "sent_next_title": N_("What happens next"),
    "sent_step_1": N_("Open the email from Terminrelay."),
    "sent_step_2": N_("Follow the link, then choose “Confirm request”."),
    "sent_step_3": N_(
        "Only then does the practice receive your request. The practice will "
        "get in touch to confirm the appointment."
    ),
    "resent_title": N_("E-mail sent again"),
    "resent_text": N_(
        "We have sent the e-mail for your waiting request once more. The "
        "appointment stays reserved for you."
    ),
    "limit_network_title": N_("Too many requests from your network"),
    "limit_network_text": N_(
        "Very many requests came from your network just now. Please send your "
        "request again in about %(minutes)s minutes. What you entered is kept "
        "below."
    ),
    "limit_recipient_title": N_("Requests are already waiting in your mailbox"),
    "pow_failed": N_("The security check failed. Please reload the page."),
    "error_503_title": N_("Temporarily unavailable"),
    "error_503_text": N_("Please try again in a few minutes."),
    "embed_sending": N_("Your request is being encrypted and sent …"),
    "embed_pow_running": N_(
        "Very many requests are coming in just now. Your browser runs a short "
        "security check and then sends the request …"
    ),
    "embed_send_failed": N_(
        "Your request could not be sent. Please check your internet connection and try again."
    ),
    "embed_key_mismatch": N_(
        "Your request would not be encrypted with the key the practice "
        "published on this website. To protect you, nothing was sent. Please "
        "contact the practice directly."
    ),
    "embed_closed": N_(
        "No free appointments are published at the moment, and the practice "
        "takes no suggested times. Please contact the practice directly."
    ),
    "embed_fallback_text": N_("The appointment form cannot be shown here."),
    "embed_fallback_link": N_("Request an appointment in Terminrelay's form"),
    # The consent box on the contract, the default legal basis (relay/booking/fields.py).
    "acknowledgement_label": ACKNOWLEDGEMENT_LABEL.msgid,
    "acknowledge_required": form.ACKNOWLEDGE_REQUIRED,
    # The reminder box's hint, with `days` below for the numbers of days.
    "reminder_one": form.REMINDER_ONE,
    "reminder_two": form.REMINDER_TWO,
    "reminder_off": form.REMINDER_OFF,
    "reminder_wish": form.REMINDER_WISH,
    "by_phone": form.BY_PHONE,
    "embed_sent_lead": N_(
        "We have sent an email to the address you gave. Please open the link in it by %(expires)s."
    ),
}


@routes.get("/api/v1/practices/{practice}/form-texts")
async def form_texts(request: web.Request) -> web.Response:
    # 404 for an unknown practice; the cached practice, no round trip.
    await request.app[SERVICE].practice_view(request.match_info["practice"])
    chosen = request.query.get("lang")
    if chosen is not None and chosen not in LANGUAGES:
        raise ValidationFailed({"lang": "invalid_choice"})
    lang = chosen or request_language(request)
    body, etag = texts_body(lang)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if chosen is None:
        # Chosen by Accept-Language: a cache must keep one copy per language.
        headers["Vary"] = "Accept-Language"
    # The weak comparison If-None-Match asks for (RFC 9110 13.1.2): W/ or not, or `*`.
    tags = {
        tag.strip().removeprefix("W/")
        for tag in request.headers.get("If-None-Match", "").split(",")
    }
    if etag in tags or "*" in tags:
        return web.Response(status=304, headers=headers)
    return web.Response(
        body=body, content_type="application/json", charset="utf-8", headers=headers
    )


@functools.cache
def texts_body(lang: str) -> tuple[bytes, str]:
    """The JSON body for `lang` and its (strong) ETag, made once per language."""
    body = orjson.dumps(build(lang))
    return body, f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'


def build(lang: str) -> dict[str, object]:
    """Everything the embedded form says in `lang`, as JSON-ready data."""
    t = texts(lang)
    return {
        "lang": lang,
        "dir": direction(lang),
        "locale": BABEL_LOCALES[lang].replace("_", "-"),
        "sections": [
            {"name": name, "title": t.gettext(form.SECTION_TITLES[name]), "fields": list(names)}
            for name, names in form.SECTIONS
        ],
        "fields": {spec.name: _field(spec, lang) for spec in FIELDS},
        "texts": {key: _braced(t.gettext(message)) for key, message in TEXTS.items()},
        # One message per validation code, for this field or that (a bound filled in by
        # the field's own entry where a field has one).
        "errors": {code: error_message(code, lang) for code in ERROR_MESSAGES},
        # "1 Tag", "7 Tage": each language's plural, for the reminder box's hint.
        "days": {
            str(days): form.days_before(lang, days) for days in range(1, MAX_REMINDER_DAYS + 1)
        },
    }


def _braced(text: str) -> str:
    # embed.js fills "{name}" placeholders by plain replacement, as the relay's pages did
    # before the catalogs; "%(name)s" is the catalogs' (and Python's) form.
    return re.sub(r"%\((\w+)\)s", r"{\1}", text)


def _field(spec: Field, lang: str) -> dict[str, object]:
    """A field's words: label, hint, choice labels, the messages worded for it."""
    entry: dict[str, object] = {"label": spec.label[lang], "control": _control(spec)}
    hint = _hint(spec, lang)
    if hint is not None:
        entry["hint"] = hint
    if spec.autocomplete is not None:
        entry["autocomplete"] = spec.autocomplete
    if spec.choices:
        entry["choices"] = {choice: spec.choice_labels[choice][lang] for choice in spec.choices}
    elif spec.kind == "bool" and spec.name not in form.CHECKBOXES:
        entry["choices"] = {"true": texts(lang).gettext("Yes"), "false": texts(lang).gettext("No")}
    # Where the generic message does not fit: "please choose ..." for a choice, the bound.
    worded = {code: error_message(code, lang, field=spec) for code in ("required", "too_long")}
    errors = {code: text for code, text in worded.items() if text != error_message(code, lang)}
    if errors:
        entry["errors"] = errors
    if len(spec.label[lang]) > form.SHORT_LABEL:
        # A sentence-long label (consent) would bury the message in the error summary.
        entry["summary_label"] = texts(lang).gettext(form.SUMMARY_LABELS[spec.name])
    return entry


def _control(spec: Field) -> str:
    """How relay/web/form.py shows the field: the embedded form shows it the same way."""
    if spec.required_when_offered:
        return "select"
    if spec.kind == "choice" or (spec.kind == "bool" and spec.name not in form.CHECKBOXES):
        return "radio"
    if spec.kind == "bool":
        return "checkbox"
    if spec.kind in ("textarea", "datetime"):
        return spec.kind
    return "input"


def _hint(spec: Field, lang: str) -> str | None:
    if spec.name == "note":
        return texts(lang).gettext(form.NOTE_HINT, max=spec.max_length)
    hint = form.HINTS.get(spec.name)
    return None if hint is None else texts(lang).gettext(hint)
