"""What a queued mail job holds, and how the worker opens it.

Two kinds of job wait in a practice's mail queue (relay/storage/store.py, `pack_mail_job`):

- **sealed** (the confirmation mail, and jobs of earlier relays): one ciphertext under the
  data keys holding everything the mail needs (the confirmation token rather than the
  link, which is RELAY_PUBLIC_URL in front of it), bound to the practice and the job's id.
- **handed** (the mail after confirming, "handed to the practice"): put together by the
  confirm script, which cannot decrypt, so that confirming is one Redis round trip with
  nothing read before it. It joins the booking's encrypted summary (the address, the
  practice, the time; bound to the booking's id) with the cancel link the page encrypted
  (bound to the practice and this purpose; the page does not know the booking's id
  before confirming) and the cancel record's end, which the script worked out. The two
  ciphertexts are paired only by that atomic script: pairing others needs write access to
  Redis, which could as well replace a practice's public key.

Both carry the language the patient booked in (the job's `lang`, the summary's `lang`):
the mail is written in it, and its links ask for it (`?lang=`), so the confirmation and
cancel pages open in the mail's language whatever the browser prefers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from relay.crypto.sealing import DataCipher
from relay.i18n.languages import DEFAULT_LANGUAGE, known
from relay.mail.move_links import MOVE_PARAM, seal_appointment, summary_appointment
from relay.storage.store import MailJob

# Suffix of the second mail's queue entry and job key: `m:{id}.h` beside `m:{id}` (the
# confirm script writes the same suffix).
HANDED_MAIL_SUFFIX = ".h"
# The links of a format-0 job, per kind, that get the mail's language.
_LINKS = {"answer": ("link", "book_again", "move_link"), "reminder": ("link", "stop", "move_link")}


def mail_job_context(practice: str, job_id: str) -> bytes:
    return f"mail:{practice}:{job_id}".encode()


def summary_context(practice: str, booking_id: str) -> bytes:
    return f"summary:{practice}:{booking_id}".encode()


def cancel_link_context(practice: str) -> bytes:
    """The cancel link the confirm page encrypts for the second mail."""
    return f"mail:{practice}:handed cancel link".encode()


def is_wish(summary: Mapping[str, object]) -> bool:
    # Summaries written before "kind" existed say "wish" instead.
    if "kind" in summary:
        return summary.get("kind") == "wish"
    return bool(summary.get("wish"))


def open_job(cipher: DataCipher, job: MailJob, *, public_url: str) -> dict[str, object] | None:
    """The decrypted job as ConfirmationMail.from_job takes it; None for a handed-over
    job whose summary holds no address (written before it did). DecryptionFailed when a
    part is not under a configured key."""
    if job.summary is None:
        values = cipher.decrypt_json(
            job.payload, context=mail_job_context(job.practice, job.booking_id)
        )
        # Jobs of earlier relays name no language: their mail is German.
        lang = values["lang"] = known(str(values.get("lang") or DEFAULT_LANGUAGE))
        # A confirmation job holds the token; jobs of earlier relays hold the whole link.
        if "token" in values:
            values["link"] = with_language(f"{public_url}/c/{values.pop('token')}", lang)
        # An answer's and a reminder's links (relay/booking/answers.py, reminders.py) open
        # in the mail's language too.
        for name in _LINKS.get(str(values.get("kind")), ()):
            if values.get(name):
                values[name] = with_language(str(values[name]), lang)
        return values
    booking_id = job.booking_id.removesuffix(HANDED_MAIL_SUFFIX)
    summary = cipher.decrypt_json(job.summary, context=summary_context(job.practice, booking_id))
    opened = cipher.decrypt_json(job.payload, context=cancel_link_context(job.practice))
    recipient = summary.get("to")
    if not isinstance(recipient, str) or not recipient:
        return None
    until = job.cancel_until_ms
    lang = known(str(summary.get("lang") or DEFAULT_LANGUAGE))
    # No link once the appointment has begun: there is no cancel record then.
    link = str(opened.get("link") or "") if until else ""
    # "Choose another time": the appointment sealed into the link, for a published slot.
    move_link = ""
    if link and not is_wish(summary):
        param = seal_appointment(cipher, job.practice, summary_appointment(booking_id, summary))
        move_link = with_language(f"{link}/move?{MOVE_PARAM}={param}", lang)
    return {
        "kind": "handed",
        "status": str(summary.get("status") or ""),
        "to": recipient,
        "lang": lang,
        "practice_name": str(summary["practice_name"]),
        "link": with_language(link, lang) if link else "",
        "move_link": move_link,
        "start": str(summary["start"]),
        "end": str(summary.get("end") or ""),
        "time_zone": str(summary["time_zone"]),
        "wish": is_wish(summary),
        "cancel_until": _utc_iso(datetime.fromtimestamp(until / 1000, UTC)) if until else "",
    }


def with_language(link: str, lang: str) -> str:
    """The link asking for `lang`: the page opens in the mail's language."""
    return f"{link}{'&' if '?' in link else '?'}lang={lang}"


def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
