"""The SQS worker, invoked as Lambda would be (chalice.test.Client + generate_sqs_event)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.providers.base import ModelRequest, ModelResponse, ProviderError
from chalicelib.services.context import Services
from tests.conftest import Api, partition_items


class FailingProvider:
    def __init__(self, code: str) -> None:
        self.code = code

    def count_prompt_tokens(self, request: ModelRequest) -> int:
        return 1

    def complete(self, request: ModelRequest, listener: object = None) -> ModelResponse:
        raise ProviderError("the model is unavailable", code=self.code)  # type: ignore[arg-type]


class CrashingProvider(FailingProvider):
    def complete(self, request: ModelRequest, listener: object = None) -> ModelResponse:
        raise KeyError("unexpected")


def deliver(client: Any, jobs: list[dict[str, Any]]) -> None:
    event = client.events.generate_sqs_event(
        message_bodies=[json.dumps(j) for j in jobs], queue_name="assistants-runs-jobs"
    )
    client.lambda_.invoke("run_worker", event)


@pytest.fixture
def queued(api: Api, svc: Services) -> dict[str, Any]:
    assistant = api.ok("POST", "/v1/assistants", {"model": "m"})
    thread = api.ok("POST", "/v1/threads", {"messages": [{"role": "user", "content": "ping"}]})
    return api.ok("POST", f"/v1/threads/{thread['id']}/runs", {"assistant_id": assistant["id"]})


def _path(run: dict[str, Any]) -> str:
    return f"/v1/threads/{run['thread_id']}/runs/{run['id']}"


def test_a_delivered_job_completes_the_run(
    client: Any, api: Api, svc: Services, queued: dict[str, Any]
) -> None:
    deliver(client, svc.dispatcher.take())  # type: ignore[attr-defined]
    assert api.ok("GET", _path(queued))["status"] == "completed"


def test_a_duplicate_delivery_runs_the_turn_once(
    client: Any, api: Api, svc: Services, queued: dict[str, Any]
) -> None:
    (job,) = svc.dispatcher.take()  # type: ignore[attr-defined]
    deliver(client, [job])
    deliver(client, [job])
    messages = api.ok("GET", f"/v1/threads/{queued['thread_id']}/messages?run_id={queued['id']}")
    assert len(messages["data"]) == 1
    steps = api.ok("GET", f"{_path(queued)}/steps")["data"]
    assert len(steps) == 1


def test_a_cancelled_run_delivered_later_is_left_alone(
    client: Any, api: Api, svc: Services, queued: dict[str, Any]
) -> None:
    api.ok("POST", f"{_path(queued)}/cancel")
    deliver(client, svc.dispatcher.take())  # type: ignore[attr-defined]
    run = api.ok("GET", _path(queued))
    assert run["status"] == "cancelled" and run["started_at"] is None
    assert api.ok("GET", f"{_path(queued)}/steps")["data"] == []


@pytest.mark.parametrize("code", ["server_error", "rate_limit_exceeded"])
def test_a_provider_failure_fails_the_run_with_last_error(
    client: Any, api: Api, svc: Services, queued: dict[str, Any], code: str
) -> None:
    svc.provider = FailingProvider(code)
    deliver(client, svc.dispatcher.take())  # type: ignore[attr-defined]
    run = api.ok("GET", _path(queued))
    assert run["status"] == "failed" and run["failed_at"] is not None
    assert run["last_error"] == {"code": code, "message": "the model is unavailable"}
    assert run["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    # The thread is free again.
    api.ok("POST", f"/v1/threads/{queued['thread_id']}/messages", {"role": "user", "content": "x"})


def test_an_unexpected_executor_error_fails_the_run_instead_of_hanging(
    client: Any, api: Api, svc: Services, queued: dict[str, Any]
) -> None:
    svc.provider = CrashingProvider("server_error")
    deliver(client, svc.dispatcher.take())  # type: ignore[attr-defined]
    run = api.ok("GET", _path(queued))
    assert run["status"] == "failed" and run["last_error"]["code"] == "server_error"


def test_a_deleted_thread_is_gone_when_the_delete_answers(
    client: Any, api: Api, svc: Services, queued: dict[str, Any]
) -> None:
    (job,) = svc.dispatcher.take()  # type: ignore[attr-defined]
    deliver(client, [job])
    thread_id = queued["thread_id"]
    deleted = api.ok("DELETE", f"/v1/threads/{thread_id}")
    assert deleted == {"id": thread_id, "object": "thread.deleted", "deleted": True}
    assert svc.dispatcher.take() == []  # type: ignore[attr-defined]
    assert partition_items(svc, job["project"], thread_id) == []
    status, data = api.call("GET", _path(queued))
    assert (status, data["error"]["message"]) == (404, f"No thread found with id '{thread_id}'.")


def test_a_large_thread_finishes_deleting_in_the_background(
    client: Any, api: Api, svc: Services, queued: dict[str, Any]
) -> None:
    import dataclasses

    svc.settings = dataclasses.replace(svc.settings, delete_inline_items=2)
    (job,) = svc.dispatcher.take()  # type: ignore[attr-defined]
    deliver(client, [job])  # the thread now holds 2 messages, 1 run, 1 step
    thread_id = queued["thread_id"]
    api.ok("DELETE", f"/v1/threads/{thread_id}")
    jobs = svc.dispatcher.take()  # type: ignore[attr-defined]
    assert jobs == [{"kind": "purge_thread", "project": job["project"], "thread_id": thread_id}]
    left = partition_items(svc, job["project"], thread_id)
    assert left and not any(i["sk"].startswith("RUN#") for i in left)  # runs go first
    deliver(client, jobs)
    assert partition_items(svc, job["project"], thread_id) == []
