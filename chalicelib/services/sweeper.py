"""The scheduled sweeper: expire runs past their deadline, and unstick pending ones.

It reads the sparse indexes only (never a Scan), so its cost follows the number of stale runs,
not the size of the table. Each change is the same conditional write a request would make, so a
sweep racing a worker, a cancel or another sweep changes each run at most once.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass

from ..dispatch.base import run_job
from ..domain import lifecycle, transitions
from ..domain.transitions import RunChange
from ..observability import metrics
from ..store.store import IndexEntry
from .context import Services
from .runs import finish_cancel
from .settle import is_past_deadline, settle_run

log = logging.getLogger(__name__)
_PAGE = 100


@dataclass
class SweepReport:
    examined: int = 0
    expired: int = 0
    finalised: int = 0
    resent: int = 0
    budget_exhausted: bool = False
    duration_ms: int = 0


def _split(entry: IndexEntry) -> tuple[str, str]:
    """(project, thread_id) from a run's partition key `P#<project>#T#<thread_id>`."""
    head, _, thread_id = entry.pk.rpartition("#T#")
    return head[len("P#") :], thread_id


def _as_run(entry: IndexEntry, thread_id: str) -> dict[str, object]:
    return {
        "id": entry.run_id,
        "thread_id": thread_id,
        "status": entry.status,
        "expires_at": entry.expires_at,
        "open_step_id": entry.open_step_id,
        "usage_so_far": entry.usage_so_far,
    }


class _Budget:
    """How many runs and how much time a tick may still spend."""

    def __init__(self, runs: int, seconds: int, report: SweepReport) -> None:
        self.runs = runs
        self.stop_at = time.monotonic() + seconds
        self.report = report

    def has_room(self) -> bool:
        if self.runs <= 0 or time.monotonic() >= self.stop_at:
            self.report.budget_exhausted = True
            return False
        return True

    def page_size(self) -> int:
        return min(_PAGE, self.runs)

    def spend(self) -> None:
        self.runs -= 1
        self.report.examined += 1


def sweep(svc: Services) -> SweepReport:
    """One tick: expire, then finalise stuck cancels and re-send lost queued runs."""
    started = time.monotonic()
    report = SweepReport()
    settings = svc.settings
    budget = _Budget(settings.sweep_max_runs, settings.sweep_time_budget_seconds, report)
    now = svc.clock.now()
    for shard in range(svc.store.shards):
        start = None
        while budget.has_room():
            entries, start = svc.store.runs_past_deadline(shard, now, budget.page_size(), start)
            for entry in entries:
                budget.spend()
                report.expired += _expire(svc, entry, now)
            if not start:
                break
    _sweep_pending(svc, now, budget)
    report.duration_ms = int((time.monotonic() - started) * 1000)
    log.info(json.dumps({"event": "sweep", **asdict(report)}))
    metrics.sweep_finished(report.examined, report.expired, report.resent + report.finalised)
    return report


def expire_stale_runs(svc: Services) -> SweepReport:
    """The schedule's entry point (a name that says what a tick is for)."""
    return sweep(svc)


def _expire(svc: Services, entry: IndexEntry, now: int) -> int:
    project, thread_id = _split(entry)
    run = _as_run(entry, thread_id)
    change = transitions.expire(run, now)
    if svc.store.change_run(project, thread_id, entry.run_id, change, base=run) is not None:
        metrics.run_ended(lifecycle.EXPIRED)
        return 1
    # The index entry was behind (e.g. tool outputs closed the step it named): read the run
    # and expire it from what it is now, unless it ended meanwhile.
    current = svc.store.get_run(project, thread_id, entry.run_id)
    if current is None or not is_past_deadline(current, now):
        return 0
    return 1 if settle_run(svc, project, current)["status"] == lifecycle.EXPIRED else 0


def _sweep_pending(svc: Services, now: int, budget: _Budget) -> None:
    """Queued runs whose message was lost are re-sent; cancels nobody finished are finished."""
    resend_before = now - svc.settings.queued_resend_after_seconds
    finalise_before = now - svc.settings.cancelling_finalise_after_seconds
    report = budget.report
    for shard in range(svc.store.shards):
        start = None
        while budget.has_room():
            entries, start = svc.store.runs_pending_since(
                shard, max(resend_before, finalise_before), budget.page_size(), start
            )
            for entry in entries:
                budget.spend()
                project, thread_id = _split(entry)
                if entry.status == lifecycle.QUEUED and entry.since < resend_before:
                    report.resent += _resend(svc, project, thread_id, entry, now)
                elif entry.status == lifecycle.CANCELLING and entry.since < finalise_before:
                    run = svc.store.get_run(project, thread_id, entry.run_id)
                    if run is not None and run["status"] == lifecycle.CANCELLING:
                        finish_cancel(svc, project, run)
                        report.finalised += 1
            if not start:
                break


def _resend(svc: Services, project: str, thread_id: str, entry: IndexEntry, now: int) -> int:
    """A run queued too long lost its message: refresh its pending time and send it again."""
    change = RunChange((lifecycle.QUEUED,), {"status": lifecycle.QUEUED}, now, deadline="open")
    base = _as_run(entry, thread_id)
    if svc.store.change_run(project, thread_id, entry.run_id, change, base=base) is None:
        return 0
    svc.dispatcher.send(run_job(project, thread_id, entry.run_id))
    return 1
