"""Runs and run steps through the official SDK: poll helpers, list, retrieve, update, steps."""

from __future__ import annotations

import openai
import pytest

from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import assistant_messages, text_of, waiting_run
from tests.e2e.wire import sdk_raw

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

RUN_KEYS = {
    "id", "object", "created_at", "thread_id", "assistant_id", "status", "required_action",
    "last_error", "expires_at", "started_at", "cancelled_at", "failed_at", "completed_at",
    "incomplete_details", "model", "instructions", "tools", "metadata", "usage", "temperature",
    "top_p", "max_prompt_tokens", "max_completion_tokens", "truncation_strategy", "tool_choice",
    "parallel_tool_calls", "response_format",
}  # fmt: skip


def test_create_and_poll_completes_with_the_echo_reply(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o", instructions="Be helpful.")
    thread = client.beta.threads.create(
        messages=[
            {"role": "user", "content": "an earlier question"},
            {"role": "user", "content": "say the quick brown fox"},
        ]
    )
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, metadata={"a": "1"}
    )
    assert run.status == "completed", run
    assert run.id.startswith("run_") and run.thread_id == thread.id
    assert run.assistant_id == assistant.id
    assert run.started_at is not None and run.completed_at is not None
    assert run.created_at <= run.started_at <= run.completed_at
    assert run.expires_at is None, "expires_at is null once the run is terminal"
    assert run.cancelled_at is None and run.failed_at is None and run.last_error is None
    assert run.required_action is None and run.incomplete_details is None

    replies = assistant_messages(client, thread.id, run.id)
    assert len(replies) == 1
    reply = replies[0]
    assert text_of(reply) == "say the quick brown fox", "echo = the last user message"
    assert (reply.run_id, reply.assistant_id, reply.status) == (run.id, assistant.id, "completed")

    usage = run.usage
    assert usage is not None
    assert usage.completion_tokens == 5, "echo counts the reply's words"
    # prompt: instructions (2) + both messages (3 + 5)
    assert usage.prompt_tokens == 10
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens

    retrieved, raw = sdk_raw(
        client.beta.threads.runs.with_raw_response.retrieve, run.id, thread_id=thread.id
    )
    assert set(raw) == RUN_KEYS, "the run object has the spec's 27 keys (25 required), no more"
    assert raw["object"] == "thread.run"
    assert raw["instructions"] == "Be helpful."
    assert raw["truncation_strategy"] == {"type": "auto", "last_messages": None}
    assert raw["tool_choice"] == "auto" and raw["parallel_tool_calls"] is True
    assert raw["response_format"] == "auto"
    assert raw["temperature"] is None and raw["top_p"] is None
    assert raw["metadata"] == {"a": "1"}
    assert retrieved == run


def test_run_defaults_and_overrides(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o", temperature=0.5)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
    plain, raw = sdk_raw(
        client.beta.threads.runs.with_raw_response.create,
        thread_id=thread.id,
        assistant_id=assistant.id,
    )
    assert raw["instructions"] == "", "no instructions: an empty string, never null"
    assert raw["temperature"] == 0.5, "temperature comes from the assistant"
    assert raw["status"] == "queued"
    assert raw["usage"] is None, "usage is null until the run is terminal"
    client.beta.threads.runs.poll(plain.id, thread_id=thread.id)

    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        model="my-local-model",
        instructions="Base.",
        additional_instructions="Extra.",
        temperature=0.2,
        top_p=0.9,
        additional_messages=[{"role": "user", "content": "added by the run"}],
    )
    assert run.status == "completed"
    assert run.model == "my-local-model"
    assert run.instructions.startswith("Base.") and run.instructions.endswith("Extra.")
    assert (run.temperature, run.top_p) == (0.2, 0.9)
    [reply] = assistant_messages(client, thread.id, run.id)
    assert text_of(reply) == "added by the run", "additional_messages join the thread first"
    texts = [text_of(m) for m in client.beta.threads.messages.list(thread.id, order="asc")]
    assert texts[-2:] == ["added by the run", "added by the run"]


def test_runs_list_retrieve_update(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create()
    run_ids = []
    for i in range(3):
        client.beta.threads.messages.create(thread_id=thread.id, role="user", content=f"n{i}")
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, metadata={"a": "1", "b": "2"}
        )
        assert run.status == "completed"
        run_ids.append(run.id)

    assert [r.id for r in client.beta.threads.runs.list(thread_id=thread.id, limit=1)] == (
        run_ids[::-1]
    )
    ascending = client.beta.threads.runs.list(thread_id=thread.id, limit=2, order="asc")
    assert [r.id for r in ascending] == run_ids
    assert ascending.has_more is True and len(ascending.data) == 2

    again = client.beta.threads.runs.retrieve(run_ids[1], thread_id=thread.id)
    assert again.id == run_ids[1] and again.status == "completed"

    updated = client.beta.threads.runs.update(run_ids[1], thread_id=thread.id, metadata={"c": "3"})
    assert updated.metadata == {"c": "3"}, "modify run replaces metadata, it does not merge"
    assert updated.status == "completed"
    assert client.beta.threads.runs.retrieve(run_ids[1], thread_id=thread.id).metadata == {"c": "3"}


def test_steps_list_and_retrieve(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "step by step"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"
    [reply] = assistant_messages(client, thread.id, run.id)

    steps = list(client.beta.threads.runs.steps.list(run.id, thread_id=thread.id))
    assert len(steps) == 1
    step = steps[0]
    assert step.id.startswith("step_")
    assert step.type == "message_creation" and step.status == "completed"
    assert step.step_details.type == "message_creation"
    assert step.step_details.message_creation.message_id == reply.id
    assert (step.run_id, step.thread_id, step.assistant_id) == (run.id, thread.id, assistant.id)
    assert step.usage is not None
    assert step.usage.total_tokens == step.usage.prompt_tokens + step.usage.completion_tokens

    got, raw = sdk_raw(
        client.beta.threads.runs.steps.with_raw_response.retrieve,
        step.id,
        thread_id=thread.id,
        run_id=run.id,
    )
    assert got == step
    assert raw["object"] == "thread.run.step"
    assert raw["expired_at"] is None and raw["cancelled_at"] is None and raw["failed_at"] is None
    with_include = client.beta.threads.runs.steps.list(
        run.id,
        thread_id=thread.id,
        include=["step_details.tool_calls[*].file_search.results[*].content"],
    )
    assert [s.id for s in with_include] == [step.id]


def test_create_and_run_poll(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "a brand new thread"}]},
    )
    assert run.status == "completed"
    assert run.thread_id.startswith("thread_")
    [reply] = assistant_messages(client, run.thread_id, run.id)
    assert text_of(reply) == "a brand new thread"
    assert client.beta.threads.retrieve(run.thread_id).id == run.thread_id


def test_active_run_expires_at_is_created_plus_configured_seconds(
    client: openai.OpenAI, server: LiveServer
) -> None:
    _, thread, run = waiting_run(client)
    _, raw = sdk_raw(
        client.beta.threads.runs.with_raw_response.retrieve, run.id, thread_id=thread.id
    )
    assert raw["status"] == "requires_action"
    assert raw["expires_at"] == raw["created_at"] + 600  # the `server` fixture's expiry
    assert raw["usage"] is None, "usage is null while the run is active"
