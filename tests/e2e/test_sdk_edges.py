"""Smaller corners of the contract: IDs, headers, truncation, auth bounds, stream errors."""

from __future__ import annotations

import re

import httpx2
import openai
import pytest

from tests.e2e.conftest import LiveServer, make_client
from tests.e2e.helpers import (
    WEATHER_QUESTION,
    assistant_messages,
    error_message,
    text_of,
    thread_with,
    tool_assistant,
    waiting_run,
)
from tests.e2e.wire import sdk_raw

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

ID_BODY = re.compile(r"^[0-9A-Za-z]{24}$")


def _well_formed(object_id: str, prefix: str) -> None:
    head, _, body = object_id.partition("_")
    assert head == prefix and ID_BODY.match(body), object_id


def test_ids_are_prefixed_and_24_characters(client: openai.OpenAI) -> None:
    _, thread, run = waiting_run(client)
    _well_formed(run.assistant_id, "asst")
    _well_formed(thread.id, "thread")
    _well_formed(run.id, "run")
    assert run.required_action is not None
    _well_formed(run.required_action.submit_tool_outputs.tool_calls[0].id, "call")
    [step] = list(client.beta.threads.runs.steps.list(run.id, thread_id=thread.id))
    _well_formed(step.id, "step")
    [message] = list(client.beta.threads.messages.list(thread.id))
    _well_formed(message.id, "msg")


def test_runs_carry_the_poll_after_header(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = thread_with(client, "hi")
    response = client.beta.threads.runs.with_raw_response.create(
        thread_id=thread.id, assistant_id=assistant.id
    )
    assert response.headers.get("openai-poll-after-ms") == "50"
    client.beta.threads.runs.poll(response.parse().id, thread_id=thread.id)


def test_modify_a_waiting_run_keeps_it_waiting(client: openai.OpenAI) -> None:
    _, thread, run = waiting_run(client)
    updated = client.beta.threads.runs.update(run.id, thread_id=thread.id, metadata={"x": "y"})
    assert updated.status == "requires_action" and updated.metadata == {"x": "y"}
    assert updated.required_action == run.required_action


def test_truncation_last_messages_limits_the_prompt(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(
        messages=[
            {"role": "user", "content": "one two three four five"},
            {"role": "user", "content": "six seven"},
        ]
    )
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        truncation_strategy={"type": "last_messages", "last_messages": 1},
    )
    assert run.status == "completed"
    assert run.truncation_strategy is not None
    assert (run.truncation_strategy.type, run.truncation_strategy.last_messages) == (
        "last_messages",
        1,
    )
    assert run.usage is not None
    assert (run.usage.prompt_tokens, run.usage.completion_tokens) == (2, 2)


def test_tool_step_usage_once_outputs_are_in(client: openai.OpenAI) -> None:
    _, thread, run = waiting_run(client)
    runs = client.beta.threads.runs
    [waiting] = list(runs.steps.list(run.id, thread_id=thread.id))
    assert waiting.usage is None, "a step's usage is null while it is in progress"
    [call] = run.required_action.submit_tool_outputs.tool_calls  # type: ignore[union-attr]
    runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "o"}]
    )
    done = runs.steps.retrieve(waiting.id, thread_id=thread.id, run_id=run.id)
    assert done.status == "completed" and done.usage is not None
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens


def test_key_length_bounds(server: LiveServer) -> None:
    for key in ("k" * 8, "sk-" + "a" * 197, "a.b_c-D.9"):
        with make_client(server, key) as sdk:
            sdk.beta.assistants.list()
    for key in ("k" * 7, "a" * 201, "sk-bad/key"):
        with make_client(server, key) as sdk, pytest.raises(openai.AuthenticationError):
            sdk.beta.assistants.list()


def test_metadata_limits(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as long_key:
        client.beta.assistants.create(model="gpt-4o", metadata={"k" * 65: "v"})
    assert (long_key.value.param or "").startswith("metadata")
    ok = client.beta.assistants.create(
        model="gpt-4o", metadata={**{f"k{i}": "v" for i in range(15)}, "k" * 64: "v" * 512}
    )
    assert len(ok.metadata or {}) == 16


def test_include_values_are_checked(client: openai.OpenAI) -> None:
    _, thread, run = waiting_run(client)
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, include=["nope"])  # type: ignore[list-item]
    assert caught.value.param == "include[]"


