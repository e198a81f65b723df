"""SendMessage failing after the writes: the request answers as it would have, and the
sweeper's re-send delivers the run (QUEUED_RESEND_AFTER_SECONDS later)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from chalicelib.services.context import Services
from chalicelib.services.jobs import handle_job
from chalicelib.services.sweeper import expire_stale_runs
from tests.conftest import Api
from tests.support.dispatchers import FlakyDispatcher
from tests.support.doubles import ManualClock

TOOL = {"type": "function", "function": {"name": "lookup"}}


@pytest.fixture
def queue(svc: Services) -> FlakyDispatcher:
    """SQS is down from the start of the test."""
    svc.dispatcher = FlakyDispatcher(down=True)
    return svc.dispatcher


def _clock(svc: Services) -> ManualClock:
    assert isinstance(svc.clock, ManualClock)
    return svc.clock


def _path(run: dict[str, Any]) -> str:
    return f"/v1/threads/{run['thread_id']}/runs/{run['id']}"


def _resend_and_deliver(svc: Services, queue: FlakyDispatcher) -> None:
    """SQS is back; the sweeper runs once the resend delay has passed; the worker runs its jobs."""
    queue.down = False
    _clock(svc).advance(svc.settings.queued_resend_after_seconds - 1)
    assert expire_stale_runs(svc).resent == 0  # not before the delay
    assert queue.jobs == []
    _clock(svc).advance(2)
    assert expire_stale_runs(svc).resent == 1
    for job in queue.take():
        handle_job(svc, job)


def test_sqs_down_at_create_run_is_a_200_and_the_sweeper_delivers_the_run(
    api: Api, svc: Services, queue: FlakyDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    assistant = api.ok("POST", "/v1/assistants", {"model": "m"})
    thread = api.ok("POST", "/v1/threads", {"messages": [{"role": "user", "content": "ping"}]})
    with caplog.at_level(logging.ERROR, logger="chalicelib.services.handoff"):
        status, run = api.call(
            "POST", f"/v1/threads/{thread['id']}/runs", {"assistant_id": assistant["id"]}
        )
    assert status == 200, run
    assert run["status"] == "queued"
    assert [job["run_id"] for job in queue.failed] == [run["id"]]
    assert "sending a job failed" in caplog.text and run["id"] in caplog.text
    assert api.ok("GET", _path(run))["status"] == "queued"
    _resend_and_deliver(svc, queue)
    done = api.ok("GET", _path(run))
    assert done["status"] == "completed"
    reply = api.ok("GET", f"/v1/threads/{thread['id']}/messages?run_id={run['id']}")["data"]
    assert reply[0]["content"][0]["text"]["value"] == "ping"


def test_sqs_down_at_create_thread_and_run_is_a_200_and_the_sweeper_delivers_the_run(
    api: Api, svc: Services, queue: FlakyDispatcher
) -> None:
    assistant = api.ok("POST", "/v1/assistants", {"model": "m"})
    body = {
        "assistant_id": assistant["id"],
        "thread": {"messages": [{"role": "user", "content": "hello"}]},
    }
    status, run = api.call("POST", "/v1/threads/runs", body)
    assert status == 200, run
    assert run["status"] == "queued" and len(queue.failed) == 1
    _resend_and_deliver(svc, queue)
    assert api.ok("GET", _path(run))["status"] == "completed"


def test_sqs_down_at_submit_tool_outputs_is_a_200_and_the_sweeper_delivers_the_run(
    api: Api, svc: Services, queue: FlakyDispatcher
) -> None:
    assistant = api.ok("POST", "/v1/assistants", {"model": "m", "tools": [TOOL]})
    body = {
        "assistant_id": assistant["id"],
        "thread": {"messages": [{"role": "user", "content": "lookup"}]},
    }
    queue.down = False
    run = api.ok("POST", "/v1/threads/runs", body)
    for job in queue.take():
        handle_job(svc, job)
    waiting = api.ok("GET", _path(run))
    assert waiting["status"] == "requires_action"
    (call,) = waiting["required_action"]["submit_tool_outputs"]["tool_calls"]
    queue.down = True
    outputs = {"tool_outputs": [{"tool_call_id": call["id"], "output": "found"}]}
    status, queued = api.call("POST", _path(run) + "/submit_tool_outputs", outputs)
    assert status == 200, queued
    assert queued["status"] == "queued" and len(queue.failed) == 1
    _resend_and_deliver(svc, queue)
    done = api.ok("GET", _path(run))
    assert done["status"] == "completed"
    assert done["started_at"] == waiting["started_at"]


def test_sqs_down_when_a_big_thread_is_deleted_still_answers_deleted(
    api: Api, svc: Services, queue: FlakyDispatcher
) -> None:
    """Beyond the inline budget the rest goes to a purge job; a lost send does not undo the
    delete (the thread and its runs are already gone)."""
    import dataclasses

    svc.settings = dataclasses.replace(svc.settings, delete_inline_items=2)
    messages = [{"role": "user", "content": f"m{i}"} for i in range(5)]
    thread = api.ok("POST", "/v1/threads", {"messages": messages})
    status, data = api.call("DELETE", f"/v1/threads/{thread['id']}")
    assert status == 200, data
    assert data == {"id": thread["id"], "object": "thread.deleted", "deleted": True}
    assert [job["kind"] for job in queue.failed] == ["purge_thread"]
    status, _ = api.call("GET", f"/v1/threads/{thread['id']}")
    assert status == 404
