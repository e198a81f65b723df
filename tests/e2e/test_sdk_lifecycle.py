"""Run endings other than `completed`: incomplete (token limits) and cancelled."""

from __future__ import annotations

import openai
import pytest

from tests.e2e.helpers import assistant_messages, error_message, text_of, waiting_run
from tests.e2e.wire import sdk_raw

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def test_max_completion_tokens_makes_the_run_incomplete(client: openai.OpenAI) -> None:
    words = [f"w{i}" for i in range(300)]
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": " ".join(words)}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, max_completion_tokens=256
    )
    assert run.status == "incomplete", run
    assert run.incomplete_details is not None
    assert run.incomplete_details.reason == "max_completion_tokens"
    assert run.max_completion_tokens == 256
    assert run.expires_at is None and run.completed_at is None
    assert run.usage is not None
    assert run.usage.completion_tokens == 256
    assert run.usage.total_tokens == run.usage.prompt_tokens + 256

    [reply] = assistant_messages(client, thread.id, run.id)
    assert reply.status == "incomplete"
    assert reply.incomplete_details is not None and reply.incomplete_details.reason == "max_tokens"
    assert reply.incomplete_at is not None and reply.completed_at is None
    assert text_of(reply).split() == words[:256], "the reply is cut to 256 words"

    [step] = list(client.beta.threads.runs.steps.list(run.id, thread_id=thread.id))
    assert step.type == "message_creation" and step.status == "completed"


def test_max_prompt_tokens_makes_the_run_incomplete(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": " ".join(["word"] * 300)}]
    )
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, max_prompt_tokens=256
    )
    assert run.status == "incomplete", run
    assert run.incomplete_details is not None
    assert run.incomplete_details.reason == "max_prompt_tokens"
    assert run.usage is not None
    assert run.usage.total_tokens == run.usage.prompt_tokens + run.usage.completion_tokens
    assert assistant_messages(client, thread.id, run.id) == [], "no reply when the prompt is cut"


def test_cancel_a_run_waiting_for_tool_outputs(client: openai.OpenAI) -> None:
    assistant, thread, run = waiting_run(client)
    runs = client.beta.threads.runs
    cancelled, raw = sdk_raw(runs.with_raw_response.cancel, run.id, thread_id=thread.id)
    assert cancelled.status == "cancelled", "a run nobody is executing is cancelled at once"
    assert raw["cancelled_at"] is not None and raw["expires_at"] is None
    final = runs.retrieve(run.id, thread_id=thread.id)
    assert final.status == "cancelled", final
    assert final.cancelled_at is not None
    assert final.expires_at is None and final.required_action is None
    assert final.usage is not None
    assert final.usage.total_tokens == final.usage.prompt_tokens + final.usage.completion_tokens

    [step] = list(runs.steps.list(run.id, thread_id=thread.id))
    assert step.type == "tool_calls"
    assert step.status == "cancelled", "open steps of a cancelled run are cancelled"
    assert step.cancelled_at is not None

    with pytest.raises(openai.BadRequestError) as again:
        runs.cancel(run.id, thread_id=thread.id)
    assert error_message(again.value) == "Cannot cancel run with status 'cancelled'."
    with pytest.raises(openai.BadRequestError) as outputs:
        runs.submit_tool_outputs(
            run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": "call_x", "output": "x"}]
        )
    assert error_message(outputs.value) == (
        'Runs in status "cancelled" do not accept tool outputs.'
    )

    client.beta.threads.messages.create(thread_id=thread.id, role="user", content="next")
    nxt = runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert nxt.status == "completed", "the thread is free again after the cancel"
    assert [text_of(m) for m in assistant_messages(client, thread.id, nxt.id)] == ["next"]
