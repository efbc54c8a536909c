"""Does the relay serve patients the booking form this release trusts?

In protocol 2 the patient's browser seals the booking with the relay's own page and
scripts, so what keeps the relay from reading what patients type is that page: a relay
serving another script, or another public key, could read it all. The client fetches the
practice's form page `{relay}/p/{slug}` as a patient's browser would and checks:

- the Content-Security-Policy: scripts from the relay only (`script-src 'self'` and no
  other source, no 'unsafe-inline' or 'unsafe-eval'), no plugins (`object-src 'none'`,
  or `default-src 'none'` without an object-src); no inline script, no `<base>`;
- every `<script src>`: from the relay's own origin, with an `integrity` attribute that
  the fetched bytes match, and bytes whose SHA-256 is one this release accepts
  (accepted_scripts.json, written by scripts/pin-scripts);
- the sealing key the page names (`<script type="application/json" id="sealing-config">`)
  is this practice's current public key, under its key id;
- every input, select and textarea named like a field only the sealed part may carry
  (booking_rules.json's `sealed_only`) carries `data-seal`: the form's script takes the
  names of those off, so their values never reach the relay in the clear.

A page without a sealing key does not seal in the browser: the relay seals, as the
profile's `sealing` allows unless it is "browser" (`require_sealing`). Then only the
policy and the origins are checked; the scripts guard nothing the relay does not see.

The check sees the page the relay shows this client. A relay that shows patients another
page than the practice (by address, by time) is not caught here; it catches a relay that
serves every visitor a changed page, which is what an attacker on the relay's server, or
an operator changing the code, would do first.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from importlib import resources
from urllib.parse import urljoin, urlsplit

from practice_client.limits import JsonRejectedError, load_json
from practice_client.relay.api import RelayClient, RelayUnavailableError
from practice_client.relay.booking_rules import load_rules
from practice_client.relay.keys import encode_key, key_id

# How often `run` checks the page, besides at start: a changed page shows within hours,
# at a cost of a few requests a day.
PAGE_CHECK_EVERY = 6 * 3600.0

SEALING_CONFIG_ID = "sealing-config"
SEAL_ATTRIBUTE = "data-seal"
_SRI_ALGORITHMS = {"sha512": hashlib.sha512, "sha384": hashlib.sha384, "sha256": hashlib.sha256}
_SRI_STRENGTH = ("sha512", "sha384", "sha256")  # the strongest listed is the one a browser uses
# A <script> without src that a browser would run; JSON and other data blocks it does not.
_SCRIPT_TYPES = frozenset(
    {"", "module", "text/javascript", "application/javascript", "application/ecmascript",
     "text/ecmascript"}
)  # fmt: skip
_SHOWN_LENGTH = 60


@dataclass(frozen=True)
class PageReport:
    """What the check found; `problems` are one line each, naming what differs."""

    url: str
    problems: tuple[str, ...]
    scripts: tuple[str, ...] = ()  # the scripts checked, by file name
    sealing: bool = False  # the page seals in the browser
    sealed_fields: int = 0  # sensitive fields found, each with data-seal

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One line saying what was checked, for a page without problems."""
        if not self.sealing:
            return (
                f"the booking form page {self.url} does not seal in the browser (the relay "
                "seals); its security policy allows no foreign or inline script"
            )
        names = ", ".join(self.scripts) or "none"
        return (
            f"the booking form page {self.url} seals to our current key with the released "
            f"scripts ({names}); strict security policy; {self.sealed_fields} sensitive "
            "field(s) sealed"
        )


@functools.cache
def accepted_scripts() -> Mapping[str, frozenset[str]]:
    """Every script hash this release accepts (hex SHA-256), by file name."""
    text = (
        resources.files(__package__ or "practice_client.relay")
        .joinpath("accepted_scripts.json")
        .read_text(encoding="utf-8")
    )
    scripts = json.loads(text)["scripts"]
    return {
        str(name): frozenset(str(digest) for digest in digests) for name, digests in scripts.items()
    }


