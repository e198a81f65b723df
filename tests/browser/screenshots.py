"""Screenshots of the inspector for the README: `python -m tests.browser.screenshots`.

Starts a live local server, makes a thread with a plain run and a tool-call run (echo model),
opens it in Debian's Chromium and writes docs/inspector-thread.png (messages and runs) and
docs/inspector-run.png (the tool-call run: timeline, usage, steps). Prints each file's size.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.support.live_server import start_server

from .conftest import CHROMIUM, LAUNCH_ARGS
from .helpers import enter_key, new_key, open_thread, sdk

DOCS = Path(__file__).resolve().parents[2] / "docs"
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object"}},
}


def main() -> None:
    DOCS.mkdir(exist_ok=True)
    api_key = new_key()
    with start_server() as live:
        client = sdk(live, api_key)
        assistant = client.beta.assistants.create(
            model="gpt-4o", instructions="You are terse.", tools=[WEATHER]
        )
        thread = client.beta.threads.create(
            messages=[{"role": "user", "content": "Hello there"}], metadata={"team": "support"}
        )
        client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
        )
        client.beta.threads.messages.create(
            thread_id=thread.id, role="user", content='get_weather for {"city": "Oslo"}'
        )
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
        )
        assert run.required_action is not None
        call = run.required_action.submit_tool_outputs.tool_calls[0]
        client.beta.threads.runs.submit_tool_outputs_and_poll(
            thread_id=thread.id,
            run_id=run.id,
            tool_outputs=[{"tool_call_id": call.id, "output": '{"temp_c": -3, "sky": "clear"}'}],
            poll_interval_ms=50,
        )
        with sync_playwright() as driver, tempfile.TemporaryDirectory() as profile:
            context = driver.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=LAUNCH_ARGS,
                viewport={"width": 1100, "height": 800},
            )
            page = context.pages[0]
            enter_key(page, live, api_key)
            open_thread(page, thread.id)
            page.wait_for_selector(f'#run-view article[data-run-id="{run.id}"]')
            # The thread: its header, messages and run list (the run's detail is the other shot).
            thread_box = page.locator("#thread-view").bounding_box()
            messages_box = page.locator("#messages").bounding_box()
            assert thread_box is not None and messages_box is not None
            bottom = messages_box["y"] + messages_box["height"]
            clip = {**thread_box, "height": bottom - thread_box["y"] + 8}
            page.screenshot(path=str(DOCS / "inspector-thread.png"), clip=clip)
            page.locator("#run-view").screenshot(path=str(DOCS / "inspector-run.png"))
            for name in ("inspector-thread.png", "inspector-run.png"):
                path = DOCS / name
                print(f"docs/{name}: {path.stat().st_size / 1024:.0f} KiB")
            context.close()


if __name__ == "__main__":
    main()
