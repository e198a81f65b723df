"""`stream: true` through the SDK's stream helpers, and one stream read raw off the wire."""

from __future__ import annotations

import httpx2
import openai
import pytest
from openai import AssistantEventHandler
from openai.types.beta.threads import Text, TextDelta
from openai.types.beta.threads.runs import ToolCall
from typing_extensions import override

from tests.e2e.helpers import WEATHER_QUESTION, text_of, thread_with, tool_assistant
from tests.e2e.wire import DONE_FRAME, parse_sse, validate_stream_event

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

RUN_START = ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]


def _is_run_event(name: str) -> bool:
    return name.startswith("thread.run.") and not name.startswith("thread.run.step.")


def _in_order(names: list[str], expected: list[str]) -> bool:
    """`expected` appears in `names` as a subsequence."""
    it = iter(names)
    return all(name in it for name in expected)


def test_run_stream_events_and_final_messages(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = thread_with(client, "stream me please")
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
        names = [event.event for event in stream]
        final_messages = stream.get_final_messages()
        final_run = stream.get_final_run()

    assert names[:4] == [*RUN_START, "thread.run.step.created"], names
    assert names[-1] == "thread.run.completed", names
    assert _in_order(
        names,
        [
            "thread.run.step.created",
            "thread.message.created",
            "thread.message.delta",
            "thread.message.completed",
            "thread.run.step.completed",
            "thread.run.completed",
        ],
    ), names
    assert [text_of(m) for m in final_messages] == ["stream me please"]
    assert final_run.status == "completed"
    stored = client.beta.threads.runs.retrieve(final_run.id, thread_id=thread.id)
    assert stored.status == "completed" and stored.usage == final_run.usage


def test_stream_to_requires_action_then_submit_tool_outputs_stream(
    client: openai.OpenAI,
) -> None:
    assistant = tool_assistant(client)
    thread = thread_with(client, WEATHER_QUESTION)
    runs = client.beta.threads.runs
    with runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
        names = [event.event for event in stream]
        run = stream.get_final_run()
    assert names[:3] == RUN_START, names
    assert names[-1] == "thread.run.requires_action", "the stream ends at requires_action"
    assert "thread.message.created" not in names
    assert run.status == "requires_action" and run.required_action is not None
    [call] = run.required_action.submit_tool_outputs.tool_calls
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city":"Paris"}')

    with runs.submit_tool_outputs_stream(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "cloudy"}],
    ) as after:
        after_names = [event.event for event in after]
        messages = after.get_final_messages()
    assert after_names[-1] == "thread.run.completed", after_names
    assert _in_order(
        after_names,
        ["thread.run.queued", "thread.run.in_progress", "thread.message.delta"],
    ), after_names
    assert [text_of(m) for m in messages] == ["cloudy"]
    assert runs.retrieve(run.id, thread_id=thread.id).status == "completed"


def test_create_and_run_stream_starts_with_thread_created(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    with client.beta.threads.create_and_run_stream(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "fresh thread"}]},
    ) as stream:
        events = list(stream)
        messages = stream.get_final_messages()
    names = [e.event for e in events]
    assert names[:4] == ["thread.created", *RUN_START], names
    assert names[-1] == "thread.run.completed", names
    assert [text_of(m) for m in messages] == ["fresh thread"]
    thread_event = events[0]
    assert thread_event.event == "thread.created"
    assert client.beta.threads.retrieve(thread_event.data.id).id == thread_event.data.id


def test_raw_stream_on_the_wire(client: openai.OpenAI, http: httpx2.Client) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = thread_with(client, "raw bytes")
    response = http.post(
        f"/threads/{thread.id}/runs", json={"assistant_id": assistant.id, "stream": True}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    body = response.text
    assert body.rstrip("\n").endswith(DONE_FRAME), body[-200:]
    events = parse_sse(body)
    for name, data in events:
        validate_stream_event(name, data)
    names = [name for name, _ in events]
    assert names[:3] == RUN_START and names[-2:] == ["thread.run.completed", "done"], names
    deltas = [data for name, data in events if name == "thread.message.delta"]
    assert (
        "".join(part["text"]["value"] for delta in deltas for part in delta["delta"]["content"])
        == "raw bytes"
    )
    run_ids = {data["id"] for name, data in events if _is_run_event(name)}
    assert len(run_ids) == 1, "every run event is about the same run"


class _Recorder(AssistantEventHandler):
    """The SDK's callback interface, as agent code uses it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.text_deltas: list[str] = []
        self.texts_done: list[str] = []
        self.tools_created: list[str] = []
        self.tools_done: list[tuple[str, str]] = []

    @override
    def on_text_created(self, text: Text) -> None:
        self.calls.append("text_created")

    @override
    def on_text_delta(self, delta: TextDelta, snapshot: Text) -> None:
        self.text_deltas.append(delta.value or "")

    @override
    def on_text_done(self, text: Text) -> None:
        self.texts_done.append(text.value)

    @override
    def on_tool_call_created(self, tool_call: ToolCall) -> None:
        if tool_call.type == "function":
            self.tools_created.append(tool_call.function.name)

    @override
    def on_tool_call_done(self, tool_call: ToolCall) -> None:
        if tool_call.type == "function":
            self.tools_done.append((tool_call.function.name, tool_call.function.arguments))


def test_event_handler_callbacks_for_text(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = thread_with(client, "handler text")
    recorder = _Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=recorder
    ) as stream:
        stream.until_done()
    assert "text_created" in recorder.calls
    assert "".join(recorder.text_deltas) == "handler text"
    assert recorder.texts_done == ["handler text"]


def test_event_handler_sees_function_calls(client: openai.OpenAI) -> None:
    """Agent code that streams collects calls with on_tool_call_created / on_tool_call_done.

    The SDK fires these only from `thread.run.step.delta` events (as the hosted API sent for
    every function call, after a `thread.run.step.created` with no calls in it yet).
    """
    assistant = tool_assistant(client)
    thread = thread_with(client, 'get_weather and get_time for {"city":"Paris"}')
    recorder = _Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=recorder
    ) as stream:
        stream.until_done()
        run = stream.get_final_run()
    assert run.status == "requires_action"
    assert recorder.tools_created == ["get_weather", "get_time"], (
        "on_tool_call_created never fired: the stream has no thread.run.step.delta events "
        "carrying the function calls"
    )
    assert recorder.tools_done == [
        ("get_weather", '{"city":"Paris"}'),
        ("get_time", '{"city":"Paris"}'),
    ]
