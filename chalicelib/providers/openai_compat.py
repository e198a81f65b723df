"""Any server that speaks OpenAI chat completions (vLLM, Ollama, LiteLLM, llama.cpp, ...).

Standard library only (urllib.request + json), so the Lambda package stays small.

Mapping notes:

- `max_completion_tokens` is sent as `max_tokens`: the older name is the one every compatible
  server understands (vLLM, Ollama and LiteLLM all accept it; not all accept the newer one).
- `tool_choice` and `parallel_tool_calls` are only sent with tools: several servers reject them
  on a request without tools.
- If `parallel_tool_calls` is false and the server answers with several calls anyway, only the
  first is kept.
- Images go as `image_url` parts holding a `data:` URL of bytes we fetched and checked
  ourselves (image_fetch.py), with the message's `detail`. Not the original URL: many
  compatible servers (Ollama, llama.cpp) take only data URLs, and a server that fetched URLs
  itself would do so from wherever it runs, unchecked (SSRF on its network instead of ours).
- Replies stream (`stream: true`, with `stream_options.include_usage` for the usage chunk): text
  and tool-call argument deltas reach the listener as they arrive. A server that ignores
  `stream` and answers one JSON body is read as such.
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from ..domain.ids import new_id
from .base import (
    ChatMessage,
    ImagePart,
    ModelRequest,
    ModelResponse,
    NullListener,
    ProviderError,
    StreamListener,
    ToolCall,
)
from .estimate import estimate_prompt_tokens

_MAX_ERROR_CHARS = 300
_TOOL_FIELDS = ("name", "description", "parameters", "strict")


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


def _message(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.text}
    if message.role == "assistant" and message.tool_calls:
        return {
            "role": "assistant",
            "content": message.text or None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in message.tool_calls
            ],
        }
    if message.images:
        parts: list[dict[str, Any]] = []
        if message.text:
            parts.append({"type": "text", "text": message.text})
        parts.extend(_image_part(image) for image in message.images)
        return {"role": message.role, "content": parts}
    return {"role": message.role, "content": message.text}


def _image_part(image: ImagePart) -> dict[str, Any]:
    data = base64.b64encode(image.data).decode("ascii")
    url = f"data:{image.media_type};base64,{data}"
    return {"type": "image_url", "image_url": {"url": url, "detail": image.detail}}


def chat_completions_body(request: ModelRequest) -> dict[str, Any]:
    """The JSON body of `POST /chat/completions` for `request`."""
    messages: list[dict[str, Any]] = []
    if request.instructions:
        messages.append({"role": "system", "content": request.instructions})
    messages.extend(_message(m) for m in request.messages)
    body: dict[str, Any] = {"model": request.model, "messages": messages}
    if request.tools:
        body["tools"] = [
            {"type": "function", "function": {k: t[k] for k in _TOOL_FIELDS if k in t}}
            for t in request.tools
        ]
        body["tool_choice"] = request.tool_choice
        body["parallel_tool_calls"] = request.parallel_tool_calls
    if isinstance(request.response_format, dict):
        body["response_format"] = request.response_format
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.max_completion_tokens is not None:
        body["max_tokens"] = request.max_completion_tokens
    return body


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts, from a few servers
        return "".join(
            str(part.get("text") or "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return str(content)


def _tool_call(raw: dict[str, Any]) -> ToolCall:
    function = raw.get("function") or {}
    arguments = function.get("arguments")
    if arguments is None or arguments == "":
        arguments = "{}"
    elif not isinstance(arguments, str):  # some servers send the object itself
        arguments = json.dumps(arguments, separators=(",", ":"))
    return ToolCall(id=raw.get("id") or new_id("call"), name=function["name"], arguments=arguments)


def parse_chat_completion(
    payload: dict[str, Any], *, parallel_tool_calls: bool = True
) -> ModelResponse:
    choice = payload["choices"][0]
    message = choice.get("message") or {}
    calls = [_tool_call(raw) for raw in message.get("tool_calls") or []]
    if not parallel_tool_calls:
        calls = calls[:1]
    usage = payload.get("usage") or {}
    finish_reason = choice.get("finish_reason")
    return ModelResponse(
        text=_content_text(message.get("content")),
        tool_calls=tuple(calls),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        truncated=finish_reason == "length",
    )


@dataclass
class _CallSoFar:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)
    announced: bool = False


@dataclass
class ChatCompletionStream:
    """Assembles a streamed chat completion from its chunks, telling the listener as it goes."""

    listener: StreamListener
    parallel_tool_calls: bool = True
    text: list[str] = field(default_factory=list)
    calls: dict[int, _CallSoFar] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)
    finish_reason: str | None = None

    def feed(self, chunk: dict[str, Any]) -> None:
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            content = _content_text(delta.get("content"))
            if content:
                self.text.append(content)
                self.listener.on_text(content)
            for raw in delta.get("tool_calls") or []:
                self._feed_call(raw)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def _feed_call(self, raw: dict[str, Any]) -> None:
        index = int(raw.get("index", len(self.calls)))
        if not self.parallel_tool_calls and index > 0:
            return
        call = self.calls.setdefault(index, _CallSoFar())
        function = raw.get("function") or {}
        call.id = call.id or raw.get("id") or ""
        call.name += function.get("name") or ""
        piece = function.get("arguments") or ""
        if not isinstance(piece, str):
            piece = json.dumps(piece, separators=(",", ":"))
        call.arguments.append(piece)
        if not call.id:
            call.id = new_id("call")
        if call.name and (piece or not call.announced):
            self.listener.on_tool_call(index, call.id, call.name, piece)
            call.announced = True

    def response(self) -> ModelResponse:
        calls = tuple(
            ToolCall(c.id, c.name, "".join(c.arguments) or "{}")
            for _, c in sorted(self.calls.items())
            if c.name
        )
        return ModelResponse(
            text="".join(self.text),
            tool_calls=calls,
            prompt_tokens=int(self.usage.get("prompt_tokens") or 0),
            completion_tokens=int(self.usage.get("completion_tokens") or 0),
            truncated=self.finish_reason == "length",
        )


def read_event_stream(lines: Any, stream: ChatCompletionStream) -> ModelResponse:
    """Feed `data:` lines of a server-sent-events body to `stream` until `[DONE]` or the end."""
    for raw_line in lines:
        line = raw_line.decode("utf-8").strip() if isinstance(raw_line, bytes) else raw_line
        if not line.startswith("data:"):
            continue  # blank separators, comments (": keep-alive"), event names
        data = line[len("data:") :].strip()
        if data == "[DONE]":
            break
        chunk = json.loads(data)
        if isinstance(chunk, dict) and chunk.get("error"):
            detail = chunk["error"]
            detail = detail.get("message") if isinstance(detail, dict) else detail
            raise ProviderError(_short(f"model server error mid-stream: {detail}"))
        stream.feed(chunk)
    return stream.response()


def _http_error_detail(error: urllib.error.HTTPError) -> str:
    try:
        payload = json.loads(error.read(4096) or b"null")
    except (OSError, ValueError, http.client.HTTPException):
        return ""
    if isinstance(payload, dict):
        detail = payload.get("error")
        if isinstance(detail, dict):
            detail = detail.get("message")
        if isinstance(detail, str):
            return detail
    return ""


# What a call to an OpenAI-compatible server can raise besides its answer: HTTP errors,
# unreachable hosts, timeouts and resets (all OSError), bad status lines, and an answer
# that is not the JSON expected.
HTTP_FAILURES = (
    OSError, http.client.HTTPException, ValueError, KeyError, IndexError, TypeError, AttributeError,
)  # fmt: skip


def provider_error(error: Exception, server: str) -> ProviderError:
    """One of HTTP_FAILURES from `server` ("model server", ...) as the run reports it.

    429 and 5xx answers, unreachable hosts and timeouts are retryable; anything else is not.
    """
    if isinstance(error, urllib.error.HTTPError):
        detail = _http_error_detail(error)
        message = f"{server} answered HTTP {error.code}"
        code = "rate_limit_exceeded" if error.code == 429 else "server_error"
        return ProviderError(
            _short(f"{message}: {detail}" if detail else message),
            code=code,
            retryable=error.code == 429 or error.code >= 500,
        )
    if isinstance(error, urllib.error.URLError):
        reason = error.reason
        text = reason if isinstance(reason, str) else f"{type(reason).__name__}: {reason}"
        return ProviderError(_short(f"{server} unreachable: {text}"), retryable=True)
    if isinstance(error, (OSError, http.client.HTTPException)):
        return ProviderError(f"{server} request failed: {type(error).__name__}", retryable=True)
    detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return ProviderError(_short(f"{server} returned an unexpected response: {detail}"))


class OpenAICompatibleProvider:
    """A ModelProvider for `POST {base_url}/chat/completions`."""

    accepts_images = True

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 60.0) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self._api_key = api_key
        self.timeout = timeout

    def count_prompt_tokens(self, request: ModelRequest) -> int:
        return estimate_prompt_tokens(request)

    def complete(
        self, request: ModelRequest, listener: StreamListener | None = None
    ) -> ModelResponse:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        body = {
            **chat_completions_body(request),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        data = json.dumps(body).encode("utf-8")
        http_request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        stream = ChatCompletionStream(listener or NullListener(), request.parallel_tool_calls)
        try:
            with urllib.request.urlopen(http_request, timeout=self.timeout) as answer:
                if "text/event-stream" not in answer.headers.get("Content-Type", ""):
                    payload = json.loads(answer.read())
                    return parse_chat_completion(
                        payload, parallel_tool_calls=request.parallel_tool_calls
                    )
                return read_event_stream(answer, stream)
        except HTTP_FAILURES as error:
            raise provider_error(error, "model server") from None
