"""Amazon Bedrock models, through the Bedrock Runtime Converse API.

boto3 is imported when the first call needs a client, never at import: the Lambda runtime ships
it, and importing this module stays cheap for handlers that never reach a model.

Mapping notes (Converse differs from chat completions in a few places):

- Converse requires user/assistant alternation, so tool outputs become `toolResult` blocks of
  a *user* turn and consecutive same-role turns are merged into one.
- Bedrock rejects blank text blocks: blank user/assistant text is dropped, and an empty tool
  output is sent as a placeholder text (the block itself is required to answer the toolUse).
- `toolChoice` has no "none": tool_choice "none" is expressed by sending no toolConfig. But
  Bedrock refuses a request whose history holds toolUse/toolResult blocks without a toolConfig,
  so in that case the tools are kept (choice "auto") and the system prompt asks the model not to
  call any; tool calls it returns anyway are dropped.
- Converse has no JSON mode: for response_format json_object / json_schema a short instruction
  (with the schema, for json_schema) is appended to the system prompt.
- Images (user messages only) become `image` blocks with the bytes (Converse takes no URLs);
  Converse has no `detail` level, so it is not sent.
- Replies stream through ConverseStream: text and toolUse input deltas reach the listener as
  they arrive; usage comes in the closing `metadata` event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .base import (
    ChatMessage,
    ModelRequest,
    ModelResponse,
    NullListener,
    ProviderError,
    StreamListener,
    ToolCall,
)
from .estimate import estimate_prompt_tokens

RATE_LIMIT_CODES = frozenset(
    {
        "ThrottlingException",
        "ServiceQuotaExceededException",
        "TooManyRequestsException",
        "throttlingException",  # as ConverseStream names its in-stream errors
    }
)
RETRYABLE_SERVER_CODES = frozenset(
    {
        "InternalServerException",
        "ServiceUnavailableException",
        "ModelNotReadyException",
        "internalServerException",
        "serviceUnavailableException",
        "modelStreamErrorException",
    }
)
EMPTY_TOOL_OUTPUT = "(no output)"
JSON_OBJECT_HINT = "Respond with a single valid JSON object only, with no other text."
JSON_SCHEMA_HINT = (
    "Respond with a single valid JSON object only, with no other text, "
    "that conforms to this JSON Schema:"
)
NO_TOOLS_HINT = "Do not call any tools in this reply; answer with text."
_MAX_ERROR_CHARS = 300


def _arguments_object(arguments: str) -> dict[str, Any]:
    """Converse wants a tool call's input as a JSON object; anything else becomes {}."""
    try:
        value = json.loads(arguments) if arguments else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role == "tool":
        output = message.text if message.text.strip() else EMPTY_TOOL_OUTPUT
        return [
            {
                "toolResult": {
                    "toolUseId": message.tool_call_id or "",
                    "content": [{"text": output}],
                }
            }
        ]
    blocks: list[dict[str, Any]] = []
    if message.text.strip():
        blocks.append({"text": message.text})
    if message.role == "user":
        blocks.extend(
            {"image": {"format": image.format, "source": {"bytes": image.data}}}
            for image in message.images
        )
    if message.role == "assistant":
        blocks.extend(
            {
                "toolUse": {
                    "toolUseId": call.id,
                    "name": call.name,
                    "input": _arguments_object(call.arguments),
                }
            }
            for call in message.tool_calls
        )
    return blocks


def converse_messages(messages: tuple[ChatMessage, ...]) -> list[dict[str, Any]]:
    """The conversation as alternating Converse messages (tool outputs in user turns)."""
    result: list[dict[str, Any]] = []
    for message in messages:
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue
        if result and result[-1]["role"] == role:
            result[-1]["content"].extend(blocks)
        else:
            result.append({"role": role, "content": blocks})
    return result


def _has_tool_blocks(messages: list[dict[str, Any]]) -> bool:
    return any(
        "toolUse" in block or "toolResult" in block
        for message in messages
        for block in message["content"]
    )


