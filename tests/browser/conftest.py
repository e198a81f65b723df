"""Browser tests: Debian's Chromium, driven headless by Playwright, against a live local server.

Playwright never downloads a browser here: it launches /usr/bin/chromium (`make test` installs
it) with a fresh profile. Each test gets its own API key (its own project) and a new page.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright

from tests.support.live_server import LiveServer, start_server

from .helpers import new_key, sdk

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def live() -> Iterator[LiveServer]:
    with start_server() as server:
        yield server


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def context(playwright: Playwright) -> Iterator[BrowserContext]:
    with tempfile.TemporaryDirectory(prefix="inspector-chromium-") as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=LAUNCH_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()


class PageProblems:
    """Uncaught script errors and CSP violations: each would be a broken page."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.errors.append(f"csp: {message.text}")


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    page = context.pages[0] if context.pages else context.new_page()
    page.set_default_timeout(15_000)
    problems = PageProblems(page)
    yield page
    assert problems.errors == []


@pytest.fixture
def api_key() -> str:
    return new_key()


@pytest.fixture
def client(live: LiveServer, api_key: str) -> openai.OpenAI:
    return sdk(live, api_key)
