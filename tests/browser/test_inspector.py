"""The inspector in a real browser: key, thread, runs, steps, live refresh, cancel, tenancy."""

from __future__ import annotations

import json

import openai
import pytest
from playwright.sync_api import Page, expect

from tests.support.live_server import LiveServer

from .helpers import enter_key, new_key, open_thread, page_url, sdk

pytestmark = pytest.mark.browser

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
ASKS_WEATHER = 'get_weather for {"city": "Oslo", "days": 2}'


def _waiting_run(client: openai.OpenAI) -> tuple[str, str, str]:
    """A run in requires_action: (thread id, run id, tool call id)."""
    assistant = client.beta.assistants.create(model="gpt-4o", tools=[WEATHER])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": ASKS_WEATHER}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
    )
    assert run.status == "requires_action"
    assert run.required_action is not None
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    return thread.id, run.id, call.id


def test_a_key_is_checked_by_the_api_and_kept_only_in_session_storage(
    page: Page, live: LiveServer, api_key: str
) -> None:
    page.goto(page_url(live))
    page.fill("#key-input", "bad")
    page.click("#key-form button[type=submit]")
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error-title")).to_have_text(
        "Error 401 (invalid_request_error, invalid_api_key):"
    )
    assert page.locator("#main").is_hidden()
    assert page.evaluate("sessionStorage.getItem('inspector.apiKey')") is None

    page.fill("#key-input", api_key)
    page.click("#key-form button[type=submit]")
    expect(page.locator("#main")).to_be_visible()
    expect(page.locator("#error")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('inspector.apiKey')") == api_key
    stored = page.evaluate("JSON.stringify(Object.assign({}, localStorage))")
    assert api_key not in stored
    page.reload()  # the tab keeps it
    expect(page.locator("#main")).to_be_visible()
    page.click("#forget-key")
    expect(page.locator("#key-form")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('inspector.apiKey')") is None


def test_a_thread_with_a_completed_run_and_a_tool_call_run(
    page: Page, live: LiveServer, api_key: str, client: openai.OpenAI
) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o", tools=[WEATHER])
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "Hello there"}], metadata={"team": "blue"}
    )
    first = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
    )
    assert first.status == "completed"
    client.beta.threads.messages.create(thread_id=thread.id, role="user", content=ASKS_WEATHER)
    second = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
    )
    assert second.required_action is not None
    call = second.required_action.submit_tool_outputs.tool_calls[0]
    second = client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread.id,
        run_id=second.id,
        tool_outputs=[{"tool_call_id": call.id, "output": '{"temp_c": -3}'}],
        poll_interval_ms=50,
    )
    assert second.status == "completed"

    enter_key(page, live, api_key)
    open_thread(page, thread.id)

    # Messages in order, with role and content.
    messages = page.locator("#message-list > li.message")
    expect(messages).to_have_count(4)
    roles = [r.strip().lower() for r in messages.locator(".role").all_inner_texts()]
    assert roles == ["user", "assistant", "user", "assistant"]
    texts = messages.locator(".part-text .text").all_inner_texts()
    assert texts == ["Hello there", "Hello there", ASKS_WEATHER, '{"temp_c": -3}']
    expect(page.locator("#thread-header .metadata")).to_contain_text("team")

    # Both runs listed, completed; the latest is selected.
    items = page.locator("#run-list > li[data-run-id]")
    expect(items).to_have_count(2)
    assert items.evaluate_all("els => els.map(e => e.dataset.runId)") == [first.id, second.id]
    expect(items.locator(".badge")).to_have_text(["completed", "completed"])
    run_view = page.locator("#run-view article.run")
    expect(run_view).to_have_attribute("data-run-id", second.id)
    expect(run_view.locator(".run-model")).to_have_text("gpt-4o")
    assert second.usage is not None
    expect(run_view.locator(".run-usage")).to_contain_text(f"= {second.usage.total_tokens} tokens")
    expect(run_view.locator(".timeline-points")).to_contain_text("created")
    expect(run_view.locator(".timeline-points")).to_contain_text("completed")
    expect(run_view.locator(".queue-wait")).to_have_text("0 s")

    # Steps in order: the tool call with its pretty-printed arguments and output, then the reply.
    steps = page.locator("#step-list > li.step")
    expect(steps).to_have_count(2)
    assert steps.evaluate_all("els => els.map(e => e.className)") == [
        "step step-tool_calls",
        "step step-message_creation",
    ]
    tool_call = steps.nth(0).locator(".tool-call")
    expect(tool_call.locator(".function-name")).to_have_text("get_weather")
    expect(tool_call).to_have_attribute("data-tool-call-id", call.id)
    arguments = tool_call.locator("pre.arguments").inner_text()
    assert arguments == json.dumps({"city": "Oslo", "days": 2}, indent=2)
    assert tool_call.locator("pre.output").inner_text() == json.dumps({"temp_c": -3}, indent=2)
    expect(steps.nth(1)).to_contain_text('{"temp_c": -3}')

    # The first run, picked from the list: one message creation step.
    items.nth(0).locator("button").click()
    expect(run_view).to_have_attribute("data-run-id", first.id)
    expect(steps).to_have_count(1)
    expect(steps.nth(0)).to_contain_text("Hello there")

    # Both are now in the recently viewed list, and reopen from there.
    recent = page.locator("#recent-list button.recent-run")
    expect(recent).to_have_count(2)
    page.fill("#thread-input", "")
    recent.filter(has_text=second.id).click()
    expect(run_view).to_have_attribute("data-run-id", second.id)