def _tool_spec(tool: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        spec["description"] = tool["description"]
    parameters = tool.get("parameters") or {"type": "object", "properties": {}}
    spec["inputSchema"] = {"json": parameters}
    return {"toolSpec": spec}


def _history_tool_names(messages: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for message in messages:
        for block in message["content"]:
            name = block.get("toolUse", {}).get("name")
            if name and name not in names:
                names.append(name)
    return names


def _tool_choice(choice: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name:
            return {"tool": {"name": name}}
        return {"auto": {}}
    if choice == "required":
        return {"any": {}}
    return {"auto": {}}


def _tool_config(
    request: ModelRequest, messages: list[dict[str, Any]]
) -> tuple[dict[str, Any] | None, bool]:
    """The toolConfig to send (or None), and whether the model was asked not to call tools."""
    history = _has_tool_blocks(messages)
    if not history and (not request.tools or request.tool_choice == "none"):
        return None, False
    tools = [_tool_spec(t) for t in request.tools]
    if not tools:
        # History holds tool blocks but no tool is defined any more: Bedrock still requires a
        # toolConfig, so describe the tools the history used, with an empty schema.
        tools = [_tool_spec({"name": name}) for name in _history_tool_names(messages)]
        if not tools:
            # Only toolResult blocks (no toolUse to name a tool): nothing sensible to declare.
            return None, False
        return {"tools": tools, "toolChoice": {"auto": {}}}, True
    if request.tool_choice == "none":
        return {"tools": tools, "toolChoice": {"auto": {}}}, True
    return {"tools": tools, "toolChoice": _tool_choice(request.tool_choice)}, False


def _response_format_hint(response_format: str | dict[str, Any]) -> str:
    if not isinstance(response_format, dict):
        return ""
    kind = response_format.get("type")
    if kind == "json_object":
        return JSON_OBJECT_HINT
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if schema is None:
            return JSON_OBJECT_HINT
        return f"{JSON_SCHEMA_HINT}\n{json.dumps(schema, separators=(',', ':'))}"
    return ""


def converse_params(request: ModelRequest) -> tuple[dict[str, Any], bool]:
    """The Converse request for `request`, and whether tool calls must be refused."""
    messages = converse_messages(request.messages)
    params: dict[str, Any] = {"modelId": request.model, "messages": messages}
    tool_config, no_tools = _tool_config(request, messages)
    system = [
        part
        for part in (
            request.instructions,
            _response_format_hint(request.response_format),
            NO_TOOLS_HINT if no_tools else "",
        )
        if part.strip()
    ]
    if system:
        params["system"] = [{"text": "\n\n".join(system)}]
    inference: dict[str, Any] = {}
    if request.max_completion_tokens is not None:
        inference["maxTokens"] = request.max_completion_tokens
    if request.temperature is not None:
        inference["temperature"] = request.temperature
    if request.top_p is not None:
        inference["topP"] = request.top_p
    if inference:
        params["inferenceConfig"] = inference
    if tool_config is not None:
        params["toolConfig"] = tool_config
    return params, no_tools or request.tool_choice == "none"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


def parse_converse_response(
    response: dict[str, Any], *, parallel_tool_calls: bool = True, refuse_tools: bool = False
) -> ModelResponse:
    content = ((response.get("output") or {}).get("message") or {}).get("content") or []
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in content:
        if "text" in block:
            texts.append(block["text"])
        elif "toolUse" in block:
            use = block["toolUse"]
            calls.append(
                ToolCall(
                    id=use["toolUseId"],
                    name=use["name"],
                    arguments=json.dumps(use.get("input") or {}, separators=(",", ":")),
                )
            )
    if refuse_tools:
        calls = []
    elif not parallel_tool_calls:
        calls = calls[:1]
    usage = response.get("usage") or {}
    stop_reason = response.get("stopReason")
    return ModelResponse(
        text="".join(texts),
        tool_calls=tuple(calls),
        prompt_tokens=int(usage.get("inputTokens") or 0),
        completion_tokens=int(usage.get("outputTokens") or 0),
        truncated=stop_reason == "max_tokens",
    )


@dataclass
class _ToolUseSoFar:
    index: int
    id: str
    name: str
    input: list[str] = field(default_factory=list)


@dataclass
class ConverseStreamReader:
    """Assembles a ConverseStream reply from its events, telling the listener as it goes."""

    listener: StreamListener
    parallel_tool_calls: bool = True
    refuse_tools: bool = False
    text: list[str] = field(default_factory=list)
    tools: dict[int, _ToolUseSoFar] = field(default_factory=dict)  # by contentBlockIndex
    usage: dict[str, Any] = field(default_factory=dict)
    stop_reason: str | None = None

    def _tool_allowed(self, call_index: int) -> bool:
        return not self.refuse_tools and (self.parallel_tool_calls or call_index == 0)

    def feed(self, event: dict[str, Any]) -> None:
        if "contentBlockStart" in event:
            start = event["contentBlockStart"]
            use = (start.get("start") or {}).get("toolUse")
            if use:
                tool = _ToolUseSoFar(len(self.tools), use["toolUseId"], use["name"])
                self.tools[start["contentBlockIndex"]] = tool
                if self._tool_allowed(tool.index):
                    self.listener.on_tool_call(tool.index, tool.id, tool.name, "")
        elif "contentBlockDelta" in event:
            block = event["contentBlockDelta"]
            delta = block.get("delta") or {}
            if delta.get("text"):
                self.text.append(delta["text"])
                self.listener.on_text(delta["text"])
            elif "toolUse" in delta:
                tool = self.tools[block["contentBlockIndex"]]
                piece = delta["toolUse"].get("input") or ""
                tool.input.append(piece)
                if piece and self._tool_allowed(tool.index):
                    self.listener.on_tool_call(tool.index, tool.id, tool.name, piece)
        elif "messageStop" in event:
            self.stop_reason = event["messageStop"].get("stopReason")
        elif "metadata" in event:
            self.usage = event["metadata"].get("usage") or {}

    def response(self) -> ModelResponse:
        calls = [
            ToolCall(t.id, t.name, _compact_json("".join(t.input)))
            for t in sorted(self.tools.values(), key=lambda t: t.index)
            if self._tool_allowed(t.index)
        ]
        return ModelResponse(
            text="".join(self.text),
            tool_calls=tuple(calls),
            prompt_tokens=int(self.usage.get("inputTokens") or 0),
            completion_tokens=int(self.usage.get("outputTokens") or 0),
            truncated=self.stop_reason == "max_tokens",
        )


def _compact_json(arguments: str) -> str:
    """A streamed toolUse input as sent (so the streamed pieces join to it), if it is a JSON
    object; anything else becomes {}."""
    try:
        value = json.loads(arguments) if arguments else None
    except ValueError:
        value = None
    return arguments if isinstance(value, dict) else "{}"


def _client_error(error: Any) -> ProviderError:
    details = error.response.get("Error") or {}
    code = str(details.get("Code") or "ClientError")
    detail = str(details.get("Message") or "")
    message = _short(f"Bedrock {code}: {detail}" if detail else f"Bedrock {code}")
    if code in RATE_LIMIT_CODES:
        return ProviderError(message, code="rate_limit_exceeded", retryable=True)
    return ProviderError(message, code="server_error", retryable=code in RETRYABLE_SERVER_CODES)


class BedrockProvider:
    """A ModelProvider for Bedrock. `client` (a bedrock-runtime client) can be injected."""

    accepts_images = True

    def __init__(self, region: str | None = None, client: Any | None = None) -> None:
        self._region = region
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            # Long generations outlive botocore's 60 s default read timeout; throttling is
            # retried a little (standard mode), then surfaces as rate_limit_exceeded.
            config = Config(
                connect_timeout=10,
                read_timeout=300,
                retries={"mode": "standard", "max_attempts": 3},
            )
            self._client = boto3.client("bedrock-runtime", region_name=self._region, config=config)
        return self._client

    def count_prompt_tokens(self, request: ModelRequest) -> int:
        return estimate_prompt_tokens(request)

    def complete(
        self, request: ModelRequest, listener: StreamListener | None = None
    ) -> ModelResponse:
        from botocore.exceptions import BotoCoreError, ClientError

        params, refuse_tools = converse_params(request)
        reader = ConverseStreamReader(
            listener or NullListener(), request.parallel_tool_calls, refuse_tools
        )
        try:
            response = self.client.converse_stream(**params)
            for event in response["stream"]:
                reader.feed(event)
        except ClientError as error:  # incl. EventStreamError, raised by in-stream errors
            raise _client_error(error) from None
        except BotoCoreError as error:
            message = _short(f"Bedrock request failed: {type(error).__name__}: {error}")
            raise ProviderError(message, code="server_error", retryable=True) from None
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            message = f"Bedrock returned an unexpected response: {type(error).__name__}"
            raise ProviderError(message, code="server_error") from None
        return reader.response()
