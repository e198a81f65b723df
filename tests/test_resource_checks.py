"""Ids checked: files and vector stores named by messages and tool_resources must exist in the
caller's project; the vector_stores helper and file_search attachments make the thread's store."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.services import files
from chalicelib.services.auth import project_for
from chalicelib.services.context import Services
from tests.conftest import KEY, OTHER_KEY, Api

BOTH_PATHS = pytest.mark.parametrize("svc", ["sqlite", "moto"], indirect=True)
MISSING = "file-AAAAAAAAAAAAAAAAAAAAAAAA"


def _project(svc: Services, key: str = KEY) -> str:
    return project_for(svc, f"Bearer {key}")


def _file(svc: Services, key: str = KEY, name: str = "notes.txt", data: bytes = b"hi") -> str:
    return str(files.create_file(svc, _project(svc, key), name, "assistants", data)["id"])


def _refused(api: Api, method: str, path: str, body: Any, status: int) -> dict[str, Any]:
    code, data = api.call(method, path, body)
    assert code == status, data
    return data["error"]


def _attached(file_id: str, tool: str = "code_interpreter") -> dict[str, Any]:
    return {
        "role": "user",
        "content": "hi",
        "attachments": [{"file_id": file_id, "tools": [{"type": tool}]}],
    }


@BOTH_PATHS
def test_a_message_attachment_must_name_a_file_of_the_project(api: Api, svc: Services) -> None:
    thread = api.ok("POST", "/v1/threads", {})
    path = f"/v1/threads/{thread['id']}/messages"
    error = _refused(api, "POST", path, _attached(MISSING), 404)
    assert error == {
        "message": f"No such File object: {MISSING}",
        "type": "invalid_request_error",
        "param": "attachments[0].file_id",
        "code": None,
    }
    error = _refused(api, "POST", path, _attached("abc"), 400)
    assert error["message"] == (
        "Invalid 'attachments[0].file_id': 'abc'. Expected an ID that begins with 'file'."
    )
    other = _file(svc, OTHER_KEY)
    error = _refused(api, "POST", path, _attached(other), 404)
    assert error["message"] == f"No such File object: {other}"
    assert api.ok("GET", path)["data"] == []  # nothing was added
    mine = _file(svc)
    message = api.ok("POST", path, _attached(mine))
    assert message["attachments"] == [{"file_id": mine, "tools": [{"type": "code_interpreter"}]}]


def test_initial_additional_and_thread_and_run_messages_are_checked(api: Api) -> None:
    assistant = api.ok("POST", "/v1/assistants", {"model": "m"})
    error = _refused(api, "POST", "/v1/threads", {"messages": [_attached(MISSING)]}, 404)
    assert error["param"] == "messages[0].attachments[0].file_id"
    thread = api.ok("POST", "/v1/threads", {})
    body = {"assistant_id": assistant["id"], "additional_messages": [_attached(MISSING)]}
    error = _refused(api, "POST", f"/v1/threads/{thread['id']}/runs", body, 404)
    assert error["param"] == "additional_messages[0].attachments[0].file_id"
    assert api.ok("GET", f"/v1/threads/{thread['id']}/runs")["data"] == []
    body = {"assistant_id": assistant["id"], "thread": {"messages": [_attached(MISSING)]}}
    error = _refused(api, "POST", "/v1/threads/runs", body, 404)
    assert error["param"] == "thread.messages[0].attachments[0].file_id"


def test_an_image_file_part_must_name_a_file_of_the_project(api: Api) -> None:
    thread = api.ok("POST", "/v1/threads", {})
    body = {
        "role": "user",
        "content": [{"type": "image_file", "image_file": {"file_id": MISSING}}],
    }
    error = _refused(api, "POST", f"/v1/threads/{thread['id']}/messages", body, 404)
    assert error["param"] == "content[0].image_file.file_id"


@BOTH_PATHS
def test_code_interpreter_file_ids_are_checked_on_create_and_modify(
    api: Api, svc: Services
) -> None:
    bad = {"code_interpreter": {"file_ids": [MISSING]}}
    error = _refused(api, "POST", "/v1/assistants", {"model": "m", "tool_resources": bad}, 404)
    assert error["param"] == "tool_resources.code_interpreter.file_ids[0]"
    assert error["message"] == f"No such File object: {MISSING}"
    assert api.ok("GET", "/v1/assistants")["data"] == []
    good = {"code_interpreter": {"file_ids": [_file(svc)]}}
    assistant = api.ok("POST", "/v1/assistants", {"model": "m", "tool_resources": good})
    assert assistant["tool_resources"] == good
    path = f"/v1/assistants/{assistant['id']}"
    error = _refused(api, "POST", path, {"tool_resources": bad}, 404)
    assert error["param"] == "tool_resources.code_interpreter.file_ids[0]"
    assert api.ok("GET", path)["tool_resources"] == good
    error = _refused(api, "POST", "/v1/threads", {"tool_resources": bad}, 404)
    thread = api.ok("POST", "/v1/threads", {"tool_resources": good})
    error = _refused(api, "POST", f"/v1/threads/{thread['id']}", {"tool_resources": bad}, 404)
    assert error["param"] == "tool_resources.code_interpreter.file_ids[0]"
