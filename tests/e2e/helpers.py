"""Small helpers shared by the e2e tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import openai
import pytest
from openai.types.beta import Assistant, Thread
from openai.types.beta.threads import Message, Run

T = TypeVar("T")

WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The time in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
WEATHER_QUESTION = 'what is get_weather in {"city":"Paris"}'


def wait_until(probe: Callable[[], T], done: Callable[[T], bool], timeout: float, what: str) -> T:
    """Call `probe` until `done(result)`; fail with the last result after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if done(result):
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s; last seen: {result!r}")
        time.sleep(0.1)


def text_of(message: Message) -> str:
    """A message's text parts joined by newlines (what the echo model reads)."""
    parts = [block.text.value for block in message.content if block.type == "text"]
    return "\n".join(parts)


def tool_assistant(client: openai.OpenAI, **kwargs: Any) -> Assistant:
    """An assistant with the functions get_weather and get_time, in that order."""
    return client.beta.assistants.create(model="gpt-4o", tools=[WEATHER, TIME], **kwargs)


def thread_with(client: openai.OpenAI, text: str) -> Thread:
    return client.beta.threads.create(messages=[{"role": "user", "content": text}])


def waiting_run(client: openai.OpenAI) -> tuple[Assistant, Thread, Run]:
    """A run stopped in `requires_action` (a get_weather call), so it stays active."""
    assistant = tool_assistant(client)
    thread = thread_with(client, WEATHER_QUESTION)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "requires_action", run
    return assistant, thread, run


def assistant_messages(client: openai.OpenAI, thread_id: str, run_id: str) -> list[Message]:
    page = client.beta.threads.messages.list(thread_id=thread_id, run_id=run_id, order="asc")
    return [m for m in page if m.role == "assistant"]


def error_message(error: openai.APIStatusError) -> str:
    """The `error.message` the server sent (the SDK prefixes its own `message` attribute)."""
    body = error.body
    assert isinstance(body, dict), body
    message = body.get("message")
    assert isinstance(message, str), body
    return message
