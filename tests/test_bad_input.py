"""Hostile and broken input through the real app (chalice.test.Client on moto): always a clear
4xx in the OpenAI error shape, fast, and for writes nothing written half-way.

The DynamoDB client here enforces DynamoDB's key limits on every call (moto checks them only on
PutItem; tests/support/key_limits.py), so an ID too long for a key would show up as a 500.

"Nothing written" is checked twice: through the API (lists) and by counting every item in the
table before and after.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.dispatch.base import purge_job
from chalicelib.domain.ids import PREFIXES
from chalicelib.services.context import Services
from chalicelib.services.jobs import handle_job
from tests.conftest import KEY, OTHER_KEY, Api, auth_headers, make_services
from tests.support import engines
from tests.support.key_limits import KeyLimitClient
from tests.support.spec import validate_response

ERROR_KEYS = {"message", "type", "param", "code"}
FAST_SECONDS = 2.0  # a 10,000-element body is refused long before this
MISSING = {
    "assistant": "asst_" + "0" * 24,
    "thread": "thread_" + "0" * 24,
    "message": "msg_" + "0" * 24,
    "run": "run_" + "0" * 24,
    "step": "step_" + "0" * 24,
}


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def svc(dynamodb: Any) -> Services:
    """conftest's services, on a DynamoDB client that enforces the key limits on every call."""
    return make_services(KeyLimitClient(dynamodb))


def seen_keys(svc: Services) -> set[str]:
    client = svc.store.engine.client  # type: ignore[attr-defined]
    assert isinstance(client, KeyLimitClient)
    return set(client.keys)


class _Any:
    """Any value is fine (the default of assert_error's param and code)."""


ANY = _Any()


def assert_error(
    status: int,
    data: Any,
    expected: int,
    *,
    param: str | Callable[[Any], bool] | _Any | None = ANY,
    code: str | _Any | None = ANY,
) -> dict[str, Any]:
    """`data` is exactly an OpenAI error body with status `expected` (and `param`/`code`)."""
    assert status == expected, (status, data)
    assert isinstance(data, dict) and set(data) == {"error"}, data
    error = data["error"]
    assert isinstance(error, dict) and set(error) == ERROR_KEYS, error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["type"], str), error
    assert error["param"] is None or isinstance(error["param"], str), error
    assert error["code"] is None or isinstance(error["code"], str), error
    validate_response("post", "/threads", expected, data)
    if expected == 400:
        assert error["type"] == "invalid_request_error", error
    if callable(param):
        assert param(error["param"]), error
    elif not isinstance(param, _Any):
        assert error["param"] == param, error
    if not isinstance(code, _Any):
        assert error["code"] == code, error
    assert "Traceback" not in error["message"]
    return error