async def check_form_page(
    relay: RelayClient,
    slug: str,
    public_key: bytes,
    *,
    require_sealing: bool = False,
    accepted: Mapping[str, frozenset[str]] | None = None,
) -> PageReport:
    """Fetch `{relay}/p/{slug}` and the scripts it names, and check them (module docstring).

    Never raises for what the relay answers: a page that cannot be fetched is a problem.
    """
    path = f"/p/{slug}"
    url = relay.base_url + path
    try:
        page = await relay.fetch_page(path)
    except RelayUnavailableError as error:
        return PageReport(url, (f"the booking form page {url}: it could not be fetched ({error})",))
    if page.status != 200:
        return PageReport(url, (f"the booking form page {url}: it answered HTTP {page.status}",))
    parsed = _FormPage()
    parsed.feed(page.body.decode("utf-8", "replace"))
    parsed.close()
    policies = page.headers.get("content-security-policy", ())
    problems = [f"its {problem}" for problem in policy_problems(policies)]
    problems += parsed.structure_problems()
    sources = parsed.script_sources()
    for source in sources:
        if not _same_origin(urljoin(url, source), relay.base_url):
            problems.append(f"it loads the script {_shown(source)} from another origin")
    config = parsed.sealing_config()
    sealing = config is not None
    checked: list[str] = []
    fields = 0
    if config is None:
        if require_sealing:
            problems.append(
                f'it names no sealing key (no <script id="{SEALING_CONFIG_ID}">), so the '
                'relay reads what patients type, though the practice\'s sealing is "browser"'
            )
    else:
        problems += _config_problems(config, slug, public_key)
        unsealed, fields = parsed.unsealed_fields(load_rules().sealed_only)
        if unsealed:
            problems.append(
                f"the field(s) {', '.join(unsealed)} lack {SEAL_ATTRIBUTE}, so the form could "
                "send them to the relay in the clear"
            )
        for script in parsed.scripts:
            if script.src is None or not _same_origin(urljoin(url, script.src), relay.base_url):
                continue
            name, problem = await _script_problem(
                relay,
                urljoin(url, script.src),
                script.integrity,
                accepted if accepted is not None else accepted_scripts(),
            )
            checked.append(name)
            if problem is not None:
                problems.append(problem)
    if problems:
        return PageReport(url, tuple(f"the booking form page {url}: {p}" for p in problems))
    return PageReport(url, (), tuple(checked), sealing, fields)


def policy_problems(values: Sequence[str]) -> list[str]:
    """What the Content-Security-Policy header(s) lack; [] if one policy is strict enough.

    Every policy sent is enforced, so one strict policy suffices; otherwise the first one's
    shortcomings are named. Without script-src or object-src, default-src applies.
    """
    policies = [policy for value in values for policy in value.split(",") if policy.strip()]
    if not policies:
        return ["answer has no Content-Security-Policy header"]
    found = [_policy_problems(_directives(policy)) for policy in policies]
    return [] if any(not problems for problems in found) else found[0]


