"""relay/web/static/seal.js in a real Chromium: what it seals opens with PyNaCl to exactly
the bytes relay/crypto/sealing.py would have padded, under the relay's script policy."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nacl.public import PrivateKey, SealedBox
from playwright.async_api import Browser, Page

from relay.crypto.sealing import PAD_MAX, canonical_json, pad, padded_size
from tests.browser.seal_page import inner_document, open_seal_page, seal_page_server

pytestmark = pytest.mark.browser

SEAL = "([key, document]) => TerminrelaySeal.sealDocument(key, document)"
# An exception thrown on the page, as [name, message], or null.
THROWN = """(call) => {
  try { call(); return null; } catch (error) { return [error.name, error.message]; }
}"""
BOX_OVERHEAD = 48  # ephemeral public key and MAC


def near_cap_document() -> dict[str, Any]:
    """A document whose canonical JSON fills the largest padded size to the last byte."""
    document = inner_document(note="")
    document["note"] = "x" * (PAD_MAX - 4 - len(canonical_json(document)))
    assert len(pad(canonical_json(document))) == PAD_MAX
    return document


DOCUMENTS: dict[str, dict[str, Any]] = {
    "ASCII": inner_document(note="Back pain since Monday, mornings preferred"),
    "umlauts": inner_document(
        first_name="Jürgen", last_name="Größe-Übelhör", note="Rückenschmerzen, ärgerlich"
    ),
    "Arabic": inner_document(first_name="محمد", last_name="العبدالله", note="ألم في الظهر"),
    "emoji": inner_document(note="Zahnschmerzen 😬🦷 seit 🗓️ Montag 👩‍⚕️"),
    "escapes": inner_document(
        note='Zeile 1\nZeile 2\t"zitiert" \\ Schräg \u2028 \u0007 \u007f \u00a0', phone=None
    ),
    "note of 1000 characters": inner_document(note=("Ärger mit dem Knie. " * 50)[:1000]),
    "near 8192 bytes": near_cap_document(),
}


@pytest.fixture
async def seal_url() -> AsyncIterator[str]:
    async with seal_page_server() as url:
        yield url


async def seal(page: Page, public_key: bytes, document: dict[str, Any]) -> bytes:
    blob = await page.evaluate(SEAL, [base64.b64encode(public_key).decode(), document])
    assert isinstance(blob, str)
    return base64.b64decode(blob, validate=True)


async def test_sealed_documents_open_in_python_to_the_relays_padded_bytes(
    browser: Browser, seal_url: str
) -> None:
    """Given a practice key pair; when the browser seals each document, PyNaCl's SealedBox
    opens it to exactly pad(canonical_json(document)), which parses back to the document,
    and canonicalJson gives Python's canonical JSON; the CSP refused nothing."""
    private_key = PrivateKey.generate()
    page = await open_seal_page(browser, seal_url)
    for name, document in DOCUMENTS.items():
        expected = pad(canonical_json(document))
        text = await page.evaluate(
            "(document) => TerminrelaySeal.canonicalJson(document)", document
        )
        assert text.encode() == canonical_json(document), name

        blob = await seal(page, bytes(private_key.public_key), document)

        assert len(blob) == len(expected) + BOX_OVERHEAD, name
        padded = SealedBox(private_key).decrypt(blob)
        assert padded == expected, name
        length = int.from_bytes(padded[:4], "big")
        assert json.loads(padded[4 : 4 + length]) == document, name
    assert await page.evaluate("window.cspViolations") == []


async def test_pad_matches_python_at_every_size_boundary(browser: Browser, seal_url: str) -> None:
    """pad() equals relay.crypto.sealing.pad byte for byte around the floor and Padmé's
    steps up to the cap, and one byte past the cap throws as Python's pad raises."""
    lengths = [0, 1, 763, 764, 765, 1000, 1020, 1021, 2000, 4091, 4092, 4093, 6000, 8187, 8188]
    page = await open_seal_page(browser, seal_url)
    padded = await page.evaluate(
        """(lengths) => lengths.map((length) => Array.from(
             TerminrelaySeal.pad(Uint8Array.from({ length }, (_, index) => index % 251))))""",
        lengths,
    )
    for length, result in zip(lengths, padded, strict=True):
        assert bytes(result) == pad(bytes(index % 251 for index in range(length))), length
    assert sorted({len(result) for result in padded}) == [
        768,
        800,
        1024,
        1088,
        2048,
        4096,
        4352,
        6144,
        8192,
    ]

    with pytest.raises(ValueError, match="exceeds the largest padded size"):
        pad(bytes(PAD_MAX - 3))
    thrown = await page.evaluate(
        f"() => ({THROWN})(() => TerminrelaySeal.pad(new Uint8Array({PAD_MAX - 3})))"
    )
    assert thrown == ["RangeError", "message of 8193 bytes exceeds the largest padded size"]


