"""BedrockProvider against a stubbed bedrock-runtime client (botocore Stubber, no network)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.providers.base import (
    ChatMessage,
    ModelRequest,
    ModelResponse,
    ProviderError,
    ToolCall,
)
from chalicelib.providers.bedrock import JSON_OBJECT_HINT, NO_TOOLS_HINT, BedrockProvider
from tests.support.bedrock_stream import (
    EventStreamStubber,
    converse_stream_response,
    event,
    events_of,
    exception,
)

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
TIME = {"name": "get_time"}  # no description, no parameters
TEXT_REPLY = {
    "output": {"message": {"role": "assistant", "content": [{"text": "Hello"}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 5, "outputTokens": 1, "totalTokens": 6},
    "metrics": {"latencyMs": 10},
}


@pytest.fixture(autouse=True)
def _dummy_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def client() -> Any:
    return boto3.client("bedrock-runtime", region_name="us-east-1")


@pytest.fixture
def stubber(client: Any) -> Iterator[Stubber]:
    with EventStreamStubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def add_stream(stubber: Stubber, client: Any, reply: dict[str, Any], expected: Any = None) -> None:
    """Answer the next ConverseStream call with `reply` (a Converse-shaped reply), streamed."""
    stubber.add_response(
        "converse_stream", converse_stream_response(client, events_of(reply)), expected
    )


def _request(**overrides: Any) -> ModelRequest:
    fields: dict[str, Any] = {
        "model": MODEL,
        "instructions": "",
        "messages": (ChatMessage("user", "Hi"),),
    }
    fields.update(overrides)
    return ModelRequest(**fields)


def _tool_round_request() -> ModelRequest:
    return ModelRequest(
        model=MODEL,
        instructions="You are terse.",
        messages=(
            ChatMessage("user", "Weather and time in Paris?"),
            ChatMessage(
                "assistant",
                "",
                tool_calls=(
                    ToolCall("call_1", "get_weather", '{"city":"Paris"}'),
                    ToolCall("call_2", "get_time", "{}"),
                ),
            ),
            ChatMessage("tool", "sunny", tool_call_id="call_1"),
            ChatMessage("tool", "", tool_call_id="call_2"),
        ),
        tools=(WEATHER, TIME),
        tool_choice="required",
        temperature=0.5,
        top_p=0.9,
        max_completion_tokens=256,
    )


def test_tool_round_request_and_tool_use_response(client: Any, stubber: Stubber) -> None:
    expected = {
        "modelId": MODEL,
        "system": [{"text": "You are terse."}],
        "messages": [
            {"role": "user", "content": [{"text": "Weather and time in Paris?"}]},
            {
                "role": "assistant",
                "content": [
                    {
                        "toolUse": {
                            "toolUseId": "call_1",
                            "name": "get_weather",
                            "input": {"city": "Paris"},
                        }
                    },
                    {"toolUse": {"toolUseId": "call_2", "name": "get_time", "input": {}}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"toolResult": {"toolUseId": "call_1", "content": [{"text": "sunny"}]}},
                    # An empty output must not become an empty text block.
                    {"toolResult": {"toolUseId": "call_2", "content": [{"text": "(no output)"}]}},
                ],
            },
        ],
        "inferenceConfig": {"maxTokens": 256, "temperature": 0.5, "topP": 0.9},
        "toolConfig": {
            "tools": [
                {
                    "toolSpec": {
                        "name": "get_weather",
                        "description": "The weather in a city.",
                        "inputSchema": {"json": WEATHER["parameters"]},
                    }
                },
                {
                    "toolSpec": {
                        "name": "get_time",
                        "inputSchema": {"json": {"type": "object", "properties": {}}},
                    }
                },
            ],
            "toolChoice": {"any": {}},
        },
    }
    reply = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"text": "Checking."},
                    {
                        "toolUse": {
                            "toolUseId": "tooluse_A",
                            "name": "get_weather",
                            "input": {"city": "Lyon", "units": "c"},
                        }
                    },
                    {"toolUse": {"toolUseId": "tooluse_B", "name": "get_time", "input": {}}},
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 120, "outputTokens": 30, "totalTokens": 150},
        "metrics": {"latencyMs": 42},
    }
    add_stream(stubber, client, reply, expected)

    result = BedrockProvider(client=client).complete(_tool_round_request())

    assert result == ModelResponse(
        text="Checking.",
        tool_calls=(
            ToolCall("tooluse_A", "get_weather", '{"city":"Lyon","units":"c"}'),
            ToolCall("tooluse_B", "get_time", "{}"),
        ),
        prompt_tokens=120,
        completion_tokens=30,
        truncated=False,
    )


def test_parallel_tool_calls_false_keeps_the_first_call(client: Any, stubber: Stubber) -> None:
    reply = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"toolUse": {"toolUseId": "t1", "name": "get_time", "input": {}}},
                    {"toolUse": {"toolUseId": "t2", "name": "get_time", "input": {}}},
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
        "metrics": {"latencyMs": 1},
    }
    add_stream(stubber, client, reply)
    request = _request(tools=(TIME,), parallel_tool_calls=False)
    result = BedrockProvider(client=client).complete(request)
    assert result.tool_calls == (ToolCall("t1", "get_time", "{}"),)


def test_text_reply_cut_at_max_tokens_is_truncated(client: Any, stubber: Stubber) -> None:
    reply = {
        "output": {
            "message": {"role": "assistant", "content": [{"text": "Once upon"}, {"text": " a"}]}
        },
        "stopReason": "max_tokens",
        "usage": {"inputTokens": 7, "outputTokens": 3, "totalTokens": 10},
        "metrics": {"latencyMs": 5},
    }
    expected = {
        "modelId": MODEL,
        "messages": [{"role": "user", "content": [{"text": "Tell a story"}]}],
        "inferenceConfig": {"maxTokens": 3},
    }
    add_stream(stubber, client, reply, expected)
    request = _request(messages=(ChatMessage("user", "Tell a story"),), max_completion_tokens=3)
    result = BedrockProvider(client=client).complete(request)
    assert result == ModelResponse(
        text="Once upon a", prompt_tokens=7, completion_tokens=3, truncated=True
    )


def test_same_role_messages_merge_and_blank_text_is_dropped(client: Any, stubber: Stubber) -> None:
    expected = {
        "modelId": MODEL,
        "messages": [
            {"role": "user", "content": [{"text": "one"}, {"text": "two"}]},
            {"role": "assistant", "content": [{"text": "three"}]},
            {"role": "user", "content": [{"text": "four"}]},
        ],
    }
    add_stream(stubber, client, TEXT_REPLY, expected)
    messages = (
        ChatMessage("user", "one"),
        ChatMessage("user", "two"),
        ChatMessage("assistant", "three"),
        ChatMessage("assistant", "   "),
        ChatMessage("user", ""),
        ChatMessage("user", "four"),
    )
    BedrockProvider(client=client).complete(_request(messages=messages))


def test_tool_choice_none_without_tool_history_sends_no_tool_config(
    client: Any, stubber: Stubber
) -> None:
    expected = {"modelId": MODEL, "messages": [{"role": "user", "content": [{"text": "Hi"}]}]}
    add_stream(stubber, client, TEXT_REPLY, expected)
    request = _request(tools=(WEATHER,), tool_choice="none")
    result = BedrockProvider(client=client).complete(request)
    assert result.text == "Hello"
    assert result.tool_calls == ()


def test_tool_choice_none_with_tool_history_keeps_tools_on_auto(
    client: Any, stubber: Stubber
) -> None:
    reply = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"text": "It is sunny."},
                    {"toolUse": {"toolUseId": "t9", "name": "get_weather", "input": {}}},
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
        "metrics": {"latencyMs": 1},
    }
    expected = {
        "modelId": MODEL,
        "system": [{"text": NO_TOOLS_HINT}],
        "messages": [
            {"role": "user", "content": [{"text": "Weather?"}]},
            {
                "role": "assistant",
                "content": [{"toolUse": {"toolUseId": "c1", "name": "get_weather", "input": {}}}],
            },
            {
                "role": "user",
                "content": [
                    {"toolResult": {"toolUseId": "c1", "content": [{"text": "sunny"}]}},
                    {"text": "Summarise."},
                ],
            },
        ],
        "toolConfig": {
            "tools": [
                {
                    "toolSpec": {
                        "name": "get_weather",
                        "description": "The weather in a city.",
                        "inputSchema": {"json": WEATHER["parameters"]},
                    }
                }
            ],
            "toolChoice": {"auto": {}},
        },
    }
    add_stream(stubber, client, reply, expected)
    request = _request(
        messages=(
            ChatMessage("user", "Weather?"),
            ChatMessage("assistant", tool_calls=(ToolCall("c1", "get_weather", "not json"),)),
            ChatMessage("tool", "sunny", tool_call_id="c1"),
            ChatMessage("user", "Summarise."),
        ),
        tools=(WEATHER,),
        tool_choice="none",
    )
    result = BedrockProvider(client=client).complete(request)
    # The model was told not to call tools; a call it makes anyway is dropped.
    assert result.text == "It is sunny."
    assert result.tool_calls == ()


def test_named_tool_choice_and_json_response_format(client: Any, stubber: Stubber) -> None:
    expected = {
        "modelId": MODEL,
        "system": [{"text": f"Be brief.\n\n{JSON_OBJECT_HINT}"}],
        "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
        "toolConfig": {
            "tools": [
                {
                    "toolSpec": {
                        "name": "get_time",
                        "inputSchema": {"json": {"type": "object", "properties": {}}},
                    }
                }
            ],
            "toolChoice": {"tool": {"name": "get_time"}},
        },
    }
    add_stream(stubber, client, TEXT_REPLY, expected)
    request = _request(
        instructions="Be brief.",
        tools=(TIME,),
        tool_choice={"type": "function", "function": {"name": "get_time"}},
        response_format={"type": "json_object"},
    )
    BedrockProvider(client=client).complete(request)


def test_json_schema_response_format_puts_the_schema_in_the_system_prompt(
    client: Any, stubber: Stubber
) -> None:
    add_stream(stubber, client, TEXT_REPLY)
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    request = _request(
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
    )
    provider = BedrockProvider(client=client)
    sent: list[dict[str, Any]] = []
    client.meta.events.register(
        "provide-client-params.bedrock-runtime.ConverseStream", _record(sent)
    )
    provider.complete(request)
    system = sent[0]["system"][0]["text"]
    assert "JSON Schema" in system
    assert '{"type":"object","properties":{"answer":{"type":"string"}}}' in system


def _record(sent: list[dict[str, Any]]) -> Any:
    def handler(params: dict[str, Any], **_: Any) -> None:
        sent.append(params)

    return handler


def test_throttling_is_rate_limit_exceeded(client: Any, stubber: Stubber) -> None:
    stubber.add_client_error(
        "converse_stream", "ThrottlingException", "Too many requests, please wait.", 429
    )
    with pytest.raises(ProviderError) as caught:
        BedrockProvider(client=client).complete(_request())
    assert caught.value.code == "rate_limit_exceeded"
    assert "ThrottlingException" in str(caught.value)


def test_internal_server_error_is_server_error(client: Any, stubber: Stubber) -> None:
    stubber.add_client_error("converse_stream", "InternalServerException", "Boom", 500)
    with pytest.raises(ProviderError) as caught:
        BedrockProvider(client=client).complete(_request())
    assert caught.value.code == "server_error"
    assert str(caught.value) == "Bedrock InternalServerException: Boom"


def test_connection_failure_is_server_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import EndpointConnectionError

    class Unreachable:
        def converse_stream(self, **_: Any) -> dict[str, Any]:
            raise EndpointConnectionError(endpoint_url="https://bedrock-runtime.example")

    with pytest.raises(ProviderError) as caught:
        BedrockProvider(client=Unreachable()).complete(_request())
    assert caught.value.code == "server_error"
    assert "EndpointConnectionError" in str(caught.value)


def test_count_prompt_tokens_is_a_character_estimate() -> None:
    request = _request(
        instructions="abcd",  # 4
        messages=(
            ChatMessage("user", "hello"),  # 5
            ChatMessage("tool", "xy", tool_call_id="c"),  # 2
        ),
    )
    assert BedrockProvider(client=object()).count_prompt_tokens(request) == 3  # ceil(11 / 4)


def test_client_is_made_lazily_in_the_given_region() -> None:
    provider = BedrockProvider(region="eu-west-3")
    assert provider._client is None
    assert provider.client.meta.region_name == "eu-west-3"


def test_importing_the_provider_does_not_import_boto3() -> None:
    code = (
        "import sys, chalicelib.providers.bedrock; "
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules"
    )
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)


class _Listener:
    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: list[tuple[int, str, str, str]] = []

    def on_text(self, delta: str) -> None:
        self.text.append(delta)

    def on_tool_call(self, index: int, call_id: str, name: str, arguments_delta: str) -> None:
        self.calls.append((index, call_id, name, arguments_delta))


def test_converse_stream_events_reach_the_listener_as_they_arrive(
    client: Any, stubber: Stubber
) -> None:
    """Text deltas, then a toolUse block's input in pieces (its block index is 1, its call 0)."""
    messages = [
        event("messageStart", {"role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Let me "}}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "check."}}),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event(
            "contentBlockStart",
            {
                "contentBlockIndex": 1,
                "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather"}},
            },
        ),
        event(
            "contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"ci'}}}
        ),
        event(
            "contentBlockDelta",
            {"contentBlockIndex": 1, "delta": {"toolUse": {"input": 'ty": "Oslo"}'}}},
        ),
        event("contentBlockStop", {"contentBlockIndex": 1}),
        event("messageStop", {"stopReason": "tool_use"}),
        event(
            "metadata",
            {
                "usage": {"inputTokens": 30, "outputTokens": 12, "totalTokens": 42},
                "metrics": {"latencyMs": 5},
            },
        ),
    ]
    stubber.add_response("converse_stream", converse_stream_response(client, messages))
    listener = _Listener()
    result = BedrockProvider(client=client).complete(_request(tools=(WEATHER,)), listener)

    assert listener.text == ["Let me ", "check."]
    assert listener.calls == [
        (0, "tooluse_1", "get_weather", ""),
        (0, "tooluse_1", "get_weather", '{"ci'),
        (0, "tooluse_1", "get_weather", 'ty": "Oslo"}'),
    ]
    assert result == ModelResponse(
        text="Let me check.",
        tool_calls=(ToolCall("tooluse_1", "get_weather", '{"city": "Oslo"}'),),
        prompt_tokens=30,
        completion_tokens=12,
    )
    assert "".join(c[3] for c in listener.calls) == result.tool_calls[0].arguments


def test_a_throttling_exception_inside_the_stream_is_rate_limit_exceeded(
    client: Any, stubber: Stubber
) -> None:
    messages = [
        event("messageStart", {"role": "assistant"}),
        exception("throttlingException", "Too many tokens, slow down."),
    ]
    stubber.add_response("converse_stream", converse_stream_response(client, messages))
    with pytest.raises(ProviderError) as caught:
        BedrockProvider(client=client).complete(_request())
    assert caught.value.code == "rate_limit_exceeded" and caught.value.retryable
    assert "Too many tokens" in str(caught.value)
