"""The run endpoints through the real app (chalice.test.Client) on moto; jobs run by hand."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.services.context import Services
from chalicelib.services.jobs import handle_job
from tests.conftest import Api
from tests.support.doubles import ManualClock
from tests.support.spec import validate_response, validate_schema

RUN_KEYS = {
    "id", "object", "created_at", "thread_id", "assistant_id", "status", "required_action",
    "last_error", "expires_at", "started_at", "cancelled_at", "failed_at", "completed_at",
    "model", "instructions", "tools", "metadata", "usage", "incomplete_details",
    "max_prompt_tokens", "max_completion_tokens", "truncation_strategy", "tool_choice",
    "parallel_tool_calls", "response_format",
}  # fmt: skip
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}


def run_jobs(svc: Services) -> None:
    for job in svc.dispatcher.take():  # type: ignore[attr-defined]
        handle_job(svc, job)


@pytest.fixture
def assistant(api: Api) -> dict[str, Any]:
    body = {"model": "gpt-4o", "instructions": "Be brief.", "tools": [WEATHER], "top_p": 0.5}
    return api.ok("POST", "/v1/assistants", body)


@pytest.fixture
def thread(api: Api) -> dict[str, Any]:
    return api.ok("POST", "/v1/threads", {"messages": [{"role": "user", "content": "hi there"}]})


def create_run(api: Api, thread: dict[str, Any], assistant: dict[str, Any], **extra: Any) -> Any:
    body = {"assistant_id": assistant["id"], **extra}
    return api.ok("POST", f"/v1/threads/{thread['id']}/runs", body)


def test_a_new_run_has_every_key_and_inherits_from_its_assistant(
    api: Api, svc: Services, assistant: dict[str, Any], thread: dict[str, Any]
) -> None:
    run = create_run(api, thread, assistant, additional_instructions="Use French.")
    assert set(run) >= RUN_KEYS
    validate_response("post", "/threads/{thread_id}/runs", 200, run)
    assert run["status"] == "queued"
    assert run["model"] == "gpt-4o"
    assert run["instructions"] == "Be brief.\n\nUse French."
    assert run["tools"] == [WEATHER]
    assert run["top_p"] == 0.5 and run["temperature"] is None
    assert run["expires_at"] == run["created_at"] + 600
    assert run["truncation_strategy"] == {"type": "auto", "last_messages": None}
    assert run["tool_choice"] == "auto" and run["parallel_tool_calls"] is True
    assert run["response_format"] == "auto" and run["usage"] is None
    assert run["id"].startswith("run_") and len(run["id"]) == 28
    assert svc.dispatcher.jobs == [  # type: ignore[attr-defined]
        {"kind": "run", "project": svc.dispatcher.jobs[0]["project"],  # type: ignore[attr-defined]
         "thread_id": thread["id"], "run_id": run["id"]}
    ]  # fmt: skip


def test_request_overrides_win_and_instructions_are_never_null(
    api: Api, thread: dict[str, Any]
) -> None:
    bare = api.ok("POST", "/v1/assistants", {"model": "m1"})
    run = create_run(
        api, thread, bare, model="m2", tools=[], temperature=0.2, tool_choice="none",
        parallel_tool_calls=False, response_format={"type": "json_object"},
        truncation_strategy={"type": "last_messages", "last_messages": 3},
        max_prompt_tokens=500, max_completion_tokens=300, metadata={"a": "b"},
    )  # fmt: skip
    assert run["model"] == "m2" and run["instructions"] == "" and run["tools"] == []
    assert run["temperature"] == 0.2 and run["tool_choice"] == "none"
    assert run["parallel_tool_calls"] is False
    assert run["response_format"] == {"type": "json_object"}
    assert run["truncation_strategy"] == {"type": "last_messages", "last_messages": 3}
    assert (run["max_prompt_tokens"], run["max_completion_tokens"]) == (500, 300)
    assert run["metadata"] == {"a": "b"}


def test_additional_messages_join_the_thread_before_the_run(
    api: Api, assistant: dict[str, Any], thread: dict[str, Any]
) -> None:
    extra = [{"role": "user", "content": "second"}, {"role": "assistant", "content": "third"}]
    create_run(api, thread, assistant, additional_messages=extra)
    listed = api.ok("GET", f"/v1/threads/{thread['id']}/messages?order=asc")["data"]
    texts = [m["content"][0]["text"]["value"] for m in listed]
    assert texts == ["hi there", "second", "third"]
    for message in listed:
        validate_schema(message, "MessageObject")


def test_include_is_validated(api: Api, assistant: dict[str, Any], thread: dict[str, Any]) -> None:
    path = f"/v1/threads/{thread['id']}/runs?include[]=bogus"
    status, data = api.call("POST", path, {"assistant_id": assistant["id"]})
    assert status == 400 and data["error"]["param"] == "include[]"
    ok = "step_details.tool_calls[*].file_search.results[*].content"
    status, _ = api.call(
        "POST", f"/v1/threads/{thread['id']}/runs?include[]={ok}", {"assistant_id": assistant["id"]}
    )
    assert status == 200


def test_one_active_run_per_thread_and_no_messages_meanwhile(
    api: Api, assistant: dict[str, Any], thread: dict[str, Any]
) -> None:
    run = create_run(api, thread, assistant)
    status, data = api.call(
        "POST", f"/v1/threads/{thread['id']}/runs", {"assistant_id": assistant["id"]}
    )
    assert status == 400
    assert data["error"]["message"] == (
        f"Thread {thread['id']} already has an active run {run['id']}."
    )
    status, data = api.call(
        "POST", f"/v1/threads/{thread['id']}/messages", {"role": "user", "content": "more"}
    )
    assert status == 400
    assert data["error"]["message"] == (
        f"Can't add messages to {thread['id']} while a run {run['id']} is active."
    )


def test_modify_run_replaces_metadata_and_accepts_nothing_else(
    api: Api, assistant: dict[str, Any], thread: dict[str, Any]
) -> None:
    run = create_run(api, thread, assistant, metadata={"a": "1", "b": "2"})
    path = f"/v1/threads/{thread['id']}/runs/{run['id']}"
    modified = api.ok("POST", path, {"metadata": {"c": "3"}})
    assert modified["metadata"] == {"c": "3"}
    assert {k: v for k, v in modified.items() if k != "metadata"} == {
        k: v for k, v in run.items() if k != "metadata"
    }
    status, data = api.call("POST", path, {"metadata": {}, "model": "x"})
    assert status == 400 and data["error"]["param"] == "model"


def test_cancel_a_queued_run_goes_straight_to_cancelled(
    api: Api, svc: Services, assistant: dict[str, Any], thread: dict[str, Any]
) -> None:
    run = create_run(api, thread, assistant)
    cancelled = api.ok("POST", f"/v1/threads/{thread['id']}/runs/{run['id']}/cancel")
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_at"] is not None and cancelled["expires_at"] is None
    assert cancelled["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    status, data = api.call("POST", f"/v1/threads/{thread['id']}/runs/{run['id']}/cancel")
    assert (status, data["error"]["message"]) == (400, "Cannot cancel run with status 'cancelled'.")
    run_jobs(svc)  # the queued job arrives after the cancel: nothing to claim
    assert api.ok("GET", f"/v1/threads/{thread['id']}/runs/{run['id']}")["status"] == "cancelled"
    assert create_run(api, thread, assistant)["status"] == "queued"  # the thread is free again


def test_cancel_with_an_empty_body_and_no_content_type(
    api: Api, assistant: dict[str, Any], thread: dict[str, Any]
) -> None:
    run = create_run(api, thread, assistant)
    headers = {"Authorization": f"Bearer {api.key}", "OpenAI-Beta": "assistants=v2"}
    status, data = api.call(
        "POST", f"/v1/threads/{thread['id']}/runs/{run['id']}/cancel", headers=headers
    )
    assert status == 200 and data["status"] == "cancelled"


def test_submit_tool_outputs_needs_requires_action(
    api: Api, assistant: dict[str, Any], thread: dict[str, Any]
) -> None:
    run = create_run(api, thread, assistant)
    body = {"tool_outputs": [{"tool_call_id": "call_x", "output": "y"}]}
    status, data = api.call(
        "POST", f"/v1/threads/{thread['id']}/runs/{run['id']}/submit_tool_outputs", body
    )
    assert status == 400
    assert data["error"]["message"] == 'Runs in status "queued" do not accept tool outputs.'


def test_worker_completes_a_run_with_the_echo_reply(
    api: Api, svc: Services, assistant: dict[str, Any], thread: dict[str, Any]
) -> None:
    run = create_run(api, thread, assistant)
    run_jobs(svc)
    done = api.ok("GET", f"/v1/threads/{thread['id']}/runs/{run['id']}")
    validate_schema(done, "RunObject")
    assert done["status"] == "completed" and done["expires_at"] is None
    assert done["started_at"] is not None and done["completed_at"] is not None
    # prompt: "Be brief." (2) + "hi there" (2); completion: "hi there" (2)
    assert done["usage"] == {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}
    messages = api.ok("GET", f"/v1/threads/{thread['id']}/messages?run_id={run['id']}")["data"]
    assert len(messages) == 1
    reply = messages[0]
    assert reply["role"] == "assistant" and reply["content"][0]["text"]["value"] == "hi there"
    assert (reply["run_id"], reply["assistant_id"]) == (run["id"], assistant["id"])
    steps = api.ok("GET", f"/v1/threads/{thread['id']}/runs/{run['id']}/steps")
    validate_response("get", "/threads/{thread_id}/runs/{run_id}/steps", 200, steps)
    (step,) = steps["data"]
    assert step["type"] == "message_creation" and step["status"] == "completed"
    assert step["step_details"]["message_creation"]["message_id"] == reply["id"]
    assert step["usage"] == done["usage"]
    one = api.ok("GET", f"/v1/threads/{thread['id']}/runs/{run['id']}/steps/{step['id']}")
    assert one == step


def test_tool_call_round_trip(api: Api, svc: Services, assistant: dict[str, Any]) -> None:
    content = 'call get_weather with {"city": "Paris"}'
    thread = api.ok("POST", "/v1/threads", {"messages": [{"role": "user", "content": content}]})
    run = create_run(api, thread, assistant)
    run_jobs(svc)
    waiting = api.ok("GET", f"/v1/threads/{thread['id']}/runs/{run['id']}")
    validate_schema(waiting, "RunObject")
    assert waiting["status"] == "requires_action" and waiting["usage"] is None
    (call,) = waiting["required_action"]["submit_tool_outputs"]["tool_calls"]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert call["id"].startswith("call_")
    (step,) = api.ok("GET", f"/v1/threads/{thread['id']}/runs/{run['id']}/steps")["data"]
    assert step["type"] == "tool_calls" and step["status"] == "in_progress"
    assert step["step_details"]["tool_calls"][0]["function"]["output"] is None
    path = f"/v1/threads/{thread['id']}/runs/{run['id']}/submit_tool_outputs"
    for bad in (
        [],
        [{"tool_call_id": "call_unknown", "output": "x"}],
        [{"tool_call_id": call["id"], "output": "x"}, {"tool_call_id": call["id"], "output": "y"}],
    ):
        status, data = api.call("POST", path, {"tool_outputs": bad})
        assert status == 400 and data["error"]["param"] == "tool_outputs", bad
    queued = api.ok("POST", path, {"tool_outputs": [{"tool_call_id": call["id"], "output": "19C"}]})
    assert queued["status"] == "queued" and queued["started_at"] == waiting["started_at"]
    assert queued["required_action"] is None
    svc.clock.advance(5)  # type: ignore[attr-defined]
    run_jobs(svc)
    done = api.ok("GET", f"/v1/threads/{thread['id']}/runs/{run['id']}")
    assert done["status"] == "completed"
    assert done["started_at"] == waiting["started_at"]  # the first turn's start is kept
    assert done["usage"]["total_tokens"] == (
        done["usage"]["prompt_tokens"] + done["usage"]["completion_tokens"]
    )
    steps = api.ok("GET", f"/v1/threads/{thread['id']}/runs/{run['id']}/steps?order=asc")["data"]
    assert [s["type"] for s in steps] == ["tool_calls", "message_creation"]
    assert steps[0]["status"] == "completed"
    assert steps[0]["step_details"]["tool_calls"][0]["function"]["output"] == "19C"
    reply = api.ok("GET", f"/v1/threads/{thread['id']}/messages?limit=1")["data"][0]
    assert reply["content"][0]["text"]["value"] == "19C"


def test_cancel_while_in_progress_is_cancelling_until_the_executor_lets_go(
    api: Api, svc: Services, assistant: dict[str, Any], thread: dict[str, Any]
) -> None:
    from chalicelib.domain import transitions

    run = create_run(api, thread, assistant)
    project = svc.dispatcher.jobs[0]["project"]  # type: ignore[attr-defined]
    claimed = svc.store.change_run(
        project, thread["id"], run["id"], transitions.claim(svc.clock.now(), 60), base=run
    )
    assert claimed is not None and claimed["status"] == "in_progress"
    cancelling = api.ok("POST", f"/v1/threads/{thread['id']}/runs/{run['id']}/cancel")
    assert cancelling["status"] == "cancelling"
    status, data = api.call("POST", f"/v1/threads/{thread['id']}/runs/{run['id']}/cancel")
    assert status == 400
    assert data["error"]["message"] == "Cannot cancel run with status 'cancelling'."
    # The executor's outcome write loses to the cancel and finishes it.
    from chalicelib.services.events import EventList
    from chalicelib.services.executor import _lost_outcome

    events = EventList()
    final = _lost_outcome(svc, project, thread["id"], run["id"], events)
    assert final is not None and final["status"] == "cancelled"
    assert events.events[-1][0] == "thread.run.cancelled"
    assert api.ok("GET", f"/v1/threads/{thread['id']}/messages?run_id={run['id']}")["data"] == []


def test_a_run_past_its_deadline_reads_expired_and_frees_the_thread(
    api: Api, svc: Services, assistant: dict[str, Any]
) -> None:
    content = "get_weather please"
    thread = api.ok("POST", "/v1/threads", {"messages": [{"role": "user", "content": content}]})
    run = create_run(api, thread, assistant)
    run_jobs(svc)
    path = f"/v1/threads/{thread['id']}/runs/{run['id']}"
    assert api.ok("GET", path)["status"] == "requires_action"
    clock = svc.clock
    assert isinstance(clock, ManualClock)
    clock.advance(599)
    assert api.ok("GET", path)["status"] == "requires_action"
    clock.advance(1)
    expired = api.ok("GET", path)
    assert expired["status"] == "expired" and expired["expires_at"] is None
    validate_schema(expired, "RunObject")
    (step,) = api.ok("GET", f"{path}/steps")["data"]
    assert step["status"] == "expired" and step["expired_at"] == clock.now()
    body = {"tool_outputs": [{"tool_call_id": "call_x", "output": "y"}]}
    status, data = api.call("POST", f"{path}/submit_tool_outputs", body)
    assert status == 400
    assert data["error"]["message"] == 'Runs in status "expired" do not accept tool outputs.'
    status, data = api.call("POST", f"{path}/cancel")
    assert status == 400
    assert data["error"]["message"] == "Cannot cancel run with status 'expired'."
    assert create_run(api, thread, assistant)["status"] == "queued"


def test_a_stale_run_is_expired_by_the_next_create_on_its_thread(
    api: Api, svc: Services, assistant: dict[str, Any], thread: dict[str, Any]
) -> None:
    first = create_run(api, thread, assistant)
    svc.clock.advance(600)  # type: ignore[attr-defined]
    second = create_run(api, thread, assistant)
    assert second["status"] == "queued"
    old = api.ok("GET", f"/v1/threads/{thread['id']}/runs/{first['id']}")
    assert old["status"] == "expired"


def test_list_runs_pages_with_cursors(
    api: Api, svc: Services, assistant: dict[str, Any], thread: dict[str, Any]
) -> None:
    ids = []
    for _ in range(5):
        run = create_run(api, thread, assistant)
        api.ok("POST", f"/v1/threads/{thread['id']}/runs/{run['id']}/cancel")
        ids.append(run["id"])
    base = f"/v1/threads/{thread['id']}/runs"
    page = api.ok("GET", f"{base}?limit=2")
    validate_response("get", "/threads/{thread_id}/runs", 200, page)
    assert [r["id"] for r in page["data"]] == ids[::-1][:2] and page["has_more"] is True
    assert (page["first_id"], page["last_id"]) == (ids[4], ids[3])
    page = api.ok("GET", f"{base}?limit=2&after={ids[3]}")
    assert [r["id"] for r in page["data"]] == [ids[2], ids[1]] and page["has_more"] is True
    page = api.ok("GET", f"{base}?limit=2&after={ids[1]}")
    assert [r["id"] for r in page["data"]] == [ids[0]] and page["has_more"] is False
    page = api.ok("GET", f"{base}?limit=2&order=asc&after={ids[0]}")
    assert [r["id"] for r in page["data"]] == ids[1:3] and page["has_more"] is True
    # before = the previous page, still in the requested order
    page = api.ok("GET", f"{base}?limit=2&order=asc&before={ids[4]}")
    assert [r["id"] for r in page["data"]] == ids[2:4] and page["has_more"] is True
    page = api.ok("GET", f"{base}?limit=2&before={ids[1]}")
    assert [r["id"] for r in page["data"]] == [ids[3], ids[2]] and page["has_more"] is True
    page = api.ok("GET", f"{base}?order=asc&after={ids[0]}&before={ids[4]}")
    assert [r["id"] for r in page["data"]] == ids[1:4] and page["has_more"] is False
    empty = api.ok("GET", f"{base}?after={ids[0]}")
    assert empty == {"object": "list", "data": [], "first_id": None, "last_id": None,
                     "has_more": False}  # fmt: skip


def test_create_thread_and_run(api: Api, svc: Services, assistant: dict[str, Any]) -> None:
    body = {
        "assistant_id": assistant["id"],
        "thread": {"messages": [{"role": "user", "content": "hello"}], "metadata": {"t": "1"}},
        "metadata": {"r": "1"},
    }
    run = api.ok("POST", "/v1/threads/runs", body)
    validate_response("post", "/threads/runs", 200, run)
    thread = api.ok("GET", f"/v1/threads/{run['thread_id']}")
    assert thread["metadata"] == {"t": "1"} and run["metadata"] == {"r": "1"}
    status, _data = api.call(
        "POST", f"/v1/threads/{thread['id']}/messages", {"role": "user", "content": "x"}
    )
    assert status == 400  # the new thread's run is active from the start
    run_jobs(svc)
    done = api.ok("GET", f"/v1/threads/{thread['id']}/runs/{run['id']}")
    assert done["status"] == "completed"


def test_run_reads_carry_the_poll_hint(
    client: Any, api: Api, assistant: dict[str, Any], thread: dict[str, Any]
) -> None:
    run = create_run(api, thread, assistant)
    from tests.conftest import auth_headers

    response = client.http.get(
        f"/v1/threads/{thread['id']}/runs/{run['id']}", headers=auth_headers()
    )
    assert response.headers["openai-poll-after-ms"] == "500"


def test_streaming_create_run_returns_the_events_in_order(
    client: Any, api: Api, assistant: dict[str, Any], thread: dict[str, Any]
) -> None:
    import json

    from tests.conftest import auth_headers
    from tests.support.spec import validate_stream_event

    body = json.dumps({"assistant_id": assistant["id"], "stream": True})
    response = client.http.post(
        f"/v1/threads/{thread['id']}/runs", headers=auth_headers(), body=body
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    frames = [f for f in response.body.decode().split("\n\n") if f]
    events = []
    for frame in frames:
        name_line, data_line = frame.split("\n")
        name, data = name_line[len("event: ") :], data_line[len("data: ") :]
        events.append(name)
        validate_stream_event(name, data if name == "done" else json.loads(data))
    assert events == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
        "thread.message.delta",  # "hi " (echo streams its reply word by word)
        "thread.message.delta",  # "there"
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
        "done",
    ]
