"""The one small interface every model provider implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # a JSON object, serialised


@dataclass(frozen=True)
class ImagePart:
    """An image a user message shows the model: its bytes, already fetched and checked.

    `media_type` is image/png, image/jpeg, image/gif or image/webp (from the bytes themselves);
    `detail` is the message's `auto`/`low`/`high`, passed on where the protocol has it.
    """

    media_type: str
    data: bytes
    detail: str = "auto"

    @property
    def format(self) -> str:
        """png, jpeg, gif or webp (Bedrock's names)."""
        return self.media_type.split("/", 1)[1]


@dataclass(frozen=True)
class ChatMessage:
    """One entry of the conversation sent to a model.

    `user`/`assistant` carry text; a `user` message may carry `images` (after its text, in the
    order of its content parts); an `assistant` turn that called tools carries `tool_calls`;
    a `tool` message carries one call's output in `text`, with `tool_call_id`.
    """

    role: Literal["user", "assistant", "tool"]
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    images: tuple[ImagePart, ...] = ()


@dataclass(frozen=True)
class ModelRequest:
    model: str  # the provider's model ID (after the configured mapping)
    instructions: str
    messages: tuple[ChatMessage, ...]
    # Function tools only, as {"name", "description"?, "parameters"?, "strict"?}.
    tools: tuple[dict[str, Any], ...] = ()
    # "auto" | "none" | "required" | {"type": "function", "function": {"name": ...}}
    tool_choice: str | dict[str, Any] = "auto"
    parallel_tool_calls: bool = True
    response_format: str | dict[str, Any] = "auto"
    temperature: float | None = None
    top_p: float | None = None
    max_completion_tokens: int | None = None  # what is left of the run's budget


@dataclass(frozen=True)
class ModelResponse:
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # True when the reply stopped at max_completion_tokens.
    truncated: bool = False


class ProviderError(Exception):
    """A provider call that failed; `code` is what the run's last_error reports."""

    def __init__(
        self,
        message: str,
        code: Literal["server_error", "rate_limit_exceeded"] = "server_error",
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        # Throttling, 5xx answers, timeouts: asking again may work (see executor's retries).
        self.retryable = retryable


class StreamListener(Protocol):
    """Told about a reply while the model writes it; the returned ModelResponse is the whole."""

    def on_text(self, delta: str) -> None:
        """Text that just arrived."""
        ...

    def on_tool_call(self, index: int, call_id: str, name: str, arguments_delta: str) -> None:
        """A piece of tool call `index`'s arguments (the first piece names the call)."""
        ...


class NullListener:
    def on_text(self, delta: str) -> None:
        return None

    def on_tool_call(self, index: int, call_id: str, name: str, arguments_delta: str) -> None:
        return None


class ModelProvider(Protocol):
    # Whether the model reads images (ChatMessage.images); providers without the attribute
    # are taken not to, and are never sent any (so nothing is fetched for them).
    accepts_images: bool

    def complete(
        self, request: ModelRequest, listener: StreamListener | None = None
    ) -> ModelResponse:
        """Ask the model for one turn, streaming it to `listener`. Raises ProviderError."""
        ...

    def count_prompt_tokens(self, request: ModelRequest) -> int:
        """An estimate of the prompt's size in tokens, before sending it."""
        ...
