"""Run status changes as data: which statuses a change requires and what it writes.

The store applies a RunChange as one conditional write (or one transaction with the steps,
messages and thread marker that go with it), so whoever loses a race simply finds nothing to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import lifecycle
from .objects import Record, usage


@dataclass(frozen=True)
class IfMissing:
    """A value written only where the attribute is not set yet (e.g. `started_at`)."""

    value: Any


@dataclass
class RunChange:
    """One conditional change of a run, with what goes with it in the same transaction."""

    sources: tuple[str, ...]
    changes: dict[str, Any]  # attribute -> new value; None removes the attribute
    now: int
    # "open": the run's deadline must not have passed; "passed": it must have; None: either.
    deadline: str | None = None
    step_updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    new_items: list[Record] = field(default_factory=list)


_TIMESTAMP_OF = {
    lifecycle.CANCELLED: "cancelled_at",
    lifecycle.FAILED: "failed_at",
    lifecycle.COMPLETED: "completed_at",
    lifecycle.EXPIRED: "expired_at",
}


def close_step(status: str, now: int, last_error: dict[str, str] | None = None) -> dict[str, Any]:
    """What an open step becomes when its run ends in `status`."""
    step_status = lifecycle.STEP_OUTCOME_FOR_RUN[status]
    changes: dict[str, Any] = {"status": step_status}
    stamp = _TIMESTAMP_OF.get(step_status)
    if stamp:
        changes[stamp] = now
    if step_status == lifecycle.STEP_FAILED and last_error:
        changes["last_error"] = last_error
    return changes


def end_run(
    run: Record,
    status: str,
    now: int,
    *,
    sources: tuple[str, ...],
    deadline: str | None = None,
    extra: dict[str, Any] | None = None,
    turn_tokens: tuple[int, int] = (0, 0),
) -> RunChange:
    """Move `run` to terminal `status`: final usage, its open step closed, the thread released."""
    so_far = run.get("usage_so_far") or {"prompt_tokens": 0, "completion_tokens": 0}
    prompt = so_far["prompt_tokens"] + turn_tokens[0]
    completion = so_far["completion_tokens"] + turn_tokens[1]
    changes: dict[str, Any] = {
        "status": status,
        "usage": usage(prompt, completion),
        "usage_so_far": {"prompt_tokens": prompt, "completion_tokens": completion},
        "required_action": None,
        "open_step_id": None,
    }
    stamp = _TIMESTAMP_OF.get(status)
    if stamp and stamp != "expired_at":  # a run has no expired_at; expires_at tells
        changes[stamp] = now
    changes.update(extra or {})
    steps = []
    if run.get("open_step_id"):
        error = changes.get("last_error")
        steps.append((run["open_step_id"], close_step(status, now, error)))
    return RunChange(sources, changes, now, deadline=deadline, step_updates=steps)


def expire(run: Record, now: int) -> RunChange:
    """Any active run whose deadline has passed; the condition re-checks both."""
    return end_run(run, lifecycle.EXPIRED, now, sources=lifecycle.ACTIVE, deadline="passed")


def cancel_now(run: Record, now: int) -> RunChange:
    """A run nobody is executing (queued, waiting for tool outputs, or let go) ends cancelled."""
    sources = (lifecycle.QUEUED, lifecycle.REQUIRES_ACTION, lifecycle.CANCELLING)
    return end_run(run, lifecycle.CANCELLED, now, sources=sources, deadline="open")


def request_cancel(now: int) -> RunChange:
    """Ask an executing run to stop: it goes `cancelling` until the executor lets go."""
    return RunChange(lifecycle.CANCELLABLE, {"status": lifecycle.CANCELLING}, now, deadline="open")


def claim(now: int) -> RunChange:
    """A worker takes a queued run: only one claim of a delivery can succeed.

    `started_at` is kept from the first turn when a run comes back after tool outputs (the
    store writes it only where it is missing, so the worker need not read the run first).
    """
    changes: dict[str, Any] = {"status": lifecycle.IN_PROGRESS, "started_at": IfMissing(now)}
    return RunChange((lifecycle.QUEUED,), changes, now, deadline="open")
