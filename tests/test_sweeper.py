"""The scheduled sweeper, with a clock the tests move."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import pytest

from chalicelib.domain import transitions
from chalicelib.services import runs
from chalicelib.services.context import Services
from chalicelib.services.sweeper import expire_stale_runs
from tests.conftest import Api, make_services, partition_items
from tests.support.doubles import ManualClock

TOOL = {"type": "function", "function": {"name": "lookup"}}


def _clock(svc: Services) -> ManualClock:
    assert isinstance(svc.clock, ManualClock)
    return svc.clock


def _project(svc: Services) -> str:
    return svc.dispatcher.jobs[-1]["project"]  # type: ignore[attr-defined]


def make_run(api: Api, svc: Services, status: str) -> dict[str, Any]:
    """A run brought to `status` (an active one) the way the service would."""
    text = "lookup" if status == "requires_action" else "hello"
    assistant = api.ok("POST", "/v1/assistants", {"model": "m", "tools": [TOOL]})
    thread = api.ok("POST", "/v1/threads", {"messages": [{"role": "user", "content": text}]})
    run = api.ok("POST", f"/v1/threads/{thread['id']}/runs", {"assistant_id": assistant["id"]})
    project = _project(svc)
    svc.dispatcher.take()  # type: ignore[attr-defined]
    if status == "queued":
        return run
    if status == "requires_action":
        from chalicelib.services.executor import advance_run

        advance_run(svc, project, thread["id"], run["id"])
    else:
        claim = transitions.claim(svc.clock.now(), 60)
        svc.store.change_run(project, thread["id"], run["id"], claim, base=run)
        if status == "cancelling":
            runs.cancel_run(svc, project, thread["id"], run["id"])
    current = api.ok("GET", f"/v1/threads/{thread['id']}/runs/{run['id']}")
    assert current["status"] == status
    return current


@pytest.mark.parametrize("status", ["queued", "in_progress", "requires_action", "cancelling"])
def test_each_active_status_expires_at_the_deadline_and_not_before(
    api: Api, svc: Services, status: str
) -> None:
    svc.settings = dataclasses.replace(
        svc.settings,
        queued_resend_after_seconds=10_000,
        cancelling_finalise_after_seconds=10_000,
    )
    run = make_run(api, svc, status)
    path = f"/v1/threads/{run['thread_id']}/runs/{run['id']}"
    _clock(svc).set(run["expires_at"] - 1)
    assert expire_stale_runs(svc).expired == 0
    _clock(svc).set(run["expires_at"])
    report = expire_stale_runs(svc)
    assert (report.expired, report.examined) == (1, 1)
    # The sweeper wrote it: read the item directly, not through the API's read-time expiry.
    stored = svc.store.get_run(_project_of(svc, api), run["thread_id"], run["id"])
    assert stored is not None and stored["status"] == "expired"
    expired = api.ok("GET", path)
    assert expired["status"] == "expired" and expired["expires_at"] is None
    for step in api.ok("GET", f"{path}/steps")["data"]:
        assert step["status"] == "expired" and step["expired_at"] == run["expires_at"]
    thread = svc.store.get_thread(_project_of(svc, api), run["thread_id"])
    assert thread is not None and "active_run_id" not in thread
    assert expire_stale_runs(svc).examined == 0  # a second sweep finds nothing


def _project_of(svc: Services, api: Api) -> str:
    from chalicelib.services.auth import project_for

    return project_for(svc, f"Bearer {api.key}")


def test_a_sweep_that_hits_its_budget_resumes_next_tick(api: Api, svc: Services) -> None:
    svc.settings = dataclasses.replace(svc.settings, sweep_max_runs=3)
    made = [make_run(api, svc, "requires_action") for _ in range(5)]
    _clock(svc).advance(601)
    first = expire_stale_runs(svc)
    assert (first.expired, first.budget_exhausted) == (3, True)
    second = expire_stale_runs(svc)
    assert second.expired == 2
    project = _project_of(svc, api)
    statuses = {svc.store.get_run(project, r["thread_id"], r["id"])["status"] for r in made}  # type: ignore[index]
    assert statuses == {"expired"}


def test_a_queued_run_whose_message_was_lost_is_sent_again(api: Api, svc: Services) -> None:
    run = make_run(api, svc, "queued")
    _clock(svc).advance(59)
    assert expire_stale_runs(svc).resent == 0
    _clock(svc).advance(2)
    assert expire_stale_runs(svc).resent == 1
    jobs = svc.dispatcher.take()  # type: ignore[attr-defined]
    assert [j["run_id"] for j in jobs] == [run["id"]]
    assert expire_stale_runs(svc).resent == 0  # its pending time was refreshed
    _clock(svc).advance(61)
    assert expire_stale_runs(svc).resent == 1  # still lost: sent again


def test_a_cancel_nobody_finished_is_finalised(api: Api, svc: Services) -> None:
    run = make_run(api, svc, "cancelling")
    _clock(svc).advance(31)
    report = expire_stale_runs(svc)
    assert report.finalised == 1
    done = api.ok("GET", f"/v1/threads/{run['thread_id']}/runs/{run['id']}")
    assert done["status"] == "cancelled" and done["cancelled_at"] == _clock(svc).now()


def test_the_schedule_runs_a_sweep_and_logs_one_line(
    client: Any, api: Api, svc: Services, caplog: pytest.LogCaptureFixture
) -> None:
    run = make_run(api, svc, "requires_action")
    _clock(svc).advance(600)
    with caplog.at_level(logging.INFO, logger="chalicelib.services.sweeper"):
        client.lambda_.invoke("sweeper", client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        ))  # fmt: skip
    lines = [json.loads(r.message) for r in caplog.records if r.message.startswith("{")]
    assert len(lines) == 1
    assert lines[0]["event"] == "sweep" and lines[0]["expired"] == 1
    assert {"examined", "expired", "finalised", "resent"} <= set(lines[0])
    stored = svc.store.get_run(_project_of(svc, api), run["thread_id"], run["id"])
    assert stored is not None and stored["status"] == "expired"


def test_the_sweeper_never_scans_the_table(dynamodb: Any) -> None:
    svc = make_services(dynamodb)
    calls: list[str] = []
    dynamodb.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
    )
    expire_stale_runs(svc)
    assert calls and set(calls) == {"Query"}


def test_terminal_runs_and_steps_get_a_ttl_only_when_retention_is_set(
    api: Api, svc: Services
) -> None:
    run = make_run(api, svc, "requires_action")
    svc.store.retention_seconds = 86400
    _clock(svc).advance(600)
    expire_stale_runs(svc)
    project = _project_of(svc, api)
    raw = partition_items(svc, project, run["thread_id"])
    ttls = {item["sk"].split("#")[0]: item.get("ttl") for item in raw}
    expected = _clock(svc).now() + 86400
    assert ttls["RUN"] == expected and ttls["STEP"] == expected
    assert ttls["MSG"] is None and ttls["THREAD"] is None
    # The API never shows the internal attribute.
    assert "ttl" not in api.ok("GET", f"/v1/threads/{run['thread_id']}/runs/{run['id']}")


def test_without_retention_nothing_gets_a_ttl(api: Api, svc: Services) -> None:
    run = make_run(api, svc, "requires_action")
    _clock(svc).advance(600)
    expire_stale_runs(svc)
    project = _project_of(svc, api)
    raw = partition_items(svc, project, run["thread_id"])
    assert all("ttl" not in item for item in raw)


@pytest.mark.parametrize("svc", ["moto"], indirect=True)
def test_the_operator_command_runs_one_sweep_against_a_table(
    api: Api, svc: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make sweep` / `python -m chalicelib.admin sweep --table T` on the real clock."""
    import time

    from chalicelib import admin
    from tests.conftest import TABLE

    _clock(svc).set(int(time.time()) - 1000)  # so the run's deadline has passed for real
    run = make_run(api, svc, "requires_action")
    assert admin.main(["sweep", "--table", TABLE]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["expired"] == 1 and report["resent"] == 0
    stored = svc.store.get_run(_project_of(svc, api), run["thread_id"], run["id"])
    assert stored is not None and stored["status"] == "expired"
