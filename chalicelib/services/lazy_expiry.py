"""Never stale on read: a run past its deadline is expired by whoever touches it first."""

from __future__ import annotations

from ..domain import lifecycle, transitions
from ..domain.objects import Record
from ..observability import metrics
from .context import Services


def is_past_deadline(run: Record, now: int) -> bool:
    return not lifecycle.is_terminal(run["status"]) and run["expires_at"] <= now


def settle_run(svc: Services, project: str, run: Record) -> Record:
    """The run as it is now: if its deadline has passed while active, write the expiry first."""
    now = svc.clock.now()
    if not is_past_deadline(run, now):
        return run
    expired = svc.store.change_run(
        project, run["thread_id"], run["id"], transitions.expire(run, now), base=run
    )
    if expired is not None:
        metrics.run_ended(expired["status"])
        return expired
    # Someone else moved it first (the sweeper, a worker): read what won.
    current = svc.store.get_run(project, run["thread_id"], run["id"])
    return current if current is not None else run
