"""The wire objects: how each is built from a request and what keys a client sees.

Records are plain dicts holding the wire keys plus a few internal ones (never sent); their
fields are written down as TypedDicts in records.py. `to_wire`
projects a record onto exactly the keys the spec lists, so every required key is present and
nullable ones are null rather than missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import file_search, lifecycle
from .ids import new_id

if TYPE_CHECKING:  # annotations only: building a record never needs pydantic
    from .records import (
        AssistantRecord,
        MessageRecord,
        RunRecord,
        StepRecord,
        ThreadRecord,
    )
    from .requests import CreateAssistant, CreateMessage

Record = dict[str, Any]

ASSISTANT_KEYS = (
    "id", "object", "created_at", "name", "description", "model", "instructions", "tools",
    "tool_resources", "metadata", "temperature", "top_p", "response_format",
)  # fmt: skip
THREAD_KEYS = ("id", "object", "created_at", "tool_resources", "metadata")
MESSAGE_KEYS = (
    "id", "object", "created_at", "thread_id", "status", "incomplete_details", "completed_at",
    "incomplete_at", "role", "content", "assistant_id", "run_id", "attachments", "metadata",
)  # fmt: skip
RUN_KEYS = (
    "id", "object", "created_at", "thread_id", "assistant_id", "status", "required_action",
    "last_error", "expires_at", "started_at", "cancelled_at", "failed_at", "completed_at",
    "incomplete_details", "model", "instructions", "tools", "metadata", "usage", "temperature",
    "top_p", "max_prompt_tokens", "max_completion_tokens", "truncation_strategy", "tool_choice",
    "parallel_tool_calls", "response_format",
)  # fmt: skip
STEP_KEYS = (
    "id", "object", "created_at", "assistant_id", "thread_id", "run_id", "type", "status",
    "step_details", "last_error", "expired_at", "cancelled_at", "failed_at", "completed_at",
    "metadata", "usage",
)  # fmt: skip

FILE_KEYS = (
    "id", "object", "bytes", "created_at", "expires_at", "filename", "purpose", "status",
    "status_details",
)  # fmt: skip

_KEYS_BY_OBJECT = {
    "assistant": ASSISTANT_KEYS,
    "thread": THREAD_KEYS,
    "thread.message": MESSAGE_KEYS,
    "thread.run": RUN_KEYS,
    "thread.run.step": STEP_KEYS,
    "file": FILE_KEYS,
}

DEFAULT_TRUNCATION = {"type": "auto", "last_messages": None}


def to_wire(record: Record, include: Sequence[str] = ()) -> Record:
    """The record as a client sees it (objects with no record form, like deltas, as they are).

    `include` is a request's `include[]`: file_search results carry their `content` in a step
    only when it names them.
    """
    keys = _KEYS_BY_OBJECT.get(record["object"])
    if keys is None:
        return record
    wire = {key: record.get(key) for key in keys}
    if record["object"] == "thread.run" and lifecycle.is_terminal(record["status"]):
        wire["expires_at"] = None
    if record["object"] == "thread.run.step" and file_search.INCLUDE_CONTENT not in include:
        wire["step_details"] = file_search.without_content(wire["step_details"] or {})
    return wire


def new_assistant(request: CreateAssistant, now: int) -> AssistantRecord:
    return {
        "id": new_id("assistant"),
        "object": "assistant",
        "created_at": now,
        "name": request.name,
        "description": request.description,
        "model": request.model,
        "instructions": request.instructions,
        "tools": request.tools or [],
        "tool_resources": request.tool_resources,
        "metadata": request.metadata or {},
        "temperature": request.temperature,
        "top_p": request.top_p,
        "response_format": request.response_format or "auto",
        "reasoning_effort": request.reasoning_effort,
    }


def new_thread(now: int, metadata: dict[str, str] | None, tool_resources: Any) -> ThreadRecord:
    return {
        "id": new_id("thread"),
        "object": "thread",
        "created_at": now,
        "tool_resources": tool_resources,
        "metadata": metadata or {},
    }


def text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": {"value": text, "annotations": []}}


def _content_parts(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [text_part(content)]
    return [text_part(p["text"]) if p["type"] == "text" else p for p in content]


def new_user_message(thread_id: str, request: CreateMessage, now: int) -> MessageRecord:
    """A message added by a client (create message, initial or additional messages)."""
    return {
        "id": new_id("message"),
        "object": "thread.message",
        "created_at": now,
        "thread_id": thread_id,
        "status": "completed",
        "incomplete_details": None,
        "completed_at": now,
        "incomplete_at": None,
        "role": request.role,
        "content": _content_parts(request.content),
        "assistant_id": None,
        "run_id": None,
        "attachments": request.attachments or [],
        "metadata": request.metadata or {},
    }


def message_text(message: Record) -> str:
    """The text parts of a message joined by newlines (what a model reads)."""
    return "\n".join(
        part["text"]["value"] for part in message["content"] if part.get("type") == "text"
    )


def join_instructions(base: str | None, additional: str | None) -> str:
    return "\n\n".join(part for part in (base, additional) if part)


def new_run(
    *,
    thread_id: str,
    assistant: Record,
    overrides: dict[str, Any],
    now: int,
    expires_after: int,
) -> RunRecord:
    """A queued run: the assistant's settings, overridden by what the request set."""

    def pick(key: str, default: Any = None) -> Any:
        value = overrides.get(key)
        if value is not None:
            return value
        inherited = assistant.get(key)
        return default if inherited is None else inherited

    return {
        "id": new_id("run"),
        "object": "thread.run",
        "created_at": now,
        "thread_id": thread_id,
        "assistant_id": assistant["id"],
        "status": lifecycle.QUEUED,
        "required_action": None,
        "last_error": None,
        "expires_at": now + expires_after,
        "started_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "incomplete_details": None,
        "model": pick("model"),
        "instructions": join_instructions(
            pick("instructions", ""), overrides.get("additional_instructions")
        ),
        "tools": pick("tools", []),
        "metadata": overrides.get("metadata") or {},
        "usage": None,
        "temperature": pick("temperature"),
        "top_p": pick("top_p"),
        "max_prompt_tokens": overrides.get("max_prompt_tokens"),
        "max_completion_tokens": overrides.get("max_completion_tokens"),
        "truncation_strategy": overrides.get("truncation_strategy") or dict(DEFAULT_TRUNCATION),
        "tool_choice": overrides.get("tool_choice") or "auto",
        "parallel_tool_calls": overrides.get("parallel_tool_calls") is not False,
        "response_format": pick("response_format", "auto"),
        "reasoning_effort": pick("reasoning_effort"),
        # internal: tokens used by the turns so far; `usage` is set when the run ends.
        "usage_so_far": {"prompt_tokens": 0, "completion_tokens": 0},
    }


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def new_step(run: Record, step_type: str, details: dict[str, Any], now: int) -> StepRecord:
    return {
        "id": new_id("step"),
        "object": "thread.run.step",
        "created_at": now,
        "assistant_id": run["assistant_id"],
        "thread_id": run["thread_id"],
        "run_id": run["id"],
        "type": step_type,
        "status": lifecycle.STEP_IN_PROGRESS,
        "step_details": details,
        "last_error": None,
        "expired_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "metadata": {},
        "usage": None,
    }


def new_assistant_message(run: Record, text: str, now: int) -> MessageRecord:
    return {
        "id": new_id("message"),
        "object": "thread.message",
        "created_at": now,
        "thread_id": run["thread_id"],
        "status": "completed",
        "incomplete_details": None,
        "completed_at": now,
        "incomplete_at": None,
        "role": "assistant",
        "content": [text_part(text)],
        "assistant_id": run["assistant_id"],
        "run_id": run["id"],
        "attachments": [],
        "metadata": {},
    }
