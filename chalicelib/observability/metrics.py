"""Metrics as CloudWatch embedded-metric-format (EMF) lines on stdout: no API calls.

Lambda sends stdout to CloudWatch Logs, which turns each EMF line into metric data points in
`METRICS_NAMESPACE` (the stack sets it, one namespace per stack). Without it (make run, the
operator commands) nothing is written. `METRICS` is the one list of names: the stack's
alarms and dashboard (infra/resources.json) are checked against it by tests/test_package.py.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

# name -> unit. Every name the code emits, and nothing else.
METRICS: dict[str, str] = {
    "RunsStarted": "Count",
    "RunsCompleted": "Count",
    "RunsFailed": "Count",
    "RunsExpired": "Count",
    "RunsIncomplete": "Count",
    "RunsCancelled": "Count",
    "TurnLatency": "Milliseconds",
    "QueueWait": "Seconds",
    "PromptTokens": "Count",
    "CompletionTokens": "Count",
    "SweepExamined": "Count",
    "SweepExpired": "Count",
    "SweepRecovered": "Count",
    "ProviderErrors": "Count",
}
# A run's terminal status -> its counter.
_ENDED = {
    "completed": "RunsCompleted",
    "failed": "RunsFailed",
    "expired": "RunsExpired",
    "incomplete": "RunsIncomplete",
    "cancelled": "RunsCancelled",
}


def emit(values: dict[str, float], dimensions: dict[str, str] | None = None) -> None:
    """One EMF line: these metrics, at this moment, with these dimensions (if any)."""
    unknown = set(values) - set(METRICS)
    if unknown:
        raise ValueError(f"undeclared metrics {sorted(unknown)}: add them to METRICS")
    namespace = os.environ.get("METRICS_NAMESPACE")
    if not namespace:
        return
    dims = dimensions or {}
    line: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    # [] aggregates over every dimension value: the total alarms read.
                    "Dimensions": [[], sorted(dims)] if dims else [[]],
                    "Metrics": [{"Name": n, "Unit": METRICS[n]} for n in values],
                }
            ],
        },
        **dims,
        **values,
    }
    sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def now_ms() -> float:
    return time.monotonic() * 1000


def run_started() -> None:
    emit({"RunsStarted": 1})


def run_ended(status: str) -> None:
    """A run reached `status`; only terminal statuses count."""
    if status in _ENDED:
        emit({_ENDED[status]: 1})


def turn_ended(claimed: dict[str, Any], written: dict[str, Any], latency_ms: float) -> None:
    """One model turn written: its latency, the first turn's queue wait, the run's end if any."""
    values: dict[str, float] = {"TurnLatency": round(latency_ms, 1)}
    so_far = claimed.get("usage_so_far") or {}
    if not any(so_far.values()) and claimed.get("started_at"):  # the first turn: since creation
        values["QueueWait"] = max(0, claimed["started_at"] - claimed["created_at"])
    usage = written.get("usage") if written.get("status") in _ENDED else None
    if usage:
        values["PromptTokens"] = usage.get("prompt_tokens", 0)
        values["CompletionTokens"] = usage.get("completion_tokens", 0)
    if written.get("status") in _ENDED:
        values[_ENDED[written["status"]]] = 1
    emit(values)


def sweep_finished(examined: int, expired: int, recovered: int) -> None:
    """One sweeper tick: runs examined, expired, recovered (lost jobs re-sent, cancels finished)."""
    emit({"SweepExamined": examined, "SweepExpired": expired, "SweepRecovered": recovered})


def provider_error(kind: str) -> None:
    emit({"ProviderErrors": 1}, {"Kind": kind})
