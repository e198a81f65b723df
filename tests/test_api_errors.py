"""Every error, including the framework's, is an OpenAI-shaped body with the contract's text."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from tests.conftest import KEY, Api, auth_headers, make_services
from tests.support.spec import validate_response


def assert_error(data: Any, status: int, expected_status: int) -> dict[str, Any]:
    assert status == expected_status, data
    assert set(data) == {"error"}
    assert set(data["error"]) == {"message", "type", "param", "code"}
    validate_response("get", "/threads/{thread_id}", expected_status, data)
    return data["error"]


def test_missing_beta_header_is_invalid_beta(api: Api) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    status, data = api.call("GET", "/v1/assistants", headers=headers)
    error = assert_error(data, status, 400)
    assert error["code"] == "invalid_beta"
    assert error["message"] == (
        "You must provide the 'OpenAI-Beta' header to access the Assistants API. Please try "
        "again by setting the header 'OpenAI-Beta: assistants=v2'."
    )


def test_beta_header_without_v2_is_refused(api: Api) -> None:
    headers = {**auth_headers(), "OpenAI-Beta": "assistants=v1"}
    status, data = api.call("GET", "/v1/assistants", headers=headers)
    assert assert_error(data, status, 400)["code"] == "invalid_beta"


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, None),
        ("Basic abc", None),
        ("Bearer short", "invalid_api_key"),
        ("Bearer has space inside", "invalid_api_key"),
        ("Bearer " + "x" * 201, "invalid_api_key"),
    ],
)
def test_bad_api_keys_are_401(api: Api, authorization: str | None, code: str | None) -> None:
    headers = {"OpenAI-Beta": "assistants=v2"}
    if authorization:
        headers["Authorization"] = authorization
    status, data = api.call("GET", "/v1/assistants", headers=headers)
    error = assert_error(data, status, 401)
    assert error["type"] == "invalid_request_error"
    assert error["code"] == code


def test_bad_json_wrong_method_wrong_content_type(api: Api) -> None:
    status, data = api.call("POST", "/v1/threads", b"{not json")
    assert "could not parse the JSON body" in assert_error(data, status, 400)["message"]
    status, data = api.call("POST", "/v1/threads", b"\xff\xfe\x00")
    assert "could not parse the JSON body" in assert_error(data, status, 400)["message"]
    status, data = api.call("POST", "/v1/threads", b"[1, 2]")
    assert "expected a JSON object" in assert_error(data, status, 400)["message"]
    status, data = api.call("PUT", "/v1/threads")
    assert "Invalid method" in assert_error(data, status, 405)["message"]
    headers = {**auth_headers(), "Content-Type": "text/plain"}
    status, data = api.call("POST", "/v1/threads", b"{}", headers=headers)
    assert "content type" in assert_error(data, status, 415)["message"]


def test_oversized_body_is_413(api: Api) -> None:
    body = json.dumps({"metadata": {"k": "v" * (1024 * 1024)}})
    status, data = api.call("POST", "/v1/threads", body)
    assert assert_error(data, status, 413)["type"] == "invalid_request_error"


def test_unknown_fields_and_wrong_types_name_the_param(api: Api) -> None:
    status, data = api.call("POST", "/v1/assistants", {"model": "m", "bogus": 1})
    error = assert_error(data, status, 400)
    assert error["param"] == "bogus"
    assert error["message"] == "Unrecognized request argument supplied: bogus"
    status, data = api.call("POST", "/v1/assistants", {"model": 5})
    error = assert_error(data, status, 400)
    assert error["param"] == "model"
    assert "expected a string, but got an integer" in error["message"]
    status, data = api.call("POST", "/v1/assistants", {})
    assert assert_error(data, status, 400)["message"] == "Missing required parameter: 'model'."
    status, data = api.call("POST", "/v1/assistants", {"model": "m", "temperature": 3})
    assert assert_error(data, status, 400)["param"] == "temperature"
    bad_tool = {"model": "m", "tools": [{"type": "function", "function": {"name": "a b"}}]}
    status, data = api.call("POST", "/v1/assistants", bad_tool)
    assert assert_error(data, status, 400)["param"] == "tools"


@pytest.mark.parametrize(
    ("metadata", "param", "words"),
    [
        ({f"k{i}": "v" for i in range(17)}, "metadata", "16"),
        ({"k" * 65: "v"}, "metadata", "64"),
        ({"key": "v" * 513}, "metadata.key", "512"),
        ({"key": 1}, "metadata.key", "string"),
    ],
)
def test_metadata_limits(api: Api, metadata: dict[str, Any], param: str, words: str) -> None:
    status, data = api.call("POST", "/v1/threads", {"metadata": metadata})
    error = assert_error(data, status, 400)
    assert error["param"] == param
    assert words in error["message"]


def test_sixteen_keys_of_max_size_are_fine(api: Api) -> None:
    metadata = {f"{i:02d}" + "k" * 62: "v" * 512 for i in range(16)}
    thread = api.ok("POST", "/v1/threads", {"metadata": metadata})
    assert thread["metadata"] == metadata


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("order=up", "order"),
        ("after=nope", "after"),
        ("before=run_123", "before"),
    ],
)
def test_list_parameters_are_validated(api: Api, query: str, param: str) -> None:
    status, data = api.call("GET", f"/v1/assistants?{query}")
    assert assert_error(data, status, 400)["param"] == param


def test_not_found_texts(api: Api) -> None:
    thread = api.ok("POST", "/v1/threads", {})
    tid = thread["id"]
    cases = [
        ("/v1/threads/thread_x", "No thread found with id 'thread_x'."),
        ("/v1/threads/thread_x/runs/run_y", "No thread found with id 'thread_x'."),
        (f"/v1/threads/{tid}/runs/run_y", "No run found with id 'run_y'."),
        (f"/v1/threads/{tid}/messages/msg_z", "No message found with id 'msg_z'."),
        ("/v1/assistants/asst_q", "No assistant found with id 'asst_q'."),
        (f"/v1/threads/{tid}/runs/run_y/steps/step_s", "No run found with id 'run_y'."),
    ]
    for path, message in cases:
        status, data = api.call("GET", path)
        assert assert_error(data, status, 404)["message"] == message, path


def test_another_projects_objects_answer_404_like_missing_ones(api: Api, other_api: Api) -> None:
    assistant = api.ok("POST", "/v1/assistants", {"model": "m"})
    thread = api.ok("POST", "/v1/threads", {"messages": [{"role": "user", "content": "x"}]})
    run = api.ok("POST", f"/v1/threads/{thread['id']}/runs", {"assistant_id": assistant["id"]})
    for path in (
        f"/v1/threads/{thread['id']}",
        f"/v1/threads/{thread['id']}/runs/{run['id']}",
        f"/v1/threads/{thread['id']}/messages",
        f"/v1/threads/{thread['id']}/runs",
    ):
        status, data = other_api.call("GET", path)
        assert assert_error(data, status, 404)["message"] == (
            f"No thread found with id '{thread['id']}'."
        )
    status, data = other_api.call("GET", f"/v1/assistants/{assistant['id']}")
    assert assert_error(data, status, 404)["message"].startswith("No assistant found")
    # Their run on our thread? Their assistant is invisible to us too.
    status, data = other_api.call(
        "POST", f"/v1/threads/{thread['id']}/runs", {"assistant_id": assistant["id"]}
    )
    assert status == 404
    assert other_api.ok("GET", "/v1/assistants")["data"] == []


def test_an_unexpected_failure_is_a_500_in_the_openai_shape(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.services import assistants

    def explode(*args: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(assistants, "list_assistants", explode)
    status, data = api.call("GET", "/v1/assistants")
    error = assert_error(data, status, 500)
    assert error["type"] == "server_error"
    assert "boom" not in error["message"]


def test_object_too_large_for_one_item_is_400_and_nothing_is_written(api: Api) -> None:
    thread = api.ok("POST", "/v1/threads", {})
    # 200,000 four-byte characters: within the 256,000-character limit, over 400 KB as stored.
    body = {"role": "user", "content": "\U0001f600" * 200_000}
    raw = json.dumps(body, ensure_ascii=False).encode()  # 800 KB: under the body limit
    status, data = api.call("POST", f"/v1/threads/{thread['id']}/messages", raw)
    error = assert_error(data, status, 400)
    assert "too large" in error["message"]
    assert api.ok("GET", f"/v1/threads/{thread['id']}/messages")["data"] == []


# ------------------------------------------------------------------------------------------------
# The stage fails closed: only an explicit STAGE=local accepts any key
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("environ", [{}, {"STAGE": ""}, {"STAGE": "Local"}, {"STAGE": "staging"}])
def test_a_stage_that_is_not_explicitly_local_checks_keys(
    dynamodb: Any, environ: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """STAGE unset (or empty, or unknown) with a key table: only a key in the table gets in."""
    from chalice.test import Client

    from app import app
    from chalicelib.config import load_settings
    from chalicelib.services.auth import create_api_key
    from tests.support.services import set_services

    stage = load_settings(environ).stage
    with caplog.at_level(logging.INFO, logger="chalicelib.services.context"):
        svc = make_services(dynamodb, stage=stage)
    assert "API keys are checked against the key table" in caplog.text
    assert "any well-formed API key is accepted" not in caplog.text
    known, _ = create_api_key(svc, "acme")
    set_services(svc)
    try:
        with Client(app) as client:
            api = Api(client, known)
            assert api.ok("GET", "/v1/assistants")["data"] == []
            status, data = Api(client, "sk-unknown-but-well-formed").call("GET", "/v1/assistants")
            error = assert_error(data, status, 401)
            assert error["code"] == "invalid_api_key"
            assert error["message"] == "Incorrect API key provided: sk-***rmed."
    finally:
        set_services(None)


def test_only_an_explicit_local_stage_accepts_any_key_and_says_so(
    dynamodb: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from chalicelib.config import load_settings
    from chalicelib.services import auth

    assert load_settings({}).stage == ""  # unset is not local
    assert not load_settings({}).is_local
    assert load_settings({"STAGE": "local"}).is_local
    with caplog.at_level(logging.INFO, logger="chalicelib.services.context"):
        svc = make_services(dynamodb, stage="local")
    (line,) = [r for r in caplog.records if r.name == "chalicelib.services.context"]
    assert line.levelno == logging.WARNING
    assert line.getMessage().startswith("STAGE=local: any well-formed API key is accepted")
    project = auth.project_for(svc, "Bearer sk-anything-at-all")
    assert project.startswith("local-")
