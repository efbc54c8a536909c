"""German and English texts for patients and practices."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from relay.fields import Field

LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"


# Validation errors ----------------------------------------------------------------------
# One message per code of relay.fields.ErrorCode. Shown beside a form field, so each
# message speaks of "this field"/"dieses Feld" rather than naming it.

ERROR_MESSAGES: dict[str, dict[str, str]] = {
    "required": {
        "de": "Bitte füllen Sie dieses Feld aus.",
        "en": "Please fill in this field.",
    },
    "too_long": {
        "de": "Bitte geben Sie höchstens {max} Zeichen ein.",
        "en": "Please enter no more than {max} characters.",
    },
    "too_many": {
        "de": "Diese Liste hat zu viele Einträge.",
        "en": "This list has too many entries.",
    },
    "invalid": {
        "de": "Diese Angabe ist ungültig oder enthält Zeichen, die nicht erlaubt sind.",
        "en": "This entry is not valid or contains characters that are not allowed.",
    },
    "not_string": {
        "de": "Bitte geben Sie hier einen Text an.",
        "en": "Please enter text here.",
    },
    "not_boolean": {
        "de": "Bitte wählen Sie Ja oder Nein.",
        "en": "Please choose yes or no.",
    },
    "not_integer": {
        "de": "Bitte geben Sie eine ganze Zahl an.",
        "en": "Please enter a whole number.",
    },
    "not_list": {
        "de": "Hier wird eine Liste erwartet.",
        "en": "A list is expected here.",
    },
    "not_object": {
        "de": "Hier wird ein Objekt mit Feldern erwartet.",
        "en": "An object with fields is expected here.",
    },
    "out_of_range": {
        "de": "Diese Zahl liegt außerhalb des erlaubten Bereichs.",
        "en": "This number is outside the allowed range.",
    },
    "duplicate": {
        "de": "Dieser Eintrag kommt doppelt vor.",
        "en": "This entry appears twice.",
    },
    "invalid_date": {
        "de": "Bitte geben Sie ein gültiges Datum an (zum Beispiel 1980-04-23).",
        "en": "Please enter a valid date (for example 1980-04-23).",
    },
    "not_in_past": {
        "de": "Dieses Datum muss in der Vergangenheit liegen.",
        "en": "This date must be in the past.",
    },
    "too_old": {
        "de": "Bitte prüfen Sie das Geburtsdatum; es liegt mehr als 130 Jahre zurück.",
        "en": "Please check the date of birth; it is more than 130 years ago.",
    },
    "invalid_choice": {
        "de": "Bitte wählen Sie eine der angebotenen Möglichkeiten.",
        "en": "Please choose one of the options offered.",
    },
    "invalid_datetime": {
        "de": "Bitte geben Sie ein gültiges Datum mit Uhrzeit an.",
        "en": "Please enter a valid date and time.",
    },
    "missing_offset": {
        "de": "Zur Uhrzeit fehlt die Zeitzone (zum Beispiel +01:00).",
        "en": "The time is missing its time zone offset (for example +01:00).",
    },
    "not_in_future": {
        "de": "Dieser Zeitpunkt ist schon vorbei. Bitte wählen Sie einen späteren Termin.",
        "en": "This time has already passed. Please choose a later appointment.",
    },
    "too_far_ahead": {
        "de": "Bitte wählen Sie einen Termin innerhalb der nächsten 12 Monate.",
        "en": "Please choose an appointment within the next 12 months.",
    },
    "end_before_start": {
        "de": "Das Ende muss nach dem Beginn liegen.",
        "en": "The end must be after the start.",
    },
    "duration_too_long": {
        "de": "Ein Termin kann höchstens 8 Stunden dauern.",
        "en": "An appointment can last at most 8 hours.",
    },
    "not_a_slot": {
        "de": "Diese Praxis vergibt nur die angezeigten freien Termine. "
        "Bitte wählen Sie einen davon.",
        "en": "This practice only offers the free appointments shown. Please choose one of them.",
    },
    "slot_mismatch": {
        "de": "Diese Angabe passt nicht zum gewählten Termin.",
        "en": "This does not match the chosen appointment.",
    },
    "not_offered": {
        "de": "Diese Praxis bietet hier keine Auswahl an. Bitte lassen Sie das Feld leer.",
        "en": "This practice offers no choice here. Please leave this field empty.",
    },
    "invalid_email": {
        "de": "Bitte geben Sie eine gültige E-Mail-Adresse an (zum Beispiel name@beispiel.de).",
        "en": "Please enter a valid email address (for example name@example.com).",
    },
    "invalid_phone": {
        "de": "Bitte geben Sie eine gültige Telefonnummer an (zum Beispiel +49 30 1234567).",
        "en": "Please enter a valid phone number (for example +49 30 1234567).",
    },
    "must_accept": {
        "de": "Ohne Ihre Einwilligung können wir die Anfrage nicht an die Praxis senden.",
        "en": "Without your consent we cannot send the request to the practice.",
    },
    "unknown_field": {
        "de": "Dieses Feld ist unbekannt.",
        "en": "This field is not known.",
    },
    "unknown_time_zone": {
        "de": "Diese Zeitzone ist unbekannt (erwartet wird zum Beispiel Europe/Berlin).",
        "en": "This time zone is not known (expected for example Europe/Berlin).",
    },
}

# For messages with a {max} placeholder when no bound is known (a profile path, say).
_UNBOUNDED_MESSAGES: dict[str, dict[str, str]] = {
    "too_long": {
        "de": "Diese Angabe ist zu lang.",
        "en": "This entry is too long.",
    },
}


def error_message(code: str, lang: str, *, field: Field | None = None) -> str:
    """The message for an error code in `lang` (the default language for an unknown one).

    An unknown code gets the generic "invalid" message rather than failing the request.
    """
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    limit = None if field is None else field.max_length
    if limit is None and code in _UNBOUNDED_MESSAGES:
        return _UNBOUNDED_MESSAGES[code][lang]
    message = ERROR_MESSAGES.get(code, ERROR_MESSAGES["invalid"])[lang]
    # replace, not str.format: a brace in a translation must not raise.
    return message if limit is None else message.replace("{max}", str(limit))