class Cases:
    """Runs many small cases in one test (one moto setup) and reports every failing one."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def check(self, label: str, run: Callable[[], object]) -> None:
        try:
            run()
        except AssertionError as error:
            self.failures.append(f"[{label}] {error}")

    def assert_all_passed(self) -> None:
        assert not self.failures, f"{len(self.failures)} case(s) failed:\n" + "\n".join(
            self.failures
        )


def count_items(svc: Services) -> int:
    """Every item in the table (all projects, all kinds)."""
    return engines.count_items(svc.store.engine)


def utf8(body: Any) -> bytes:
    """A JSON body with non-ASCII characters sent as raw UTF-8 (3 bytes per '€')."""
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def timed(api: Api, method: str, path: str, body: Any = None) -> tuple[int, Any, float]:
    start = time.perf_counter()
    status, data = api.call(method, path, body)
    return status, data, time.perf_counter() - start


@pytest.fixture
def assistant(api: Api) -> dict[str, Any]:
    return api.ok("POST", "/v1/assistants", {"model": "gpt-4o", "name": "bad-input"})


@pytest.fixture
def thread(api: Api) -> dict[str, Any]:
    return api.ok("POST", "/v1/threads", {"messages": [{"role": "user", "content": "hello"}]})


def list_ids(api: Api, path: str) -> list[str]:
    return [item["id"] for item in api.ok("GET", path + "?limit=100")["data"]]


def requires_action_run(
    api: Api, svc: Services, assistant: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """A run waiting for tool outputs (jobs are delivered by hand here)."""
    body = {
        "assistant_id": assistant["id"],
        "thread": {"messages": [{"role": "user", "content": "get_weather please"}]},
        "tools": [{"type": "function", "function": {"name": "get_weather"}}],
        "tool_choice": "required",
    }
    run = api.ok("POST", "/v1/threads/runs", body)
    for job in svc.dispatcher.take():  # type: ignore[attr-defined]
        handle_job(svc, job)
    run = api.ok("GET", f"/v1/threads/{run['thread_id']}/runs/{run['id']}")
    assert run["status"] == "requires_action", run
    calls = run["required_action"]["submit_tool_outputs"]["tool_calls"]
    return run, [call["id"] for call in calls]


# ------------------------------------------------------------------------------------------------
# Bodies that are not JSON objects
# ------------------------------------------------------------------------------------------------

BAD_JSON = [
    b"{",
    b'{"model": "gpt-4o",}',
    b"{'model': 'gpt-4o'}",
    b'{"model": "gpt-4o"} trailing',
    b'{"model": "gpt-4o"}{"model": "gpt-4o"}',
    b"\x00",
    b'{"model": "gpt-4o", "temperature": NaN}',
    b'{"model": "gpt-4o", "top_p": Infinity}',
    b'{"model": "gpt-4o", "metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"model": "gpt-4o", "metadata": {"k": "\xff\xfe"}}',  # not UTF-8
    b"\xff\xfe{\x00}\x00",  # UTF-16
    '{"model": "gpt-4o"}'.encode("utf-16"),
]


def test_a_body_that_is_not_json_is_a_400_and_writes_nothing(api: Api, svc: Services) -> None:
    cases = Cases()
    before = count_items(svc)
    for raw in BAD_JSON:

        def case(raw: bytes = raw) -> None:
            status, data = api.call("POST", "/v1/assistants", raw)
            error = assert_error(status, data, 400, param=None)
            assert error["message"].startswith("We could not parse the JSON body"), error

        cases.check(repr(raw[:40]), case)
    cases.assert_all_passed()
    assert count_items(svc) == before
    assert list_ids(api, "/v1/assistants") == []


def test_json_that_is_not_an_object_is_a_400(api: Api, svc: Services) -> None:
    cases = Cases()
    before = count_items(svc)
    for raw in (b"[]", b'[{"model": "gpt-4o"}]', b'"x"', b"1", b"true", b"null"):
        for path in ("/v1/assistants", "/v1/threads", "/v1/threads/runs"):

            def case(raw: bytes = raw, path: str = path) -> None:
                status, data = api.call("POST", path, raw)
                error = assert_error(status, data, 400, param=None)
                assert "expected a JSON object" in error["message"], error

            cases.check(f"{path} {raw!r}", case)
    cases.assert_all_passed()
    assert count_items(svc) == before


def test_a_surrogate_escape_is_a_400(api: Api, svc: Services) -> None:
    """ "\\ud800" parses in Python but is no text: it could not be stored or sent back."""
    before = count_items(svc)
    status, data = api.call("POST", "/v1/assistants", b'{"model": "gpt-4o", "name": "\\ud800"}')
    assert_error(status, data, 400, param="name")
    assert count_items(svc) == before


# ------------------------------------------------------------------------------------------------
# Wrong types and unknown fields, at every level
# ------------------------------------------------------------------------------------------------

WRONG_TYPES: list[tuple[str, str, Any, str]] = [
    # (label, path, body (ASSISTANT = the fixture's id), param prefix)
    ("tools not an array", "/v1/assistants", {"model": "gpt-4o", "tools": "function"}, "tools"),
    (
        "function.name an integer",
        "/v1/assistants",
        {"model": "gpt-4o", "tools": [{"type": "function", "function": {"name": 1}}]},
        "tools",
    ),
    (
        "function.parameters a string",
        "/v1/assistants",
        {
            "model": "gpt-4o",
            "tools": [{"type": "function", "function": {"name": "f", "parameters": "{}"}}],
        },
        "tools",
    ),
    (
        "temperature a string",
        "/v1/assistants",
        {"model": "gpt-4o", "temperature": "1"},
        "temperature",
    ),
    (
        "temperature a boolean",
        "/v1/assistants",
        {"model": "gpt-4o", "temperature": True},
        "temperature",
    ),
    ("model an integer", "/v1/assistants", {"model": 4}, "model"),
    (
        "metadata value an integer",
        "/v1/assistants",
        {"model": "x", "metadata": {"k": 1}},
        "metadata.k",
    ),
    ("metadata an array", "/v1/threads", {"metadata": ["k"]}, "metadata"),
    ("messages a string", "/v1/threads", {"messages": "hi"}, "messages"),
    (
        "message content a number",
        "/v1/threads",
        {"messages": [{"role": "user", "content": 5}]},
        "messages[0].content",
    ),
    (
        "text part text a number",
        "/v1/threads",
        {"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
        "messages[0].content",
    ),
    (
        "role an integer",
        "/v1/threads",
        {"messages": [{"role": 1, "content": "x"}]},
        "messages[0].role",
    ),
    (
        "file_ids a string",
        "/v1/threads",
        {"tool_resources": {"code_interpreter": {"file_ids": "file-1"}}},
        "tool_resources",
    ),
    ("assistant_id a number", "/v1/threads/runs", {"assistant_id": 5}, "assistant_id"),
    (
        "stream a string",
        "/v1/threads/runs",
        {"assistant_id": "ASSISTANT", "stream": "true"},
        "stream",
    ),
    (
        "last_messages a string",
        "/v1/threads/runs",
        {
            "assistant_id": "ASSISTANT",
            "truncation_strategy": {"type": "last_messages", "last_messages": "3"},
        },
        "truncation_strategy",
    ),
    (
        "thread.messages[0].content an object",
        "/v1/threads/runs",
        {
            "assistant_id": "ASSISTANT",
            "thread": {"messages": [{"role": "user", "content": {"a": 1}}]},
        },
        "thread.messages[0].content",
    ),
    (
        "max_prompt_tokens a float",
        "/v1/threads/runs",
        {"assistant_id": "ASSISTANT", "max_prompt_tokens": 300.5},
        "max_prompt_tokens",
    ),
    (
        "tool_choice function name a number",
        "/v1/threads/runs",
        {"assistant_id": "ASSISTANT", "tool_choice": {"type": "function", "function": {"name": 7}}},
        "tool_choice",
    ),
]


def _fill(body: Any, assistant_id: str) -> Any:
    return json.loads(json.dumps(body).replace('"ASSISTANT"', json.dumps(assistant_id)))


def _refused(
    api: Api, svc: Services, path: str, body: Any, param: str, status: int = 400
) -> Callable[[], None]:
    """A case: POST `body` to `path` is refused with `param` (a prefix), and writes nothing."""

    def case() -> None:
        before = count_items(svc)
        answer, data = api.call("POST", path, body)
        assert_error(
            answer, data, status, param=lambda p: isinstance(p, str) and p.startswith(param)
        )
        assert count_items(svc) == before, "something was written"

    return case


def test_wrong_types_at_any_level_are_a_400_naming_the_field(
    api: Api, svc: Services, assistant: dict[str, Any]
) -> None:
    cases = Cases()
    for label, path, body, param in WRONG_TYPES:
        cases.check(label, _refused(api, svc, path, _fill(body, assistant["id"]), param))
    cases.assert_all_passed()


UNKNOWN_FIELDS: list[tuple[str, str, Any, str]] = [
    ("top level", "/v1/assistants", {"model": "gpt-4o", "bogus": 1}, "bogus"),
    (
        "tools[0].function",
        "/v1/assistants",
        {"model": "gpt-4o", "tools": [{"type": "function", "function": {"name": "f", "bogus": 1}}]},
        "tools",
    ),
    (
        "tools[0]",
        "/v1/assistants",
        {"model": "gpt-4o", "tools": [{"type": "code_interpreter", "bogus": 1}]},
        "tools",
    ),
    (
        "tools[0].file_search",
        "/v1/assistants",
        {"model": "gpt-4o", "tools": [{"type": "file_search", "file_search": {"bogus": 1}}]},
        "tools",
    ),
    (
        "tools[0].file_search.ranking_options",
        "/v1/assistants",
        {
            "model": "gpt-4o",
            "tools": [
                {
                    "type": "file_search",
                    "file_search": {"ranking_options": {"score_threshold": 0.5, "bogus": 1}},
                }
            ],
        },
        "tools",
    ),
    (
        "response_format.json_schema",
        "/v1/assistants",
        {
            "model": "gpt-4o",
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "bogus": 1}},
        },
        "response_format",
    ),
    (
        "tool_resources",
        "/v1/threads",
        {"tool_resources": {"bogus": {}}},
        "tool_resources",
    ),
    (
        "messages[0]",
        "/v1/threads",
        {"messages": [{"role": "user", "content": "x", "bogus": 1}]},
        "messages[0].bogus",
    ),
    (
        "messages[0].content[0]",
        "/v1/threads",
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "x", "bogus": 1}]}]},
        "messages[0].content",
    ),
    (
        "messages[0].attachments[0]",
        "/v1/threads",
        {
            "messages": [
                {
                    "role": "user",
                    "content": "x",
                    "attachments": [{"file_id": "f", "tools": [], "bogus": 1}],
                }
            ]
        },
        "messages[0].attachments",
    ),
    (
        "thread.messages[0]",
        "/v1/threads/runs",
        {
            "assistant_id": "ASSISTANT",
            "thread": {"messages": [{"role": "user", "content": "x", "bogus": 1}]},
        },
        "thread.messages[0].bogus",
    ),
    (
        "thread",
        "/v1/threads/runs",
        {"assistant_id": "ASSISTANT", "thread": {"bogus": 1}},
        "thread.bogus",
    ),
    (
        "truncation_strategy",
        "/v1/threads/runs",
        {"assistant_id": "ASSISTANT", "truncation_strategy": {"type": "auto", "bogus": 1}},
        "truncation_strategy",
    ),
    (
        "tool_choice.function",
        "/v1/threads/runs",
        {
            "assistant_id": "ASSISTANT",
            "tool_choice": {"type": "function", "function": {"name": "f", "bogus": 1}},
        },
        "tool_choice",
    ),
]


def test_unknown_fields_at_any_level_are_a_400(
    api: Api, svc: Services, assistant: dict[str, Any]
) -> None:
    cases = Cases()
    for label, path, body, param in UNKNOWN_FIELDS:
        cases.check(label, _refused(api, svc, path, _fill(body, assistant["id"]), param))
    cases.assert_all_passed()


def test_unknown_field_in_a_tool_output_is_a_400_and_the_run_still_waits(
    api: Api, svc: Services, assistant: dict[str, Any]
) -> None:
    run, calls = requires_action_run(api, svc, assistant)
    path = f"/v1/threads/{run['thread_id']}/runs/{run['id']}/submit_tool_outputs"
    body = {"tool_outputs": [{"tool_call_id": calls[0], "output": "x", "bogus": 1}]}
    before = count_items(svc)
    status, data = api.call("POST", path, body)
    assert_error(status, data, 400, param="tool_outputs[0].bogus")
    assert count_items(svc) == before
    run = api.ok("GET", f"/v1/threads/{run['thread_id']}/runs/{run['id']}")
    assert run["status"] == "requires_action"


# ------------------------------------------------------------------------------------------------
# Numbers and nesting a store can't hold
# ------------------------------------------------------------------------------------------------


def _nested(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth - 1):
        node["a"] = {}
        node = node["a"]
    return root


def _function_tool(parameters: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": "f", "parameters": parameters}}


UNSTORABLE: list[tuple[str, str, bytes, str]] = [
    (
        "a 60-digit max_prompt_tokens",
        "/v1/threads/runs",
        b'{"assistant_id": "ASSISTANT", "max_prompt_tokens": 1' + b"0" * 60 + b"}",
        "max_prompt_tokens",
    ),
    (
        "a 60-digit last_messages",
        "/v1/threads/runs",
        b'{"assistant_id": "ASSISTANT", "truncation_strategy": {"type": "last_messages", '
        b'"last_messages": 1' + b"0" * 60 + b"}}",
        "truncation_strategy.last_messages",
    ),
    (
        "temperature 1e-200",
        "/v1/assistants",
        b'{"model": "gpt-4o", "temperature": 1e-200}',
        "temperature",
    ),
    (
        "1e300 inside function parameters",
        "/v1/assistants",
        json.dumps({"model": "gpt-4o", "tools": [_function_tool({"maximum": 1e300})]}).encode(),
        "tools[0].function.parameters.maximum",
    ),
    (
        "a 42-digit integer inside function parameters",
        "/v1/assistants",
        json.dumps({"model": "gpt-4o", "tools": [_function_tool({"maximum": 10**41})]}).encode(),
        "tools[0].function.parameters.maximum",
    ),
    (
        "function parameters nested 40 levels deep",
        "/v1/assistants",
        json.dumps({"model": "gpt-4o", "tools": [_function_tool(_nested(40))]}).encode(),
        "tools[0].function.parameters",
    ),
]


def test_values_the_store_cannot_hold_are_a_400_not_a_500(
    api: Api, svc: Services, assistant: dict[str, Any]
) -> None:
    """DynamoDB numbers have 38 digits and 1e-130..1e126; attribute values nest 32 levels."""
    cases = Cases()
    for label, path, raw, param in UNSTORABLE:
        raw = raw.replace(b'"ASSISTANT"', json.dumps(assistant["id"]).encode())
        cases.check(label, _refused(api, svc, path, raw, param))
    cases.assert_all_passed()


def test_nesting_up_to_the_limit_is_stored(api: Api) -> None:
    """The depth limit leaves room for real JSON schemas (a body nests 32 levels at most)."""
    parameters = _nested(27)  # body > tools > [0] > function > parameters: 32 levels in all
    body = {"model": "gpt-4o", "tools": [_function_tool(parameters)]}
    created = api.ok("POST", "/v1/assistants", body)
    assert created["tools"][0]["function"]["parameters"] == parameters


# ------------------------------------------------------------------------------------------------
# Huge strings and arrays
# ------------------------------------------------------------------------------------------------


def test_a_300k_character_message_is_a_400_on_content(
    api: Api, svc: Services, thread: dict[str, Any]
) -> None:
    before = count_items(svc)
    path = f"/v1/threads/{thread['id']}/messages"
    status, data = api.call("POST", path, {"role": "user", "content": "x" * 300_000})
    assert_error(status, data, 400, param="content")
    status, data = api.call(
        "POST", path, {"role": "user", "content": [{"type": "text", "text": "x" * 300_000}]}
    )
    assert_error(status, data, 400, param="content")
    status, data = api.call(
        "POST", "/v1/threads", {"messages": [{"role": "user", "content": "x" * 300_000}]}
    )
    assert_error(status, data, 400, param="messages[0].content")
    assert count_items(svc) == before
    assert len(list_ids(api, f"/v1/threads/{thread['id']}/messages")) == 1


def test_instructions_over_256000_characters_are_a_400(
    api: Api, svc: Services, assistant: dict[str, Any], thread: dict[str, Any]
) -> None:
    cases = Cases()
    a, t = assistant["id"], thread["id"]
    too_long = "x" * 256_001
    for path, body, field in [
        ("/v1/assistants", {"model": "gpt-4o", "instructions": too_long}, "instructions"),
        (f"/v1/assistants/{a}", {"instructions": too_long}, "instructions"),
        ("/v1/threads/runs", {"assistant_id": a, "instructions": too_long}, "instructions"),
        (f"/v1/threads/{t}/runs", {"assistant_id": a, "instructions": too_long}, "instructions"),
        (
            f"/v1/threads/{t}/runs",
            {"assistant_id": a, "additional_instructions": too_long},
            "additional_instructions",
        ),
    ]:
        cases.check(f"{path} {field}", _refused(api, svc, path, body, field))
    cases.assert_all_passed()
    assert api.ok("GET", f"/v1/assistants/{a}")["instructions"] is None
    assert list_ids(api, f"/v1/threads/{t}/runs") == []


TEN_THOUSAND: list[tuple[str, str, Callable[[str, str], Any], str]] = [
    (
        "tools",
        "/v1/assistants",
        lambda a, t: {"model": "gpt-4o", "tools": [{"type": "code_interpreter"}] * 10_000},
        "tools",
    ),
    (
        "function tools",
        "/v1/assistants",
        lambda a, t: {
            "model": "gpt-4o",
            "tools": [{"type": "function", "function": {"name": f"f{i}"}} for i in range(10_000)],
        },
        "tools",
    ),
    (
        "metadata keys",
        "/v1/assistants",
        lambda a, t: {"model": "gpt-4o", "metadata": {f"k{i}": "v" for i in range(10_000)}},
        "metadata",
    ),
    (
        "thread messages",
        "/v1/threads",
        lambda a, t: {"messages": [{"role": "user", "content": "x"}] * 10_000},
        "messages",
    ),
    (
        "content parts",
        "/v1/threads",
        lambda a, t: {
            "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}] * 10_000}]
        },
        "messages[0].content",
    ),
    (
        "attachments",
        "/v1/threads",
        lambda a, t: {
            "messages": [
                {
                    "role": "user",
                    "content": "x",
                    "attachments": [{"file_id": "file-1", "tools": []}] * 10_000,
                }
            ]
        },
        "messages[0].attachments",
    ),
    (
        "additional_messages",
        "/v1/threads/THREAD/runs",
        lambda a, t: {
            "assistant_id": a,
            "additional_messages": [{"role": "user", "content": "x"}] * 10_000,
        },
        "additional_messages",
    ),
    (
        "run tools",
        "/v1/threads/THREAD/runs",
        lambda a, t: {"assistant_id": a, "tools": [{"type": "code_interpreter"}] * 10_000},
        "tools",
    ),
    (
        "thread-and-run messages",
        "/v1/threads/runs",
        lambda a, t: {
            "assistant_id": a,
            "thread": {"messages": [{"role": "user", "content": "x"}] * 10_000},
        },
        "thread.messages",
    ),
    (
        "file_ids",
        "/v1/threads",
        lambda a, t: {"tool_resources": {"code_interpreter": {"file_ids": ["f"] * 10_000}}},
        "tool_resources",
    ),
]


def test_10000_element_arrays_are_a_fast_400(
    api: Api, svc: Services, assistant: dict[str, Any], thread: dict[str, Any]
) -> None:
    cases = Cases()
    before = count_items(svc)
    for label, path, make, param in TEN_THOUSAND:
        path = path.replace("THREAD", thread["id"])

        def case(
            path: str = path, make: Callable[[str, str], Any] = make, param: str = param
        ) -> None:
            status, data, seconds = timed(api, "POST", path, make(assistant["id"], thread["id"]))
            assert_error(status, data, 400, param=param)
            assert seconds < FAST_SECONDS, f"took {seconds:.2f} s"

        cases.check(label, case)
    cases.assert_all_passed()
    assert count_items(svc) == before
    assert list_ids(api, f"/v1/threads/{thread['id']}/runs") == []


def test_10000_tool_outputs_are_a_fast_400_and_the_run_still_waits(
    api: Api, svc: Services, assistant: dict[str, Any]
) -> None:
    run, calls = requires_action_run(api, svc, assistant)
    path = f"/v1/threads/{run['thread_id']}/runs/{run['id']}/submit_tool_outputs"
    body = {"tool_outputs": [{"tool_call_id": calls[0], "output": "x"}] * 10_000}
    before = count_items(svc)
    status, data, seconds = timed(api, "POST", path, body)
    assert_error(status, data, 400, param="tool_outputs")
    assert seconds < FAST_SECONDS, f"took {seconds:.2f} s"
    assert count_items(svc) == before
    run = api.ok("GET", f"/v1/threads/{run['thread_id']}/runs/{run['id']}")
    assert run["status"] == "requires_action"


def test_a_body_over_the_size_limit_is_a_413(api: Api, svc: Services) -> None:
    limit = svc.settings.max_body_bytes
    before = count_items(svc)
    raw = b'{"model": "gpt-4o", "name": "' + b"x" * limit + b'"}'
    status, data, seconds = timed(api, "POST", "/v1/assistants", raw)
    assert_error(status, data, 413, param=None)
    assert seconds < FAST_SECONDS
    # Even when it is not JSON, or comes without a key: the size is checked first.
    status, data = api.call("POST", "/v1/assistants", b"\xff" * (limit + 1))
    assert_error(status, data, 413)
    no_key = {"OpenAI-Beta": "assistants=v2", "Content-Type": "application/json"}
    status, data = api.call("POST", "/v1/threads", b"{" * (limit + 1), headers=no_key)
    assert_error(status, data, 413)
    assert count_items(svc) == before
    # Exactly at the limit is not too large.
    padding = limit - len(b'{"model": "gpt-4o", "metadata": {"k": ""}}')
    raw = b'{"model": "gpt-4o", "metadata": {"k": ""}}' + b" " * padding
    assert len(raw) == limit
    status, data = api.call("POST", "/v1/assistants", raw)
    assert status == 200, data


# ------------------------------------------------------------------------------------------------
# Objects over DynamoDB's 400 KB item size: a 400, and nothing written
# ------------------------------------------------------------------------------------------------

BIG_TEXT = "€" * 200_000  # 200,000 characters (under the 256,000 limit), 600 KB of UTF-8


def test_a_message_over_the_item_size_is_a_400_and_not_written(
    api: Api, svc: Services, thread: dict[str, Any]
) -> None:
    before = count_items(svc)
    path = f"/v1/threads/{thread['id']}/messages"
    status, data = api.call("POST", path, utf8({"role": "user", "content": BIG_TEXT}))
    assert_error(status, data, 400, code="object_too_large")
    assert count_items(svc) == before
    assert len(list_ids(api, path)) == 1


def test_a_thread_whose_messages_exceed_the_item_size_is_not_created_at_all(
    api: Api, svc: Services
) -> None:
    before = count_items(svc)
    body = {
        "metadata": {"marker": "too-big"},
        "messages": [
            {"role": "user", "content": "a first, small message"},
            {"role": "user", "content": BIG_TEXT},
        ],
    }
    status, data = api.call("POST", "/v1/threads", utf8(body))
    assert_error(status, data, 400, code="object_too_large")
    assert count_items(svc) == before  # neither the thread nor its first message


def test_create_thread_and_run_over_the_item_size_writes_nothing(
    api: Api, svc: Services, assistant: dict[str, Any]
) -> None:
    before = count_items(svc)
    body = {
        "assistant_id": assistant["id"],
        "thread": {
            "messages": [{"role": "user", "content": "hi"}, {"content": BIG_TEXT, "role": "user"}]
        },
    }
    status, data = api.call("POST", "/v1/threads/runs", utf8(body))
    assert_error(status, data, 400, code="object_too_large")
    body = {"assistant_id": assistant["id"], "instructions": BIG_TEXT}
    status, data = api.call("POST", "/v1/threads/runs", utf8(body))
    assert_error(status, data, 400, code="object_too_large")
    assert count_items(svc) == before
    assert svc.dispatcher.take() == []  # type: ignore[attr-defined]


def test_a_run_over_the_item_size_is_not_created_and_the_thread_stays_free(
    api: Api, svc: Services, assistant: dict[str, Any], thread: dict[str, Any]
) -> None:
    before = count_items(svc)
    path = f"/v1/threads/{thread['id']}/runs"
    for body in (
        {"assistant_id": assistant["id"], "instructions": BIG_TEXT},
        {"assistant_id": assistant["id"], "additional_instructions": BIG_TEXT},
        {
            "assistant_id": assistant["id"],
            "additional_messages": [
                {"role": "user", "content": "small"},
                {"role": "user", "content": BIG_TEXT},
            ],
        },
    ):
        status, data = api.call("POST", path, utf8(body))
        assert_error(status, data, 400, code="object_too_large")
    assert count_items(svc) == before
    assert list_ids(api, path) == []
    assert len(list_ids(api, f"/v1/threads/{thread['id']}/messages")) == 1
    assert api.ok("POST", path, {"assistant_id": assistant["id"]})["status"] == "queued"


def test_an_assistant_over_the_item_size_is_not_created_or_changed(
    api: Api, svc: Services, assistant: dict[str, Any]
) -> None:
    before = count_items(svc)
    status, data = api.call(
        "POST", "/v1/assistants", utf8({"model": "gpt-4o", "instructions": BIG_TEXT})
    )
    assert_error(status, data, 400, code="object_too_large")
    status, data = api.call(
        "POST", f"/v1/assistants/{assistant['id']}", utf8({"instructions": BIG_TEXT, "name": "n"})
    )
    assert_error(status, data, 400, code="object_too_large")
    assert count_items(svc) == before
    assert list_ids(api, "/v1/assistants") == [assistant["id"]]
    assert api.ok("GET", f"/v1/assistants/{assistant['id']}")["name"] == "bad-input"


def test_tool_outputs_over_the_item_size_leave_the_run_waiting(
    api: Api, svc: Services, assistant: dict[str, Any]
) -> None:
    run, calls = requires_action_run(api, svc, assistant)
    path = f"/v1/threads/{run['thread_id']}/runs/{run['id']}/submit_tool_outputs"
    before = count_items(svc)
    body = {"tool_outputs": [{"tool_call_id": calls[0], "output": BIG_TEXT}]}
    status, data = api.call("POST", path, utf8(body))
    assert_error(status, data, 400, code="object_too_large")
    assert count_items(svc) == before
    run = api.ok("GET", f"/v1/threads/{run['thread_id']}/runs/{run['id']}")
    assert run["status"] == "requires_action"
    # ... and a normal submission still works.
    body = {"tool_outputs": [{"tool_call_id": calls[0], "output": "sunny"}]}
    assert api.ok("POST", path, body)["status"] == "queued"


# ------------------------------------------------------------------------------------------------
# Cursors, limits, IDs
# ------------------------------------------------------------------------------------------------


def test_invalid_cursors_are_a_400_naming_the_cursor(
    api: Api, assistant: dict[str, Any], thread: dict[str, Any]
) -> None:
    message_id = list_ids(api, f"/v1/threads/{thread['id']}/messages")[0]
    runs = f"/v1/threads/{thread['id']}/runs"
    cases = [
        (f"{runs}?after=garbage", "after"),
        (f"{runs}?after={message_id}", "after"),
        (f"{runs}?before={message_id}", "before"),
        (f"{runs}?after=run_short", "after"),
        (f"/v1/threads/{thread['id']}/messages?after={assistant['id']}", "after"),
        (f"/v1/threads/{thread['id']}/messages?before=%00", "before"),
        (f"/v1/assistants?after={thread['id']}", "after"),
        ("/v1/assistants?before=" + "a" * 5000, "before"),
        (f"{runs}/run_{'0' * 24}/steps?after={message_id}", "after"),
    ]
    for path, param in cases:
        status, data = api.call("GET", path)
        assert_error(status, data, 400, param=param)


def test_bad_limits_are_a_400_on_limit(api: Api, thread: dict[str, Any]) -> None:
    cases = Cases()
    for limit in ["1e2", "-1", "", "0", "101", "abc", "2.5", "%20", "9" * 40, "0x10"]:
        for path in ("/v1/assistants", f"/v1/threads/{thread['id']}/messages"):

            def case(url: str = f"{path}?limit={limit}") -> None:
                status, data = api.call("GET", url)
                assert_error(status, data, 400, param="limit")

            cases.check(f"limit={limit!r} on {path}", case)
    cases.assert_all_passed()


def test_ids_of_the_wrong_kind_or_another_project_are_404_exactly_like_missing(
    api: Api, other_api: Api, svc: Services, assistant: dict[str, Any]
) -> None:
    # Another project's objects, one of each kind.
    other_asst = other_api.ok("POST", "/v1/assistants", {"model": "gpt-4o"})
    other_run, other_calls = requires_action_run(other_api, svc, other_asst)
    t, r = other_run["thread_id"], other_run["id"]
    other_msg = other_api.ok("GET", f"/v1/threads/{t}/messages")["data"][0]["id"]
    other_step = other_api.ok("GET", f"/v1/threads/{t}/runs/{r}/steps")["data"][0]["id"]
    mine_run, _ = requires_action_run(api, svc, assistant)
    mt, mr = mine_run["thread_id"], mine_run["id"]
    mine_msg = api.ok("GET", f"/v1/threads/{mt}/messages")["data"][0]["id"]
    mine_step = api.ok("GET", f"/v1/threads/{mt}/runs/{mr}/steps")["data"][0]["id"]
    before = count_items(svc)

    def same_404(method: str, template: str, kind: str, foreign: str, body: Any = None) -> None:
        missing = MISSING[kind]
        for wrong in (foreign, missing):
            path = template.replace("{id}", wrong)
            status, data = api.call(method, path, body)
            error = assert_error(status, data, 404)
            assert error["message"] == f"No {kind} found with id '{wrong}'.", (path, error)
            expected_body = api.call(method, template.replace("{id}", missing), body)[1]
            assert data == json.loads(json.dumps(expected_body).replace(missing, wrong)), path

    same_404("GET", "/v1/assistants/{id}", "assistant", other_asst["id"])
    same_404("POST", "/v1/assistants/{id}", "assistant", other_asst["id"], {"name": "x"})
    same_404("DELETE", "/v1/assistants/{id}", "assistant", other_asst["id"])
    same_404("GET", "/v1/threads/{id}", "thread", t)
    same_404("POST", "/v1/threads/{id}", "thread", t, {"metadata": {}})
    same_404("DELETE", "/v1/threads/{id}", "thread", t)
    same_404("GET", "/v1/threads/{id}/messages", "thread", t)
    same_404("POST", "/v1/threads/{id}/messages", "thread", t, {"role": "user", "content": "x"})
    same_404("GET", "/v1/threads/{id}/runs", "thread", t)
    same_404("POST", "/v1/threads/{id}/runs", "thread", t, {"assistant_id": assistant["id"]})
    same_404("GET", f"/v1/threads/{mt}/messages/{{id}}", "message", other_msg)
    same_404("DELETE", f"/v1/threads/{mt}/messages/{{id}}", "message", other_msg)
    same_404("GET", f"/v1/threads/{mt}/runs/{{id}}", "run", r)
    same_404("POST", f"/v1/threads/{mt}/runs/{{id}}/cancel", "run", r)
    same_404(
        "POST",
        f"/v1/threads/{mt}/runs/{{id}}/submit_tool_outputs",
        "run",
        r,
        {"tool_outputs": [{"tool_call_id": other_calls[0], "output": "x"}]},
    )
    same_404("GET", f"/v1/threads/{mt}/runs/{mr}/steps/{{id}}", "step", other_step)
    # Someone else's assistant for a run of mine.
    status, data = api.call("POST", f"/v1/threads/{mt}/runs", {"assistant_id": other_asst["id"]})
    assert status in (400, 404), data
    assert data["error"]["message"] == f"No assistant found with id '{other_asst['id']}'."
    # Wrong kinds: an ID of another kind, in my own project.
    for path, kind, wrong in [
        (f"/v1/threads/{assistant['id']}", "thread", assistant["id"]),
        (f"/v1/assistants/{mt}", "assistant", mt),
        (f"/v1/threads/{mt}/messages/{mr}", "message", mr),
        (f"/v1/threads/{mt}/runs/{mine_msg}", "run", mine_msg),
        (f"/v1/threads/{mt}/runs/{mr}/steps/{mr}", "step", mr),
        (f"/v1/threads/{mt}/runs/{mine_step}/steps", "run", mine_step),
    ]:
        status, data = api.call("GET", path)
        error = assert_error(status, data, 404)
        assert error["message"] == f"No {kind} found with id '{wrong}'.", (path, error)
    assert count_items(svc) == before
    # Nothing of the other project was touched.
    assert other_api.ok("GET", f"/v1/threads/{t}/runs/{r}")["status"] == "requires_action"
    assert other_api.ok("GET", f"/v1/assistants/{other_asst['id']}")["id"] == other_asst["id"]


# ------------------------------------------------------------------------------------------------
# Headers
# ------------------------------------------------------------------------------------------------


def test_missing_or_broken_authorization_is_a_401_and_writes_nothing(
    api: Api, svc: Services
) -> None:
    before = count_items(svc)
    beta = {"OpenAI-Beta": "assistants=v2", "Content-Type": "application/json"}
    for authorization, code in [
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("Token sk-test-key-0001", None),
        ("Bearer sk-test key", "invalid_api_key"),
        ("Bearer sk-tést-key-0001", "invalid_api_key"),
        ("Bearer " + KEY + "," + OTHER_KEY, "invalid_api_key"),
    ]:
        headers = dict(beta)
        if authorization is not None:
            headers["Authorization"] = authorization
        status, data = api.call("POST", "/v1/threads", {}, headers=headers)
        error = assert_error(status, data, 401, code=code)
        assert error["type"] == "invalid_request_error"
    assert count_items(svc) == before


@pytest.mark.parametrize(
    "names",
    [
        ("authorization", "openai-beta", "content-type"),
        ("AUTHORIZATION", "OPENAI-BETA", "CONTENT-TYPE"),
        ("aUtHoRiZaTiOn", "OpenAi-BeTa", "cOnTeNt-TyPe"),
    ],
    ids=["lower", "upper", "mixed"],
)
def test_header_names_are_case_insensitive(api: Api, names: tuple[str, str, str]) -> None:
    auth, beta, content_type = names
    headers = {auth: f"Bearer {KEY}", beta: "assistants=v2", content_type: "application/json"}
    status, data = api.call("POST", "/v1/threads", {"metadata": {"k": "v"}}, headers=headers)
    assert status == 200, data
    status, data = api.call("GET", f"/v1/threads/{data['id']}", headers=headers)
    assert status == 200, data
    # The bearer scheme is case-insensitive too, and surrounding spaces don't matter.
    headers[auth] = f"bearer   {KEY}  "
    status, data = api.call("GET", "/v1/assistants", headers=headers)
    assert status == 200, data


def test_a_header_given_twice_in_different_cases_is_one_header(api: Api) -> None:
    """Same name, two spellings, same value: what an HTTP stack may merge or keep twice."""
    headers = {
        "Authorization": f"Bearer {KEY}",
        "authorization": f"Bearer {KEY}",
        "OpenAI-Beta": "assistants=v2",
        "openai-beta": "assistants=v2",
    }
    status, data = api.call("GET", "/v1/assistants", headers=headers)
    assert status == 200, data


def _gateway_event(headers: dict[str, list[str]], body: bytes) -> dict[str, Any]:
    """An API Gateway (REST, payload 1.0) event as Lambda receives it, with repeated headers."""
    return {
        "resource": "/v1/threads",
        "path": "/v1/threads",
        "httpMethod": "POST",
        "headers": {k: v[-1] for k, v in headers.items()},  # API Gateway keeps the last one
        "multiValueHeaders": headers,
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/v1/threads",
            "httpMethod": "POST",
            "path": "/v1/threads",
            "stage": "api",
            "requestId": "test",
        },
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


class _Context:
    function_name = "api_handler"
    aws_request_id = "test-request"
    memory_limit_in_mb = 512

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.mark.usefixtures("client")
def test_two_different_authorization_headers_are_a_401(api: Api, svc: Services) -> None:
    """Behind API Gateway only the last of repeated headers reaches `headers`: a key smuggled
    after the real one must not decide the project. Two different values are refused."""
    from app import app

    before = count_items(svc)
    headers = {
        "Authorization": [f"Bearer {KEY}", f"Bearer {OTHER_KEY}"],
        "OpenAI-Beta": ["assistants=v2"],
        "Content-Type": ["application/json"],
    }
    response = app(_gateway_event(headers, b"{}"), _Context())
    data = json.loads(response["body"])
    assert_error(response["statusCode"], data, 401, code="invalid_api_key")
    assert count_items(svc) == before
    # The same key twice is fine.
    headers["Authorization"] = [f"Bearer {KEY}", f"Bearer {KEY}"]
    response = app(_gateway_event(headers, b"{}"), _Context())
    assert response["statusCode"] == 200, response["body"]


def test_a_json_body_without_a_json_content_type_is_a_415(api: Api, svc: Services) -> None:
    before = count_items(svc)
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        headers = {**auth_headers(), "Content-Type": content_type}
        status, data = api.call("POST", "/v1/threads", b"{}", headers=headers)
        assert_error(status, data, 415)
    assert count_items(svc) == before


# ------------------------------------------------------------------------------------------------
# IDs of any shape and length: 404 exactly like an unknown ID, and never a key
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["key-limited moto", "sqlite"])
def test_the_engines_refuse_what_dynamodb_refuses(
    svc: Services, sqlite_engine: Any, engine: str
) -> None:
    """The check above could fail: over-long keys raise DynamoDB's ValidationException (the
    double on moto), and the embedded engine refuses them the same way."""
    from chalicelib.store import keys
    from chalicelib.store.engine import StoreError as ClientError

    if engine == "sqlite":
        svc = make_services(sqlite_engine)

    project = "p"
    long_thread = "t" * 2048
    with pytest.raises(ClientError, match="Size of hashkey has exceeded"):
        svc.store.get_thread(project, long_thread)
    with pytest.raises(ClientError, match="Size of range key has exceeded"):
        svc.store.get_run(project, "thread_" + "0" * 24, "r" * 1021)
    with pytest.raises(ClientError, match="Size of range key has exceeded"):
        svc.store.list_steps(project, "thread_" + "0" * 24, "r" * 1020, _page())
    # Right at the limits: allowed.
    assert svc.store.get_thread(project, "t" * (2048 - len(keys.thread_pk(project, "")))) is None
    assert svc.store.get_run(project, "thread_" + "0" * 24, "r" * 1020) is None


def _page() -> Any:
    from chalicelib.domain.pagination import PageRequest

    return PageRequest()


# Lengths in characters; with the key layouts (README, DynamoDB) these step across the sort-key
# limit (1024 bytes: RUN#/MSG#/ASST#/STEP#<run_id># plus the ID) and the partition-key limit
# (2048 bytes: P#<project>#T# plus the thread ID), in ASCII and in two-byte characters.
ID_LENGTHS = [
    *(1, 2, 5, 23, 24, 25, 27, 28, 29, 31, 32, 64, 256, 512),
    *range(988, 996),
    *range(1016, 1026),
    *(1500, 2000),
    *range(2010, 2018),
    *(2046, 2048, 2049, 2100, 4096),
]


def malformed_ids(kind: str) -> list[str]:
    """IDs that are not of `kind`'s shape, of every length in ID_LENGTHS."""
    prefix = PREFIXES[kind]
    out: list[str] = []
    for length in ID_LENGTHS:
        out.append(("x-" * length)[:length])  # '-' is in no ID
        out.append("\u00e9" * max(1, length // 2))  # two bytes each in UTF-8
        if length > len(prefix):
            out.append(prefix + "0" * (length - len(prefix)))  # the right prefix and alphabet
    out += [prefix + "0" * 23 + "!", prefix.upper() + "0" * 24, prefix + "0" * 24 + "~"]
    return [value for value in out if value != MISSING[kind]]


def test_ids_of_any_shape_and_length_are_404_exactly_like_unknown_ones(
    api: Api, svc: Services, assistant: dict[str, Any]
) -> None:
    run, calls = requires_action_run(api, svc, assistant)
    t, r = run["thread_id"], run["id"]
    m = api.ok("GET", f"/v1/threads/{t}/messages")["data"][0]["id"]
    s = api.ok("GET", f"/v1/threads/{t}/runs/{r}/steps")["data"][0]["id"]
    real = {"assistant": assistant["id"], "thread": t, "message": m, "run": r, "step": s}
    outputs = {"tool_outputs": [{"tool_call_id": calls[0], "output": "x"}]}
    routes: list[tuple[str, str, Any]] = [
        ("GET", "/v1/assistants/{assistant}", None),
        ("POST", "/v1/assistants/{assistant}", {"name": "x"}),
        ("DELETE", "/v1/assistants/{assistant}", None),
        ("GET", "/v1/threads/{thread}", None),
        ("POST", "/v1/threads/{thread}", {"metadata": {}}),
        ("DELETE", "/v1/threads/{thread}", None),
        ("GET", "/v1/threads/{thread}/messages", None),
        ("POST", "/v1/threads/{thread}/messages", {"role": "user", "content": "x"}),
        ("GET", "/v1/threads/{thread}/messages/{message}", None),
        ("POST", "/v1/threads/{thread}/messages/{message}", {"metadata": {}}),
        ("POST", "/v1/threads/{thread}/messages/{message}", {}),
        ("DELETE", "/v1/threads/{thread}/messages/{message}", None),
        ("GET", "/v1/threads/{thread}/runs", None),
        ("POST", "/v1/threads/{thread}/runs", {"assistant_id": assistant["id"]}),
        ("GET", "/v1/threads/{thread}/runs/{run}", None),
        ("POST", "/v1/threads/{thread}/runs/{run}", {"metadata": {}}),
        ("POST", "/v1/threads/{thread}/runs/{run}/cancel", None),
        ("POST", "/v1/threads/{thread}/runs/{run}/submit_tool_outputs", outputs),
        ("GET", "/v1/threads/{thread}/runs/{run}/steps", None),
        ("GET", "/v1/threads/{thread}/runs/{run}/steps/{step}", None),
    ]
    before = count_items(svc)
    cases = Cases()
    bad_ids: set[str] = set()
    for method, template, body in routes:
        for kind in re.findall(r"{(\w+)}", template):

            def path(value: str, template: str = template, kind: str = kind) -> str:
                filled = template.replace("{" + kind + "}", value)
                return re.sub(r"{(\w+)}", lambda g: real[g.group(1)], filled)

            status, unknown = api.call(method, path(MISSING[kind]), body)
            assert status == 404, (method, template, kind, unknown)
            for bad in malformed_ids(kind):
                bad_ids.add(bad)

                def case(
                    bad: str = bad,
                    kind: str = kind,
                    unknown: Any = unknown,
                    method: str = method,
                    body: Any = body,
                ) -> None:
                    status, data = api.call(method, path(bad), body)
                    assert_error(status, data, 404)
                    escaped = json.dumps(bad)[1:-1]
                    expected = json.loads(json.dumps(unknown).replace(MISSING[kind], escaped))
                    assert data == expected

                cases.check(f"{method} {template} {kind}={bad[:20]!r} ({len(bad)})", case)
    # An assistant_id in a body is an ID too.
    for bad in malformed_ids("assistant"):
        for path_, body in [
            (f"/v1/threads/{t}/runs", {"assistant_id": bad}),
            ("/v1/threads/runs", {"assistant_id": bad}),
        ]:

            def body_case(path_: str = path_, body: Any = body, bad: str = bad) -> None:
                status, data = api.call("POST", path_, body)
                error = assert_error(status, data, 404, param="assistant_id")
                assert error["message"] == f"No assistant found with id '{bad}'."

            cases.check(f"POST {path_} assistant_id={bad[:20]!r} ({len(bad)})", body_case)
    cases.assert_all_passed()
    assert count_items(svc) == before
    assert api.ok("GET", f"/v1/threads/{t}/runs/{r}")["status"] == "requires_action"
    # No malformed ID was ever part of a key the store asked DynamoDB about (an ID is one
    # '#'-separated part of a key; a list bound may end in '!' or '~').
    parts = {part for key in seen_keys(svc) for part in key.split("#")}
    parts |= {part.rstrip("!~") for part in parts}
    assert not bad_ids & parts, sorted(bad_ids & parts)[:3]


# ------------------------------------------------------------------------------------------------
# Strings that are not Unicode, empty metadata keys, response_format.json_schema
# ------------------------------------------------------------------------------------------------

LONE = "\ud800"
SURROGATES: list[tuple[str, str, Any, str]] = [
    # (label, path: ASSISTANT / THREAD are replaced, body, param)
    ("a metadata value", "/v1/threads", {"metadata": {"k": LONE}}, "metadata.k"),
    ("a metadata key", "/v1/threads", {"metadata": {"k" + LONE: "v"}}, "metadata"),
    ("a key at the top", "/v1/threads", {LONE: 1}, None),
    ("an assistant name", "/v1/assistants", {"model": "m", "name": "a" + LONE}, "name"),
    ("a model", "/v1/assistants", {"model": LONE}, "model"),
    (
        "deep in function parameters",
        "/v1/assistants",
        {"model": "m", "tools": [_function_tool({"properties": {"x": {"description": LONE}}})]},
        "tools[0].function.parameters.properties.x.description",
    ),
    (
        "a message's text",
        "/v1/threads",
        {"messages": [{"role": "user", "content": "hi " + LONE}]},
        "messages[0].content",
    ),
    (
        "a text part",
        "/v1/threads/THREAD/messages",
        {"role": "user", "content": [{"type": "text", "text": LONE}]},
        "content[0].text",
    ),
    (
        "an additional message",
        "/v1/threads/THREAD/runs",
        {"assistant_id": "ASSISTANT", "additional_messages": [{"role": "user", "content": LONE}]},
        "additional_messages[0].content",
    ),
    (
        "additional_instructions",
        "/v1/threads/THREAD/runs",
        {"assistant_id": "ASSISTANT", "additional_instructions": LONE},
        "additional_instructions",
    ),
    (
        "a thread message in create-thread-and-run",
        "/v1/threads/runs",
        {"assistant_id": "ASSISTANT", "thread": {"messages": [{"role": "user", "content": LONE}]}},
        "thread.messages[0].content",
    ),
    (
        "a json_schema's schema",
        "/v1/assistants",
        {
            "model": "m",
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "n", "schema": {"title": LONE}},
            },
        },
        "response_format.json_schema.schema.title",
    ),
    ("a low surrogate alone", "/v1/threads", {"metadata": {"k": "\udfff"}}, "metadata.k"),
]