def _directives(policy: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for directive in policy.split(";"):
        words = directive.split()
        if words:
            # A repeated directive is ignored by browsers: the first one counts.
            directives.setdefault(words[0].lower(), [word.lower() for word in words[1:]])
    return directives


def _policy_problems(directives: Mapping[str, list[str]]) -> list[str]:
    problems = []
    default = directives.get("default-src")
    scripts = directives.get("script-src", default)
    if scripts is None:
        problems.append("Content-Security-Policy does not restrict scripts (no script-src)")
    elif scripts != ["'self'"]:
        problems.append(
            "Content-Security-Policy allows scripts from more than 'self' "
            f"(script-src {_shown(' '.join(scripts))})"
        )
    for name in ("script-src-elem", "script-src-attr"):
        sources = directives.get(name)
        if sources is not None and not set(sources) <= {"'self'", "'none'"}:
            problems.append(
                f"Content-Security-Policy allows more than 'self' in {name} "
                f"({_shown(' '.join(sources))})"
            )
    objects = directives.get("object-src", default)
    if objects != ["'none'"]:
        problems.append("Content-Security-Policy allows plugins (no object-src 'none')")
    return problems


def _config_problems(config: str, slug: str, public_key: bytes) -> list[str]:
    try:
        named = load_json(config.encode("utf-8"))
    except JsonRejectedError:
        named = None
    if not isinstance(named, dict):
        return [f"its {SEALING_CONFIG_ID} is not a JSON object"]
    problems = []
    ours = encode_key(public_key)
    if named.get("public_key") != ours:
        shown = named.get("public_key")
        problems.append(
            f"it seals to the public key {_shown(shown) if isinstance(shown, str) else 'none'}, "
            f"not to our current one ({ours}): bookings would be readable by its holder"
        )
    elif named.get("key_id") != key_id(public_key):
        problems.append(f"it names our key under another key id than {key_id(public_key)}")
    if named.get("practice") != slug:
        problems.append(f"its {SEALING_CONFIG_ID} names another practice than {slug!r}")
    return problems


async def _script_problem(
    relay: RelayClient, url: str, integrity: str | None, accepted: Mapping[str, frozenset[str]]
) -> tuple[str, str | None]:
    """The script's file name and what is wrong with it, if anything."""
    parts = urlsplit(url)
    name = parts.path.rpartition("/")[2]
    shown = _shown(name)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        answer = await relay.fetch_page(path)
    except RelayUnavailableError as error:
        return name, f"the script {shown} could not be fetched ({error})"
    if answer.status != 200:
        return name, f"the script {shown} answered HTTP {answer.status}"
    digest = hashlib.sha256(answer.body).hexdigest()
    if name not in accepted:
        return name, f"the script {shown} is not one this release knows"
    if digest not in accepted[name]:
        return name, (
            f"the script {shown} is not one this release accepts (SHA-256 {digest}): "
            "patients may be given code that reads what they type"
        )
    if integrity is None:
        return name, f"the script {shown} has no integrity attribute"
    if not _integrity_matches(integrity, answer.body):
        return name, f"the script {shown} does not match its integrity attribute"
    return name, None


def _integrity_matches(integrity: str, content: bytes) -> bool:
    """Subresource Integrity: the bytes match a hash of the strongest algorithm listed."""
    listed: dict[str, list[bytes]] = {}
    for token in integrity.split():
        algorithm, dash, value = token.partition("-")
        if not dash or algorithm.lower() not in _SRI_ALGORITHMS:
            continue
        try:
            digest = base64.b64decode(value.partition("?")[0], validate=True)
        except (binascii.Error, ValueError):
            continue
        listed.setdefault(algorithm.lower(), []).append(digest)
    for algorithm in _SRI_STRENGTH:
        if algorithm in listed:
            return _SRI_ALGORITHMS[algorithm](content).digest() in listed[algorithm]
    return False


def _same_origin(url: str, base_url: str) -> bool:
    here, there = urlsplit(base_url), urlsplit(url)
    return (here.scheme, here.hostname, here.port) == (there.scheme, there.hostname, there.port)


def _shown(text: str) -> str:
    """A relay-chosen text in a log line: quoted, escaped, cut."""
    return repr(text[:_SHOWN_LENGTH] + ("…" if len(text) > _SHOWN_LENGTH else ""))


@dataclass
class _Script:
    src: str | None
    integrity: str | None
    type: str
    id: str | None
    text: list[str] = field(default_factory=list)


class _FormPage(HTMLParser):
    """The scripts, form fields and <base> elements of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[_Script] = []
        self.fields: list[dict[str, str | None]] = []
        self.bases = 0
        self._open_script: _Script | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes: dict[str, str | None] = {}
        for name, value in attrs:
            attributes.setdefault(name, value)  # a repeated attribute: browsers keep the first
        if tag == "script":
            self._open_script = _Script(
                src=attributes.get("src"),
                integrity=attributes.get("integrity"),
                type=(attributes.get("type") or "").strip().lower(),
                id=attributes.get("id"),
            )
            self.scripts.append(self._open_script)
        elif tag in ("input", "select", "textarea"):
            self.fields.append(attributes)
        elif tag == "base":
            self.bases += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._open_script = None

    def handle_data(self, data: str) -> None:
        if self._open_script is not None:
            self._open_script.text.append(data)

    def script_sources(self) -> list[str]:
        return [script.src for script in self.scripts if script.src is not None]

    def structure_problems(self) -> list[str]:
        problems = []
        if self.bases:
            problems.append("it sets a <base> address, which changes where scripts load from")
        inline = [
            script
            for script in self.scripts
            if script.src is None and script.type in _SCRIPT_TYPES and "".join(script.text).strip()
        ]
        if inline:
            problems.append(f"it holds {len(inline)} inline script(s)")
        return problems

    def sealing_config(self) -> str | None:
        """The text of the sealing key's JSON block, if the page has one."""
        for script in self.scripts:
            if script.id == SEALING_CONFIG_ID and script.src is None:
                return "".join(script.text)
        return None

    def unsealed_fields(self, sealed_only: Sequence[str]) -> tuple[list[str], int]:
        """The sensitive field names found without data-seal, and how many were found."""
        sensitive = [attrs for attrs in self.fields if attrs.get("name") in sealed_only]
        missing = sorted(
            {str(attrs.get("name")) for attrs in sensitive if SEAL_ATTRIBUTE not in attrs}
        )
        return missing, len(sensitive)
