"""GET /privacy: generated from the field list the validator uses, with the real TTL."""

from __future__ import annotations

import html as html_module
import re
from typing import Any

import aiohttp
import pytest

from relay.fields import FIELD_NAMES, FIELDS
from tests.conftest import RunningRelay


async def privacy_html(relay: RunningRelay, lang: str) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{relay.url}/privacy", params={"lang": lang}) as response,
    ):
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"
        return await response.text()


@pytest.mark.parametrize("lang", ["de", "en"])
async def test_privacy_page_lists_exactly_the_validators_fields(
    relay: RunningRelay, lang: str
) -> None:
    """Each field of relay.fields is listed once with its label and purpose; nothing else."""
    html = await privacy_html(relay, lang)
    listed = re.findall(r'data-field="([^"]+)"', html)
    assert sorted(listed) == sorted(FIELD_NAMES)
    assert len(listed) == len(set(listed))
    for spec in FIELDS:
        block = html[html.index(f'data-field="{spec.name}"') :]
        block = block[: block.index("</div>")]
        assert spec.label[lang] in html_module.unescape(block)
        assert spec.purpose[lang] in html_module.unescape(block)


@pytest.mark.parametrize(
    ("lang", "phrases"),
    [
        (
            "de",
            [
                "höchstens 60 Minuten",
                "Art. 15",
                "Art. 21",
                "Aufsichtsbehörde",
                "zurückziehen",
                "verschlüsselt",
                "gelöscht",
            ],
        ),
        (
            "en",
            [
                "at most 60 minutes",
                "Art. 15",
                "Art. 21",
                "supervisory authority",
                "withdraw",
                "encrypted",
                "deleted",
            ],
        ),
    ],
)
async def test_privacy_page_states_ttl_rights_and_withdrawal(
    relay: RunningRelay, lang: str, phrases: list[str]
) -> None:
    """The page says how long a request is held, that it is sealed, and the patient's rights."""
    html = await privacy_html(relay, lang)
    for phrase in phrases:
        assert phrase in html, phrase


async def test_privacy_page_uses_the_configured_ttl(relay_factory: Any) -> None:
    """A shorter RELAY_PENDING_TTL is what the page states."""
    relay = await relay_factory(pending_ttl=900)
    html = await privacy_html(relay, "en")
    assert "at most 15 minutes" in html
    assert "60 minutes" not in html
