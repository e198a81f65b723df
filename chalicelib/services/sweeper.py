"""The scheduled sweeper: expire runs past their deadline, and unstick pending ones.

It reads the sparse indexes only (never a Scan), so its cost follows the number of stale runs,
not the size of the table. Each change is the same conditional write a request would make, so a
sweep racing a worker, a cancel or another sweep changes each run at most once. One run that
cannot be handled is logged and skipped: it never blocks the runs after it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import TypeVar

from ..dispatch.base import run_job
from ..domain import lifecycle, transitions
from ..domain.transitions import RunChange
from ..observability import metrics
from ..store.store import IndexEntry
from . import files
from .context import Services
from .lazy_expiry import is_past_deadline, settle_run
from .runs import finish_cancel

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class SweepReport:
    examined: int = 0
    expired: int = 0
    finalised: int = 0
    resent: int = 0
    recovered: int = 0  # runs whose worker stopped, re-queued for another attempt
    stopped: int = 0  # runs whose worker stopped on every attempt, ended failed
    errors: int = 0
    removed: int = 0  # items past their retention TTL (embedded engine; DynamoDB does its own)
    stores_expired: int = 0  # vector stores past their expires_at, now expired
    files_resent: int = 0  # vector store files whose ingestion was sent again
    files_failed: int = 0  # vector store files whose ingestion never finished, ended failed
    slices_resent: int = 0  # slices of file batches whose add job was sent again
    slices_failed: int = 0  # slices whose add job never finished: their pending entries failed
    files_expired: int = 0  # files past their expires_at, removed with their content
    budget_exhausted: bool = False
    duration_ms: int = 0


class _Budget:
    """How many runs and how much time a tick may still spend."""

    def __init__(self, runs: int, seconds: int, report: SweepReport) -> None:
        self.runs = runs
        self.stop_at = time.monotonic() + seconds
        self.report = report

    def take(self, entries: Iterator[T]) -> Iterator[T]:
        """The entries this tick may still examine."""
        for entry in entries:
            if self.runs <= 0 or time.monotonic() >= self.stop_at:
                self.report.budget_exhausted = True
                return
            self.runs -= 1
            self.report.examined += 1
            yield entry


def expire_stale_runs(svc: Services) -> SweepReport:
    """One tick: expire, then finalise stuck cancels and re-send lost queued runs."""
    started = time.monotonic()
    report = SweepReport()
    settings = svc.settings
    budget = _Budget(settings.sweep_max_runs, settings.sweep_time_budget_seconds, report)
    now = svc.clock.now()
    for entry in budget.take(svc.store.runs_past_deadline(now)):
        report.expired += _safely(report, entry, lambda e: _expire(svc, e, now))
    _sweep_pending(svc, now, budget)
    for entry in budget.take(svc.store.runs_with_lapsed_lease(now)):
        _safely(report, entry, lambda e: _recover(svc, e, now, report))
    expire_vector_stores(svc, now, budget)
    recover_ingestion(svc, now, budget)
    recover_batch_slices(svc, now, budget)
    report.files_expired = remove_expired_files(svc, now, budget)
    report.removed = svc.store.remove_expired_items(now)
    report.duration_ms = int((time.monotonic() - started) * 1000)
    log.info(json.dumps({"event": "sweep", **asdict(report)}))
    metrics.sweep_finished(
        report.examined, report.expired, report.resent + report.finalised + report.recovered
    )
    return report


def remove_expired_files(svc: Services, now: int, budget: _Budget) -> int:
    """Files past their `expires_at`: removed as a delete would (record, content, then the
    vector stores' job). One that cannot be removed is logged and left for the next tick."""
    removed = 0
    for project, file_id in svc.store.files_past_expiry(now):
        if budget.runs <= 0 or time.monotonic() >= budget.stop_at:
            budget.report.budget_exhausted = True
            break
        budget.runs -= 1
        try:
            removed += files.expire_file(svc, project, file_id, now)
        except Exception:
            budget.report.errors += 1
            log.exception(json.dumps({"event": "sweep_file_failed", "file_id": file_id}))
    return removed


def _safely(report: SweepReport, entry: IndexEntry, handle: Callable[[IndexEntry], int]) -> int:
    """Handle one run; a failure is logged and counted, and the sweep goes on."""
    try:
        return handle(entry)
    except Exception:
        report.errors += 1
        log.exception(
            json.dumps(
                {
                    "event": "sweep_run_failed",
                    "project": entry.project,
                    "thread_id": entry.thread_id,
                    "run_id": entry.run_id,
                    "status": entry.status,
                }
            )
        )
        return 0


def _expire(svc: Services, entry: IndexEntry, now: int) -> int:
    run = entry.as_run()
    change = transitions.expire(run, now)
    store = svc.store
    if store.change_run(entry.project, entry.thread_id, entry.run_id, change, base=run):
        metrics.run_ended(lifecycle.EXPIRED)
        return 1
    # The index entry was behind (e.g. tool outputs closed the step it named): read the run
    # and expire it from what it is now, unless it ended meanwhile.
    current = store.get_run(entry.project, entry.thread_id, entry.run_id)
    if current is None or not is_past_deadline(current, now):
        return 0
    return 1 if settle_run(svc, entry.project, current)["status"] == lifecycle.EXPIRED else 0


def _sweep_pending(svc: Services, now: int, budget: _Budget) -> None:
    """Queued runs whose message was lost are re-sent; cancels nobody finished are finished."""
    resend_before = now - svc.settings.queued_resend_after_seconds
    finalise_before = now - svc.settings.cancelling_finalise_after_seconds
    report = budget.report
    pending = svc.store.runs_pending_since(max(resend_before, finalise_before))
    for entry in budget.take(pending):
        if entry.status == lifecycle.QUEUED and entry.since < resend_before:
            report.resent += _safely(report, entry, lambda e: _resend(svc, e, now))
        elif entry.status == lifecycle.CANCELLING and entry.since < finalise_before:
            report.finalised += _safely(report, entry, lambda e: _finalise_cancel(svc, e))


def _recover(svc: Services, entry: IndexEntry, now: int, report: SweepReport) -> int:
    """An executing run whose lease lapsed: its worker stopped (a crash, a timeout, a restart).

    It goes back to the queue for another attempt, or, after `run_max_attempts` claims, ends
    failed. Both writes are fenced on the attempt and the lapsed lease, so a worker that was only
    slow and renews meanwhile keeps its run.
    """
    run = svc.store.get_run(entry.project, entry.thread_id, entry.run_id)
    if run is None or run["status"] != lifecycle.IN_PROGRESS or run.get("lease_until", 0) > now:
        return 0
    attempts = int(run.get("attempt", 0))
    give_up = attempts >= svc.settings.run_max_attempts
    if give_up:
        change = transitions.fail_stopped(run, now, attempts)
    else:
        change = transitions.requeue_stopped(run, now)
    if svc.store.change_run(entry.project, entry.thread_id, entry.run_id, change, base=run) is None:
        return 0
    if give_up:
        report.stopped += 1
    else:
        report.recovered += 1
        svc.dispatcher.send(run_job(entry.project, entry.thread_id, entry.run_id))
    event = "run_stopped" if give_up else "run_recovered"
    log.info(json.dumps({"event": event, "run_id": entry.run_id, "attempt": attempts}))
    return 1


def _finalise_cancel(svc: Services, entry: IndexEntry) -> int:
    run = svc.store.get_run(entry.project, entry.thread_id, entry.run_id)
    if run is None or run["status"] != lifecycle.CANCELLING:
        return 0
    finish_cancel(svc, entry.project, run)
    return 1


def _resend(svc: Services, entry: IndexEntry, now: int) -> int:
    """A run queued too long lost its message: refresh its pending time and send it again."""
    change = RunChange((lifecycle.QUEUED,), {"status": lifecycle.QUEUED}, now, deadline="open")
    store = svc.store
    if store.change_run(entry.project, entry.thread_id, entry.run_id, change, entry.as_run()):
        svc.dispatcher.send(run_job(entry.project, entry.thread_id, entry.run_id))
        return 1
    return 0


# -- vector stores -----------------------------------------------------------------------------


def expire_vector_stores(svc: Services, now: int, budget: _Budget) -> None:
    """Stores past `expires_at` become expired (once: the write is conditional) and their chunks
    are dropped: an expired store can no longer be searched. Their records stay readable."""
    report = budget.report
    for ref in budget.take(svc.store.stores_past_expiry(now)):
        try:
            if svc.store.expire_vector_store(ref.project, ref.vector_store_id, now):
                svc.vectors.delete_store(ref.project, ref.vector_store_id)
                report.stores_expired += 1
        except Exception:
            report.errors += 1
            log.exception(json.dumps({"event": "sweep_store_failed", **asdict(ref)}))


def recover_ingestion(svc: Services, now: int, budget: _Budget) -> None:
    """Files still in_progress past their deadline: their job was lost or their worker died.

    Each is sent again (fenced on the attempt it was at, so two sweeps send it once), or, after
    `ingest_max_attempts` deliveries, ends failed with `server_error`: no file ingests forever.
    """
    from ..dispatch.base import ingest_job
    from ..domain import vector_stores as vs

    report = budget.report
    settings = svc.settings
    for ref in budget.take(svc.store.files_ingesting_due(now)):
        try:
            record = svc.store.raw_vector_store_file(ref.project, ref.vector_store_id, ref.file_id)
            if record is None or record.get("status") != vs.IN_PROGRESS:
                continue
            if svc.store.get_vector_store(ref.project, ref.vector_store_id) is None:
                # Its store was deleted and the purge did not reach it: finish the purge.
                svc.store.remove_vector_store_file(
                    ref.project, ref.vector_store_id, ref.file_id, now
                )
                continue
            attempt = int(record.get("attempt", 1))
            if attempt >= settings.ingest_max_attempts:
                error = {
                    "code": "server_error",
                    "message": f"Ingestion did not finish after {attempt} attempts.",
                }
                if svc.store.finish_vector_store_file(
                    ref.project, record, vs.FAILED, {"last_error": error}
                ):
                    svc.vectors.delete_file(ref.project, ref.vector_store_id, ref.file_id)
                    report.files_failed += 1
                continue
            due = now + settings.ingest_resend_after_seconds
            if svc.store.reschedule_ingestion(
                ref.project, ref.vector_store_id, ref.file_id, attempt, due
            ):
                svc.dispatcher.send(ingest_job(ref.project, ref.vector_store_id, ref.file_id))
                report.files_resent += 1
        except Exception:
            report.errors += 1
            log.exception(json.dumps({"event": "sweep_file_failed", **asdict(ref)}))


def recover_batch_slices(svc: Services, now: int, budget: _Budget) -> None:
    """Slices of file batches still to add past their deadline (their job was lost or its
    worker died): re-sent, or failed after `ingest_max_attempts`, so no batch waits forever."""
    from .batch_files import recover_batch_slice

    report = budget.report
    for ref in budget.take(svc.store.batch_slices_due(now)):
        try:
            outcome = recover_batch_slice(svc, ref, now)
            report.slices_resent += outcome == "resent"
            report.slices_failed += outcome == "failed"
        except Exception:
            report.errors += 1
            log.exception(json.dumps({"event": "sweep_batch_slice_failed", **asdict(ref)}))
