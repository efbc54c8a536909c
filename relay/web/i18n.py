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


# Page texts -----------------------------------------------------------------------------
# Every string the patient pages show, per language. Keys are the same in both
# catalogues (tests/test_pages.py checks that). `{…}` placeholders are filled with
# str.replace by `page_text`, never str.format, so a brace in a translation is harmless.

PAGE_TEXTS: dict[str, dict[str, str]] = {
    "de": {
        "site_name": "Terminrelay",
        "skip_link": "Zum Inhalt springen",
        "language_switch": "English",
        "language_switch_label": "Switch to English",
        "language_nav": "Sprache",
        "practice_nav": "Praxis",
        "privacy_link": "Datenschutz",
        "footer_text": "Ihre Anfrage wird verschlüsselt übertragen. Nur die Praxis kann sie lesen.",
        "opens_new_window": "(öffnet in neuem Fenster)",
        "required": "Pflichtfeld",
        "optional": "freiwillig",
        "yes": "Ja",
        "no": "Nein",
        "please_choose": "Bitte wählen",
        "minutes": "{minutes} Min.",
        # form
        "form_title": "Termin anfragen",
        "form_lead": "Fragen Sie hier einen Termin bei {practice} an. Wir senden Ihnen danach "
        "eine E-Mail mit einem Link. Erst wenn Sie diesen Link bestätigen, erhält die Praxis "
        "Ihre Anfrage.",
        "form_required_note": "Felder mit dem Hinweis „Pflichtfeld“ müssen Sie ausfüllen.",
        "section_appointment": "Ihr Termin",
        "section_person": "Angaben zu Ihrer Person",
        "section_contact": "Ihre Kontaktdaten",
        "section_final": "Nachricht und Einwilligung",
        "section_other": "Weitere Angaben",
        "choice_hint": "Wenn Sie unten einen freien Termin wählen, ergibt sich das aus dem Termin.",
        "slots_legend": "Freier Termin",
        "slots_hint": "Alle Zeiten in der Zeitzone der Praxis ({zone}).",
        "slot_with": "bei {doctor}",
        "no_slots": "Zurzeit sind keine freien Termine veröffentlicht.",
        "wish_option": "Keiner dieser Termine passt: Ich nenne einen Wunschtermin",
        "wish_legend": "Wunschtermin",
        "wish_hint": "Nennen Sie Tag und Uhrzeit, zu der Sie gern kommen möchten. Die Praxis "
        "meldet sich, ob der Termin möglich ist. Zeitzone der Praxis: {zone}.",
        "end_hint": "Nur wenn Sie ein bestimmtes Ende wünschen.",
        "email_hint": "An diese Adresse senden wir den Link zur Bestätigung.",
        "phone_hint": "Zum Beispiel +49 30 1234567.",
        "birth_date_hint": "Zum Beispiel 23.04.1980.",
        "note_hint": "Höchstens {max} Zeichen. Bitte schreiben Sie nur, was die Praxis vorab "
        "wissen muss.",
        "consent_privacy": "Was mit Ihren Angaben geschieht, lesen Sie in den Datenschutzhinweisen",
        "submit": "Anfrage absenden",
        "error_summary_title": "Bitte prüfen Sie Ihre Angaben",
        "error_summary_lead": "Die Anfrage wurde noch nicht gesendet. Bitte korrigieren Sie:",
        "error_title_prefix": "Fehler",
        "slot_taken_title": "Dieser Termin ist nicht mehr frei",
        "slot_taken_text": "Jemand anderes hat diesen Termin gerade angefragt. Ihre übrigen "
        "Angaben sind erhalten. Bitte wählen Sie einen anderen Termin.",
        # success
        "sent_title": "Bitte bestätigen Sie Ihre Anfrage per E-Mail",
        "sent_lead": "Wir haben Ihnen eine E-Mail an die angegebene Adresse gesendet. Bitte "
        "öffnen Sie den Link darin innerhalb von {minutes} Minuten (bis {expires}).",
        "sent_not_yet": "Ihre Anfrage ist noch nicht bei der Praxis. Sie wurde verschlüsselt "
        "und wartet auf Ihre Bestätigung.",
        "sent_next_title": "So geht es weiter",
        "sent_step_1": "Öffnen Sie die E-Mail von Terminrelay.",
        "sent_step_2": "Klicken Sie auf den Link und dann auf „Anfrage bestätigen“.",
        "sent_step_3": "Erst dann erhält die Praxis Ihre Anfrage. Die Praxis meldet sich bei "
        "Ihnen, um den Termin zuzusagen.",
        "sent_expiry": "Ohne Bestätigung wird die Anfrage nach {minutes} Minuten ungelesen "
        "gelöscht. Keine E-Mail erhalten? Prüfen Sie den Spam-Ordner oder senden Sie die "
        "Anfrage erneut.",
        "sent_again": "Neue Anfrage stellen",
        # confirmation
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
        "withdraw_hint": "Zurückziehen löscht die Anfrage sofort. Die Praxis erhält nichts.",
        "confirmed_title": "Anfrage bestätigt",
        "confirmed_text": "Ihre Anfrage wurde verschlüsselt an die Praxis übergeben. Die Praxis "
        "meldet sich bei Ihnen.",
        "already_title": "Bereits bestätigt",
        "already_text": "Diese Anfrage wurde bereits bestätigt und an die Praxis übergeben.",
        "withdrawn_title": "Anfrage zurückgezogen",
        "withdrawn_text": "Ihre Anfrage wurde gelöscht. Die Praxis hat nichts davon erhalten.",
        # errors
        "error_410_title": "Link nicht mehr gültig",
        "error_410_text": "Diese Anfrage wurde zurückgezogen, ist abgelaufen oder existiert "
        "nicht. Sie wurde nicht an die Praxis übergeben.",
        "error_404_title": "Nicht gefunden",
        "error_404_text": "Diese Seite gibt es nicht. Bitte prüfen Sie die Adresse.",
        "error_429_title": "Zu viele Anfragen",
        "error_429_text": "Von Ihrem Netz kamen gerade sehr viele Anfragen. Bitte versuchen Sie "
        "es in einigen Minuten erneut.",
        "error_405_title": "Nicht möglich",
        "error_405_text": "Diese Adresse kann so nicht aufgerufen werden.",
        "error_409_title": "Termin nicht mehr frei",
        "error_409_text": "Dieser Termin wurde inzwischen vergeben.",
        "error_503_title": "Vorübergehend nicht erreichbar",
        "error_503_text": "Bitte versuchen Sie es in einigen Minuten erneut.",
        "error_title": "Fehler",
        "error_text": "Die Anfrage konnte nicht bearbeitet werden.",
        # privacy
        "privacy_title": "Datenschutzhinweise",
        "privacy_lead": "Hier steht, welche Angaben das Terminformular erhebt, wozu, wie lange "
        "sie gespeichert werden und welche Rechte Sie haben.",
        "privacy_fields_title": "Welche Angaben wir erheben und wozu",
        "privacy_field": "Angabe",
        "privacy_purpose": "Wozu",
        "privacy_required": "Pflicht?",
        "privacy_required_when_offered": "wenn die Praxis eine Auswahl anbietet",
        "privacy_sealed_title": "Verschlüsselt für die Praxis",
        "privacy_sealed_text": "Ihre Anfrage wird sofort beim Absenden mit dem öffentlichen "
        "Schlüssel der Praxis verschlüsselt. Lesen kann sie nur die Praxis; der Betreiber "
        "dieses Dienstes kann sie nicht lesen. Ihre E-Mail-Adresse bewahren wir zusätzlich "
        "verschlüsselt auf, bis die Bestätigungs-E-Mail versendet ist.",
        "privacy_retention_title": "Wie lange wir Ihre Anfrage aufbewahren",
        "privacy_retention_text": "Ihre verschlüsselte Anfrage wartet höchstens {minutes} "
        "Minuten auf Ihre Bestätigung. Bestätigen Sie nicht, wird sie danach ungelesen "
        "gelöscht. Bestätigen Sie, wird sie an die Praxis übergeben und bei uns gelöscht, "
        "sobald die Praxis den Empfang bestätigt hat.",
        "privacy_withdraw_title": "Anfrage zurückziehen",
        "privacy_withdraw_text": "Die E-Mail, die Sie nach dem Absenden erhalten, enthält "
        "einen Link. Auf dieser Seite können Sie die Anfrage bestätigen oder zurückziehen. "
        "Zurückziehen löscht sie sofort; die Praxis erhält nichts. Ihre Einwilligung können "
        "Sie jederzeit widerrufen, nach der Übergabe gegenüber der Praxis.",
        "privacy_responsible_title": "Verantwortlich",
        "privacy_responsible_text": "Verantwortlich für die Verarbeitung Ihrer Angaben ist die "
        "Praxis, bei der Sie den Termin anfragen. Rechtsgrundlage ist Ihre ausdrückliche "
        "Einwilligung (Art. 6 Abs. 1 lit. a und Art. 9 Abs. 2 lit. a DSGVO).",
        "privacy_rights_title": "Ihre Rechte",
        "privacy_rights_text": "Sie haben nach der Datenschutz-Grundverordnung das Recht auf:",
        "right_15": "Auskunft über Ihre Daten (Art. 15 DSGVO)",
        "right_16": "Berichtigung (Art. 16 DSGVO)",
        "right_17": "Löschung (Art. 17 DSGVO)",
        "right_18": "Einschränkung der Verarbeitung (Art. 18 DSGVO)",
        "right_20": "Datenübertragbarkeit (Art. 20 DSGVO)",
        "right_21": "Widerspruch (Art. 21 DSGVO)",
        "right_7": "Widerruf Ihrer Einwilligung mit Wirkung für die Zukunft (Art. 7 Abs. 3 DSGVO)",
        "privacy_complaint": "Sie können sich außerdem bei einer Datenschutz-Aufsichtsbehörde "
        "beschweren, zum Beispiel bei der Behörde Ihres Bundeslandes (Art. 77 DSGVO).",
        "privacy_no_tracking": "Diese Seiten setzen keine Cookies, laden nichts von fremden "
        "Servern und verwenden keine Analyse- oder Werbedienste.",
    },
    "en": {
        "site_name": "Terminrelay",
        "skip_link": "Skip to content",
        "language_switch": "Deutsch",
        "language_switch_label": "Auf Deutsch anzeigen",
        "language_nav": "Language",
        "practice_nav": "Practice",
        "privacy_link": "Privacy",
        "footer_text": "Your request is sent encrypted. Only the practice can read it.",
        "opens_new_window": "(opens in a new window)",
        "required": "required",
        "optional": "optional",
        "yes": "Yes",
        "no": "No",
        "please_choose": "Please choose",
        "minutes": "{minutes} min",
        # form
        "form_title": "Request an appointment",
        "form_lead": "Request an appointment with {practice} here. We will then send you an "
        "email with a link. The practice receives your request only once you confirm it "
        "through that link.",
        "form_required_note": "Fields marked “required” must be filled in.",
        "section_appointment": "Your appointment",
        "section_person": "About you",
        "section_contact": "Your contact details",
        "section_final": "Note and consent",
        "section_other": "Further details",
        "choice_hint": "If you choose a free appointment below, this follows from it.",
        "slots_legend": "Free appointment",
        "slots_hint": "All times in the practice's time zone ({zone}).",
        "slot_with": "with {doctor}",
        "no_slots": "No free appointments are published at the moment.",
        "wish_option": "None of these suits me: I will suggest a time",
        "wish_legend": "Preferred time",
        "wish_hint": "Give the day and time you would like to come. The practice will let you "
        "know whether it is possible. Practice time zone: {zone}.",
        "end_hint": "Only if you want a particular end time.",
        "email_hint": "We send the confirmation link to this address.",
        "phone_hint": "For example +49 30 1234567.",
        "birth_date_hint": "For example 23/04/1980.",
        "note_hint": "At most {max} characters. Please write only what the practice needs to "
        "know in advance.",
        "consent_privacy": "What happens to your details is explained in the privacy notice",
        "submit": "Send request",
        "error_summary_title": "Please check your details",
        "error_summary_lead": "The request has not been sent yet. Please correct:",
        "error_title_prefix": "Error",
        "slot_taken_title": "This appointment is no longer free",
        "slot_taken_text": "Someone else has just requested this appointment. Your other "
        "details are kept. Please choose another appointment.",
        # success
        "sent_title": "Please confirm your request by email",
        "sent_lead": "We have sent an email to the address you gave. Please open the link in it "
        "within {minutes} minutes (by {expires}).",
        "sent_not_yet": "Your request has not reached the practice yet. It is encrypted and "
        "waits for your confirmation.",
        "sent_next_title": "What happens next",
        "sent_step_1": "Open the email from Terminrelay.",
        "sent_step_2": "Follow the link, then choose “Confirm request”.",
        "sent_step_3": "Only then does the practice receive your request. The practice will get "
        "in touch to confirm the appointment.",
        "sent_expiry": "Without confirmation the request is deleted unread after {minutes} "
        "minutes. No email? Check your spam folder or send the request again.",
        "sent_again": "Make a new request",
        # confirmation
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
        "withdraw_hint": "Withdrawing deletes the request at once. The practice receives nothing.",
        "confirmed_title": "Request confirmed",
        "confirmed_text": "Your request was handed to the practice, encrypted. The practice will "
        "get in touch with you.",
        "already_title": "Already confirmed",
        "already_text": "This request was confirmed already and handed to the practice.",
        "withdrawn_title": "Request withdrawn",
        "withdrawn_text": "Your request was deleted. The practice received nothing.",
        # errors
        "error_410_title": "Link no longer valid",
        "error_410_text": "This request was withdrawn, has expired or does not exist. It was not "
        "handed to the practice.",
        "error_404_title": "Not found",
        "error_404_text": "This page does not exist. Please check the address.",
        "error_429_title": "Too many requests",
        "error_429_text": "Very many requests came from your network just now. Please try again "
        "in a few minutes.",
        "error_405_title": "Not possible",
        "error_405_text": "This address cannot be used this way.",
        "error_409_title": "Slot no longer available",
        "error_409_text": "This slot was taken in the meantime.",
        "error_503_title": "Temporarily unavailable",
        "error_503_text": "Please try again in a few minutes.",
        "error_title": "Error",
        "error_text": "The request could not be processed.",
        # privacy
        "privacy_title": "Privacy notice",
        "privacy_lead": "This page says which details the appointment form collects, why, how "
        "long they are kept and what rights you have.",
        "privacy_fields_title": "What we collect and why",
        "privacy_field": "Detail",
        "privacy_purpose": "Why",
        "privacy_required": "Required?",
        "privacy_required_when_offered": "when the practice offers a choice",
        "privacy_sealed_title": "Encrypted for the practice",
        "privacy_sealed_text": "Your request is encrypted with the practice's public key the "
        "moment you send it. Only the practice can read it; the operator of this service "
        "cannot. We also keep your email address encrypted until the confirmation email has "
        "been sent.",
        "privacy_retention_title": "How long we keep your request",
        "privacy_retention_text": "Your encrypted request waits at most {minutes} minutes for "
        "your confirmation. If you do not confirm, it is then deleted unread. If you confirm, "
        "it is handed to the practice and deleted here as soon as the practice has "
        "acknowledged receipt.",
        "privacy_withdraw_title": "Withdrawing a request",
        "privacy_withdraw_text": "The email you receive after sending contains a link. On that "
        "page you can confirm or withdraw the request. Withdrawing deletes it at once; the "
        "practice receives nothing. You can withdraw your consent at any time, after the "
        "hand-over by telling the practice.",
        "privacy_responsible_title": "Who is responsible",
        "privacy_responsible_text": "The practice you request the appointment from is "
        "responsible for processing your details. The legal basis is your explicit consent "
        "(Art. 6(1)(a) and Art. 9(2)(a) GDPR).",
        "privacy_rights_title": "Your rights",
        "privacy_rights_text": "Under the General Data Protection Regulation you have the right "
        "to:",
        "right_15": "access to your data (Art. 15 GDPR)",
        "right_16": "rectification (Art. 16 GDPR)",
        "right_17": "erasure (Art. 17 GDPR)",
        "right_18": "restriction of processing (Art. 18 GDPR)",
        "right_20": "data portability (Art. 20 GDPR)",
        "right_21": "object (Art. 21 GDPR)",
        "right_7": "withdraw your consent with effect for the future (Art. 7(3) GDPR)",
        "privacy_complaint": "You may also lodge a complaint with a data protection supervisory "
        "authority, for example the one of the German federal state you live in (Art. 77 "
        "GDPR).",
        "privacy_no_tracking": "These pages set no cookies, load nothing from other servers and "
        "use no analytics or advertising services.",
    },
}


def page_texts(lang: str) -> dict[str, str]:
    """The page catalogue of `lang` (the default language's for an unknown one)."""
    return PAGE_TEXTS[lang if lang in LANGUAGES else DEFAULT_LANGUAGE]


def page_text(lang: str, key: str, **values: object) -> str:
    """One page text with its `{name}` placeholders filled in."""
    text = page_texts(lang)[key]
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text
