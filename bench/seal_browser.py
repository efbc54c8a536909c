"""What sealing a booking costs in the patient's browser: relay/web/static/seal.js in the
system Chromium with the CPU throttled 4x (CDP Emulation.setCPUThrottlingRate), as a
slow phone would run it, and what the file weighs on the wire.

1. the file's size, gzipped size and SHA-256;
2. one selfTest() (the form runs it once before it seals);
3. sealDocument() of a typical inner document (about 650 bytes of canonical JSON, padded
   to 768), `--runs` times, each a fresh call from the test driver timed on the page with
   performance.now(): p50, p95 and max (the first call, before the JIT warms up, is in
   the figures and printed apart). The last blob is opened with PyNaCl, so the figures are
   those of real sealing.

Targets: p95 <= 50 ms, <= 25 KB gzipped.

    .venv/bin/python bench/seal_browser.py [--runs 100] [--rate 4] [--script PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import hashlib
import statistics
import sys
from pathlib import Path

from nacl.public import PrivateKey, SealedBox
from playwright.async_api import async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from relay.crypto.sealing import canonical_json, pad
from tests.browser.pages import launch_chromium
from tests.browser.seal_page import SEAL_SCRIPT, inner_document, open_seal_page, seal_page_server

TIMED_SEAL = """([key, document]) => {
  const started = performance.now();
  const blob = TerminrelaySeal.sealDocument(key, document);
  return [performance.now() - started, blob];
}"""
TIMED_SELF_TEST = """() => {
  const started = performance.now();
  const passed = TerminrelaySeal.selfTest();
  return [performance.now() - started, passed];
}"""


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--rate", type=float, default=4.0, help="CPU throttling rate")
    parser.add_argument("--script", type=Path, default=SEAL_SCRIPT, help="another build")
    args = parser.parse_args()

    body = args.script.read_bytes()
    print(
        f"1. {args.script.name}: {len(body):,} bytes, "
        f"{len(gzip.compress(body, compresslevel=9, mtime=0)):,} gzipped (-9), "
        f"sha256 {hashlib.sha256(body).hexdigest()}"
    )
    private_key = PrivateKey.generate()
    public_key = base64.b64encode(bytes(private_key.public_key)).decode()
    document = inner_document()
    expected = pad(canonical_json(document))
    async with seal_page_server(args.script) as url, async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            page = await open_seal_page(browser, url)
            cdp = await page.context.new_cdp_session(page)
            await cdp.send("Emulation.setCPUThrottlingRate", {"rate": args.rate})
            self_test_ms, passed = await page.evaluate(TIMED_SELF_TEST)
            print(
                f"2. selfTest(), CPU {args.rate:g}x slower (Chromium {browser.version}): "
                f"{self_test_ms:.1f} ms, {'passed' if passed else 'FAILED'}"
            )
            took: list[float] = []
            blob = ""
            for _ in range(args.runs):
                elapsed, blob = await page.evaluate(TIMED_SEAL, [public_key, document])
                took.append(elapsed)
        finally:
            await browser.close()
    opened = SealedBox(private_key).decrypt(base64.b64decode(blob, validate=True))
    if opened != expected:
        raise SystemExit("the last blob did not open to the padded document")
    first = took[0]
    took.sort()
    print(
        f"3. sealDocument() of {len(canonical_json(document))} bytes (padded {len(expected)}), "
        f"{args.runs} calls, CPU {args.rate:g}x slower: p50 {statistics.median(took):.1f} ms, "
        f"p95 {percentile(took, 0.95):.1f} ms, max {took[-1]:.1f} ms (first call {first:.1f} ms)"
    )


if __name__ == "__main__":
    asyncio.run(main())
