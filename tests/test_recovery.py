"""Runs never hang: outcomes that cannot be stored, workers that stop, late writers, bad runs in
the sweep, and the one state machine every writer goes through."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.domain import lifecycle, transitions
from chalicelib.domain.transitions import RunChange
from chalicelib.providers.base import ModelRequest, ModelResponse, ToolCall
from chalicelib.services.context import Services
from chalicelib.services.executor import advance_run
from chalicelib.services.jobs import handle_job
from chalicelib.services.sweeper import expire_stale_runs
from tests.conftest import Api
from tests.support.doubles import ManualClock

TOOL = {"type": "function", "function": {"name": "get_weather"}}
LEASE = 60


class HugeToolCalls:
    """A model whose turn is three function calls with 150 KB of arguments each."""

    def count_prompt_tokens(self, request: ModelRequest) -> int:
        return 1

    def complete(self, request: ModelRequest, listener: Any = None) -> ModelResponse:
        arguments = json.dumps({"blob": "x" * 150_000})
        calls = tuple(ToolCall(f"call_{i}", "get_weather", arguments) for i in range(3))
        return ModelResponse(tool_calls=calls, prompt_tokens=1, completion_tokens=1)


def clock(svc: Services) -> ManualClock:
    assert isinstance(svc.clock, ManualClock)
    return svc.clock


def queued_run(api: Api, svc: Services, tools: bool = False) -> tuple[str, dict[str, Any]]:
    assistant = api.ok("POST", "/v1/assistants", {"model": "m", "tools": [TOOL] if tools else []})
    thread = api.ok("POST", "/v1/threads", {"messages": [{"role": "user", "content": "hello"}]})
    run = api.ok("POST", f"/v1/threads/{thread['id']}/runs", {"assistant_id": assistant["id"]})
    (job,) = svc.dispatcher.take()  # type: ignore[attr-defined]
    return job["project"], run


def path(run: dict[str, Any]) -> str:
    return f"/v1/threads/{run['thread_id']}/runs/{run['id']}"


# -- an outcome too big to store ---------------------------------------------------------------


def test_an_outcome_too_large_to_store_fails_the_run_in_that_turn(api: Api, svc: Services) -> None:
    svc.provider = HugeToolCalls()
    project, run = queued_run(api, svc, tools=True)
    ended = advance_run(svc, project, run["thread_id"], run["id"])
    assert ended is not None and ended["status"] == "failed"
    read = api.ok("GET", path(run))
    assert read["status"] == "failed" and read["failed_at"] is not None
    assert read["last_error"]["code"] == "server_error"
    assert "too large to store" in read["last_error"]["message"]
    # The thread is free again at once: a message and a new run are accepted.
    thread_id = run["thread_id"]
    api.ok("POST", f"/v1/threads/{thread_id}/messages", {"role": "user", "content": "again"})
    assert api.ok("GET", f"/v1/threads/{thread_id}/runs/{run['id']}/steps")["data"] == []


def test_a_streamed_run_whose_outcome_is_too_large_ends_with_a_failed_event(
    client: Any, api: Api, svc: Services
) -> None:
    svc.provider = HugeToolCalls()
    assistant = api.ok("POST", "/v1/assistants", {"model": "m", "tools": [TOOL]})
    thread = api.ok("POST", "/v1/threads", {})
    status, body = api.call(
        "POST",
        f"/v1/threads/{thread['id']}/runs",
        {"assistant_id": assistant["id"], "stream": True},
    )
    assert status == 200, body
    events = [line[len("event: ") :] for line in body.splitlines() if line.startswith("event: ")]
    assert events[0] == "thread.run.created" and "thread.run.failed" in events
    assert events[-1] == "done"


# -- workers that stop -------------------------------------------------------------------------


def claim_and_die(svc: Services, project: str, run: dict[str, Any]) -> dict[str, Any]:
    """A worker that claims the run and then never writes (killed mid-turn)."""
    claimed = svc.store.change_run(
        project, run["thread_id"], run["id"], transitions.claim(svc.clock.now(), LEASE), base={}
    )
    assert claimed is not None
    return claimed


def test_a_run_whose_worker_died_is_requeued_and_completes(api: Api, svc: Services) -> None:
    project, run = queued_run(api, svc)
    claim_and_die(svc, project, run)
    clock(svc).advance(LEASE - 1)
    assert expire_stale_runs(svc).recovered == 0, "the lease still holds"
    clock(svc).advance(1)
    report = expire_stale_runs(svc)
    assert report.recovered == 1
    assert api.ok("GET", path(run))["status"] == "queued"
    (job,) = svc.dispatcher.take()  # type: ignore[attr-defined]
    handle_job(svc, job)
    done = api.ok("GET", path(run))
    assert done["status"] == "completed" and done["started_at"] == run["created_at"]
    assert len(api.ok("GET", f"/v1/threads/{run['thread_id']}/messages")["data"]) == 2


def test_a_run_whose_worker_dies_on_every_attempt_ends_failed(api: Api, svc: Services) -> None:
    project, run = queued_run(api, svc)
    for attempt in range(1, svc.settings.run_max_attempts + 1):
        claimed = claim_and_die(svc, project, run)
        assert claimed["attempt"] == attempt
        clock(svc).advance(LEASE)
        expire_stale_runs(svc)
        svc.dispatcher.take()  # type: ignore[attr-defined]
    ended = api.ok("GET", path(run))
    assert ended["status"] == "failed"
    assert ended["last_error"]["code"] == "server_error"
    assert "execution stopped" in ended["last_error"]["message"]
    thread_id = run["thread_id"]
    api.ok("POST", f"/v1/threads/{thread_id}/messages", {"role": "user", "content": "free"})


def test_a_late_writer_is_fenced(api: Api, svc: Services) -> None:
    """Worker 1 is presumed dead and the run re-queued; worker 2 claims it. Whatever worker 1
    writes afterwards (its outcome, a lease renewal) changes nothing."""
    project, run = queued_run(api, svc)
    first = claim_and_die(svc, project, run)
    clock(svc).advance(LEASE)
    assert expire_stale_runs(svc).recovered == 1
    second = claim_and_die(svc, project, run)
    assert (first["attempt"], second["attempt"]) == (1, 2)
    now = svc.clock.now()
    late = transitions.end_run(first, lifecycle.COMPLETED, now, sources=(lifecycle.IN_PROGRESS,))
    late.attempt = first["attempt"]
    assert svc.store.change_run(project, run["thread_id"], run["id"], late, base=first) is None
    renew = transitions.renew_lease(now, LEASE, first["attempt"])
    assert svc.store.change_run(project, run["thread_id"], run["id"], renew, base=first) is None
    current = api.ok("GET", path(run))
    assert current["status"] == "in_progress"
    # The current attempt still owns the run and can finish it.
    mine = transitions.end_run(second, lifecycle.COMPLETED, now, sources=(lifecycle.IN_PROGRESS,))
    mine.attempt = second["attempt"]
    assert svc.store.change_run(project, run["thread_id"], run["id"], mine, base=second)


def test_a_renewed_lease_keeps_the_run_from_recovery(api: Api, svc: Services) -> None:
    project, run = queued_run(api, svc)
    claimed = claim_and_die(svc, project, run)
    clock(svc).advance(LEASE - 5)
    renew = transitions.renew_lease(svc.clock.now(), LEASE, claimed["attempt"])
    assert svc.store.change_run(project, run["thread_id"], run["id"], renew, base=claimed)
    clock(svc).advance(10)  # past the first lease, within the renewed one
    assert expire_stale_runs(svc).recovered == 0
    assert api.ok("GET", path(run))["status"] == "in_progress"


# -- the sweeper -------------------------------------------------------------------------------


def test_a_poisoned_run_does_not_block_the_sweep(
    api: Api, svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = [queued_run(api, svc) for _ in range(4)]
    poisoned = made[1][1]["id"]
    original = svc.store.change_run

    def change_run(project: str, thread_id: str, run_id: str, *args: Any, **kwargs: Any) -> Any:
        if run_id == poisoned:
            raise RuntimeError("this run cannot be written")
        return original(project, thread_id, run_id, *args, **kwargs)

    monkeypatch.setattr(svc.store, "change_run", change_run)
    clock(svc).advance(601)
    report = expire_stale_runs(svc)
    # The poisoned run fails twice (its expiry, then its re-send as a long-queued run).
    assert (report.expired, report.errors) == (3, 2)
    stored = {run["id"]: svc.store.get_run(p, run["thread_id"], run["id"]) for p, run in made}
    statuses = {run_id: run["status"] for run_id, run in stored.items() if run is not None}
    assert statuses.pop(poisoned) == "queued", "the poisoned run is left for the next tick"
    assert list(statuses.values()) == ["expired"] * 3


# -- one state machine -------------------------------------------------------------------------


def test_every_change_is_checked_against_the_one_transition_table() -> None:
    with pytest.raises(ValueError, match="illegal run transition: completed -> queued"):
        RunChange((lifecycle.COMPLETED,), {"status": lifecycle.QUEUED}, 0)
    with pytest.raises(ValueError, match="in_progress -> cancelled"):
        RunChange((lifecycle.IN_PROGRESS,), {"status": lifecycle.CANCELLED}, 0)
    # Every change the services build is legal by the table.
    run = {"id": "run_x", "status": "queued", "usage_so_far": None}
    for change in (
        transitions.claim(0, LEASE),
        transitions.expire(run, 0),
        transitions.cancel_now(run, 0),
        transitions.request_cancel(0),
        transitions.requeue_stopped({**run, "attempt": 1}, 0),
        transitions.fail_stopped({**run, "attempt": 3}, 0, 3),
    ):
        target = change.changes["status"]
        assert all(target in lifecycle.TRANSITIONS[s] for s in change.sources), change


def test_terminal_statuses_have_no_way_out() -> None:
    for status in lifecycle.TERMINAL:
        assert status not in lifecycle.TRANSITIONS
        assert lifecycle.sources_of(status), f"nothing reaches {status}"