async def test_a_document_over_the_cap_throws(browser: Browser, seal_url: str) -> None:
    """A document one byte longer than fits 8192 padded bytes is refused, as the relay
    refuses to pad it."""
    document = near_cap_document()
    document["note"] += "x"
    page = await open_seal_page(browser, seal_url)
    key = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode()
    thrown = await page.evaluate(
        f"([key, document]) => ({THROWN})(() => TerminrelaySeal.sealDocument(key, document))",
        [key, document],
    )
    assert thrown is not None
    assert thrown[0] == "RangeError"
    with pytest.raises(ValueError, match="exceeds"):
        padded_size(4 + len(canonical_json(document)))


async def test_sealed_box_is_libsodiums_with_a_fresh_wiped_ephemeral_key(
    browser: Browser, seal_url: str
) -> None:
    """sealedBox() of raw bytes opens with PyNaCl; each call draws its ephemeral key from
    crypto.getRandomValues (32 bytes, once) and leaves that array zeroed; two boxes of one
    message differ; keys that are not 32 bytes, or of low order, are refused."""
    private_key = PrivateKey.generate()
    page = await open_seal_page(
        browser,
        seal_url,
        init_script="""
          window.drawn = [];
          const getRandomValues = crypto.getRandomValues.bind(crypto);
          crypto.getRandomValues = (array) => {
            window.drawn.push(array);
            return getRandomValues(array);
          };
        """,
    )
    message = bytes(range(256)) * 3
    boxes, drawn = await page.evaluate(
        """([key, message]) => {
             window.drawn = [];
             const boxes = [1, 2].map(() => Array.from(TerminrelaySeal.sealedBox(
               Uint8Array.from(key), Uint8Array.from(message))));
             return [boxes, window.drawn.map((array) => Array.from(array))];
           }""",
        [list(bytes(private_key.public_key)), list(message)],
    )
    assert [len(array) for array in drawn] == [32, 32]
    assert all(byte == 0 for array in drawn for byte in array)
    first, second = (bytes(box) for box in boxes)
    assert SealedBox(private_key).decrypt(first) == message
    assert SealedBox(private_key).decrypt(second) == message
    assert first[:32] != second[:32]
    assert len(first) == len(message) + BOX_OVERHEAD

    refusals = {
        "new Uint8Array(32)": ["Error", "sealedBox: unusable public key"],  # low order
        "new Uint8Array(31)": ["TypeError", "a key is a Uint8Array of 32 bytes"],
        "[...new Uint8Array(32)]": ["TypeError", "a key is a Uint8Array of 32 bytes"],
    }
    for key, refusal in refusals.items():
        thrown = await page.evaluate(
            f"() => ({THROWN})(() => TerminrelaySeal.sealedBox({key}, new Uint8Array(8)))"
        )
        assert thrown == refusal, key
    short_key = base64.b64encode(bytes(31)).decode()
    thrown = await page.evaluate(
        f"(key) => ({THROWN})(() => TerminrelaySeal.sealDocument(key, {{}}))", short_key
    )
    assert thrown == ["TypeError", "a key is a Uint8Array of 32 bytes"]


async def test_self_test_passes_and_key_ids_are_the_relays(browser: Browser, seal_url: str) -> None:
    """selfTest() is true in Chromium; keyId() is the first 16 hexadecimal digits of SHA-256
    of the raw key, as the relay names keys; the API is the documented one, frozen."""
    page = await open_seal_page(browser, seal_url)
    assert await page.evaluate("TerminrelaySeal.selfTest()") is True
    keys = [bytes(PrivateKey.generate().public_key) for _ in range(3)]
    for key in keys:
        key_id = await page.evaluate(
            "(key) => TerminrelaySeal.keyId(key)", base64.b64encode(key).decode()
        )
        assert key_id == hashlib.sha256(key).hexdigest()[:16]
    shape = await page.evaluate(
        """() => [Object.isFrozen(TerminrelaySeal), TerminrelaySeal.version,
                  Object.keys(TerminrelaySeal).sort()]"""
    )
    assert shape == [
        True,
        "1",
        ["canonicalJson", "keyId", "pad", "sealDocument", "sealedBox", "selfTest", "version"],
    ]
    assert await page.evaluate("window.cspViolations") == []


@pytest.mark.parametrize(
    "breakage",
    [
        "delete Crypto.prototype.getRandomValues;",
        "Crypto.prototype.getRandomValues = () => { throw new Error('no entropy'); };",
    ],
    ids=["no getRandomValues", "getRandomValues throws"],
)
async def test_self_test_is_false_without_working_randomness(
    browser: Browser, seal_url: str, breakage: str
) -> None:
    """Without a working crypto.getRandomValues, selfTest() answers false instead of
    throwing, so the form falls back to the relay's sealing."""
    page = await open_seal_page(browser, seal_url, init_script=breakage)
    assert await page.evaluate("typeof TerminrelaySeal.selfTest") == "function"
    assert await page.evaluate(f"() => ({THROWN})(() => TerminrelaySeal.selfTest())") is None
    assert await page.evaluate("TerminrelaySeal.selfTest()") is False
