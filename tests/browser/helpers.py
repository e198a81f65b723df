"""What the browser tests share: keys, an SDK client, and the page's basic gestures."""

from __future__ import annotations

import uuid

import openai
from playwright.sync_api import Page

from tests.support.live_server import LiveServer


def new_key() -> str:
    return f"sk-browser-{uuid.uuid4().hex}"


def sdk(live: LiveServer, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=live.base_url,
        api_key=api_key,
        max_retries=0,
        _strict_response_validation=True,
    )


def page_url(live: LiveServer, path: str = "/") -> str:
    return f"http://127.0.0.1:{live.port}{path}"


def enter_key(page: Page, live: LiveServer, api_key: str, path: str = "/") -> None:
    page.goto(page_url(live, path))
    page.fill("#key-input", api_key)
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#main:not([hidden])")


def open_thread(page: Page, thread_id: str) -> None:
    page.fill("#thread-input", thread_id)
    page.click("#thread-form button[type=submit]")
    page.wait_for_selector("#thread-view:not([hidden])")
