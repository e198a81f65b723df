"""file_search executed in runs: the step, its results and include[], the cited answer, echo's
definition (README, "file_search in runs"), streaming, the thread's store from attachments, the
stores' ids checked, and the wait for ingestion. On the embedded engine and on moto."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from chalicelib.domain import file_search as fs
from chalicelib.providers.base import ModelRequest, ModelResponse, ToolCall
from chalicelib.providers.echo import ANSWER_WORDS, NO_RESULTS_ANSWER
from chalicelib.services import files, vector_stores
from chalicelib.services.auth import project_for
from chalicelib.services.context import Services
from chalicelib.services.jobs import handle_job
from tests.conftest import KEY, OTHER_KEY, Api, auth_headers
from tests.support.spec import validate_schema, validate_stream_event

BOTH_PATHS = pytest.mark.parametrize("svc", ["sqlite", "moto"], indirect=True)
ZEBRA = "Zebras live in Africa. They have black and white stripes and eat grass all day."
ROCKET = "Rockets burn fuel to produce thrust. A rocket engine expels hot exhaust gases."
BREAD = "Bread is baked from flour, water and yeast. The dough rises before baking."
INCLUDE = "include[]=step_details.tool_calls[*].file_search.results[*].content"


def run_jobs(svc: Services) -> None:
    while jobs := svc.dispatcher.take():  # type: ignore[attr-defined]
        for job in jobs:
            handle_job(svc, job)


def project(svc: Services, key: str = KEY) -> str:
    return project_for(svc, f"Bearer {key}")


def upload(svc: Services, name: str, text: str, key: str = KEY) -> str:
    return str(files.create_file(svc, project(svc, key), name, "assistants", text.encode())["id"])


@pytest.fixture
def store(svc: Services) -> dict[str, Any]:
    """A vector store of three small files, ingested."""
    ids = [upload(svc, "zebra.txt", ZEBRA), upload(svc, "rocket.md", ROCKET)]
    ids.append(upload(svc, "bread.txt", BREAD))
    record = vector_stores.create_vector_store(svc, project(svc), {"file_ids": ids})
    run_jobs(svc)
    return {"id": record["id"], "files": ids}


def _assistant(api: Api, store_id: str | None, **tool: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "gpt-4o", "tools": [{"type": "file_search", **tool}]}
    if store_id:
        body["tool_resources"] = {"file_search": {"vector_store_ids": [store_id]}}
    return api.ok("POST", "/v1/assistants", body)


def _run(api: Api, svc: Services, assistant: dict[str, Any], text: str, **extra: Any) -> Any:
    thread = api.ok("POST", "/v1/threads", {"messages": [{"role": "user", "content": text}]})
    run = api.ok(
        "POST", f"/v1/threads/{thread['id']}/runs", {"assistant_id": assistant["id"], **extra}
    )
    run_jobs(svc)
    return api.ok("GET", f"/v1/threads/{thread['id']}/runs/{run['id']}")


def _steps(api: Api, run: dict[str, Any], query: str = "") -> list[dict[str, Any]]:
    path = f"/v1/threads/{run['thread_id']}/runs/{run['id']}/steps?order=asc"
    return list(api.ok("GET", path + (f"&{query}" if query else ""))["data"])


def _reply(api: Api, run: dict[str, Any]) -> dict[str, Any]:
    messages = api.ok("GET", f"/v1/threads/{run['thread_id']}/messages?run_id={run['id']}")
    (message,) = messages["data"]
    return dict(message)


def _expected_answer(text: str, marker: str) -> str:
    return " ".join(text.split()[:ANSWER_WORDS]) + " " + marker


@BOTH_PATHS
def test_a_run_searches_writes_the_step_and_cites_the_top_result(
    api: Api, svc: Services, store: dict[str, Any]
) -> None:
    assistant = _assistant(api, store["id"])
    run = _run(api, svc, assistant, "How do rockets produce thrust from fuel?")
    assert run["status"] == "completed" and run["required_action"] is None
    search_step, message_step = _steps(api, run)
    validate_schema(search_step, "RunStepObject")
    assert search_step["type"] == "tool_calls" and search_step["status"] == "completed"
    (call,) = search_step["step_details"]["tool_calls"]
    validate_schema(call, "RunStepDetailsToolCallsFileSearchObject")
    assert call["id"].startswith("call_") and call["type"] == "file_search"
    assert call["file_search"]["ranking_options"] == {
        "ranker": "default_2024_08_21",
        "score_threshold": 0.0,
    }
    results = call["file_search"]["results"]
    assert results[0]["file_id"] == store["files"][1] and results[0]["file_name"] == "rocket.md"
    assert all("content" not in r for r in results)  # without include[]
    assert all(0 <= r["score"] <= 1 for r in results)
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    # include[] on list and retrieve: the content is there
    (with_content, _) = _steps(api, run, INCLUDE)
    top = with_content["step_details"]["tool_calls"][0]["file_search"]["results"][0]
    assert top["content"] == [{"type": "text", "text": ROCKET}]
    path = f"/v1/threads/{run['thread_id']}/runs/{run['id']}/steps/{search_step['id']}"
    one = api.ok("GET", f"{path}?{INCLUDE}")
    validate_schema(one, "RunStepObject")
    assert one["step_details"] == with_content["step_details"]
    assert (
        "content"
        not in api.ok("GET", path)["step_details"]["tool_calls"][0]["file_search"]["results"][0]
    )
    # the answer: the top result's words, then its marker, annotated
    message = _reply(api, run)
    validate_schema(message, "MessageObject")
    assert message_step["step_details"]["message_creation"]["message_id"] == message["id"]
    marker = "【0:0†rocket.md】"
    text = message["content"][0]["text"]
    assert text["value"] == _expected_answer(ROCKET, marker)
    (annotation,) = text["annotations"]
    validate_schema(annotation, "MessageContentTextAnnotationsFileCitationObject")
    assert annotation == {
        "type": "file_citation",
        "text": marker,
        "start_index": len(text["value"]) - len(marker),
        "end_index": len(text["value"]),
        "file_citation": {"file_id": store["files"][1]},
    }
    assert text["value"][annotation["start_index"] : annotation["end_index"]] == marker
    # usage adds up over both model calls, and each step has its own
    total = search_step["usage"]["total_tokens"] + message_step["usage"]["total_tokens"]
    assert run["usage"]["total_tokens"] == total
    assert svc.store.get_vector_store(project(svc), store["id"])["last_active_at"] is not None


def test_max_num_results_and_score_threshold_are_honoured(
    api: Api, svc: Services, store: dict[str, Any]
) -> None:
    one = _assistant(api, store["id"], file_search={"max_num_results": 1})
    run = _run(api, svc, one, "rockets and fuel")
    (call,) = _steps(api, run)[0]["step_details"]["tool_calls"]
    assert len(call["file_search"]["results"]) == 1
    strict = _assistant(
        api, store["id"], file_search={"ranking_options": {"score_threshold": 0.99}}
    )
    run = _run(api, svc, strict, "rockets and fuel")
    (call,) = _steps(api, run)[0]["step_details"]["tool_calls"]
    assert call["file_search"] == {
        "ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.99},
        "results": [],
    }
    message = _reply(api, run)
    assert message["content"][0]["text"] == {"value": NO_RESULTS_ANSWER, "annotations": []}


def test_the_default_number_of_results_follows_the_model() -> None:
    assert fs.max_num_results({"type": "file_search"}, "gpt-4o") == 20
    assert fs.max_num_results({"type": "file_search"}, "gpt-3.5-turbo") == 5
    tool = {"type": "file_search", "file_search": {"max_num_results": 7}}
    assert fs.max_num_results(tool, "gpt-3.5-turbo") == 7


def test_tool_choice_none_and_no_store_mean_no_search(
    api: Api, svc: Services, store: dict[str, Any]
) -> None:
    run = _run(api, svc, _assistant(api, store["id"]), "rockets", tool_choice="none")
    assert [s["type"] for s in _steps(api, run)] == ["message_creation"]
    assert _reply(api, run)["content"][0]["text"]["value"] == "rockets"
    run = _run(api, svc, _assistant(api, None), "rockets")
    assert [s["type"] for s in _steps(api, run)] == ["message_creation"]


def test_a_forced_file_search_searches(api: Api, svc: Services, store: dict[str, Any]) -> None:
    assistant = _assistant(api, store["id"])
    run = _run(api, svc, assistant, "zebra stripes", tool_choice={"type": "file_search"})
    assert [s["type"] for s in _steps(api, run)] == ["tool_calls", "message_creation"]
    assert _reply(api, run)["content"][0]["text"]["value"].endswith("【0:0†zebra.txt】")


def test_a_store_deleted_since_is_left_out(api: Api, svc: Services, store: dict[str, Any]) -> None:
    assistant = _assistant(api, store["id"])
    api.ok("DELETE", f"/v1/vector_stores/{store['id']}")
    run_jobs(svc)
    run = _run(api, svc, assistant, "rockets")
    assert run["status"] == "completed"
    assert [s["type"] for s in _steps(api, run)] == ["message_creation"]


def _sse(client: Any, path: str, body: dict[str, Any]) -> list[tuple[str, Any]]:
    response = client.http.post(path, headers=auth_headers(), body=json.dumps(body))
    assert response.status_code == 200
    events = []
    for frame in [f for f in response.body.decode().split("\n\n") if f]:
        name_line, data_line = frame.split("\n")
        name, data = name_line[len("event: ") :], data_line[len("data: ") :]
        parsed = data if name == "done" else json.loads(data)
        validate_stream_event(name, parsed)
        events.append((name, parsed))
    return events


@pytest.mark.parametrize("include", [False, True])
def test_the_stream_shows_the_search_step_then_the_cited_message(
    client: Any, api: Api, svc: Services, store: dict[str, Any], include: bool
) -> None:
    assistant = _assistant(api, store["id"])
    thread = api.ok("POST", "/v1/threads", {"messages": [{"role": "user", "content": "bread"}]})
    path = f"/v1/threads/{thread['id']}/runs" + (f"?{INCLUDE}" if include else "")
    events = _sse(client, path, {"assistant_id": assistant["id"], "stream": True})
    names = [name for name, _ in events]
    assert names[:9] == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.run.step.delta",
        "thread.run.step.completed",
        "thread.run.step.created",
        "thread.run.step.in_progress",
    ]
    assert names[-4:] == [
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
        "done",
    ]
    opened = events[3][1]
    assert opened["type"] == "tool_calls" and opened["step_details"]["tool_calls"] == []
    delta = events[5][1]["delta"]["step_details"]["tool_calls"]
    assert delta == [{"index": 0, "id": delta[0]["id"], "type": "file_search", "file_search": {}}]
    completed = events[6][1]
    (call,) = completed["step_details"]["tool_calls"]
    assert call["id"] == delta[0]["id"] and completed["status"] == "completed"
    top = call["file_search"]["results"][0]
    assert top["file_name"] == "bread.txt"
    assert ("content" in top) is include
    # no function-call pieces of the internal tool ever reach the client
    for name, data in events:
        if name == "thread.run.step.delta":
            for piece in data["delta"]["step_details"]["tool_calls"]:
                assert piece["type"] == "file_search"
    # the text streams, then one delta carries the annotation; the message has it
    deltas = [d for n, d in events if n == "thread.message.delta"]
    text = "".join(d["delta"]["content"][0]["text"].get("value", "") for d in deltas)
    marker = "【0:0†bread.txt】"
    assert text == _expected_answer(BREAD, marker)
    (last,) = deltas[-1]["delta"]["content"][0]["text"]["annotations"]
    assert last["index"] == 0 and last["text"] == marker
    assert last["start_index"] == len(text) - len(marker)
    message = next(d for n, d in events if n == "thread.message.completed")
    assert message["content"][0]["text"]["annotations"][0]["file_citation"] == {
        "file_id": store["files"][2]
    }


@BOTH_PATHS
def test_file_search_attachments_make_the_threads_store(api: Api, svc: Services) -> None:
    file_id = upload(svc, "zebra.txt", ZEBRA)
    attached = {
        "role": "user",
        "content": "zebra stripes",
        "attachments": [{"file_id": file_id, "tools": [{"type": "file_search"}]}],
    }
    thread = api.ok("POST", "/v1/threads", {"messages": [attached]})
    (store_id,) = thread["tool_resources"]["file_search"]["vector_store_ids"]
    assert store_id.startswith("vs_")
    store = api.ok("GET", f"/v1/vector_stores/{store_id}")
    assert store["file_counts"]["total"] == 1
    assert store["expires_after"] == {"anchor": "last_active_at", "days": 7}
    assistant = _assistant(api, None)  # the assistant has no store: the thread's is searched
    run = api.ok("POST", f"/v1/threads/{thread['id']}/runs", {"assistant_id": assistant["id"]})
    run_jobs(svc)  # the ingestion job first, then the run
    run = api.ok("GET", f"/v1/threads/{thread['id']}/runs/{run['id']}")
    assert _reply(api, run)["content"][0]["text"]["value"].endswith("【0:0†zebra.txt】")
    # a later message's attachment goes to the same store
    second = upload(svc, "rocket.md", ROCKET)
    attached["attachments"] = [{"file_id": second, "tools": [{"type": "file_search"}]}]
    api.ok("POST", f"/v1/threads/{thread['id']}/messages", attached)
    again = api.ok("GET", f"/v1/threads/{thread['id']}")
    assert again["tool_resources"]["file_search"]["vector_store_ids"] == [store_id]
    assert api.ok("GET", f"/v1/vector_stores/{store_id}")["file_counts"]["total"] == 2


def test_an_additional_message_attachment_makes_the_store_before_the_run(
    api: Api, svc: Services
) -> None:
    file_id = upload(svc, "bread.txt", BREAD)
    thread = api.ok("POST", "/v1/threads", {})
    assistant = _assistant(api, None)
    extra = {
        "role": "user",
        "content": "bread dough",
        "attachments": [{"file_id": file_id, "tools": [{"type": "file_search"}]}],
    }
    body = {"assistant_id": assistant["id"], "additional_messages": [extra]}
    run = api.ok("POST", f"/v1/threads/{thread['id']}/runs", body)
    assert api.ok("GET", f"/v1/threads/{thread['id']}")["tool_resources"]["file_search"]
    run_jobs(svc)
    run = api.ok("GET", f"/v1/threads/{thread['id']}/runs/{run['id']}")
    assert _reply(api, run)["content"][0]["text"]["value"].endswith("【0:0†bread.txt】")


def test_a_run_waits_a_bounded_time_for_the_threads_files(api: Api, svc: Services) -> None:
    """With the ingestion job lost, the run waits FILE_SEARCH_WAIT_SECONDS, then searches what
    is indexed (nothing yet) and answers so."""
    svc.settings = dataclasses.replace(svc.settings, file_search_wait_seconds=1)
    file_id = upload(svc, "zebra.txt", ZEBRA)
    attached = {
        "role": "user",
        "content": "zebra",
        "attachments": [{"file_id": file_id, "tools": [{"type": "file_search"}]}],
    }
    thread = api.ok("POST", "/v1/threads", {"messages": [attached]})
    svc.dispatcher.take()  # type: ignore[attr-defined]  # the ingestion job is lost
    assistant = _assistant(api, None)
    run = api.ok("POST", f"/v1/threads/{thread['id']}/runs", {"assistant_id": assistant["id"]})
    run_jobs(svc)
    run = api.ok("GET", f"/v1/threads/{thread['id']}/runs/{run['id']}")
    assert run["status"] == "completed"
    assert _reply(api, run)["content"][0]["text"]["value"] == NO_RESULTS_ANSWER


@BOTH_PATHS
def test_vector_store_ids_are_checked_and_the_helper_makes_a_store(
    api: Api, svc: Services, store: dict[str, Any]
) -> None:
    missing = "vs_AAAAAAAAAAAAAAAAAAAAAAAA"

    def refused(method: str, path: str, body: Any, status: int) -> dict[str, Any]:
        code, data = api.call(method, path, body)
        assert code == status, data
        return dict(data["error"])

    resources = {"file_search": {"vector_store_ids": [missing]}}
    error = refused("POST", "/v1/assistants", {"model": "m", "tool_resources": resources}, 404)
    assert error["message"] == f"No vector store found with id '{missing}'."
    assert error["param"] == "tool_resources.file_search.vector_store_ids[0]"
    bad = {"file_search": {"vector_store_ids": ["store-1"]}}
    error = refused("POST", "/v1/threads", {"tool_resources": bad}, 400)
    assert error["message"] == (
        "Invalid 'tool_resources.file_search.vector_store_ids[0]': 'store-1'. "
        "Expected an ID that begins with 'vs_'."
    )
    # another project's store is unknown here
    other = Api(api.client, OTHER_KEY)
    mine = {"file_search": {"vector_store_ids": [store["id"]]}}
    assert api.ok("POST", "/v1/threads", {"tool_resources": mine})["tool_resources"] == mine
    code, data = other.call("POST", "/v1/threads", {"tool_resources": mine})
    assert code == 404 and data["error"]["param"] == (
        "tool_resources.file_search.vector_store_ids[0]"
    )
    thread = api.ok("POST", "/v1/threads", {})
    error = refused("POST", f"/v1/threads/{thread['id']}", {"tool_resources": resources}, 404)
    assistant = api.ok("POST", "/v1/assistants", {"model": "m"})
    error = refused("POST", f"/v1/assistants/{assistant['id']}", {"tool_resources": resources}, 404)
    # the vector_stores helper: a store of those files, standing for its id
    helper = {"file_search": {"vector_stores": [{"file_ids": store["files"][:1]}]}}
    made = api.ok("POST", "/v1/assistants", {"model": "m", "tool_resources": helper})
    (store_id,) = made["tool_resources"]["file_search"]["vector_store_ids"]
    assert made["tool_resources"] == {"file_search": {"vector_store_ids": [store_id]}}
    assert api.ok("GET", f"/v1/vector_stores/{store_id}")["file_counts"]["total"] == 1
    both = {"file_search": {"vector_store_ids": [store["id"]], "vector_stores": [{}]}}
    error = refused("POST", "/v1/threads", {"tool_resources": both}, 400)
    assert "maximum of 1 vector store" in error["message"]
    unknown = {"file_search": {"vector_stores": [{"file_ids": ["file-nope"]}]}}
    error = refused("POST", "/v1/threads", {"tool_resources": unknown}, 404)
    assert error["param"] == "tool_resources.file_search.vector_stores[0].file_ids[0]"
    path = f"/v1/assistants/{assistant['id']}"
    error = refused("POST", path, {"tool_resources": helper}, 400)
    assert error["message"] == "Unknown parameter: 'tool_resources.file_search.vector_stores'."


class _SearchAndCall:
    """A model that asks for a search and a function in one answer, then replies."""

    accepts_images = False

    def __init__(self) -> None:
        self.requests: list[ModelRequest] = []

    def count_prompt_tokens(self, request: ModelRequest) -> int:
        return 1

    def complete(self, request: ModelRequest, listener: Any = None) -> ModelResponse:
        self.requests.append(request)
        if len(self.requests) == 1:
            calls = (
                ToolCall("call_search1", fs.FUNCTION, '{"queries":["rocket"]}'),
                ToolCall("call_weather1", "get_weather", '{"city":"Oslo"}'),
            )
            return ModelResponse(tool_calls=calls, prompt_tokens=3, completion_tokens=2)
        return ModelResponse(text="done", prompt_tokens=5, completion_tokens=1)


def test_a_search_beside_a_function_call_waits_only_for_the_function(
    api: Api, svc: Services, store: dict[str, Any]
) -> None:
    model = _SearchAndCall()
    svc.provider = model
    weather = {"type": "function", "function": {"name": "get_weather"}}
    body = {
        "model": "m",
        "tools": [{"type": "file_search"}, weather],
        "tool_resources": {"file_search": {"vector_store_ids": [store["id"]]}},
    }
    assistant = api.ok("POST", "/v1/assistants", body)
    run = _run(api, svc, assistant, "rocket weather")
    assert run["status"] == "requires_action"
    (pending,) = run["required_action"]["submit_tool_outputs"]["tool_calls"]
    assert pending["id"] == "call_weather1"
    (step,) = _steps(api, run)
    validate_schema(step, "RunStepObject")
    search, function = step["step_details"]["tool_calls"]
    assert search["type"] == "file_search" and search["file_search"]["results"]
    assert function["function"]["output"] is None
    path = f"/v1/threads/{run['thread_id']}/runs/{run['id']}/submit_tool_outputs"
    api.ok("POST", path, {"tool_outputs": [{"tool_call_id": "call_weather1", "output": "sunny"}]})
    run_jobs(svc)
    done = api.ok("GET", f"/v1/threads/{run['thread_id']}/runs/{run['id']}")
    assert done["status"] == "completed"
    replayed = model.requests[1].messages
    assert [c.name for c in replayed[-3].tool_calls] == [fs.FUNCTION, "get_weather"]
    assert replayed[-2].text.startswith(fs.CITE_HINT.split("{")[0])
    assert "【0:0†rocket.md】" in replayed[-2].text and replayed[-1].text == "sunny"


def test_citations_name_known_results_with_character_offsets() -> None:
    text = "Äpfel 【0:1†ä.txt】 und 【3:0†x】 mehr【0:0†b c.md】"
    annotations = fs.citations(text, {(0, 0): "file-b", (0, 1): "file-a"})
    assert [(a["text"], a["file_citation"]["file_id"]) for a in annotations] == [
        ("【0:1†ä.txt】", "file-a"),
        ("【0:0†b c.md】", "file-b"),
    ]
    for a in annotations:
        assert text[a["start_index"] : a["end_index"]] == a["text"]


def test_the_output_the_model_reads_parses_back() -> None:
    def result(file_id: str, name: str, text: str) -> dict[str, Any]:
        content = [{"type": "text", "text": text}]
        return {"file_id": file_id, "file_name": name, "score": 0.5, "content": content}

    results = [result("f1", "a.txt", "one\n\ntwo"), result("f2", "b.txt", "three")]
    output = fs.output_for_model(2, results)
    assert fs.parse_output(output) == [("【2:0†a.txt】", "one\n\ntwo"), ("【2:1†b.txt】", "three")]
    assert fs.output_for_model(0, []) == fs.NO_RESULTS
    assert fs.queries_of('{"queries":["a","  ","b"]}', "x") == ["a", "b"]
    assert fs.queries_of('{"query":"q"}', "x") == ["q"]
    assert fs.queries_of("not json", "fallback") == ["fallback"]
    call = {"id": "c", "type": "file_search", "file_search": {"results": results}}
    details = {"type": "tool_calls", "tool_calls": [call]}
    stripped = fs.without_content(details)["tool_calls"][0]["file_search"]["results"]
    assert all("content" not in r for r in stripped) and "content" in results[0]
