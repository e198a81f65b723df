"""The records the store holds, as TypedDicts: what fields a reader can expect of each object.

A record is a plain dict at run time (TypedDicts cost nothing at import or per call): the wire
keys (see objects.py, `to_wire`) plus internal ones a client never sees. `total=False`: top-level
nulls are not stored, so any field may be missing from a record read back.
"""

from __future__ import annotations

from typing import Any, TypedDict


class Usage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class TokensSoFar(TypedDict):
    prompt_tokens: int
    completion_tokens: int


class AssistantRecord(TypedDict, total=False):
    id: str
    object: str  # "assistant"
    created_at: int
    name: str | None
    description: str | None
    model: str
    instructions: str | None
    tools: list[dict[str, Any]]
    tool_resources: dict[str, Any] | None
    metadata: dict[str, str]
    temperature: float | None
    top_p: float | None
    response_format: str | dict[str, Any] | None


class ThreadRecord(TypedDict, total=False):
    id: str
    object: str  # "thread"
    created_at: int
    tool_resources: dict[str, Any] | None
    metadata: dict[str, str]
    active_run_id: str  # internal: the run holding the thread (none when free)


class MessageRecord(TypedDict, total=False):
    id: str
    object: str  # "thread.message"
    created_at: int
    thread_id: str
    status: str
    incomplete_details: dict[str, Any] | None
    completed_at: int | None
    incomplete_at: int | None
    role: str
    content: list[dict[str, Any]]
    assistant_id: str | None
    run_id: str | None
    attachments: list[dict[str, Any]]
    metadata: dict[str, str]


class RunRecord(TypedDict, total=False):
    id: str
    object: str  # "thread.run"
    created_at: int
    thread_id: str
    assistant_id: str
    status: str
    required_action: dict[str, Any] | None
    last_error: dict[str, str] | None
    expires_at: int | None
    started_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    incomplete_details: dict[str, str] | None
    model: str
    instructions: str
    tools: list[dict[str, Any]]
    metadata: dict[str, str]
    usage: Usage | None
    temperature: float | None
    top_p: float | None
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: dict[str, Any]
    tool_choice: str | dict[str, Any]
    parallel_tool_calls: bool
    response_format: str | dict[str, Any]
    # Internal: never sent.
    usage_so_far: TokensSoFar  # tokens of the turns so far (usage is set when the run ends)
    open_step_id: str | None  # the step a terminal change must close
    attempt: int  # claims so far: fences writers (see transitions.RunChange.attempt)
    lease_until: int  # while executing: when the worker's lease lapses
    include: list[str]  # the create request's include[] (what the run's stream events show)


class FileRecord(TypedDict, total=False):
    id: str
    object: str  # "file"
    bytes: int
    created_at: int
    expires_at: int | None
    filename: str
    purpose: str
    status: str  # deprecated upstream but required: always "processed"
    status_details: str | None
    # Internal: never sent.
    blob_key: str  # where the content is (store/blobs.py)
    content_type: str  # the upload part's Content-Type, sent back with the content


class StepRecord(TypedDict, total=False):
    id: str
    object: str  # "thread.run.step"
    created_at: int
    assistant_id: str
    thread_id: str
    run_id: str
    type: str  # "message_creation" | "tool_calls"
    status: str
    step_details: dict[str, Any]
    last_error: dict[str, str] | None
    expired_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    metadata: dict[str, str] | None
    usage: Usage | None
    turn_usage: TokensSoFar  # internal: this turn's tokens, the step's usage once outputs are in
    # internal: the arguments of each file_search call (the model's request, replayed to it)
    call_arguments: dict[str, str]