def test_an_active_run_turns_completed_without_a_reload(
    page: Page, live: LiveServer, api_key: str, client: openai.OpenAI
) -> None:
    thread_id, run_id, call_id = _waiting_run(client)
    enter_key(page, live, api_key)
    open_thread(page, thread_id)
    run_view = page.locator("#run-view article.run")
    expect(run_view).to_have_attribute("data-status", "requires_action")
    expect(page.locator("#live")).to_contain_text("every 50 ms")
    expect(page.locator("#tool-outputs pre.arguments")).to_have_text(
        json.dumps({"city": "Oslo", "days": 2}, indent=2)
    )
    page.evaluate("window.notReloaded = true")

    # Another client submits the outputs; the page sees it by polling.
    client.beta.threads.runs.submit_tool_outputs(
        thread_id=thread_id,
        run_id=run_id,
        tool_outputs=[{"tool_call_id": call_id, "output": "-3C"}],
    )
    expect(run_view).to_have_attribute("data-status", "completed")
    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("#live")).to_be_hidden()
    expect(page.locator("#run-list .badge")).to_have_text(["completed"])
    expect(page.locator("#message-list .part-text .text").last).to_have_text("-3C")
    expect(page.locator("#step-list pre.output")).to_have_text("-3C")


def test_tool_outputs_submitted_from_the_page(
    page: Page, live: LiveServer, api_key: str, client: openai.OpenAI
) -> None:
    thread_id, run_id, call_id = _waiting_run(client)
    enter_key(page, live, api_key)
    open_thread(page, thread_id)
    page.fill(f"#output-{call_id}", "sunny, 21C")
    page.click("#submit-outputs")
    expect(page.locator("#run-view article.run")).to_have_attribute("data-status", "completed")
    run = client.beta.threads.runs.retrieve(thread_id=thread_id, run_id=run_id)
    assert run.status == "completed"
    reply = client.beta.threads.messages.list(thread_id=thread_id, run_id=run_id).data[0]
    assert reply.content[0].type == "text"
    assert reply.content[0].text.value == "sunny, 21C"


def test_cancelling_a_run(
    page: Page, live: LiveServer, api_key: str, client: openai.OpenAI
) -> None:
    thread_id, run_id, _ = _waiting_run(client)
    enter_key(page, live, api_key)
    open_thread(page, thread_id)
    page.click("#cancel-run")
    run_view = page.locator("#run-view article.run")
    expect(run_view).to_have_attribute("data-status", "cancelled")
    expect(page.locator("#cancel-run")).to_have_count(0)
    expect(run_view.locator(".timeline-points")).to_contain_text("cancelled")
    expect(page.locator("#step-list > li.step").first).to_have_attribute("data-status", "cancelled")
    run = client.beta.threads.runs.retrieve(thread_id=thread_id, run_id=run_id)
    assert run.status == "cancelled"


def test_another_keys_thread_shows_the_apis_404(page: Page, live: LiveServer, api_key: str) -> None:
    other = sdk(live, new_key())
    theirs = other.beta.threads.create(messages=[{"role": "user", "content": "private"}])
    enter_key(page, live, api_key)
    page.fill("#thread-input", theirs.id)
    page.click("#thread-form button[type=submit]")
    expect(page.locator("#error-message")).to_have_text(f"No thread found with id '{theirs.id}'.")
    expect(page.locator("#error-title")).to_have_text("Error 404 (invalid_request_error):")
    assert page.locator("#thread-view").is_hidden()
    assert "private" not in page.content()


def test_the_deployed_path_calls_the_api_beside_it(
    page: Page, live: LiveServer, api_key: str, client: openai.OpenAI
) -> None:
    """At /inspector (a stage's /api/inspector deployed) the page finds /v1 next to it."""
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "from /inspector"}])
    enter_key(page, live, api_key, path="/inspector")
    open_thread(page, thread.id)
    expect(page.locator("#message-list .part-text .text")).to_have_text(["from /inspector"])
    expect(page.locator("#run-view")).to_contain_text("This thread has no runs.")
