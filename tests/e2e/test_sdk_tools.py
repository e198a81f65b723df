"""Function calling with the echo model: requires_action, tool outputs, tool_choice."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai.types.beta.threads import Run
from openai.types.beta.threads.runs import ToolCallsStepDetails

from tests.e2e.helpers import (
    TIME,
    WEATHER_QUESTION,
    assistant_messages,
    text_of,
    thread_with,
    tool_assistant,
)

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

BOTH_QUESTION = 'get_time and get_weather please, for {"city": "Oslo", "days": [1, 2]}'


def _calls(run: Run) -> list[tuple[str, str]]:
    assert run.status == "requires_action", run
    assert run.required_action is not None and run.required_action.type == "submit_tool_outputs"
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert all(c.type == "function" and c.id.startswith("call_") for c in calls)
    return [(c.function.name, c.function.arguments) for c in calls]


def _run(client: openai.OpenAI, text: str, **kwargs: Any) -> Run:
    assistant = tool_assistant(client)
    thread = thread_with(client, text)
    return client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, **kwargs
    )


def test_one_call_then_outputs_complete_the_run(client: openai.OpenAI) -> None:
    assistant = tool_assistant(client)
    thread = thread_with(client, WEATHER_QUESTION)
    runs = client.beta.threads.runs
    run = runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert _calls(run) == [("get_weather", '{"city":"Paris"}')]
    assert run.usage is None and run.expires_at is not None
    [call] = run.required_action.submit_tool_outputs.tool_calls  # type: ignore[union-attr]

    [waiting_step] = list(runs.steps.list(run.id, thread_id=thread.id))
    assert waiting_step.type == "tool_calls" and waiting_step.status == "in_progress"
    assert isinstance(waiting_step.step_details, ToolCallsStepDetails)
    [pending] = waiting_step.step_details.tool_calls
    assert pending.type == "function" and pending.id == call.id
    assert pending.function.output is None, "output is null until submitted"

    done = runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "Sunny, 21 C"}],
    )
    assert done.status == "completed", done
    assert done.started_at == run.started_at, "queued again keeps started_at"
    assert done.required_action is None
    [reply] = assistant_messages(client, thread.id, run.id)
    assert text_of(reply) == "Sunny, 21 C", "after tool outputs the echo model replies with them"
    assert reply.run_id == run.id and reply.assistant_id == assistant.id

    usage = done.usage
    assert usage is not None
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.completion_tokens == 3
    question_words = len(WEATHER_QUESTION.split())
    assert usage.prompt_tokens >= 2 * question_words, "usage adds up over both model turns"

    steps = list(runs.steps.list(run.id, thread_id=thread.id, order="asc"))
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    newest_first = list(runs.steps.list(run.id, thread_id=thread.id))
    assert [s.id for s in newest_first] == [s.id for s in reversed(steps)]
    tool_step = runs.steps.retrieve(steps[0].id, thread_id=thread.id, run_id=run.id)
    assert tool_step.status == "completed" and tool_step.completed_at is not None
    assert isinstance(tool_step.step_details, ToolCallsStepDetails)
    [recorded] = tool_step.step_details.tool_calls
    assert recorded.type == "function"
    assert (recorded.id, recorded.function.name, recorded.function.output) == (
        call.id,
        "get_weather",
        "Sunny, 21 C",
    )
    assert recorded.function.arguments == '{"city":"Paris"}'
    assert steps[1].step_details.type == "message_creation"
    assert steps[1].step_details.message_creation.message_id == reply.id


def test_one_round_of_tool_calls_per_run_and_another_on_the_next_run(
    client: openai.OpenAI,
) -> None:
    """After outputs the echo model replies and calls nothing, so a run has one tool round;
    the next run on the same thread can call tools again."""
    assistant = tool_assistant(client)
    thread = thread_with(client, WEATHER_QUESTION)
    runs = client.beta.threads.runs
    for output in ("first", "second"):
        run = runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
        [call] = run.required_action.submit_tool_outputs.tool_calls  # type: ignore[union-attr]
        done = runs.submit_tool_outputs_and_poll(
            run_id=run.id,
            thread_id=thread.id,
            tool_outputs=[{"tool_call_id": call.id, "output": output}],
        )
        assert done.status == "completed"
        assert [text_of(m) for m in assistant_messages(client, thread.id, run.id)] == [output]
        client.beta.threads.messages.create(
            thread_id=thread.id, role="user", content=WEATHER_QUESTION
        )


def test_parallel_calls_in_tools_list_order(client: openai.OpenAI) -> None:
    args = '{"city":"Oslo","days":[1,2]}'
    run = _run(client, BOTH_QUESTION)
    assert _calls(run) == [("get_weather", args), ("get_time", args)]
    calls = run.required_action.submit_tool_outputs.tool_calls  # type: ignore[union-attr]

    runs = client.beta.threads.runs
    [step] = list(runs.steps.list(run.id, thread_id=run.thread_id))
    assert isinstance(step.step_details, ToolCallsStepDetails)
    assert [c.id for c in step.step_details.tool_calls] == [c.id for c in calls], (
        "the calls of one turn share one step, in order"
    )

    done = runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=run.thread_id,
        tool_outputs=[
            {"tool_call_id": calls[1].id, "output": "12:00"},
            {"tool_call_id": calls[0].id, "output": "rain"},
        ],
    )
    assert done.status == "completed"
    [reply] = assistant_messages(client, run.thread_id, run.id)
    assert text_of(reply) == "rain\n12:00", "outputs joined by newlines in call order"


def test_parallel_tool_calls_false_makes_only_the_first_call(client: openai.OpenAI) -> None:
    run = _run(client, BOTH_QUESTION, parallel_tool_calls=False)
    assert run.parallel_tool_calls is False
    assert _calls(run) == [("get_weather", '{"city":"Oslo","days":[1,2]}')]


def test_tool_choice_forced_function(client: openai.OpenAI) -> None:
    forced = {"type": "function", "function": {"name": "get_time"}}
    run = _run(client, WEATHER_QUESTION, tool_choice=forced)  # type: ignore[arg-type]
    assert _calls(run) == [("get_time", '{"city":"Paris"}')]
    assert run.tool_choice is not None and not isinstance(run.tool_choice, str)
    assert run.tool_choice.function is not None
    assert run.tool_choice.function.name == "get_time"


def test_tool_choice_required_without_names_calls_the_first_function(
    client: openai.OpenAI,
) -> None:
    run = _run(client, "nothing named here", tool_choice="required")
    assert _calls(run) == [("get_weather", "{}")]


def test_tool_choice_none_and_auto_without_names_reply(client: openai.OpenAI) -> None:
    none = _run(client, WEATHER_QUESTION, tool_choice="none")
    assert none.status == "completed" and none.tool_choice == "none"
    [reply] = assistant_messages(client, none.thread_id, none.id)
    assert text_of(reply) == WEATHER_QUESTION

    auto = _run(client, "just chatting, no tools")
    assert auto.status == "completed"
    [plain] = assistant_messages(client, auto.thread_id, auto.id)
    assert text_of(plain) == "just chatting, no tools"


def test_names_must_match_as_whole_words(client: openai.OpenAI) -> None:
    run = _run(client, "forget_weather, get_times and xget_time are not functions")
    assert run.status == "completed", "no whole-word function name: a plain reply"
    [reply] = assistant_messages(client, run.thread_id, run.id)
    assert text_of(reply) == "forget_weather, get_times and xget_time are not functions"


def test_run_tools_override_the_assistants(client: openai.OpenAI) -> None:
    run = _run(client, BOTH_QUESTION, tools=[TIME])  # type: ignore[list-item]
    assert [t.function.name for t in run.tools if t.type == "function"] == ["get_time"]
    assert _calls(run) == [("get_time", '{"city":"Oslo","days":[1,2]}')]


def test_an_empty_tools_override_disables_the_assistants_tools(client: openai.OpenAI) -> None:
    run = _run(client, WEATHER_QUESTION, tools=[])
    assert run.tools == [], "the request's tools (none) override the assistant's"
    assert run.status == "completed"
    [reply] = assistant_messages(client, run.thread_id, run.id)
    assert text_of(reply) == WEATHER_QUESTION
