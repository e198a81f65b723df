"""What the worker and the sweeper write for an operator: JSON log lines and EMF metric lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.observability import logs
from chalicelib.observability.metrics import METRICS
from chalicelib.services.context import Services
from tests.conftest import Api
from tests.test_worker import deliver


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The JSON lines the app logs at INFO while the test runs, as the stack would see them."""
    stream = io.StringIO()
    handler = logs.json_handler(stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def _read(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def _emf(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def _queued_run(api: Api) -> dict[str, Any]:
    assistant = api.ok("POST", "/v1/assistants", {"model": "m"})
    thread = api.ok("POST", "/v1/threads", {"messages": [{"role": "user", "content": "ping"}]})
    return api.ok("POST", f"/v1/threads/{thread['id']}/runs", {"assistant_id": assistant["id"]})


def test_worker_log_lines_carry_the_request_project_thread_and_run(
    client: Any, api: Api, svc: Services, log_lines: io.StringIO
) -> None:
    run = _queued_run(api)
    (job,) = svc.dispatcher.take()  # type: ignore[attr-defined]
    deliver(client, [job])
    worker = [line for line in _read(log_lines) if line["logger"] == "chalicelib.services.jobs"]
    assert len(worker) == 1
    (line,) = worker
    assert line["level"] == "INFO" and line["message"] == "run job done: completed"
    assert line["project"] == job["project"]
    assert line["thread_id"] == run["thread_id"] and line["run_id"] == run["id"]
    assert line["request_id"] and line["timestamp"]


def test_sweeper_log_line_carries_the_request_id_and_its_report(
    client: Any, log_lines: io.StringIO
) -> None:
    client.lambda_.invoke("sweeper", client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    ))  # fmt: skip
    sweeps = [line for line in _read(log_lines) if line["logger"] == "chalicelib.services.sweeper"]
    assert len(sweeps) == 1
    assert sweeps[0]["level"] == "INFO" and sweeps[0]["request_id"]
    assert "run_id" not in sweeps[0]
    assert json.loads(sweeps[0]["message"])["event"] == "sweep"


def test_a_run_writes_its_funnel_turn_and_token_metrics(
    client: Any,
    api: Api,
    svc: Services,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("METRICS_NAMESPACE", "AssistantsRuns/test")
    _queued_run(api)
    deliver(client, svc.dispatcher.take())  # type: ignore[attr-defined]
    lines = _emf(capsys.readouterr().out)
    values: dict[str, float] = {}
    for line in lines:
        (directive,) = line["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "AssistantsRuns/test"
        for metric in directive["Metrics"]:
            assert metric["Unit"] == METRICS[metric["Name"]]
            values[metric["Name"]] = values.get(metric["Name"], 0) + line[metric["Name"]]
    assert values["RunsStarted"] == 1 and values["RunsCompleted"] == 1
    assert values["TurnLatency"] >= 0 and values["QueueWait"] >= 0
    assert values["PromptTokens"] > 0 and values["CompletionTokens"] > 0


def test_no_metrics_without_a_namespace(
    client: Any, api: Api, svc: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    _queued_run(api)
    deliver(client, svc.dispatcher.take())  # type: ignore[attr-defined]
    assert _emf(capsys.readouterr().out) == []
