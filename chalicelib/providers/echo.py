"""The `echo` model: deterministic and offline (CONTRACT.md, "The echo model")."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from ..domain import file_search as fs
from ..domain.ids import new_id
from .base import ChatMessage, ModelRequest, ModelResponse, NullListener, StreamListener, ToolCall

# A tool call's arguments stream in pieces of this many characters, as a real model's would.
ARGUMENT_PIECE_CHARS = 8
# file_search (README, "file_search in runs"): the answer quotes this many words of the top
# result; with no results it is this sentence.
ANSWER_WORDS = 50
NO_RESULTS_ANSWER = "I found nothing about that in the files."


def _words(text: str) -> list[str]:
    return text.split()


def _first_json_object(text: str) -> str:
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            return json.dumps(value, separators=(",", ":"))
    return "{}"


def _names_in(text: str, names: list[str]) -> list[str]:
    return [n for n in names if re.search(rf"\b{re.escape(n)}\b", text)]


def _trailing_tool_outputs(messages: tuple[ChatMessage, ...]) -> list[str] | None:
    """The outputs of the last tool round, if the conversation ends with one."""
    outputs: list[str] = []
    for message in reversed(messages):
        if message.role != "tool":
            break
        outputs.append(message.text)
    return list(reversed(outputs)) if outputs else None


def _tool_names_by_id(messages: tuple[ChatMessage, ...]) -> dict[str, str]:
    return {call.id: call.name for m in messages for call in m.tool_calls}


def _trailing_search_outputs(messages: tuple[ChatMessage, ...]) -> list[str] | None:
    """The file_search outputs of the last tool round, if it has any."""
    names = _tool_names_by_id(messages)
    outputs: list[str] = []
    for message in reversed(messages):
        if message.role != "tool":
            break
        if names.get(message.tool_call_id or "") == fs.FUNCTION:
            outputs.append(message.text)
    return list(reversed(outputs)) or None


def _may_search(request: ModelRequest) -> bool:
    """file_search is offered, allowed by tool_choice, and not searched yet in this run."""
    if all(t["name"] != fs.FUNCTION for t in request.tools) or request.tool_choice == "none":
        return False
    choice: Any = request.tool_choice
    if isinstance(choice, dict) and choice.get("function", {}).get("name") != fs.FUNCTION:
        return False  # another function is forced
    return all(call.name != fs.FUNCTION for m in request.messages for call in m.tool_calls)


def answer_from_results(outputs: list[str]) -> str:
    """The top result's text (whitespace collapsed, its first ANSWER_WORDS words), then its
    citation marker; NO_RESULTS_ANSWER when the search found nothing."""
    for output in outputs:
        results = fs.parse_output(output)
        if results:
            marker, text = results[0]
            words = text.split()[:ANSWER_WORDS]
            return f"{' '.join(words)} {marker}" if words else marker
    return NO_RESULTS_ANSWER


def word_pieces(text: str) -> list[str]:
    """`text` cut before each word that follows whitespace: the pieces join back to `text`."""
    return [piece for piece in re.split(r"(?<=\s)(?=\S)", text) if piece]


def _calls_for(request: ModelRequest, last_user: str) -> list[str]:
    names = [t["name"] for t in request.tools]
    choice: Any = request.tool_choice
    if not names or choice == "none":
        return []
    if isinstance(choice, dict):
        forced = choice.get("function", {}).get("name")
        return [forced] if forced in names else []
    named = _names_in(last_user, names)
    if choice == "required" and not named:
        named = names[:1]
    return named if request.parallel_tool_calls else named[:1]


class EchoProvider:
    """Replies word by word, `word_delay` seconds apart (0: as fast as it can)."""

    accepts_images = False  # it reads text only: images are never fetched for it

    def __init__(self, word_delay: float = 0.0) -> None:
        self.word_delay = word_delay

    def count_prompt_tokens(self, request: ModelRequest) -> int:
        texts = [request.instructions, *(m.text for m in request.messages)]
        return sum(len(_words(t)) for t in texts)

    def complete(
        self, request: ModelRequest, listener: StreamListener | None = None
    ) -> ModelResponse:
        response = self._answer(request)
        self._stream(response, listener or NullListener())
        return response

    def _answer(self, request: ModelRequest) -> ModelResponse:
        prompt_tokens = self.count_prompt_tokens(request)
        searched = _trailing_search_outputs(request.messages)
        if searched is not None:
            return self._reply(answer_from_results(searched), request, prompt_tokens)
        outputs = _trailing_tool_outputs(request.messages)
        if outputs is not None:
            return self._reply("\n".join(outputs), request, prompt_tokens)
        last_user = next((m.text for m in reversed(request.messages) if m.role == "user"), "")
        if _may_search(request) and last_user.strip():
            arguments = json.dumps({"queries": [last_user]}, separators=(",", ":"))
            call = ToolCall(new_id("call"), fs.FUNCTION, arguments)
            return ModelResponse(tool_calls=(call,), prompt_tokens=prompt_tokens)
        names = _calls_for(request, last_user)
        if names:
            arguments = _first_json_object(last_user)
            calls = tuple(ToolCall(new_id("call"), name, arguments) for name in names)
            return ModelResponse(tool_calls=calls, prompt_tokens=prompt_tokens)
        return self._reply(last_user, request, prompt_tokens)

    def _pause(self) -> None:
        if self.word_delay > 0:
            time.sleep(self.word_delay)

    def _stream(self, response: ModelResponse, listener: StreamListener) -> None:
        for piece in word_pieces(response.text):
            self._pause()
            listener.on_text(piece)
        for index, call in enumerate(response.tool_calls):
            arguments = call.arguments
            for start in range(0, len(arguments), ARGUMENT_PIECE_CHARS):
                self._pause()
                piece = arguments[start : start + ARGUMENT_PIECE_CHARS]
                listener.on_tool_call(index, call.id, call.name, piece)

    @staticmethod
    def _reply(text: str, request: ModelRequest, prompt_tokens: int) -> ModelResponse:
        words = _words(text)
        limit = request.max_completion_tokens
        if limit is not None and len(words) > limit:
            return ModelResponse(
                text=" ".join(words[:limit]),
                prompt_tokens=prompt_tokens,
                completion_tokens=limit,
                truncated=True,
            )
        return ModelResponse(text=text, prompt_tokens=prompt_tokens, completion_tokens=len(words))