def test_a_string_that_is_not_unicode_is_a_400_anywhere_in_a_body(
    api: Api, svc: Services, assistant: dict[str, Any]
) -> None:
    thread = api.ok("POST", "/v1/threads", {})
    cases = Cases()
    for label, path, body, param in SURROGATES:
        raw = json.dumps(body).replace('"ASSISTANT"', json.dumps(assistant["id"]))
        assert "\\ud800" in raw or "\\udfff" in raw
        url = path.replace("THREAD", thread["id"])

        def case(url: str = url, raw: str = raw, param: str | None = param) -> None:
            before = count_items(svc)
            status, data = api.call("POST", url, raw)
            error = assert_error(status, data, 400, param=param)
            assert "not valid Unicode" in error["message"], error
            assert count_items(svc) == before, "something was written"

        cases.check(label, case)
    cases.assert_all_passed()
    assert list_ids(api, f"/v1/threads/{thread['id']}/runs") == []


def test_a_surrogate_pair_is_text_and_is_stored(api: Api) -> None:
    """Only lone surrogates are refused: the escaped pair "\\ud83d\\ude00" is U+1F600."""
    raw = json.dumps({"metadata": {"k": "\U0001f600"}})  # ensure_ascii writes the pair escaped
    assert "\\ud83d\\ude00" in raw
    thread = api.ok("POST", "/v1/threads", raw)
    assert thread["metadata"] == {"k": "\U0001f600"}


