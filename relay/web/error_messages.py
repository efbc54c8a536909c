"""The message for each validation error code, shown beside a form field and in the API.

One message per code of `relay.rules.values.ErrorCode`, translated where it is shown. A
message speaks of "this field" rather than naming it, since it stands beside the field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from relay.i18n.catalogs import N_, texts

if TYPE_CHECKING:
    from relay.booking.fields import Field

ERROR_MESSAGES: dict[str, str] = {
    # With the field's bound, when it has one, as a plural (`error_message`).
    "too_long": N_("This entry is too long."),
    "required": N_("Please fill in this field."),
    "too_many": N_("This list has too many entries."),
    "invalid": N_("This entry is not valid or contains characters that are not allowed."),
    "not_string": N_("Please enter text here."),
    "not_boolean": N_("Please choose yes or no."),
    "not_integer": N_("Please enter a whole number."),
    "not_list": N_("A list is expected here."),
    "not_object": N_("An object with fields is expected here."),
    "out_of_range": N_("This number is outside the allowed range."),
    "duplicate": N_("This entry appears twice."),
    "invalid_date": N_("Please enter a valid date (for example 1980-04-23)."),
    "not_in_past": N_("This date must be in the past."),
    "too_old": N_("Please check the date of birth; it is more than 130 years ago."),
    "invalid_choice": N_("Please choose one of the options offered."),
    "invalid_datetime": N_("Please enter a valid date and time."),
    "missing_offset": N_("The time is missing its time zone offset (for example +01:00)."),
    "not_in_future": N_("This time has already passed. Please choose a later appointment."),
    "too_far_ahead": N_("Please choose an appointment within the next 12 months."),
    "end_before_start": N_("The end must be after the start."),
    "duration_too_long": N_("An appointment can last at most 8 hours."),
    "not_a_slot": N_(
        "This practice only offers the free appointments shown. Please choose one of them."
    ),
    "slot_mismatch": N_("This does not match the chosen appointment."),
    "insurance_mismatch": N_(
        "The chosen time is kept for patients with another insurance. Please choose "
        "one of the times shown for your insurance, or check your choice here."
    ),
    "not_offered": N_("This practice offers no choice here. Please leave this field empty."),
    "invalid_email": N_("Please enter a valid email address (for example name@example.com)."),
    "invalid_phone": N_("Please enter a valid phone number (for example +49 30 1234567)."),
    "must_accept": N_("Without your consent we cannot send the request to the practice."),
    "unknown_field": N_("This field is not known."),
    # A browser-sealed submission: rare, and then mostly a page kept open too long.
    "expired": N_("The page was open too long. Please reload it and send the request again."),
    "used": N_("This request was sent already. Please reload the page."),
    "unknown_key": N_(
        "The practice has changed its key. Please reload the page and send the request again."
    ),
    "invalid_size": N_("The encrypted request does not have the expected size."),
    "replayed": N_("This encrypted request was sent before."),
    "not_in_clear": N_("This belongs in the encrypted part and must not be sent in the clear."),
    "browser_required": N_("This practice accepts only requests your browser has encrypted."),
    "browser_not_accepted": N_(
        "This practice does not accept requests encrypted in the browser yet."
    ),
    "unknown_time_zone": N_("This time zone is not known (expected for example Europe/Berlin)."),
    # Characters relay/rules/text.py refuses; invisible ones are often pasted unknowingly, so
    # the messages suggest typing the entry again.
    "line_break": N_("Please write this on one line, without a line break."),
    "control_character": N_(
        "This entry contains an invisible control character. Please type it "
        "again instead of pasting it."
    ),
    "bidi_control": N_(
        "This entry contains an invisible character that changes the writing "
        "direction. Please type it again instead of pasting it."
    ),
}


def error_message(code: str, lang: str, *, field: Field | None = None) -> str:
    """The message for an error code in `lang` (the default language for an unknown one).

    An unknown code gets the generic "invalid" message rather than failing the request.
    """
    t = texts(lang)
    if code == "too_long":
        limit = None if field is None else field.max_length
        if limit is not None:
            return t.ngettext(
                "Please enter no more than %(num)s character.",
                "Please enter no more than %(num)s characters.",
                limit,
            )
    if code == "required" and field is not None and field.choose is not None:
        return field.choose[lang]
    return t.gettext(ERROR_MESSAGES.get(code, ERROR_MESSAGES["invalid"]))
