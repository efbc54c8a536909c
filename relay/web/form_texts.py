"""GET /api/v1/practices/{practice}/form-texts?lang=: the words of the embedded form.

Embed mode (docs/embedding.md) builds the booking form on the practice's own page, in
relay/web/static/embed.js. Its words come from the sources of the relay's own form, so
the two never say different things: the field list's labels and choice labels
(relay/booking/fields.py), the sections and hints of relay/web/form.py, and the page texts
and validation messages of relay/web/i18n.py. The field rules themselves are in
/static/booking-rules.json.

The body is the same for every practice (the route names one so that CORS can answer for
its origins and an unknown practice gets 404): built once per language. Placeholders stay
in the texts, `{practice}`, `{zone}`, `{doctor}`, `{start}`, `{end}`, `{minutes}`,
`{expires}`, `{max}`, and the script fills them as `page_text` does, by plain replacement.
"""

from __future__ import annotations

import functools
import hashlib

import orjson
from aiohttp import web

from relay.booking.fields import FIELDS, Field
from relay.errors import ValidationFailed
from relay.web import form
from relay.web.appkeys import SERVICE
from relay.web.i18n import ERROR_MESSAGES, LANGUAGES, error_message, page_text, page_texts
from relay.web.language import request_language

routes = web.RouteTableDef()

# Texts change only with a release; an hour keeps the practice's page from asking on
# every view, and the ETag makes asking again cheap.
CACHE_CONTROL = "public, max-age=3600"
# How the relay writes dates in each language (relay/practice/localtime.py), as BCP 47
# tags for Intl.DateTimeFormat.
LOCALES = {"de": "de-DE", "en": "en-GB"}

# The page texts the embedded form shows (embed.js asks for no other; a test checks).
TEXT_KEYS: tuple[str, ...] = (
    "form_title",
    "form_lead",
    "form_required_note",
    "required",
    "optional",
    "yes",
    "no",
    "please_choose",
    "minutes",
    "opens_new_window",
    "privacy_title",
    "slots_legend",
    "slots_hint",
    "slot_with",
    "no_slots",
    "time_span",
    "wish_option",
    "wish_legend",
    "wish_hint",
    "picker_all_doctors",
    "picker_all_types",
    "picker_filter_hint",
    "required_for_wish",
    "choose_slot",
    "choose_slot_or_wish",
    "wish_start_required",
    "wish_doctor_required",
    "wish_type_required",
    "submit",
    "error_summary_title",
    "error_summary_lead",
    "error_title_prefix",
    "slot_taken_title",
    "slot_taken_text",
    "summary_label_slot",
    "summary_label_wish",
    "sent_title",
    "sent_not_yet",
    "sent_next_title",
    "sent_step_1",
    "sent_step_2",
    "sent_step_3",
    "resent_title",
    "resent_text",
    "limit_network_title",
    "limit_network_text",
    "limit_recipient_title",
    "pow_failed",
    "error_503_title",
    "error_503_text",
    "embed_sending",
    "embed_pow_running",
    "embed_send_failed",
    "embed_key_mismatch",
    "embed_closed",
    "embed_fallback_text",
    "embed_fallback_link",
    "embed_sent_lead",
)


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
    texts = page_texts(lang)
    return {
        "lang": lang,
        "dir": "ltr",
        "locale": LOCALES[lang],
        "sections": [
            {"name": name, "title": texts[f"section_{name}"], "fields": list(names)}
            for name, names in form.SECTIONS
        ],
        "fields": {spec.name: _field(spec, lang) for spec in FIELDS},
        "texts": {key: texts[key] for key in TEXT_KEYS},
        # One message per validation code, for this field or that ("{max}" filled in by
        # the field's own entry where a field has a bound).
        "errors": {code: error_message(code, lang) for code in ERROR_MESSAGES},
    }


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
        entry["choices"] = {"true": page_text(lang, "yes"), "false": page_text(lang, "no")}
    # Where the generic message does not fit: "please choose ..." for a choice, the bound.
    worded = {code: error_message(code, lang, field=spec) for code in ("required", "too_long")}
    errors = {code: text for code, text in worded.items() if text != error_message(code, lang)}
    if errors:
        entry["errors"] = errors
    if len(spec.label[lang]) > form.SHORT_LABEL:
        # A sentence-long label (consent) would bury the message in the error summary.
        entry["summary_label"] = page_text(lang, f"summary_label_{spec.name}")
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
        return page_text(lang, "note_hint", max=spec.max_length)
    key = form.HINTS.get(spec.name)
    return None if key is None else page_text(lang, key)