def test_stream_errors_are_json_not_events(client: openai.OpenAI, http: httpx2.Client) -> None:
    thread = thread_with(client, "x")
    with (
        pytest.raises(openai.NotFoundError),
        client.beta.threads.runs.stream(
            thread_id=thread.id, assistant_id="asst_00000000000000000000zzzz"
        ) as stream,
    ):
        list(stream)
    response = http.post(
        "/threads/thread_00000000000000000000zzzz/runs",
        json={"assistant_id": "asst_00000000000000000000zzzz", "stream": True},
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")


def test_stream_of_an_incomplete_run(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = thread_with(client, " ".join(f"w{i}" for i in range(300)))
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, max_completion_tokens=256
    ) as stream:
        names = [event.event for event in stream]
        [message] = stream.get_final_messages()
    assert names[-1] == "thread.run.incomplete", names
    assert "thread.message.incomplete" in names, names
    assert message.status == "incomplete" and len(text_of(message).split()) == 256


def test_create_and_run_stream_with_tools(client: openai.OpenAI) -> None:
    assistant = tool_assistant(client)
    with client.beta.threads.create_and_run_stream(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": WEATHER_QUESTION}]},
    ) as stream:
        names = [event.event for event in stream]
        run = stream.get_final_run()
    assert names[0] == "thread.created" and names[-1] == "thread.run.requires_action", names
    assert run.status == "requires_action"
    [call] = run.required_action.submit_tool_outputs.tool_calls  # type: ignore[union-attr]
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=run.thread_id,
        tool_outputs=[{"tool_call_id": call.id, "output": "ok"}],
    )
    assert done.status == "completed"
    assert [text_of(m) for m in assistant_messages(client, run.thread_id, run.id)] == ["ok"]


def test_raw_run_object_over_http(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o", instructions=None)
    thread = thread_with(client, "raw")
    _, raw = sdk_raw(
        client.beta.threads.runs.with_raw_response.create,
        thread_id=thread.id,
        assistant_id=assistant.id,
    )
    assert raw["instructions"] == "" and isinstance(raw["created_at"], int)
    client.beta.threads.runs.poll(raw["id"], thread_id=thread.id)


def test_echo_reads_the_last_user_message_and_only_its_text_parts(
    client: openai.OpenAI,
) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "first part"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                    {"type": "text", "text": "second part"},
                ],
            },
            {"role": "assistant", "content": "an assistant line, not echoed"},
        ]
    )
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"
    [reply] = assistant_messages(client, thread.id, run.id)
    assert text_of(reply) == "first part\nsecond part"


def test_children_of_another_parent_are_not_found(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    first = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "a"}]}
    )
    client.beta.threads.messages.create(thread_id=first.thread_id, role="user", content="b")
    second = client.beta.threads.runs.create_and_poll(
        thread_id=first.thread_id, assistant_id=assistant.id
    )
    other = client.beta.threads.create()
    runs = client.beta.threads.runs
    [step] = list(runs.steps.list(first.id, thread_id=first.thread_id))
    with pytest.raises(openai.NotFoundError) as wrong_run:
        runs.steps.retrieve(step.id, thread_id=first.thread_id, run_id=second.id)
    assert wrong_run.value.body == {
        "message": f"No step found with id '{step.id}'.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    message = next(iter(client.beta.threads.messages.list(first.thread_id)))
    with pytest.raises(openai.NotFoundError) as wrong_thread:
        client.beta.threads.messages.retrieve(message.id, thread_id=other.id)
    assert error_message(wrong_thread.value) == f"No message found with id '{message.id}'."
    with pytest.raises(openai.NotFoundError) as run_elsewhere:
        runs.steps.list(first.id, thread_id=other.id)
    assert error_message(run_elsewhere.value) == f"No run found with id '{first.id}'."


def test_response_format_is_echoed(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(
        model="gpt-4o", response_format={"type": "json_object"}
    )
    thread = thread_with(client, '{"a": 1}')
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"
    assert run.response_format is not None and not isinstance(run.response_format, str)
    assert run.response_format.type == "json_object"
