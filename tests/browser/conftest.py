"""Fixtures of the browser tests; what they share besides lives in tests/browser/pages.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright

from tests.browser.pages import launch_chromium


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless system Chromium, in the test's own event loop (the relay runs there too)."""
    async with async_playwright() as playwright:
        launched = await launch_chromium(playwright)
        yield launched
        await launched.close()
