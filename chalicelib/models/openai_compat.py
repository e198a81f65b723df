"""Any server that speaks OpenAI chat completions (vLLM, Ollama, LiteLLM, llama.cpp, ...).

Standard library only (urllib.request + json), so the Lambda package stays small.

Mapping notes:

- `max_completion_tokens` is sent as `max_tokens`: the older name is the one every compatible
  server understands (vLLM, Ollama and LiteLLM all accept it; not all accept the newer one).
- `tool_choice` and `parallel_tool_calls` are only sent with tools: several servers reject them
  on a request without tools.
- If `parallel_tool_calls` is false and the server answers with several calls anyway, only the
  first is kept.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from typing import Any

from ..domain.ids import new_id
from .base import ChatMessage, ModelRequest, ModelResponse, ProviderError, ToolCall
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
    return {"role": message.role, "content": message.text}


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


class OpenAICompatibleProvider:
    """A ModelProvider for `POST {base_url}/chat/completions`."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 60.0) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self._api_key = api_key
        self.timeout = timeout

    def count_prompt_tokens(self, request: ModelRequest) -> int:
        return estimate_prompt_tokens(request)

    def complete(self, request: ModelRequest) -> ModelResponse:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        data = json.dumps(chat_completions_body(request)).encode("utf-8")
        http_request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(http_request, timeout=self.timeout) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as error:
            detail = _http_error_detail(error)
            message = f"model server answered HTTP {error.code}"
            message = _short(f"{message}: {detail}" if detail else message)
            code = "rate_limit_exceeded" if error.code == 429 else "server_error"
            raise ProviderError(message, code=code) from None
        except urllib.error.URLError as error:
            reason = error.reason
            text = reason if isinstance(reason, str) else f"{type(reason).__name__}: {reason}"
            raise ProviderError(_short(f"model server unreachable: {text}")) from None
        except (OSError, http.client.HTTPException) as error:  # timeouts, resets, bad status
            raise ProviderError(f"model server request failed: {type(error).__name__}") from None
        try:
            payload = json.loads(raw)
            return parse_chat_completion(payload, parallel_tool_calls=request.parallel_tool_calls)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
            message = f"model server returned an unexpected response: {type(error).__name__}"
            raise ProviderError(message) from None
