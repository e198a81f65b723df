"""The domain without AWS: IDs, the state machine, the echo model, request validation."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from pydantic import ValidationError

from chalicelib.domain import ids, lifecycle
from chalicelib.domain.requests import CreateRun
from chalicelib.providers.base import ChatMessage, ModelRequest, ToolCall
from chalicelib.providers.echo import EchoProvider
from chalicelib.store.store import low_id_below

FUNCS = ({"name": "get_weather"}, {"name": "get_time"})


def test_ids_have_the_prefix_and_alphabet_and_sort_in_creation_order() -> None:
    made = [ids.new_id("run") for _ in range(2000)]
    assert all(ids.is_valid_id("run", i) for i in made)
    assert made == sorted(made) and len(set(made)) == len(made)


def test_ids_stay_ordered_within_a_millisecond_and_when_the_clock_steps_back() -> None:
    with mock.patch("time.time_ns", return_value=1_800_000_000_000_000_000):
        same_ms = [ids.new_id("message") for _ in range(500)]
    with mock.patch("time.time_ns", return_value=1_700_000_000_000_000_000):
        earlier_clock = ids.new_id("message")
    assert same_ms == sorted(same_ms)
    assert earlier_clock > same_ms[-1]


def test_the_key_just_below_an_id_is_above_every_smaller_id() -> None:
    smaller, cursor = sorted(ids.new_id("run") for _ in range(2))
    bound = low_id_below(cursor[4:])
    assert smaller[4:] < bound < cursor[4:]
    assert low_id_below("abc0") < "abc0" and low_id_below("abc0") > "abbz"


def test_terminal_statuses_have_no_way_out() -> None:
    for status in lifecycle.TERMINAL:
        assert status not in lifecycle.TRANSITIONS
        assert all(status not in lifecycle.sources_of(t) for t in lifecycle.TERMINAL)
    assert set(lifecycle.sources_of(lifecycle.EXPIRED)) == set(lifecycle.ACTIVE)


def request(text: str, **kwargs: object) -> ModelRequest:
    return ModelRequest(
        model="echo",
        instructions="Be kind.",
        messages=(ChatMessage("user", "earlier"), ChatMessage("user", text)),
        **kwargs,  # type: ignore[arg-type]
    )


def test_echo_replies_with_the_last_user_message_and_counts_words() -> None:
    reply = EchoProvider().complete(request("hello  there\nworld"))
    assert reply.text == "hello  there\nworld" and not reply.tool_calls
    assert (reply.prompt_tokens, reply.completion_tokens) == (2 + 1 + 3, 3)


def test_echo_calls_named_functions_in_tools_order_with_the_first_json_object() -> None:
    text = 'use get_time and get_weather for {"city": "Oslo", "n": [1, 2]} then {"x": 1}'
    reply = EchoProvider().complete(request(text, tools=FUNCS))
    assert [c.name for c in reply.tool_calls] == ["get_weather", "get_time"]
    assert {c.arguments for c in reply.tool_calls} == {'{"city":"Oslo","n":[1,2]}'}
    assert all(c.id.startswith("call_") for c in reply.tool_calls)


@pytest.mark.parametrize(
    ("text", "choice", "parallel", "expected"),
    [
        ("get_weatherly is not a name", "auto", True, []),
        ("nothing named", "required", True, ["get_weather"]),
        ("get_time and get_weather", "auto", False, ["get_weather"]),
        ("get_weather", "none", True, []),
        ("no names", {"type": "function", "function": {"name": "get_time"}}, True, ["get_time"]),
    ],
)
def test_echo_tool_choice(text: str, choice: object, parallel: bool, expected: list[str]) -> None:
    reply = EchoProvider().complete(
        request(text, tools=FUNCS, tool_choice=choice, parallel_tool_calls=parallel)
    )
    assert [c.name for c in reply.tool_calls] == expected
    assert json.loads(reply.tool_calls[0].arguments if reply.tool_calls else "{}") == {}


def test_echo_after_tool_outputs_replies_with_them_in_call_order() -> None:
    calls = (ToolCall("call_1", "get_weather", "{}"), ToolCall("call_2", "get_time", "{}"))
    messages = (
        ChatMessage("user", "get_weather get_time"),
        ChatMessage("assistant", tool_calls=calls),
        ChatMessage("tool", "sunny", tool_call_id="call_1"),
        ChatMessage("tool", "noon", tool_call_id="call_2"),
    )
    reply = EchoProvider().complete(ModelRequest("echo", "", messages, tools=FUNCS))
    assert reply.text == "sunny\nnoon" and not reply.tool_calls


def test_echo_cuts_a_reply_at_max_completion_tokens() -> None:
    reply = EchoProvider().complete(request("a b c d e", max_completion_tokens=3))
    assert (reply.text, reply.completion_tokens, reply.truncated) == ("a b c", 3, True)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "assistant_id"),
        ({"assistant_id": 1}, "assistant_id"),
        ({"assistant_id": "a", "max_completion_tokens": 10}, "max_completion_tokens"),
        ({"assistant_id": "a", "truncation_strategy": {"type": "last_messages"}}, None),
        ({"assistant_id": "a", "tools": [{"type": "retrieval"}]}, "tools"),
        ({"assistant_id": "a", "stream": "yes"}, "stream"),
        ({"assistant_id": "a", "parallel_tool_calls": 1}, "parallel_tool_calls"),
    ],
)
def test_create_run_validation(body: dict[str, object], param: str | None) -> None:
    with pytest.raises(ValidationError) as raised:
        CreateRun.model_validate(body)
    if param:
        assert raised.value.errors()[0]["loc"][0] == param


@pytest.mark.parametrize("effort", ["none", "minimal", "low", "medium", "high", "xhigh", "max"])
def test_every_reasoning_effort_the_spec_lists_is_accepted(effort: str) -> None:
    assert CreateRun.model_validate({"assistant_id": "a", "reasoning_effort": effort})


def test_an_unknown_reasoning_effort_is_refused() -> None:
    with pytest.raises(ValidationError):
        CreateRun.model_validate({"assistant_id": "a", "reasoning_effort": "extreme"})


def test_the_record_types_name_every_wire_key() -> None:
    """The TypedDicts (domain/records.py) and the wire projections (objects.py) agree."""
    from chalicelib.domain import objects, records

    pairs = {
        records.AssistantRecord: objects.ASSISTANT_KEYS,
        records.ThreadRecord: objects.THREAD_KEYS,
        records.MessageRecord: objects.MESSAGE_KEYS,
        records.RunRecord: objects.RUN_KEYS,
        records.StepRecord: objects.STEP_KEYS,
    }
    for record_type, wire_keys in pairs.items():
        missing = set(wire_keys) - set(record_type.__annotations__)
        assert not missing, f"{record_type.__name__} lacks {sorted(missing)}"