def test_an_empty_metadata_key_is_a_400_everywhere(
    api: Api, svc: Services, assistant: dict[str, Any]
) -> None:
    run, _ = requires_action_run(api, svc, assistant)
    t, r = run["thread_id"], run["id"]
    message = api.ok("GET", f"/v1/threads/{t}/messages")["data"][0]["id"]
    free_thread = api.ok("POST", "/v1/threads", {})["id"]
    empty = {"": "v"}
    cases = Cases()
    for path, body in [
        ("/v1/assistants", {"model": "m", "metadata": empty}),
        (f"/v1/assistants/{assistant['id']}", {"metadata": empty}),
        ("/v1/threads", {"metadata": {"ok": "v", **empty}}),
        (f"/v1/threads/{t}", {"metadata": empty}),
        (
            f"/v1/threads/{free_thread}/messages",
            {"role": "user", "content": "x", "metadata": empty},
        ),
        (f"/v1/threads/{t}/messages/{message}", {"metadata": empty}),
        (f"/v1/threads/{free_thread}/runs", {"assistant_id": assistant["id"], "metadata": empty}),
        (f"/v1/threads/{t}/runs/{r}", {"metadata": empty}),
        ("/v1/threads/runs", {"assistant_id": assistant["id"], "metadata": empty}),
    ]:

        def case(path: str = path, body: Any = body) -> None:
            before = count_items(svc)
            status, data = api.call("POST", path, body)
            error = assert_error(status, data, 400, param="metadata")
            assert error["message"] == (
                "Invalid 'metadata': empty key. Expected keys of 1 to 64 characters, but got an "
                "empty key instead."
            )
            assert count_items(svc) == before

        cases.check(path, case)
    # Nested metadata (a thread's initial message) is checked too.
    nested = {"messages": [{"role": "user", "content": "x", "metadata": empty}]}
    cases.check("nested", _refused(api, svc, "/v1/threads", nested, "metadata"))
    cases.assert_all_passed()
    assert api.ok("GET", f"/v1/threads/{t}/runs/{r}")["metadata"] == {}


