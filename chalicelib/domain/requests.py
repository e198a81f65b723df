"""Request bodies, validated: the spec's request schemas plus the hosted API's limits.

Polymorphic fields (tools, tool_choice, response_format, content) are checked by hand in
before-validators so that a failure names the field plainly (`param`) instead of carrying
pydantic's union labels.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from .request_rules import Body, check_metadata, fail
from .vector_store_requests import check_chunking_strategy

MAX_ASSISTANT_TOOLS = 128
MAX_RUN_TOOLS = 20
MAX_INITIAL_MESSAGES = 32
MAX_INSTRUCTIONS_CHARS = 256_000
MAX_MESSAGE_CHARS = 256_000
MAX_CONTENT_PARTS = 32
MAX_ATTACHMENTS = 10
MAX_TOOL_OUTPUTS = 128
_FUNCTION_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
# The spec's ResponseFormatJsonSchema: "Must be a-z, A-Z, 0-9, or contain underscores and
# dashes, with a maximum length of 64."
_SCHEMA_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def _check_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(f"expected an object for {what}")
    return value


def _check_function(value: Any) -> dict[str, Any]:
    fn = _check_object(value, "'function'")
    unknown = set(fn) - {"name", "description", "parameters", "strict"}
    if unknown:
        raise fail(f"unknown field in function: {sorted(unknown)[0]}")
    name = fn.get("name")
    if not isinstance(name, str) or not _FUNCTION_NAME.fullmatch(name):
        raise fail("function.name must be 1 to 64 characters from a-z, A-Z, 0-9, _ and -")
    out: dict[str, Any] = {"name": name}
    if "description" in fn:
        if not isinstance(fn["description"], str):
            raise fail("function.description must be a string")
        out["description"] = fn["description"]
    if "parameters" in fn:
        out["parameters"] = _check_object(fn["parameters"], "function.parameters")
    if "strict" in fn:
        if fn["strict"] is not None and not isinstance(fn["strict"], bool):
            raise fail("function.strict must be a boolean or null")
        out["strict"] = fn["strict"]
    return out


def _check_file_search(value: Any) -> dict[str, Any]:
    """The options of a file_search tool, as the spec has them (they are echoed back)."""
    options = _check_object(value, "'file_search'")
    if set(options) - {"max_num_results", "ranking_options"}:
        raise fail("file_search takes only 'max_num_results' and 'ranking_options'")
    out: dict[str, Any] = {}
    limit = options.get("max_num_results")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 50:
            raise fail("file_search.max_num_results must be an integer from 1 to 50")
        out["max_num_results"] = limit
    ranking = options.get("ranking_options")
    if ranking is not None:
        ranking = _check_object(ranking, "file_search.ranking_options")
        if set(ranking) - {"ranker", "score_threshold"}:
            raise fail("ranking_options takes only 'ranker' and 'score_threshold'")
        ranker = ranking.get("ranker", "auto")
        if ranker not in ("auto", "default_2024_08_21"):
            raise fail("ranking_options.ranker must be 'auto' or 'default_2024_08_21'")
        threshold = ranking.get("score_threshold")
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or not 0 <= threshold <= 1
        ):
            raise fail("ranking_options.score_threshold is required: a number from 0 to 1")
        out["ranking_options"] = {"ranker": ranker, "score_threshold": threshold}
    return out


def check_tool(value: Any) -> dict[str, Any]:
    tool = _check_object(value, "a tool")
    kind = tool.get("type")
    if kind == "function":
        if set(tool) - {"type", "function"}:
            raise fail("a function tool takes only 'type' and 'function'")
        if "function" not in tool:
            raise fail("a function tool needs 'function'")
        return {"type": "function", "function": _check_function(tool["function"])}
    if kind == "code_interpreter":
        if set(tool) - {"type"}:
            raise fail("a code_interpreter tool takes only 'type'")
        return {"type": "code_interpreter"}
    if kind == "file_search":
        if set(tool) - {"type", "file_search"}:
            raise fail("a file_search tool takes only 'type' and 'file_search'")
        out: dict[str, Any] = {"type": "file_search"}
        if tool.get("file_search") is not None:
            out["file_search"] = _check_file_search(tool["file_search"])
        return out
    raise fail("tool type must be one of 'code_interpreter', 'file_search', 'function'")


def check_tools(value: Any, limit: int) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise fail("expected an array of tools")
    if len(value) > limit:
        raise fail(f"expected at most {limit} tools, but got {len(value)}")
    tools = [check_tool(item) for item in value]
    names = [t["function"]["name"] for t in tools if t["type"] == "function"]
    if len(names) != len(set(names)):
        raise fail("function names must be unique")
    return tools


def check_tool_choice(value: Any) -> str | dict[str, Any] | None:
    if value is None or value in ("none", "auto", "required"):
        return value
    if isinstance(value, dict):
        kind = value.get("type")
        if kind == "function":
            fn = value.get("function")
            if set(value) - {"type", "function"} or not isinstance(fn, dict) or set(fn) != {"name"}:
                raise fail("a function tool_choice is {'type': 'function', 'function': {'name'}}")
            if not isinstance(fn["name"], str) or not _FUNCTION_NAME.fullmatch(fn["name"]):
                raise fail("tool_choice.function.name is not a valid function name")
            return {"type": "function", "function": {"name": fn["name"]}}
        if kind in ("code_interpreter", "file_search") and set(value) == {"type"}:
            return {"type": kind}
    raise fail("expected 'none', 'auto', 'required' or a named tool")


def check_response_format(value: Any) -> str | dict[str, Any] | None:
    if value is None or value == "auto":
        return value
    if isinstance(value, dict):
        kind = value.get("type")
        if kind in ("text", "json_object") and set(value) == {"type"}:
            return {"type": kind}
        if kind == "json_schema" and set(value) == {"type", "json_schema"}:
            return {"type": "json_schema", "json_schema": _check_json_schema(value["json_schema"])}
    raise fail("expected 'auto' or an object with type 'text', 'json_object' or 'json_schema'")


def _check_json_schema(value: Any) -> dict[str, Any]:
    """`response_format.json_schema` as the spec has it; the fields given are echoed back."""
    param = "response_format.json_schema"
    if not isinstance(value, dict):
        raise fail(f"Invalid type for '{param}': expected an object.", param)
    unknown = sorted(set(value) - {"name", "description", "schema", "strict"})
    if unknown:
        raise fail(f"Unrecognized request argument supplied: {param}.{unknown[0]}", param)
    name = value.get("name")
    if name is None:
        raise fail(f"Missing required parameter: '{param}.name'.", f"{param}.name")
    if not isinstance(name, str) or not _SCHEMA_NAME.fullmatch(name):
        raise fail(
            f"Invalid '{param}.name': expected a string of 1 to 64 characters from a-z, A-Z, "
            "0-9, '_' and '-'.",
            f"{param}.name",
        )
    if "description" in value and not isinstance(value["description"], str):
        raise fail(
            f"Invalid type for '{param}.description': expected a string.", f"{param}.description"
        )
    if "schema" in value and not isinstance(value["schema"], dict):
        raise fail(f"Invalid type for '{param}.schema': expected an object.", f"{param}.schema")
    strict = value.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise fail(
            f"Invalid type for '{param}.strict': expected a boolean or null.", f"{param}.strict"
        )
    return dict(value)


def check_truncation(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    strategy = _check_object(value, "truncation_strategy")
    if set(strategy) - {"type", "last_messages"}:
        raise fail("truncation_strategy takes only 'type' and 'last_messages'")
    kind = strategy.get("type")
    last = strategy.get("last_messages")
    if kind not in ("auto", "last_messages"):
        raise fail("truncation_strategy.type must be 'auto' or 'last_messages'")
    if last is not None and (isinstance(last, bool) or not isinstance(last, int) or last < 1):
        raise fail("truncation_strategy.last_messages must be an integer of at least 1")
    if kind == "last_messages" and last is None:
        raise fail("truncation_strategy.last_messages is required with type 'last_messages'")
    return {"type": kind, "last_messages": last}


def _check_content_part(part: Any) -> dict[str, Any]:
    item = _check_object(part, "a content part")
    kind = item.get("type")
    if kind == "text":
        if set(item) != {"type", "text"} or not isinstance(item["text"], str):
            raise fail("a text part is {'type': 'text', 'text': <string>}")
        return {"type": "text", "text": item["text"]}
    if kind in ("image_url", "image_file"):
        inner_key = "url" if kind == "image_url" else "file_id"
        inner = item.get(kind)
        if set(item) != {"type", kind} or not isinstance(inner, dict):
            raise fail(f"an {kind} part is {{'type': '{kind}', '{kind}': {{...}}}}")
        if not isinstance(inner.get(inner_key), str) or set(inner) - {inner_key, "detail"}:
            raise fail(f"{kind}.{inner_key} is required")
        detail = inner.get("detail", "auto")
        if detail not in ("auto", "low", "high"):
            raise fail(f"{kind}.detail must be 'auto', 'low' or 'high'")
        return {"type": kind, kind: {inner_key: inner[inner_key], "detail": detail}}
    raise fail("content part type must be 'text', 'image_url' or 'image_file'")


def check_content(value: Any) -> str | list[dict[str, Any]]:
    if isinstance(value, str):
        if len(value) > MAX_MESSAGE_CHARS:
            raise fail(f"content is longer than {MAX_MESSAGE_CHARS} characters")
        return value
    if isinstance(value, list):
        if not 1 <= len(value) <= MAX_CONTENT_PARTS:
            raise fail(f"content must have 1 to {MAX_CONTENT_PARTS} parts")
        parts = [_check_content_part(p) for p in value]
        if sum(len(p.get("text", "")) for p in parts) > MAX_MESSAGE_CHARS:
            raise fail(f"content is longer than {MAX_MESSAGE_CHARS} characters")
        return parts
    raise fail("expected a string or an array of content parts")


def check_attachments(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_ATTACHMENTS:
        raise fail(f"expected an array of at most {MAX_ATTACHMENTS} attachments")
    out = []
    for item in value:
        att = _check_object(item, "an attachment")
        if set(att) - {"file_id", "tools"} or not isinstance(att.get("file_id"), str):
            raise fail("an attachment is {'file_id': <string>, 'tools': [...]}")
        tools = att.get("tools", [])
        allowed = ({"type": "code_interpreter"}, {"type": "file_search"})
        if not isinstance(tools, list) or any(t not in allowed for t in tools):
            raise fail("attachment tools are of type 'code_interpreter' or 'file_search'")
        out.append({"file_id": att["file_id"], "tools": tools})
    return out


def check_tool_resources(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    # A null entry is taken as not given (like a null top-level field); it is never echoed back.
    resources = {k: v for k, v in _check_object(value, "tool_resources").items() if v is not None}
    if set(resources) - {"code_interpreter", "file_search"}:
        raise fail("tool_resources takes 'code_interpreter' and 'file_search'")
    ci = resources.get("code_interpreter")
    if ci is not None:
        ids = _check_object(ci, "code_interpreter").get("file_ids", [])
        if not isinstance(ids, list) or len(ids) > 20 or not all(isinstance(i, str) for i in ids):
            raise fail("code_interpreter.file_ids is an array of at most 20 file IDs")
    fs = resources.get("file_search")
    if fs is not None:
        ids = _check_object(fs, "file_search").get("vector_store_ids", [])
        if not isinstance(ids, list) or len(ids) > 1 or not all(isinstance(i, str) for i in ids):
            raise fail("file_search.vector_store_ids is an array of at most 1 vector store ID")
        if fs.get("vector_stores") is not None:
            resources["file_search"] = {**fs, "vector_stores": _check_store_helper(fs, ids)}
    return resources


def _check_store_helper(fs: dict[str, Any], ids: list[str]) -> list[dict[str, Any]]:
    """`file_search.vector_stores`: [{file_ids, chunking_strategy, metadata}], at most one store
    in all (with vector_store_ids). The store is created when the assistant or thread is."""
    param = "tool_resources.file_search.vector_stores"
    helpers = fs["vector_stores"]
    if not isinstance(helpers, list) or not all(isinstance(h, dict) for h in helpers):
        raise fail(f"Invalid type for '{param}': expected an array of objects.", param)
    if len(helpers) + len(ids) > 1:
        raise fail(
            "Invalid 'tool_resources.file_search': there can be a maximum of 1 vector store "
            "attached (vector_store_ids and vector_stores together).",
            param,
        )
    out = []
    for helper in helpers:
        unknown = sorted(set(helper) - {"file_ids", "chunking_strategy", "metadata"})
        if unknown:
            raise fail(f"Unknown parameter: '{param}[0].{unknown[0]}'.", param)
        file_ids = helper.get("file_ids", [])
        if not isinstance(file_ids, list) or not all(isinstance(i, str) for i in file_ids):
            raise fail(f"Invalid type for '{param}[0].file_ids': expected an array of strings.")
        if len(file_ids) > 10_000:
            raise fail(f"Invalid '{param}[0].file_ids': at most 10000 files.")
        strategy = helper.get("chunking_strategy")
        if strategy is not None:
            strategy = _check_chunking(strategy, f"{param}[0].chunking_strategy")
        out.append(
            {
                "file_ids": file_ids,
                "chunking_strategy": strategy,
                "metadata": check_metadata(helper.get("metadata")),
            }
        )
    return out


def _check_chunking(value: Any, param: str) -> dict[str, Any]:
    return check_chunking_strategy(value, param) or {"type": "auto"}


Temperature = Annotated[float, Field(ge=0, le=2)]
TopP = Annotated[float, Field(ge=0, le=1)]
TokenLimit = Annotated[int, Field(ge=256)]
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


class _ToolFields(Body):
    """Fields whose before-validators are shared by assistants and runs."""

    @field_validator("tool_choice", mode="before", check_fields=False)
    @classmethod
    def _tool_choice(cls, value: Any) -> Any:
        return check_tool_choice(value)

    @field_validator("response_format", mode="before", check_fields=False)
    @classmethod
    def _response_format(cls, value: Any) -> Any:
        return check_response_format(value)

    @field_validator("truncation_strategy", mode="before", check_fields=False)
    @classmethod
    def _truncation(cls, value: Any) -> Any:
        return check_truncation(value)

    @field_validator("tool_resources", mode="before", check_fields=False)
    @classmethod
    def _tool_resources(cls, value: Any) -> Any:
        return check_tool_resources(value)


class _AssistantFields(_ToolFields):
    name: Annotated[str, Field(max_length=256)] | None = None
    description: Annotated[str, Field(max_length=512)] | None = None
    instructions: Annotated[str, Field(max_length=MAX_INSTRUCTIONS_CHARS)] | None = None
    reasoning_effort: ReasoningEffort | None = None
    tool_resources: Any = None
    metadata: Any = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    response_format: Any = None

    @field_validator("tools", mode="before", check_fields=False)
    @classmethod
    def _tools(cls, value: Any) -> Any:
        return check_tools(value, MAX_ASSISTANT_TOOLS)


class CreateAssistant(_AssistantFields):
    model: Annotated[str, Field(min_length=1, max_length=256)]
    tools: Any = None


class ModifyAssistant(_AssistantFields):
    model: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    tools: Any = None


class CreateMessage(Body):
    role: Literal["user", "assistant"]
    content: Any
    attachments: Any = None
    metadata: Any = None

    @field_validator("content", mode="before")
    @classmethod
    def _content(cls, value: Any) -> Any:
        return check_content(value)

    @field_validator("attachments", mode="before")
    @classmethod
    def _attachments(cls, value: Any) -> Any:
        return check_attachments(value)


class ModifyMetadata(Body):
    """Modify message and modify run: metadata only."""

    metadata: Any = None


class CreateThread(_ToolFields):
    messages: Annotated[list[CreateMessage], Field(max_length=MAX_INITIAL_MESSAGES)] | None = None
    tool_resources: Any = None
    metadata: Any = None


class ModifyThread(_ToolFields):
    tool_resources: Any = None
    metadata: Any = None


class _RunFields(_ToolFields):
    assistant_id: str
    model: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    instructions: Annotated[str, Field(max_length=MAX_INSTRUCTIONS_CHARS)] | None = None
    tools: Any = None
    metadata: Any = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    stream: bool | None = None
    max_prompt_tokens: TokenLimit | None = None
    max_completion_tokens: TokenLimit | None = None
    truncation_strategy: Any = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    response_format: Any = None

    @field_validator("tools", mode="before", check_fields=False)
    @classmethod
    def _tools(cls, value: Any) -> Any:
        return check_tools(value, MAX_RUN_TOOLS)


class CreateRun(_RunFields):
    reasoning_effort: ReasoningEffort | None = None
    additional_instructions: Annotated[str, Field(max_length=MAX_INSTRUCTIONS_CHARS)] | None = None
    additional_messages: (
        Annotated[list[CreateMessage], Field(max_length=MAX_INITIAL_MESSAGES)] | None
    ) = None


class CreateThreadAndRun(_RunFields):
    thread: CreateThread | None = None
    tool_resources: Any = None


class ToolOutput(Body):
    tool_call_id: str
    output: Annotated[str, Field(max_length=MAX_MESSAGE_CHARS)]


class SubmitToolOutputs(Body):
    tool_outputs: Annotated[list[ToolOutput], Field(max_length=MAX_TOOL_OUTPUTS)]
    stream: bool | None = None
