"""What the booking form page tells its script so the browser seals the booking itself.

The page names the practice's current key and its id, where to get a submit ticket and the
rule file, and the messages of every rule the script checks, in the page's language
(docs/protocol.md, "Sealed in the browser"). It is the same for every patient of a practice
and language, so the page stays cacheable. The script files carry Subresource Integrity
hashes, which `practice-client check` compares with the hashes its release pins.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from relay.booking.fields import field
from relay.booking.rules_file import SEALED_ONLY
from relay.crypto.sealing import key_id
from relay.i18n.catalogs import texts
from relay.practice.profile import Profile
from relay.storage.store import Practice
from relay.web.error_messages import error_message

# The codes the script may find in the sealed fields (relay/booking/submission.py's).
_CODES = (
    "required",
    "too_long",
    "not_string",
    "invalid",
    "invalid_date",
    "not_in_past",
    "too_old",
    "invalid_choice",
    "invalid_phone",
    "control_character",
    "slot_mismatch",
)


def integrity(static: Path, names: frozenset[str]) -> dict[str, str]:
    """The Subresource Integrity value of each script in `static`."""
    return {
        name: "sha384-"
        + base64.b64encode(hashlib.sha384((static / name).read_bytes()).digest()).decode()
        for name in names
        if name.endswith(".js")
    }


def sealing_config(
    practice: Practice, profile: Profile, lang: str, *, rules_url: str
) -> dict[str, object]:
    """The form's `sealing-config` JSON block."""
    slug = quote(practice.slug)
    messages: dict[str, dict[str, str]] = {
        name: {code: error_message(code, lang, field=field(name)) for code in _CODES}
        for name in SEALED_ONLY
    }
    # A wish names doctor and type itself, in lists the form marks "required for a wish".
    messages["doctor"]["wish_required"] = texts(lang).gettext(
        "Please choose a doctor for your preferred time."
    )
    messages["appointment_type"]["wish_required"] = texts(lang).gettext(
        "Please choose a type of appointment for your preferred time."
    )
    # The insurance against a slot kept for other types (relay/practice/insurance.py).
    messages["insurance"]["insurance_mismatch"] = error_message("insurance_mismatch", lang)
    return {
        "practice": practice.slug,
        "public_key": base64.b64encode(practice.public_key).decode(),
        "key_id": key_id(practice.public_key),
        "ticket_url": f"/api/v1/practices/{slug}/tickets",
        "rules_url": rules_url,
        "language": lang,
        "time_zone": profile.time_zone,
        "required": profile.sealing == "browser",
        "types": {kind.name: kind.minutes for kind in profile.appointment_types},
        "messages": messages,
        "texts": _texts(lang),
    }


def _texts(lang: str) -> Mapping[str, str]:
    # The words static/sealing.js shows: the error summary's (as form.html has them) and
    # what it says while sending or when sending failed.
    t = texts(lang)
    return {
        "error_summary_title": t.gettext("Please check your details"),
        "error_summary_lead": t.gettext("The request has not been sent yet. Please correct:"),
        "error_title_prefix": t.gettext("Error"),
        "sealing_failed": t.gettext(
            "The request could not be encrypted or sent. Please try again, or call the practice."
        ),
        "sending": t.gettext("Encrypting and sending the request …"),
    }
