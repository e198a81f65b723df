"""The spec validator must be honest: accept what the contract allows, reject what it forbids."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support.spec import (
    SpecViolation,
    operations,
    schema_names,
    spec_document,
    spec_path,
    stream_event_names,
    validate_response,
    validate_schema,
    validate_stream_event,
)

RUN_REQUIRED = [
    "id",
    "object",
    "created_at",
    "thread_id",
    "assistant_id",
    "status",
    "required_action",
    "last_error",
    "expires_at",
    "started_at",
    "cancelled_at",
    "failed_at",
    "completed_at",
    "model",
    "instructions",
    "tools",
    "metadata",
    "usage",
    "incomplete_details",
    "max_prompt_tokens",
    "max_completion_tokens",
    "truncation_strategy",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
]


def make_run(**overrides: Any) -> dict[str, Any]:
    run: dict[str, Any] = {
        "id": "run_abc123",
        "object": "thread.run",
        "created_at": 1_700_000_000,
        "thread_id": "thread_abc123",
        "assistant_id": "asst_abc123",
        "status": "queued",
        "required_action": None,
        "last_error": None,
        "expires_at": 1_700_000_600,
        "started_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "model": "gpt-4o",
        "instructions": "",
        "tools": [],
        "metadata": {},
        "usage": None,
        "incomplete_details": None,
        "temperature": 1.0,
        "top_p": 1.0,
        "max_prompt_tokens": None,
        "max_completion_tokens": None,
        "truncation_strategy": {"type": "auto", "last_messages": None},
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "response_format": "auto",
    }
    run.update(overrides)
    return run


def make_thread() -> dict[str, Any]:
    return {
        "id": "thread_abc123",
        "object": "thread",
        "created_at": 1_700_000_000,
        "tool_resources": None,
        "metadata": {},
    }


def test_run_fixture_has_exactly_the_required_keys_of_the_spec() -> None:
    spec_required = spec_document()["components"]["schemas"]["RunObject"]["required"]
    assert sorted(spec_required) == sorted(RUN_REQUIRED)
    assert len(spec_required) == 25
    assert set(RUN_REQUIRED) <= set(make_run())


def test_valid_run_passes() -> None:
    validate_schema(make_run(), "RunObject")
    validate_response("post", "/threads/{thread_id}/runs", 200, make_run())
    validate_response("GET", "/threads/{thread_id}/runs/{run_id}", 200, make_run())


def test_run_in_other_valid_shapes_passes() -> None:
    validate_schema(
        make_run(
            status="requires_action",
            required_action={
                "type": "submit_tool_outputs",
                "submit_tool_outputs": {
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ]
                },
            },
            tools=[{"type": "function", "function": {"name": "f"}}],
            tool_choice={"type": "function", "function": {"name": "f"}},
            usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
            temperature=None,
            top_p=None,
            max_prompt_tokens=1000,
            response_format=None,
            tool_choice_extra_is_allowed=True,  # no additionalProperties: false on RunObject
        ),
        "RunObject",
    )


@pytest.mark.parametrize("key", RUN_REQUIRED)
def test_missing_required_key_fails(key: str) -> None:
    run = make_run()
    del run[key]
    with pytest.raises(SpecViolation, match=f"'{key}' is a required property"):
        validate_schema(run, "RunObject")


def test_instructions_null_fails() -> None:
    with pytest.raises(SpecViolation, match=r"\$\.instructions: None is not of type 'string'"):
        validate_schema(make_run(instructions=None), "RunObject")


def test_expires_at_null_passes() -> None:
    validate_schema(make_run(expires_at=None), "RunObject")


def test_expires_at_string_fails() -> None:
    with pytest.raises(SpecViolation, match=r"\$\.expires_at"):
        validate_schema(make_run(expires_at="soon"), "RunObject")


def test_wrong_status_enum_fails() -> None:
    with pytest.raises(SpecViolation, match=r"\$\.status: 'running' is not one of"):
        validate_schema(make_run(status="running"), "RunObject")


def test_nullable_enum_and_const_do_not_turn_into_anything_goes() -> None:
    with pytest.raises(SpecViolation, match=r"\$\.object"):
        validate_schema(make_run(object="thread"), "RunObject")
    with pytest.raises(SpecViolation, match=r"\$\.status"):
        validate_schema(make_run(status=None), "RunObject")


def test_truncation_strategy_null_passes_and_bogus_type_fails() -> None:
    validate_schema(make_run(truncation_strategy=None), "RunObject")
    validate_schema(
        make_run(truncation_strategy={"type": "last_messages", "last_messages": 3}), "RunObject"
    )
    with pytest.raises(
        SpecViolation, match=r"\$\.truncation_strategy\.type: 'bogus' is not one of"
    ):
        validate_schema(make_run(truncation_strategy={"type": "bogus"}), "RunObject")
    with pytest.raises(SpecViolation, match=r"\$\.truncation_strategy"):
        validate_schema(make_run(truncation_strategy="auto"), "RunObject")


def test_tool_choice_null_passes_and_bogus_fails() -> None:
    validate_schema(make_run(tool_choice=None), "RunObject")
    with pytest.raises(SpecViolation, match=r"\$\.tool_choice"):
        validate_schema(make_run(tool_choice="sometimes"), "RunObject")


def test_response_format_null_passes_and_bogus_fails() -> None:
    validate_schema(make_run(response_format=None), "RunObject")
    validate_schema(make_run(response_format={"type": "json_object"}), "RunObject")
    with pytest.raises(SpecViolation, match=r"\$\.response_format"):
        validate_schema(make_run(response_format="xml"), "RunObject")


def test_error_lists_every_violation_with_its_path() -> None:
    run = make_run(status="running", instructions=None)
    del run["model"]
    with pytest.raises(SpecViolation) as info:
        validate_schema(run, "RunObject")
    message = str(info.value)
    assert "3 error(s)" in message
    assert "$.status" in message
    assert "$.instructions" in message
    assert "'model' is a required property" in message


def test_list_response_with_null_ids_passes() -> None:
    empty = {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}
    validate_schema(empty, "ListRunsResponse")
    validate_response("get", "/threads/{thread_id}/runs", 200, empty)
    validate_response("get", "/threads/{thread_id}/messages", 200, empty)
    validate_response("get", "/threads/{thread_id}/runs/{run_id}/steps", 200, empty)
    page = {
        "object": "list",
        "data": [make_run()],
        "first_id": "run_abc123",
        "last_id": "run_abc123",
        "has_more": False,
    }
    validate_response("get", "/threads/{thread_id}/runs", 200, page)


def test_list_response_items_are_validated() -> None:
    page = {
        "object": "list",
        "data": [make_run(status="bogus")],
        "first_id": "run_abc123",
        "last_id": "run_abc123",
        "has_more": False,
    }
    with pytest.raises(SpecViolation, match=r"\$\.data\[0\]\.status"):
        validate_response("get", "/threads/{thread_id}/runs", 200, page)


def test_response_for_wrong_schema_fails() -> None:
    with pytest.raises(SpecViolation):
        validate_response("post", "/threads/{thread_id}/runs", 200, make_thread())


def test_undocumented_status_fails_and_unknown_operation_is_a_key_error() -> None:
    with pytest.raises(SpecViolation, match="not documented"):
        validate_response("post", "/threads/{thread_id}/runs", 201, make_run())
    with pytest.raises(KeyError):
        validate_response("put", "/threads/{thread_id}/runs", 200, make_run())


def test_error_response() -> None:
    ok = {
        "error": {
            "message": "No run found",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    validate_response("get", "/threads/{thread_id}/runs/{run_id}", 404, ok)
    validate_response("post", "/threads/{thread_id}/runs", 400, ok)
    validate_response("post", "/threads/{thread_id}/runs", 429, ok)
    missing_code = copy.deepcopy(ok)
    del missing_code["error"]["code"]
    with pytest.raises(SpecViolation, match="code"):
        validate_response("get", "/threads/{thread_id}/runs/{run_id}", 404, missing_code)
    with pytest.raises(SpecViolation):
        validate_response("get", "/threads/{thread_id}/runs/{run_id}", 404, {"detail": "nope"})
    with pytest.raises(SpecViolation, match=r"\$\.error\.message"):
        validate_response(
            "get",
            "/threads/{thread_id}/runs/{run_id}",
            404,
            {"error": {**ok["error"], "message": 3}},
        )


def test_stream_event_run_created() -> None:
    validate_stream_event("thread.run.created", make_run())
    with pytest.raises(SpecViolation):
        validate_stream_event("thread.run.created", make_thread())


def test_stream_event_thread_created_and_done_and_error() -> None:
    validate_stream_event("thread.created", make_thread())
    with pytest.raises(SpecViolation):
        validate_stream_event("thread.created", make_run())
    validate_stream_event("done", "[DONE]")
    with pytest.raises(SpecViolation):
        validate_stream_event("done", {"done": True})
    validate_stream_event(
        "error", {"message": "boom", "type": "server_error", "param": None, "code": None}
    )
    with pytest.raises(SpecViolation):
        validate_stream_event("error", {"message": "boom"})


def test_stream_event_message_delta() -> None:
    delta = {
        "id": "msg_1",
        "object": "thread.message.delta",
        "delta": {"content": [{"index": 0, "type": "text", "text": {"value": "Hi"}}]},
    }
    validate_stream_event("thread.message.delta", delta)
    with pytest.raises(SpecViolation):
        validate_stream_event("thread.message.delta", {**delta, "object": "thread.message"})


def test_unknown_stream_event_fails() -> None:
    with pytest.raises(SpecViolation, match="unknown stream event"):
        validate_stream_event("thread.run.exploded", make_run())


def test_catalogues() -> None:
    names = schema_names()
    assert {"RunObject", "RunStepObject", "ErrorResponse", "AssistantStreamEvent"} <= set(names)
    ops = operations()
    assert ("post", "/threads/{thread_id}/runs") in ops
    assert ("post", "/threads/{thread_id}/runs/{run_id}/submit_tool_outputs") in ops
    assert ("get", "/threads/{thread_id}/runs/{run_id}/steps/{step_id}") in ops
    assert all(method in {"get", "post", "delete"} for method, _ in ops)
    events = stream_event_names()
    assert {
        "thread.run.created",
        "thread.run.step.delta",
        "thread.message.delta",
        "error",
        "done",
    } <= set(events)


def test_no_nullable_or_oai_meta_left_after_rewrite() -> None:
    def walk(node: object) -> None:
        if isinstance(node, dict):
            assert "nullable" not in node
            assert "x-oaiMeta" not in node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec_document()["components"])
    walk(spec_document()["paths"])


def test_every_ref_in_the_document_resolves() -> None:
    refs: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.add(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec_document())
    assert refs
    document = spec_document()
    for ref in sorted(refs):
        assert ref.startswith("#/"), ref
        target: Any = document
        for segment in ref[2:].split("/"):
            target = target[segment.replace("~1", "/").replace("~0", "~")]
        assert isinstance(target, dict), ref


def test_spec_path_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy_path = tmp_path / "copy.yaml"
    shutil.copyfile(spec_path(), copy_path)
    monkeypatch.setenv("OPENAI_SPEC_PATH", str(copy_path))
    assert spec_path() == copy_path.resolve()
    validate_schema(make_run(), "RunObject")
    monkeypatch.setenv("OPENAI_SPEC_PATH", str(tmp_path / "missing.yaml"))
    with pytest.raises(FileNotFoundError):
        validate_schema(make_run(), "RunObject")
