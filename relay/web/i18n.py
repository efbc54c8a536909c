"""German and English texts for patients and practices."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from relay.booking.fields import Field

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
    # A browser-sealed submission: rare, and then mostly a page kept open too long.
    "expired": {
        "de": "Die Seite war zu lange geöffnet. Bitte laden Sie sie neu und senden Sie die "
        "Anfrage noch einmal.",
        "en": "The page was open too long. Please reload it and send the request again.",
    },
    "used": {
        "de": "Diese Anfrage wurde schon gesendet. Bitte laden Sie die Seite neu.",
        "en": "This request was sent already. Please reload the page.",
    },
    "unknown_key": {
        "de": "Die Praxis hat ihren Schlüssel gewechselt. Bitte laden Sie die Seite neu und "
        "senden Sie die Anfrage noch einmal.",
        "en": "The practice has changed its key. Please reload the page and send the "
        "request again.",
    },
    "invalid_size": {
        "de": "Die verschlüsselte Anfrage hat nicht die erwartete Größe.",
        "en": "The encrypted request does not have the expected size.",
    },
    "replayed": {
        "de": "Diese verschlüsselte Anfrage wurde schon einmal gesendet.",
        "en": "This encrypted request was sent before.",
    },
    "not_in_clear": {
        "de": "Diese Angabe gehört in den verschlüsselten Teil und darf nicht offen "
        "gesendet werden.",
        "en": "This belongs in the encrypted part and must not be sent in the clear.",
    },
    "browser_required": {
        "de": "Diese Praxis nimmt nur Anfragen an, die Ihr Browser verschlüsselt hat.",
        "en": "This practice accepts only requests your browser has encrypted.",
    },
    "browser_not_accepted": {
        "de": "Diese Praxis nimmt noch keine im Browser verschlüsselten Anfragen an.",
        "en": "This practice does not accept requests encrypted in the browser yet.",
    },
    "unknown_time_zone": {
        "de": "Diese Zeitzone ist unbekannt (erwartet wird zum Beispiel Europe/Berlin).",
        "en": "This time zone is not known (expected for example Europe/Berlin).",
    },
    # Characters relay/rules/text.py refuses; invisible ones are often pasted unknowingly, so
    # the messages suggest typing the entry again.
    "line_break": {
        "de": "Bitte schreiben Sie diese Angabe in eine Zeile, ohne Zeilenumbruch.",
        "en": "Please write this on one line, without a line break.",
    },
    "control_character": {
        "de": "Diese Angabe enthält ein unsichtbares Steuerzeichen. Bitte tippen Sie sie "
        "neu ein, statt sie einzufügen.",
        "en": "This entry contains an invisible control character. Please type it again "
        "instead of pasting it.",
    },
    "bidi_control": {
        "de": "Diese Angabe enthält ein unsichtbares Zeichen, das die Schreibrichtung "
        "ändert. Bitte tippen Sie sie neu ein, statt sie einzufügen.",
        "en": "This entry contains an invisible character that changes the writing "
        "direction. Please type it again instead of pasting it.",
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
    if code == "required" and field is not None and field.choose is not None:
        return field.choose[lang]
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
        "imprint_link": "Impressum",
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
        "summary_label_sealed": "Verschlüsselung",
        "sealing_failed": "Die Anfrage konnte nicht verschlüsselt oder gesendet werden. "
        "Bitte versuchen Sie es noch einmal oder rufen Sie die Praxis an.",
        "sending": "Die Anfrage wird verschlüsselt und gesendet …",
        "browser_required_title": "Bitte nutzen Sie einen aktuellen Browser",
        "browser_required_text": "Diese Praxis nimmt nur Anfragen an, die Ihr Browser "
        "selbst verschlüsselt hat, damit niemand dazwischen sie lesen kann. Dafür braucht "
        "diese Seite JavaScript. Bitte öffnen Sie sie in einem aktuellen Browser mit "
        "JavaScript, oder rufen Sie die Praxis an: {phone}.",
        "browser_required_text_no_phone": "Diese Praxis nimmt nur Anfragen an, die Ihr "
        "Browser selbst verschlüsselt hat, damit niemand dazwischen sie lesen kann. Dafür "
        "braucht diese Seite JavaScript. Bitte öffnen Sie sie in einem aktuellen Browser "
        "mit JavaScript, oder wenden Sie sich direkt an die Praxis.",
        "error_title_prefix": "Fehler",
        "slot_taken_title": "Dieser Termin ist nicht mehr frei",
        "slot_taken_text": "Jemand anderes hat diesen Termin gerade angefragt. Ihre übrigen "
        "Angaben sind erhalten. Bitte wählen Sie einen anderen Termin.",
        # slot picker (relay/web/picker.py)
        "picker_all_doctors": "Alle Ärztinnen und Ärzte",
        "picker_all_types": "Alle Terminarten",
        "picker_filter_hint": "Grenzt die freien Termine ein. Für einen Wunschtermin "
        "bitte auswählen.",
        "picker_show": "Termine anzeigen",
        "picker_next_free": "Nächster freier Termin",
        "picker_none_free": "Für diese Auswahl gibt es zurzeit keine freien Termine.",
        "picker_week_nav": "Woche",
        "picker_previous_week": "Vorherige Woche",
        "picker_next_week": "Nächste Woche",
        "picker_days_legend": "Tag wählen",
        "picker_day_none": "keine Termine",
        "picker_day_count": "{count} frei",
        "picker_times_legend": "Uhrzeit am {day}",
        "picker_chosen": "Ihre Wahl: {time}",
        "picker_status": "{count} freie Uhrzeiten am {day}",
        "picker_status_week_empty": "In dieser Woche gibt es keine freien Termine für Ihre "
        "Auswahl.",
        "required_for_wish": "Pflichtfeld bei Wunschtermin",
        "wish_summary": "Keine Uhrzeit passt? Wunschtermin nennen",
        # form messages that name the control the patient used
        "choose_slot": "Bitte wählen Sie eine Uhrzeit.",
        "choose_slot_or_wish": "Bitte wählen Sie eine Uhrzeit oder nennen Sie einen Wunschtermin.",
        "wish_start_required": "Bitte geben Sie Tag und Uhrzeit Ihres Wunschtermins an.",
        "wish_doctor_required": "Bitte wählen Sie für Ihren Wunschtermin eine Ärztin oder "
        "einen Arzt.",
        "wish_type_required": "Bitte wählen Sie für Ihren Wunschtermin eine Terminart.",
        "doctor_contradicts_slot": "Die gewählte Uhrzeit ist bei {slot_doctor}, in der Liste "
        "steht {doctor}. Bitte wählen Sie eine Uhrzeit bei {doctor} oder ändern Sie die "
        "Auswahl in der Liste.",
        "type_contradicts_slot": "Die gewählte Uhrzeit ist für „{slot_type}“, in der Liste "
        "steht „{type}“. Bitte wählen Sie eine passende Uhrzeit oder ändern Sie die Auswahl "
        "in der Liste.",
        "summary_label_slot": "Uhrzeit",
        "summary_label_wish": "Wunschtermin",
        "summary_label_consent": "Einwilligung",
        # practice details
        "practice_contact_title": "Kontakt zur Praxis",
        "practice_address": "Adresse",
        "practice_phone": "Telefon",
        "practice_email": "E-Mail",
        "practice_website": "Website",
        "practice_opening_hours": "Sprechzeiten",
        "practice_dpo": "Datenschutzbeauftragte oder Datenschutzbeauftragter",
        "type_note_title": "Bitte beachten",
        # confirmation and result
        "appointment_title": "Ihr Termin",
        "date": "Datum",
        "clock": "Uhrzeit",
        "duration": "Dauer",
        "duration_minutes": "{minutes} Minuten",
        "time_span": "{start}–{end} Uhr",
        "time_from": "ab {start} Uhr",
        "kind_wish_text": "Das ist ein Wunschtermin. Die Praxis meldet sich, ob er möglich ist.",
        "next_title": "Wie es weitergeht",
        "next_slot": "Die Praxis hat Ihre Anfrage erhalten und plant den Termin ein. Falls "
        "etwas nicht passt, meldet sie sich bei Ihnen.",
        "next_wish": "Die Praxis prüft Ihren Wunschtermin und meldet sich bei Ihnen mit einer "
        "Zusage oder einem anderen Vorschlag.",
        "next_contact": "Fragen zum Termin oder können Sie nicht kommen? Bitte wenden Sie sich "
        "direkt an die Praxis.",
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
        # after confirming: calendar download and cancellation (relay/web/cancel.py)
        "calendar_title": "In Ihren Kalender",
        "calendar_text": "Laden Sie den Termin als Kalenderdatei (.ics) herunter; Ihr "
        "Kalender übernimmt ihn. Der Link funktioniert einen Tag lang.",
        "calendar_link": "Termin in meinen Kalender",
        "cancel_section_title": "Absagen",
        "cancel_section_text": "Können Sie nicht kommen? Bitte sagen Sie ab, damit jemand "
        "anderes den Termin bekommt. Den Link finden Sie auch in der E-Mail, die wir Ihnen "
        "gerade senden.",
        "cancel_link": "Termin absagen",
        "cancel_title": "Termin absagen",
        "cancel_lead": "Möchten Sie Ihren Termin bei {practice} absagen? Die Praxis erhält "
        "die Absage verschlüsselt, wie Ihre Anfrage.",
        "cancel_until": "Über diesen Link können Sie absagen bis",
        "cancel_button": "Ja, Termin absagen",
        "cancel_keep": "Möchten Sie den Termin behalten? Dann schließen Sie diese Seite einfach.",
        "cancelled_title": "Termin abgesagt",
        "cancelled_text": "Ihre Absage wurde verschlüsselt an die Praxis übergeben. Vielen "
        "Dank, dass Sie Bescheid gegeben haben.",
        "cancel_already_title": "Bereits abgesagt",
        "cancel_already_text": "Dieser Termin wurde bereits abgesagt; die Absage ist an die "
        "Praxis übergeben.",
        "cancel_gone_title": "Absagen über diesen Link nicht mehr möglich",
        "cancel_gone_text": "Der Link ist abgelaufen, weil der Termin begonnen hat oder die "
        "Frist vorbei ist, oder er ist ungültig. Bitte wenden Sie sich direkt an die Praxis.",
        "calendar_gone_title": "Kalenderdatei nicht mehr verfügbar",
        "calendar_gone_text": "Dieser Link zur Kalenderdatei ist abgelaufen (er gilt einen Tag) "
        "oder ungültig. Die Zeit Ihres Termins steht in der E-Mail, die wir Ihnen gesendet "
        "haben.",
        "cross_site_cancel_link": "Absage-Seite auf unserer Seite öffnen",
        # errors
        "error_410_title": "Link nicht mehr gültig",
        "error_410_text": "Diese Anfrage wurde zurückgezogen, ist abgelaufen oder existiert "
        "nicht. Sie wurde nicht an die Praxis übergeben.",
        "error_404_title": "Nicht gefunden",
        "error_404_text": "Diese Seite gibt es nicht. Bitte prüfen Sie die Adresse.",
        "error_429_title": "Zu viele Anfragen",
        "error_429_text": "Von Ihrem Netz kamen gerade sehr viele Anfragen. Bitte versuchen Sie "
        "es in einigen Minuten erneut.",
        # abuse limits (relay/abuse/limits.py) and the proof of work (static/pow.js)
        "limit_network_title": "Zu viele Anfragen aus Ihrem Netz",
        "limit_network_text": "Aus Ihrem Netz kamen gerade sehr viele Anfragen. Bitte senden "
        "Sie Ihre Anfrage in etwa {minutes} Minuten noch einmal. Ihre Angaben sind unten "
        "erhalten.",
        "limit_recipient_title": "Anfragen warten schon in Ihrem Postfach",
        "limit_recipient_text": "An diese E-Mail-Adresse haben wir in der letzten Stunde schon "
        "mehrere Bestätigungs-E-Mails gesendet. Bitte sehen Sie in Ihrem Postfach nach (auch "
        "im Spam-Ordner) und bestätigen Sie Ihre Anfrage dort. Eine weitere E-Mail können wir "
        "in etwa {minutes} Minuten senden. Ihre Angaben sind unten erhalten.",
        "limit_pow_title": "Bitte noch einen Moment",
        "limit_pow_text": "Gerade kommen sehr viele Anfragen. Ihr Browser führt deshalb eine "
        "kurze Sicherheitsprüfung durch (dafür braucht er JavaScript); senden Sie die Anfrage "
        "danach bitte noch einmal. Ohne JavaScript versuchen Sie es bitte in etwa {minutes} "
        "Minuten erneut. Ihre Angaben sind unten erhalten.",
        "pow_title": "Sicherheitsprüfung",
        "pow_hint": "Weil gerade viele Anfragen kommen, rechnet Ihr Browser vor dem Senden kurz "
        "eine Aufgabe. Dabei wird nichts an andere Stellen übermittelt.",
        "pow_waiting": "Die Sicherheitsprüfung beginnt gleich.",
        "pow_running": "Sicherheitsprüfung läuft …",
        "pow_done": "Sicherheitsprüfung abgeschlossen. Sie können die Anfrage senden.",
        "pow_sending": "Sicherheitsprüfung läuft … Ihre Anfrage wird danach gesendet.",
        "pow_failed": "Die Sicherheitsprüfung ist fehlgeschlagen. Bitte laden Sie die Seite neu.",
        "pow_noscript": "Diese Prüfung braucht JavaScript. Ohne JavaScript können Sie die "
        "Anfrage später senden.",
        "resend_hint": "Keine E-Mail erhalten? Wir senden sie Ihnen noch einmal, ohne dass Sie "
        "die Anfrage neu stellen müssen.",
        "resend_button": "E-Mail noch einmal senden",
        "resent_title": "E-Mail noch einmal gesendet",
        "resent_text": "Wir haben Ihnen die E-Mail zu Ihrer wartenden Anfrage noch einmal "
        "gesendet. Der Termin bleibt für Sie reserviert.",
        "resent_on_its_way": "Ihre E-Mail ist schon unterwegs. Bitte warten Sie einen Moment "
        "und sehen Sie auch im Spam-Ordner nach.",
        "resend_limited": "An diese Adresse haben wir in der letzten Stunde schon mehrere "
        "E-Mails gesendet. Bitte sehen Sie in Ihrem Postfach nach; eine weitere können wir in "
        "etwa {minutes} Minuten senden.",
        "error_405_title": "Nicht möglich",
        "error_405_text": "Diese Adresse kann so nicht aufgerufen werden.",
        "error_409_title": "Termin nicht mehr frei",
        "error_409_text": "Dieser Termin wurde inzwischen vergeben.",
        "error_503_title": "Vorübergehend nicht erreichbar",
        "error_503_text": "Bitte versuchen Sie es in einigen Minuten erneut.",
        "error_title": "Fehler",
        "error_text": "Die Anfrage konnte nicht bearbeitet werden.",
        # a post from another website (relay/web/origin.py)
        "cross_site_title": "Bitte nutzen Sie unser Formular",
        "cross_site_text": "Diese Anfrage wurde von einer anderen Website abgeschickt. Zu "
        "Ihrem Schutz nehmen wir sie nur von unserer eigenen Seite an. Es wurde nichts "
        "gespeichert und nichts geändert.",
        "cross_site_form_link": "Terminformular auf unserer Seite öffnen",
        "cross_site_confirm_link": "Bestätigungsseite auf unserer Seite öffnen",
        # the form on the practice's own website (relay/web/static/embed.js, form_texts.py)
        "embed_sending": "Ihre Anfrage wird verschlüsselt und gesendet …",
        "embed_pow_running": "Gerade kommen sehr viele Anfragen. Ihr Browser führt eine kurze "
        "Sicherheitsprüfung durch und sendet die Anfrage danach …",
        "embed_send_failed": "Ihre Anfrage konnte nicht gesendet werden. Bitte prüfen Sie Ihre "
        "Internetverbindung und versuchen Sie es noch einmal.",
        "embed_key_mismatch": "Ihre Anfrage würde nicht mit dem Schlüssel verschlüsselt, den die "
        "Praxis auf dieser Website hinterlegt hat. Zu Ihrem Schutz wurde nichts gesendet. Bitte "
        "wenden Sie sich direkt an die Praxis.",
        "embed_closed": "Zurzeit sind keine freien Termine veröffentlicht, und die Praxis nimmt "
        "keine Wunschtermine an. Bitte wenden Sie sich direkt an die Praxis.",
        "embed_fallback_text": "Das Terminformular kann hier nicht angezeigt werden.",
        "embed_fallback_link": "Termin im Formular von Terminrelay anfragen",
        "embed_sent_lead": "Wir haben Ihnen eine E-Mail an die angegebene Adresse gesendet. "
        "Bitte öffnen Sie den Link darin bis {expires}.",
        # privacy notices (relay/web/privacy.py)
        "privacy_title": "Datenschutzhinweise",
        "privacy_contents": "Inhalt",
        "privacy_lead": "Hier steht, wer Ihre Angaben aus dem Terminformular verarbeitet, "
        "welche Angaben, wozu und auf welcher Rechtsgrundlage, wie lange sie gespeichert "
        "werden und welche Rechte Sie haben (Art. 13 DSGVO).",
        "privacy_practice_title": "Datenschutzhinweise für Terminanfragen an {practice}",
        "privacy_controller_title": "Verantwortlich",
        "privacy_controller_practice": "Verantwortlich für die Verarbeitung Ihrer Terminanfrage "
        "ist die Praxis:",
        "privacy_controller_no_contact": "Die Praxis hat hier noch keine Anschrift und keine "
        "Kontaktdaten angegeben. Bitte fragen Sie direkt in der Praxis nach.",
        "privacy_controller_general": "Verantwortlich für die Verarbeitung Ihrer Terminanfrage "
        "ist die Praxis, bei der Sie den Termin anfragen. Name, Anschrift und Kontaktdaten der "
        "Praxis und ihrer Datenschutzbeauftragten stehen in den Datenschutzhinweisen der "
        "Praxis. Das Terminformular jeder Praxis verlinkt sie bei der Einwilligung.",
        "privacy_officer_title": "Datenschutzbeauftragte oder Datenschutzbeauftragter der Praxis",
        "privacy_officer_none": "Die Praxis hat hier keine Datenschutzbeauftragte und keinen "
        "Datenschutzbeauftragten angegeben. Fragen zum Datenschutz richten Sie bitte direkt an "
        "die Praxis.",
        "privacy_operator_title": "Betreiber dieses Dienstes",
        "privacy_operator_processor": "Diesen Dienst für Terminanfragen betreibt im Auftrag der "
        "Praxis als Auftragsverarbeiter (Art. 28 DSGVO):",
        "privacy_operator_general": "Diesen Dienst für Terminanfragen betreibt:",
        "privacy_operator_unnamed": "Der Betreiber hat seinen Namen und seine Anschrift hier "
        "noch nicht angegeben.",
        "privacy_operator_role": "Für Ihre Terminanfrage handelt der Betreiber nur im Auftrag "
        "und nach Weisung der Praxis; er speichert und übermittelt sie nur verschlüsselt und "
        "kann sie nicht lesen. Für die Server-Protokolle und den Schutz vor massenhaften "
        "Anfragen ist er selbst verantwortlich.",
        "privacy_operator_officer": "Datenschutzbeauftragte oder Datenschutzbeauftragter des "
        "Betreibers:",
        "privacy_imprint": "Impressum des Betreibers",
        "privacy_phone": "Telefon",
        "privacy_email": "E-Mail",
        "privacy_website": "Website",
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
        "privacy_purposes_title": "Zwecke und Rechtsgrundlagen",
        "privacy_purpose_booking_title": "Ihre Terminanfrage",
        "privacy_purpose_booking": "Wir übermitteln Ihre Angaben an die Praxis, damit sie Ihnen "
        "einen Termin geben und sich bei Ihnen melden kann, und senden Ihnen vorher einen Link "
        "zur Bestätigung. Weil eine Terminanfrage Gesundheitsdaten enthalten kann, geschieht "
        "das nur mit Ihrer ausdrücklichen Einwilligung: Art. 6 Abs. 1 lit. a und Art. 9 Abs. 2 "
        "lit. a DSGVO.",
        "privacy_purpose_logs_title": "Server-Protokolle",
        "privacy_purpose_logs": "Der Betreiber protokolliert jeden Aufruf, um den Dienst sicher "
        "zu betreiben, Angriffe und Missbrauch zu erkennen und Fehler zu finden. Ihre "
        "IP-Adresse wird gekürzt, bevor sie in ein Protokoll gelangt. Angaben aus dem "
        "Formular, E-Mail-Adressen und Links stehen nie darin. Rechtsgrundlage ist das "
        "berechtigte Interesse des Betreibers an einem sicheren und funktionierenden Dienst "
        "(Art. 6 Abs. 1 lit. f DSGVO).",
        "privacy_purpose_rate_title": "Schutz vor massenhaften Anfragen",
        "privacy_purpose_rate": "Damit niemand das Formular mit Anfragen überflutet, zählt der "
        "Server die Anfragen je Netz. Er speichert dafür nur einen verschlüsselten Prüfwert "
        "Ihres gekürzten Netzes. Rechtsgrundlage ist das berechtigte Interesse des Betreibers "
        "(Art. 6 Abs. 1 lit. f DSGVO).",
        "privacy_retention_title": "Wie lange Ihre Angaben gespeichert werden",
        "privacy_retention_data": "Angaben",
        "privacy_retention_period": "Speicherdauer",
        "retention_pending": "Ihre Anfrage vor der Bestätigung: verschlüsselt für die Praxis, "
        "dazu Ihre E-Mail-Adresse (verschlüsselt, für die Bestätigungs-E-Mail), eine "
        "verschlüsselte Kurzfassung für die Bestätigungsseite (Praxis, Ärztin oder Arzt, "
        "Terminart, Zeit) und die Reservierung des gewählten Termins",
        "retention_pending_period": "höchstens {duration} bis zu Ihrer Bestätigung; ohne "
        "Bestätigung danach ungelesen gelöscht, beim Zurückziehen sofort. Die E-Mail-Adresse "
        "wird gelöscht, sobald die Bestätigungs-E-Mail versendet ist.",
        "retention_inbox": "Ihre bestätigte Anfrage, verschlüsselt für die Praxis",
        "retention_inbox_period": "bis die Praxis sie abgeholt und den Empfang bestätigt hat, "
        "höchstens {duration}",
        "retention_cancel": "Für die Absage Ihres Termins: ein Prüfwert (Hash) des Absage-Links, "
        "die Praxis, die Kennung Ihrer Anfrage und das Ablaufdatum; keine Angaben zu Ihrer "
        "Person",
        "retention_cancel_period": "bis der Termin beginnt",
        "retention_logs": "Server-Protokolle: Zeit, aufgerufene Adresse als Muster (ohne Links "
        "und Formularangaben), Ergebnis, Dauer und Ihr Netz mit gekürzter IP-Adresse (IPv4: die "
        "ersten 24 Bit, IPv6: die ersten 48 Bit)",
        "retention_logs_period": "{duration}, wie der Betreiber es für seine Protokolle "
        "festgelegt hat",
        "retention_logs_unknown": "so lange, wie der Betreiber seine Protokolle aufbewahrt; er "
        "hat dafür noch keine Frist angegeben",
        "retention_rate": "Zähler gegen massenhafte Anfragen: ein verschlüsselter Prüfwert Ihres "
        "gekürzten Netzes und die Zahl der Anfragen",
        "retention_rate_period": "{duration}",
        "retention_practice": "Ihre Anfrage in der Praxis, nachdem die Praxis sie abgeholt hat",
        "retention_practice_period": "nach den Aufbewahrungsregeln der Praxis: solange die "
        "Praxis sie für Ihren Termin braucht; wird sie Teil Ihrer Behandlungsunterlagen, 10 "
        "Jahre nach Abschluss der Behandlung (§ 630f Abs. 3 BGB)",
        "duration_minutes_one": "1 Minute",
        "duration_minutes_other": "{count} Minuten",
        "duration_days_one": "1 Tag",
        "duration_days_other": "{count} Tage",
        "privacy_recipients_title": "Wer Ihre Angaben erhält",
        "recipient_practice": "Die Praxis. Nur sie kann Ihre Anfrage entschlüsseln und lesen.",
        "recipient_operator": "Der Betreiber dieses Dienstes als Auftragsverarbeiter. Er "
        "speichert und übermittelt Ihre Anfrage nur verschlüsselt und kann sie nicht lesen.",
        "recipient_mail": "{provider} versendet die Bestätigungs-E-Mail. Dafür erhält er Ihre "
        "E-Mail-Adresse und die E-Mail mit dem Namen der Praxis und dem Link, aber keine "
        "Gesundheitsdaten.",
        "recipient_mail_unnamed": "Der Mailserver, über den der Betreiber die "
        "Bestätigungs-E-Mail versendet. Er erhält Ihre E-Mail-Adresse und die E-Mail mit dem "
        "Namen der Praxis und dem Link, aber keine Gesundheitsdaten.",
        "privacy_transfer_title": "Übermittlung in Länder außerhalb der EU",
        "privacy_transfer_none": "Ihre Angaben werden nicht in Länder außerhalb der Europäischen "
        "Union (EU) und des Europäischen Wirtschaftsraums (EWR) übermittelt.",
        "privacy_transfer_configured": "Übermittlung in Länder außerhalb der EU und des EWR:",
        "privacy_obligation_title": "Pflicht zur Angabe, automatisierte Entscheidungen",
        "privacy_obligation_text": "Sie sind weder gesetzlich noch vertraglich verpflichtet, "
        "Ihre Angaben zu machen. Ohne die Pflichtangaben kann die Anfrage aber nicht gesendet "
        "werden. Es gibt keine automatisierte Entscheidungsfindung und kein Profiling (Art. 22 "
        "DSGVO).",
        "privacy_withdraw_title": "Anfrage zurückziehen, Einwilligung widerrufen",
        "privacy_withdraw_text": "Die E-Mail, die Sie nach dem Absenden erhalten, enthält "
        "einen Link. Auf dieser Seite können Sie die Anfrage bestätigen oder zurückziehen. "
        "Zurückziehen löscht sie sofort; die Praxis erhält nichts. Ihre Einwilligung können "
        "Sie jederzeit mit Wirkung für die Zukunft widerrufen, nach der Übergabe gegenüber der "
        "Praxis.",
        "privacy_rights_title": "Ihre Rechte",
        "privacy_rights_text": "Sie haben nach der Datenschutz-Grundverordnung das Recht auf:",
        "right_15": "Auskunft über Ihre Daten (Art. 15 DSGVO)",
        "right_16": "Berichtigung (Art. 16 DSGVO)",
        "right_17": "Löschung (Art. 17 DSGVO)",
        "right_18": "Einschränkung der Verarbeitung (Art. 18 DSGVO)",
        "right_20": "Datenübertragbarkeit (Art. 20 DSGVO)",
        "right_21": "Widerspruch (Art. 21 DSGVO), insbesondere gegen die Server-Protokolle aus "
        "Gründen, die sich aus Ihrer besonderen Situation ergeben",
        "right_7": "Widerruf Ihrer Einwilligung mit Wirkung für die Zukunft (Art. 7 Abs. 3 DSGVO)",
        "right_77": "Beschwerde bei einer Aufsichtsbehörde (Art. 77 DSGVO, siehe unten)",
        "privacy_contact_title": "An wen Sie sich wenden",
        "privacy_contact_booking": "Zu Ihrer Terminanfrage: an die Praxis",
        "privacy_contact_booking_note": "Nur die Praxis kann Ihre Anfrage lesen; der Betreiber "
        "kann darüber keine Auskunft geben.",
        "privacy_contact_logs": "Zu den Server-Protokollen: an den Betreiber",
        "privacy_complaint_title": "Beschwerde bei einer Aufsichtsbehörde",
        "privacy_complaint": "Sie können sich bei einer Datenschutz-Aufsichtsbehörde "
        "beschweren, insbesondere in dem EU-Mitgliedstaat, in dem Sie wohnen oder arbeiten oder "
        "in dem der mutmaßliche Verstoß stattfand, zum Beispiel bei der Behörde Ihres "
        "Bundeslandes (Art. 77 DSGVO).",
        "authority_practice": "Zuständig für die Praxis:",
        "authority_operator": "Zuständig für den Betreiber:",
        "privacy_no_tracking": "Diese Seiten setzen keine Cookies, laden nichts von fremden "
        "Servern und verwenden keine Analyse- oder Werbedienste.",
        "privacy_back_to_form": "Zum Terminformular der Praxis",
    },
    "en": {
        "site_name": "Terminrelay",
        "skip_link": "Skip to content",
        "language_switch": "Deutsch",
        "language_switch_label": "Auf Deutsch anzeigen",
        "language_nav": "Language",
        "practice_nav": "Practice",
        "privacy_link": "Privacy",
        "imprint_link": "Legal notice",
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
        "summary_label_sealed": "Encryption",
        "sealing_failed": "The request could not be encrypted or sent. Please try again, "
        "or call the practice.",
        "sending": "Encrypting and sending the request …",
        "browser_required_title": "Please use a current browser",
        "browser_required_text": "This practice accepts only requests your browser has "
        "encrypted itself, so that nobody in between can read them. For that this page "
        "needs JavaScript. Please open it in a current browser with JavaScript, or call "
        "the practice: {phone}.",
        "browser_required_text_no_phone": "This practice accepts only requests your "
        "browser has encrypted itself, so that nobody in between can read them. For that "
        "this page needs JavaScript. Please open it in a current browser with JavaScript, "
        "or contact the practice directly.",
        "error_title_prefix": "Error",
        "slot_taken_title": "This appointment is no longer free",
        "slot_taken_text": "Someone else has just requested this appointment. Your other "
        "details are kept. Please choose another appointment.",
        # slot picker (relay/web/picker.py)
        "picker_all_doctors": "Any doctor",
        "picker_all_types": "Any type",
        "picker_filter_hint": "Narrows the free appointments. Please choose one for a "
        "preferred time.",
        "picker_show": "Show appointments",
        "picker_next_free": "Next free appointment",
        "picker_none_free": "There are no free appointments for this choice at the moment.",
        "picker_week_nav": "Week",
        "picker_previous_week": "Previous week",
        "picker_next_week": "Next week",
        "picker_days_legend": "Choose a day",
        "picker_day_none": "no times",
        "picker_day_count": "{count} free",
        "picker_times_legend": "Time on {day}",
        "picker_chosen": "Your choice: {time}",
        "picker_status": "{count} free times on {day}",
        "picker_status_week_empty": "There are no free appointments this week for your choice.",
        "required_for_wish": "required for a preferred time",
        "wish_summary": "No time suits you? Suggest a preferred time",
        # form messages that name the control the patient used
        "choose_slot": "Please choose a time.",
        "choose_slot_or_wish": "Please choose a time or suggest a preferred time.",
        "wish_start_required": "Please enter the day and time of your preferred appointment.",
        "wish_doctor_required": "Please choose a doctor for your preferred time.",
        "wish_type_required": "Please choose a type of appointment for your preferred time.",
        "doctor_contradicts_slot": "The chosen time is with {slot_doctor}, but the list says "
        "{doctor}. Please choose a time with {doctor} or change the choice in the list.",
        "type_contradicts_slot": "The chosen time is for “{slot_type}”, but the list says "
        "“{type}”. Please choose a matching time or change the choice in the list.",
        "summary_label_slot": "Time",
        "summary_label_wish": "Preferred time",
        "summary_label_consent": "Consent",
        # practice details
        "practice_contact_title": "Contacting the practice",
        "practice_address": "Address",
        "practice_phone": "Phone",
        "practice_email": "Email",
        "practice_website": "Website",
        "practice_opening_hours": "Opening hours",
        "practice_dpo": "Data protection officer",
        "type_note_title": "Please note",
        # confirmation and result
        "appointment_title": "Your appointment",
        "date": "Date",
        "clock": "Time",
        "duration": "Duration",
        "duration_minutes": "{minutes} minutes",
        "time_span": "{start}–{end}",
        "time_from": "from {start}",
        "kind_wish_text": "This is a preferred time. The practice will let you know whether it "
        "is possible.",
        "next_title": "What happens next",
        "next_slot": "The practice has received your request and is planning the appointment. "
        "If something does not fit, the practice will get in touch with you.",
        "next_wish": "The practice will check your preferred time and get back to you with a "
        "confirmation or another suggestion.",
        "next_contact": "Questions about the appointment, or cannot come? Please contact the "
        "practice directly.",
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
        # after confirming: calendar download and cancellation (relay/web/cancel.py)
        "calendar_title": "Add to your calendar",
        "calendar_text": "Download the appointment as a calendar file (.ics) and your calendar "
        "takes it over. The link works for one day.",
        "calendar_link": "Add to my calendar",
        "cancel_section_title": "Cancelling",
        "cancel_section_text": "Cannot come? Please cancel, so that someone else can have the "
        "appointment. The link is also in the e-mail we are sending you now.",
        "cancel_link": "Cancel the appointment",
        "cancel_title": "Cancel the appointment",
        "cancel_lead": "Do you want to cancel your appointment at {practice}? The practice "
        "receives the cancellation encrypted, like your request.",
        "cancel_until": "You can cancel through this link until",
        "cancel_button": "Yes, cancel the appointment",
        "cancel_keep": "Want to keep the appointment? Then simply close this page.",
        "cancelled_title": "Appointment cancelled",
        "cancelled_text": "Your cancellation was handed to the practice, encrypted. Thank you "
        "for letting them know.",
        "cancel_already_title": "Already cancelled",
        "cancel_already_text": "This appointment was cancelled already; the cancellation was "
        "handed to the practice.",
        "cancel_gone_title": "This link can no longer cancel",
        "cancel_gone_text": "The link has expired, because the appointment has begun or the "
        "time for cancelling is over, or it is not valid. Please contact the practice directly.",
        "calendar_gone_title": "Calendar file no longer available",
        "calendar_gone_text": "This link to the calendar file has expired (it works for one day) "
        "or is not valid. The time of your appointment is in the e-mail we sent you.",
        "cross_site_cancel_link": "Open the cancellation page on our page",
        # errors
        "error_410_title": "Link no longer valid",
        "error_410_text": "This request was withdrawn, has expired or does not exist. It was not "
        "handed to the practice.",
        "error_404_title": "Not found",
        "error_404_text": "This page does not exist. Please check the address.",
        "error_429_title": "Too many requests",
        "error_429_text": "Very many requests came from your network just now. Please try again "
        "in a few minutes.",
        # abuse limits (relay/abuse/limits.py) and the proof of work (static/pow.js)
        "limit_network_title": "Too many requests from your network",
        "limit_network_text": "Very many requests came from your network just now. Please send "
        "your request again in about {minutes} minutes. What you entered is kept below.",
        "limit_recipient_title": "Requests are already waiting in your mailbox",
        "limit_recipient_text": "We have already sent several confirmation e-mails to this "
        "address within the last hour. Please look in your mailbox (and the spam folder) and "
        "confirm your request there. We can send another e-mail in about {minutes} minutes. "
        "What you entered is kept below.",
        "limit_pow_title": "One moment, please",
        "limit_pow_text": "Very many requests are coming in just now. Your browser therefore "
        "runs a short security check (it needs JavaScript for it); please send the request "
        "again afterwards. Without JavaScript, please try again in about {minutes} minutes. "
        "What you entered is kept below.",
        "pow_title": "Security check",
        "pow_hint": "Because many requests are coming in, your browser solves a small task "
        "before sending. Nothing is sent anywhere else for it.",
        "pow_waiting": "The security check starts in a moment.",
        "pow_running": "Security check running …",
        "pow_done": "Security check complete. You can send the request.",
        "pow_sending": "Security check running … Your request will be sent afterwards.",
        "pow_failed": "The security check failed. Please reload the page.",
        "pow_noscript": "This check needs JavaScript. Without JavaScript you can send the "
        "request later.",
        "resend_hint": "No e-mail? We will send it again, without you making the request anew.",
        "resend_button": "Send the e-mail again",
        "resent_title": "E-mail sent again",
        "resent_text": "We have sent the e-mail for your waiting request once more. The "
        "appointment stays reserved for you.",
        "resent_on_its_way": "Your e-mail is already on its way. Please wait a moment and look "
        "in the spam folder too.",
        "resend_limited": "We have already sent several e-mails to this address within the last "
        "hour. Please look in your mailbox; we can send another one in about {minutes} minutes.",
        "error_405_title": "Not possible",
        "error_405_text": "This address cannot be used this way.",
        "error_409_title": "Slot no longer available",
        "error_409_text": "This slot was taken in the meantime.",
        "error_503_title": "Temporarily unavailable",
        "error_503_text": "Please try again in a few minutes.",
        "error_title": "Error",
        "error_text": "The request could not be processed.",
        # a post from another website (relay/web/origin.py)
        "cross_site_title": "Please use our own form",
        "cross_site_text": "This request was sent from another website. To protect you, we "
        "accept it only from our own page. Nothing was stored and nothing was changed.",
        "cross_site_form_link": "Open the appointment form on our page",
        "cross_site_confirm_link": "Open the confirmation page on our page",
        # the form on the practice's own website (relay/web/static/embed.js, form_texts.py)
        "embed_sending": "Your request is being encrypted and sent …",
        "embed_pow_running": "Very many requests are coming in just now. Your browser runs a "
        "short security check and then sends the request …",
        "embed_send_failed": "Your request could not be sent. Please check your internet "
        "connection and try again.",
        "embed_key_mismatch": "Your request would not be encrypted with the key the practice "
        "published on this website. To protect you, nothing was sent. Please contact the "
        "practice directly.",
        "embed_closed": "No free appointments are published at the moment, and the practice "
        "takes no suggested times. Please contact the practice directly.",
        "embed_fallback_text": "The appointment form cannot be shown here.",
        "embed_fallback_link": "Request an appointment in Terminrelay's form",
        "embed_sent_lead": "We have sent an email to the address you gave. Please open the link "
        "in it by {expires}.",
        # privacy notices (relay/web/privacy.py)
        "privacy_title": "Privacy notice",
        "privacy_contents": "Contents",
        "privacy_lead": "This page says who processes the details you enter in the appointment "
        "form, which details, why and on what legal basis, how long they are kept and what "
        "rights you have (Art. 13 GDPR).",
        "privacy_practice_title": "Privacy notice for appointment requests to {practice}",
        "privacy_controller_title": "Who is responsible",
        "privacy_controller_practice": "The practice is responsible (controller) for processing "
        "your appointment request:",
        "privacy_controller_no_contact": "The practice has not given its address or contact "
        "details here yet. Please ask at the practice.",
        "privacy_controller_general": "The practice you request the appointment from is "
        "responsible (controller) for processing your request. The practice's name, address "
        "and contact details, and those of its data protection officer, are in the practice's "
        "own privacy notice, linked from the consent in its appointment form.",
        "privacy_officer_title": "The practice's data protection officer",
        "privacy_officer_none": "The practice has not named a data protection officer here. "
        "Please send questions about data protection to the practice directly.",
        "privacy_operator_title": "Operator of this service",
        "privacy_operator_processor": "This appointment request service is run on the "
        "practice's behalf, as a processor (Art. 28 GDPR), by:",
        "privacy_operator_general": "This appointment request service is run by:",
        "privacy_operator_unnamed": "The operator has not given its name and address here yet.",
        "privacy_operator_role": "For your appointment request the operator acts only on the "
        "practice's behalf and instructions; it stores and passes on your request only "
        "encrypted and cannot read it. For the server logs and the protection against floods "
        "of requests the operator is itself responsible.",
        "privacy_operator_officer": "The operator's data protection officer:",
        "privacy_imprint": "The operator's legal notice (Impressum)",
        "privacy_phone": "Phone",
        "privacy_email": "Email",
        "privacy_website": "Website",
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
        "privacy_purposes_title": "Purposes and legal bases",
        "privacy_purpose_booking_title": "Your appointment request",
        "privacy_purpose_booking": "We pass your details to the practice so that it can give "
        "you an appointment and get in touch with you, and first send you a link to confirm "
        "the request. As an appointment request may contain health data, this happens only "
        "with your explicit consent: Art. 6(1)(a) and Art. 9(2)(a) GDPR.",
        "privacy_purpose_logs_title": "Server logs",
        "privacy_purpose_logs": "The operator logs every request to run the service securely, "
        "to detect attacks and abuse and to find faults. Your IP address is truncated before "
        "it reaches any log. Form details, email addresses and links are never logged. The "
        "legal basis is the operator's legitimate interest in a secure, working service "
        "(Art. 6(1)(f) GDPR).",
        "privacy_purpose_rate_title": "Protection against floods of requests",
        "privacy_purpose_rate": "So that nobody can flood the form with requests, the server "
        "counts requests per network. For this it keeps only an encrypted check value of your "
        "truncated network. The legal basis is the operator's legitimate interest (Art. "
        "6(1)(f) GDPR).",
        "privacy_retention_title": "How long your details are kept",
        "privacy_retention_data": "Details",
        "privacy_retention_period": "Kept for",
        "retention_pending": "Your request before you confirm it: encrypted for the practice, "
        "with your email address (encrypted, for the confirmation email), an encrypted summary "
        "for the confirmation page (practice, doctor, type of appointment, time) and the hold "
        "on the chosen slot",
        "retention_pending_period": "at most {duration} until you confirm; without "
        "confirmation then deleted unread, at once if you withdraw. The email address is "
        "deleted as soon as the confirmation email has been sent.",
        "retention_inbox": "Your confirmed request, encrypted for the practice",
        "retention_inbox_period": "until the practice has fetched it and acknowledged receipt, "
        "at most {duration}",
        "retention_cancel": "For cancelling your appointment: a hash of the cancellation link, "
        "the practice, your request's id and the expiry date; nothing about you",
        "retention_cancel_period": "until the appointment starts",
        "retention_logs": "Server logs: time, the address called as a pattern (without links "
        "and form details), result, duration and your network with a truncated IP address "
        "(IPv4: the first 24 bits, IPv6: the first 48 bits)",
        "retention_logs_period": "{duration}, as the operator has set for its logs",
        "retention_logs_unknown": "as long as the operator keeps its logs; it has not stated a "
        "period yet",
        "retention_rate": "Counter against floods of requests: an encrypted check value of your "
        "truncated network and the number of requests",
        "retention_rate_period": "{duration}",
        "retention_practice": "Your request at the practice, once the practice has fetched it",
        "retention_practice_period": "under the practice's retention rules: as long as the "
        "practice needs it for your appointment; if it becomes part of your medical records, "
        "10 years after the treatment ends (§ 630f(3) German Civil Code)",
        "duration_minutes_one": "1 minute",
        "duration_minutes_other": "{count} minutes",
        "duration_days_one": "1 day",
        "duration_days_other": "{count} days",
        "privacy_recipients_title": "Who receives your details",
        "recipient_practice": "The practice. Only it can decrypt and read your request.",
        "recipient_operator": "The operator of this service, as a processor. It stores and "
        "passes on your request only encrypted and cannot read it.",
        "recipient_mail": "{provider} sends the confirmation email. For this it receives your "
        "email address and the email with the practice's name and the link, but no health "
        "data.",
        "recipient_mail_unnamed": "The mail server through which the operator sends the "
        "confirmation email. It receives your email address and the email with the practice's "
        "name and the link, but no health data.",
        "privacy_transfer_title": "Transfers outside the EU",
        "privacy_transfer_none": "Your details are not transferred to countries outside the "
        "European Union (EU) and the European Economic Area (EEA).",
        "privacy_transfer_configured": "Transfers to countries outside the EU and the EEA:",
        "privacy_obligation_title": "Whether you must give details; automated decisions",
        "privacy_obligation_text": "You are under no legal or contractual obligation to give "
        "your details. Without the required ones, however, the request cannot be sent. There "
        "is no automated decision-making and no profiling (Art. 22 GDPR).",
        "privacy_withdraw_title": "Withdrawing a request or your consent",
        "privacy_withdraw_text": "The email you receive after sending contains a link. On that "
        "page you can confirm or withdraw the request. Withdrawing deletes it at once; the "
        "practice receives nothing. You can withdraw your consent at any time with effect for "
        "the future, after the hand-over by telling the practice.",
        "privacy_rights_title": "Your rights",
        "privacy_rights_text": "Under the General Data Protection Regulation you have the right "
        "to:",
        "right_15": "access to your data (Art. 15 GDPR)",
        "right_16": "rectification (Art. 16 GDPR)",
        "right_17": "erasure (Art. 17 GDPR)",
        "right_18": "restriction of processing (Art. 18 GDPR)",
        "right_20": "data portability (Art. 20 GDPR)",
        "right_21": "object (Art. 21 GDPR), in particular to the server logs on grounds "
        "relating to your particular situation",
        "right_7": "withdraw your consent with effect for the future (Art. 7(3) GDPR)",
        "right_77": "lodge a complaint with a supervisory authority (Art. 77 GDPR, see below)",
        "privacy_contact_title": "Whom to contact",
        "privacy_contact_booking": "About your appointment request: the practice",
        "privacy_contact_booking_note": "Only the practice can read your request; the operator "
        "cannot give information about it.",
        "privacy_contact_logs": "About the server logs: the operator",
        "privacy_complaint_title": "Complaint to a supervisory authority",
        "privacy_complaint": "You may lodge a complaint with a data protection supervisory "
        "authority, in particular in the EU member state where you live or work or where the "
        "alleged infringement took place, for example the one of the German federal state you "
        "live in (Art. 77 GDPR).",
        "authority_practice": "Competent for the practice:",
        "authority_operator": "Competent for the operator:",
        "privacy_no_tracking": "These pages set no cookies, load nothing from other servers and "
        "use no analytics or advertising services.",
        "privacy_back_to_form": "To the practice's appointment form",
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