def _json_schema(**fields: Any) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": fields}


JSON_SCHEMA_REFUSED: list[tuple[str, Any, str]] = [
    # (label, response_format, param)
    (
        "the fuzzer's case",
        _json_schema(name="", schema={}, strict={}),
        "response_format.json_schema.name",
    ),
    ("an empty name", _json_schema(name=""), "response_format.json_schema.name"),
    ("a name with a space", _json_schema(name="my schema"), "response_format.json_schema.name"),
    ("a name with a dot", _json_schema(name="a.b"), "response_format.json_schema.name"),
    ("a non-ASCII name", _json_schema(name="sch\u00e9ma"), "response_format.json_schema.name"),
    ("a 65-character name", _json_schema(name="n" * 65), "response_format.json_schema.name"),
    ("a name that is a number", _json_schema(name=5), "response_format.json_schema.name"),
    ("no name", _json_schema(schema={}), "response_format.json_schema.name"),
    ("a null name", _json_schema(name=None), "response_format.json_schema.name"),
    ("strict an object", _json_schema(name="n", strict={}), "response_format.json_schema.strict"),
    (
        "strict a string",
        _json_schema(name="n", strict="true"),
        "response_format.json_schema.strict",
    ),
    ("strict a number", _json_schema(name="n", strict=1), "response_format.json_schema.strict"),
    ("schema an array", _json_schema(name="n", schema=[]), "response_format.json_schema.schema"),
    ("schema a string", _json_schema(name="n", schema="{}"), "response_format.json_schema.schema"),
    ("schema null", _json_schema(name="n", schema=None), "response_format.json_schema.schema"),
    (
        "description a number",
        _json_schema(name="n", description=1),
        "response_format.json_schema.description",
    ),
    ("an unknown field", _json_schema(name="n", extra=1), "response_format.json_schema"),
    ("json_schema a string", {"type": "json_schema", "json_schema": "n"}, "response_format"),
    ("json_schema missing", {"type": "json_schema"}, "response_format"),
]
JSON_SCHEMA_ACCEPTED: list[tuple[str, Any]] = [
    ("a name only", _json_schema(name="answer")),
    ("a 64-character name", _json_schema(name="N_-9" * 16)),
    ("strict true", _json_schema(name="a", strict=True, schema={"type": "object"})),
    ("strict false", _json_schema(name="a", strict=False)),
    ("strict null", _json_schema(name="a", strict=None)),
    ("an empty schema", _json_schema(name="a", schema={})),
    ("a description", _json_schema(name="a", description="what it is for")),
]


