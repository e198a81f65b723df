"""OpenAICompatibleProvider against a tiny local chat-completions server (127.0.0.1 only)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chalicelib.providers.base import (
    ChatMessage,
    ModelRequest,
    ModelResponse,
    ProviderError,
    ToolCall,
)
from chalicelib.providers.openai_compat import OpenAICompatibleProvider

WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": True,
}
TIME = {"name": "get_time"}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeServer:
    base_url: str
    requests: list[Recorded] = field(default_factory=list)
    # (status, body) answered to the next requests, in order; body is JSON-encoded unless bytes.
    answers: list[tuple[int, Any]] = field(default_factory=list)

    def answer(self, body: Any, status: int = 200) -> None:
        self.answers.append((status, body))


def _handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            server.requests.append(
                Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
            )
            status, body = server.answers.pop(0) if server.answers else (500, {"error": "none"})
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            sse = isinstance(body, bytes) and body.startswith(b"data:")
            self.send_header("Content-Type", "text/event-stream" if sse else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer(base_url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1/"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _completion(message: dict[str, Any], finish_reason: str, usage: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def _request(**overrides: Any) -> ModelRequest:
    fields: dict[str, Any] = {
        "model": "llama3.1",
        "instructions": "",
        "messages": (ChatMessage("user", "Hi"),),
    }
    fields.update(overrides)
    return ModelRequest(**fields)


def test_request_body_headers_and_tool_calls_answer(server: FakeServer) -> None:
    server.answer(
        _completion(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_abc",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Lyon"}'},
                    },
                    {
                        "id": "call_def",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": {}},
                    },
                ],
            },
            "tool_calls",
            {"prompt_tokens": 80, "completion_tokens": 12, "total_tokens": 92},
        )
    )
    request = ModelRequest(
        model="llama3.1",
        instructions="You are terse.",
        messages=(
            ChatMessage("user", "Weather and time in Paris?"),
            ChatMessage(
                "assistant",
                "Let me check.",
                tool_calls=(
                    ToolCall("call_1", "get_weather", '{"city":"Paris"}'),
                    ToolCall("call_2", "get_time", "{}"),
                ),
            ),
            ChatMessage("tool", "sunny", tool_call_id="call_1"),
            ChatMessage("tool", "12:00", tool_call_id="call_2"),
            ChatMessage("assistant", "Sunny, noon."),
            ChatMessage("user", "And Lyon?"),
        ),
        tools=(WEATHER, TIME),
        tool_choice="required",
        parallel_tool_calls=True,
        response_format={"type": "json_object"},
        temperature=0.2,
        top_p=0.8,
        max_completion_tokens=128,
    )
    provider = OpenAICompatibleProvider(server.base_url, api_key="sk-test", timeout=5)

    result = provider.complete(request)

    assert result == ModelResponse(
        tool_calls=(
            ToolCall("call_abc", "get_weather", '{"city":"Lyon"}'),
            ToolCall("call_def", "get_time", "{}"),
        ),
        prompt_tokens=80,
        completion_tokens=12,
    )
    [sent] = server.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.body) == {
        "model": "llama3.1",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Weather and time in Paris?"},
            {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": "{}"},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "call_2", "content": "12:00"},
            {"role": "assistant", "content": "Sunny, noon."},
            {"role": "user", "content": "And Lyon?"},
        ],
        "tools": [
            {"type": "function", "function": WEATHER},
            {"type": "function", "function": {"name": "get_time"}},
        ],
        "tool_choice": "required",
        "parallel_tool_calls": True,
        "response_format": {"type": "json_object"},
        "temperature": 0.2,
        "top_p": 0.8,
        "max_tokens": 128,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_minimal_request_omits_optional_fields(server: FakeServer) -> None:
    server.answer(_completion({"role": "assistant", "content": "Hello"}, "stop"))
    request = _request(
        messages=(
            ChatMessage("user", "Hi"),
            ChatMessage("assistant", tool_calls=(ToolCall("c1", "get_time", "{}"),)),
        ),
        tool_choice={"type": "function", "function": {"name": "get_time"}},
        parallel_tool_calls=False,
    )
    result = OpenAICompatibleProvider(server.base_url).complete(request)
    # No usage in the answer: the counts are 0.
    assert result == ModelResponse(text="Hello", prompt_tokens=0, completion_tokens=0)
    [sent] = server.requests
    assert "authorization" not in sent.headers
    assert json.loads(sent.body) == {
        "model": "llama3.1",
        "messages": [
            {"role": "user", "content": "Hi"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": "{}"},
                    }
                ],
            },
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_named_tool_choice_passes_through(server: FakeServer) -> None:
    server.answer(_completion({"role": "assistant", "content": "ok"}, "stop"))
    choice = {"type": "function", "function": {"name": "get_time"}}
    request = _request(tools=(TIME,), tool_choice=choice, parallel_tool_calls=False)
    OpenAICompatibleProvider(server.base_url).complete(request)
    body = json.loads(server.requests[0].body)
    assert body["tool_choice"] == choice
    assert body["parallel_tool_calls"] is False


def test_parallel_tool_calls_false_keeps_the_first_call(server: FakeServer) -> None:
    calls = [
        {"id": f"c{i}", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
        for i in range(2)
    ]
    server.answer(_completion({"role": "assistant", "content": None, "tool_calls": calls}, "x"))
    request = _request(tools=(TIME,), parallel_tool_calls=False)
    result = OpenAICompatibleProvider(server.base_url).complete(request)
    assert result.tool_calls == (ToolCall("c0", "get_time", "{}"),)


def test_text_cut_at_length_is_truncated(server: FakeServer) -> None:
    server.answer(
        _completion(
            {"role": "assistant", "content": "Once upon a"},
            "length",
            {"prompt_tokens": 7, "completion_tokens": 3},
        )
    )
    result = OpenAICompatibleProvider(server.base_url).complete(_request(max_completion_tokens=3))
    assert result == ModelResponse(
        text="Once upon a", prompt_tokens=7, completion_tokens=3, truncated=True
    )
    assert json.loads(server.requests[0].body)["max_tokens"] == 3


def test_http_429_is_rate_limit_exceeded(server: FakeServer) -> None:
    server.answer({"error": {"message": "slow down", "type": "rate_limit"}}, status=429)
    with pytest.raises(ProviderError) as caught:
        OpenAICompatibleProvider(server.base_url).complete(_request())
    assert caught.value.code == "rate_limit_exceeded"
    assert str(caught.value) == "model server answered HTTP 429: slow down"


def test_http_500_is_server_error(server: FakeServer) -> None:
    server.answer(b"<html>oops</html>", status=500)
    with pytest.raises(ProviderError) as caught:
        OpenAICompatibleProvider(server.base_url).complete(_request())
    assert caught.value.code == "server_error"
    assert str(caught.value) == "model server answered HTTP 500"


def test_invalid_json_is_server_error(server: FakeServer) -> None:
    server.answer(b"not json")
    with pytest.raises(ProviderError) as caught:
        OpenAICompatibleProvider(server.base_url).complete(_request())
    assert caught.value.code == "server_error"


def test_answer_without_choices_is_server_error(server: FakeServer) -> None:
    server.answer({"object": "chat.completion", "choices": []})
    with pytest.raises(ProviderError) as caught:
        OpenAICompatibleProvider(server.base_url).complete(_request())
    assert caught.value.code == "server_error"


def test_connection_refused_is_server_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The port is closed now: nothing listens on it.
    provider = OpenAICompatibleProvider(f"http://127.0.0.1:{port}/v1", timeout=5)
    with pytest.raises(ProviderError) as caught:
        provider.complete(_request())
    assert caught.value.code == "server_error"
    assert "unreachable" in str(caught.value)


def test_timeout_is_server_error() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts the connection, never answers
        port = listener.getsockname()[1]
        provider = OpenAICompatibleProvider(f"http://127.0.0.1:{port}/v1", timeout=0.3)
        with pytest.raises(ProviderError) as caught:
            provider.complete(_request())
    assert caught.value.code == "server_error"


def test_count_prompt_tokens_is_a_character_estimate() -> None:
    request = _request(
        instructions="abcd",
        messages=(ChatMessage("user", "hello"), ChatMessage("tool", "xy", tool_call_id="c")),
    )
    assert OpenAICompatibleProvider("http://127.0.0.1:1/v1").count_prompt_tokens(request) == 3


class _Listener:
    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: list[tuple[int, str, str, str]] = []

    def on_text(self, delta: str) -> None:
        self.text.append(delta)

    def on_tool_call(self, index: int, call_id: str, name: str, arguments_delta: str) -> None:
        self.calls.append((index, call_id, name, arguments_delta))


def _sse(*chunks: dict[str, Any]) -> bytes:
    frames = [f"data: {json.dumps({'object': 'chat.completion.chunk', **c})}\n\n" for c in chunks]
    return ("".join(frames) + ": keep-alive comment\n\ndata: [DONE]\n\n").encode()


def _delta(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}


def test_streamed_text_tool_calls_split_over_chunks_and_the_usage_chunk(
    server: FakeServer,
) -> None:
    call = {"index": 0, "id": "call_a", "type": "function"}
    server.answer(
        _sse(
            _delta({"role": "assistant", "content": ""}),
            _delta({"content": "Checking"}),
            _delta({"content": " now."}),
            _delta(
                {"tool_calls": [{**call, "function": {"name": "get_weather", "arguments": ""}}]}
            ),
            _delta({"tool_calls": [{"index": 0, "function": {"arguments": '{"city"'}}]}),
            _delta(
                {
                    "tool_calls": [
                        {"index": 1, "id": "call_b", "function": {"name": "get_time"}},
                        {"index": 0, "function": {"arguments": ':"Lyon"}'}},
                    ]
                }
            ),
            _delta({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}),
            _delta({}, "tool_calls"),
            {"choices": [], "usage": {"prompt_tokens": 21, "completion_tokens": 9}},
        )
    )
    listener = _Listener()
    result = OpenAICompatibleProvider(server.base_url).complete(
        _request(tools=(WEATHER, TIME)), listener
    )
    assert listener.text == ["Checking", " now."]
    assert listener.calls == [
        (0, "call_a", "get_weather", ""),
        (0, "call_a", "get_weather", '{"city"'),
        (1, "call_b", "get_time", ""),
        (0, "call_a", "get_weather", ':"Lyon"}'),
        (1, "call_b", "get_time", "{}"),
    ]
    assert result == ModelResponse(
        text="Checking now.",
        tool_calls=(
            ToolCall("call_a", "get_weather", '{"city":"Lyon"}'),
            ToolCall("call_b", "get_time", "{}"),
        ),
        prompt_tokens=21,
        completion_tokens=9,
    )
    [sent] = server.requests
    assert sent.headers["accept"] == "text/event-stream"


def test_a_stream_cut_at_length_is_truncated(server: FakeServer) -> None:
    server.answer(_sse(_delta({"content": "one two"}), _delta({}, "length")))
    result = OpenAICompatibleProvider(server.base_url).complete(_request())
    assert result.text == "one two" and result.truncated


def test_an_error_inside_the_stream_is_server_error(server: FakeServer) -> None:
    server.answer(_sse(_delta({"content": "partial"}), {"error": {"message": "model crashed"}}))
    with pytest.raises(ProviderError) as caught:
        OpenAICompatibleProvider(server.base_url).complete(_request())
    assert caught.value.code == "server_error"
    assert "model crashed" in str(caught.value)
