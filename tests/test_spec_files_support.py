"""The Files and Vector Stores document is loaded, rewritten and looked up like the first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.spec import (
    SpecViolation,
    files_operations,
    files_spec_document,
    files_spec_path,
    operations,
    spec_path,
    validate_response,
    validate_schema,
)


def make_file(**overrides: Any) -> dict[str, Any]:
    file = {
        "id": "file-abc123",
        "object": "file",
        "bytes": 12,
        "created_at": 1_700_000_000,
        "expires_at": None,
        "filename": "notes.txt",
        "purpose": "assistants",
        "status": "processed",
        "status_details": None,
    }
    return {**file, **overrides}


def test_the_files_document_sits_beside_the_assistants_one_unless_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert files_spec_path() == spec_path().parent / "openai-files-vector-stores.openapi.yaml"
    monkeypatch.setenv("OPENAI_FILES_SPEC_PATH", str(tmp_path / "other.yaml"))
    assert files_spec_path() == (tmp_path / "other.yaml").resolve()


def test_its_operations_are_listed_apart() -> None:
    ops = files_operations()
    assert len(ops) == 21
    assert {("post", "/files"), ("get", "/files/{file_id}/content")} <= set(ops)
    assert ("post", "/vector_stores/{vector_store_id}/search") in ops
    assert not set(ops) & set(operations())


def test_a_file_object_with_nulls_where_the_hosted_api_sent_them_passes() -> None:
    validate_schema(make_file(), "OpenAIFile")
    validate_schema(make_file(expires_at=1_700_003_600, status_details="ok"), "OpenAIFile")
    for bad in (make_file(status=None), make_file(purpose="answers"), make_file(expires_at="x")):
        with pytest.raises(SpecViolation):
            validate_schema(bad, "OpenAIFile")
    missing_status = make_file()
    del missing_status["status"]
    with pytest.raises(SpecViolation):
        validate_schema(missing_status, "OpenAIFile")


def test_responses_are_looked_up_in_the_document_that_has_the_operation() -> None:
    validate_response("post", "/files", 200, make_file())
    empty = {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}
    validate_response("get", "/files", 200, empty)
    deleted = {"id": "file-abc123", "object": "file", "deleted": True}
    validate_response("delete", "/files/{file_id}", 200, deleted)
    with pytest.raises(SpecViolation):
        validate_response("get", "/files/{file_id}", 200, {"id": "file-abc123"})
    error = {
        "error": {"message": "m", "type": "invalid_request_error", "param": None, "code": None}
    }
    validate_response("get", "/files/{file_id}", 404, error)
    with pytest.raises(KeyError):
        validate_response("put", "/files", 200, make_file())


def test_no_nullable_left_in_the_files_document() -> None:
    def walk(node: object) -> None:
        if isinstance(node, dict):
            assert "nullable" not in node and "x-oaiMeta" not in node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(files_spec_document())