def test_response_format_json_schema_is_validated_as_the_spec_says(
    api: Api, svc: Services, assistant: dict[str, Any]
) -> None:
    thread = api.ok("POST", "/v1/threads", {})["id"]
    a = assistant["id"]
    targets: list[tuple[str, Callable[[Any], Any]]] = [
        ("/v1/assistants", lambda rf: {"model": "m", "response_format": rf}),
        (f"/v1/assistants/{a}", lambda rf: {"response_format": rf}),
        (f"/v1/threads/{thread}/runs", lambda rf: {"assistant_id": a, "response_format": rf}),
        ("/v1/threads/runs", lambda rf: {"assistant_id": a, "response_format": rf}),
    ]
    cases = Cases()
    for label, value, param in JSON_SCHEMA_REFUSED:
        for path, make in targets:
            cases.check(f"{label} on {path}", _refused(api, svc, path, make(value), param))
    cases.assert_all_passed()
    assert list_ids(api, f"/v1/threads/{thread}/runs") == []
    for label, value in JSON_SCHEMA_ACCEPTED:
        created = api.ok("POST", "/v1/assistants", {"model": "m", "response_format": value})
        assert created["response_format"] == value, label
        validate_response("post", "/assistants", 200, created)
        run = api.ok("POST", "/v1/threads/runs", {"assistant_id": a, "response_format": value})
        assert run["response_format"] == value, label
        validate_response("post", "/threads/runs", 200, run)


# ------------------------------------------------------------------------------------------------
# The purge job touches only deleted threads
# ------------------------------------------------------------------------------------------------


def test_a_purge_job_for_a_live_thread_does_nothing(api: Api, svc: Services) -> None:
    messages = [{"role": "user", "content": f"m{i}"} for i in range(3)]
    thread = api.ok("POST", "/v1/threads", {"messages": messages})
    project = next(k.split("#")[1] for k in seen_keys(svc) if k.endswith("#T#" + thread["id"]))
    before = count_items(svc)
    handle_job(svc, purge_job(project, thread["id"]))
    assert count_items(svc) == before
    assert api.ok("GET", f"/v1/threads/{thread['id']}")["id"] == thread["id"]
    assert len(list_ids(api, f"/v1/threads/{thread['id']}/messages")) == 3
    assert svc.dispatcher.take() == []  # type: ignore[attr-defined]
    # A malformed thread ID in a job never reaches a key either.
    handle_job(svc, purge_job(project, "x" * 3000))
    assert count_items(svc) == before


def test_a_purge_job_for_a_deleted_thread_still_purges_it(api: Api, svc: Services) -> None:
    import dataclasses

    svc.settings = dataclasses.replace(svc.settings, delete_inline_items=2)
    messages = [{"role": "user", "content": f"m{i}"} for i in range(5)]
    thread = api.ok("POST", "/v1/threads", {"messages": messages})
    before = count_items(svc)
    api.ok("DELETE", f"/v1/threads/{thread['id']}")
    (job,) = svc.dispatcher.take()  # type: ignore[attr-defined]
    assert job["kind"] == "purge_thread"
    assert count_items(svc) == before - 3  # the thread item and two messages, inline
    handle_job(svc, job)
    assert count_items(svc) == before - 6


# ------------------------------------------------------------------------------------------------
# Duplicate Authorization headers
# ------------------------------------------------------------------------------------------------


def test_authorization_headers_merged_into_one_are_a_401(api: Api, svc: Services) -> None:
    """An HTTP stack that merges repeated headers joins them with a comma (RFC 9110); no key
    has one, so a merged pair is refused like two headers behind API Gateway."""
    before = count_items(svc)
    for merged in (f"Bearer {KEY}, Bearer {OTHER_KEY}", f"Bearer {KEY},Bearer {KEY}"):
        headers = {**auth_headers(), "Authorization": merged}
        status, data = api.call("POST", "/v1/threads", {}, headers=headers)
        error = assert_error(status, data, 401, code="invalid_api_key")
        assert error["message"].startswith("Multiple Authorization headers"), error
    assert count_items(svc) == before
