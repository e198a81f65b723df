"""The run state machine: which statuses are active, which are terminal, what may follow what."""

from __future__ import annotations

from typing import Final

QUEUED: Final = "queued"
IN_PROGRESS: Final = "in_progress"
REQUIRES_ACTION: Final = "requires_action"
CANCELLING: Final = "cancelling"
CANCELLED: Final = "cancelled"
FAILED: Final = "failed"
COMPLETED: Final = "completed"
INCOMPLETE: Final = "incomplete"
EXPIRED: Final = "expired"

ACTIVE: Final = (QUEUED, IN_PROGRESS, REQUIRES_ACTION, CANCELLING)
TERMINAL: Final = (CANCELLED, FAILED, COMPLETED, INCOMPLETE, EXPIRED)
CANCELLABLE: Final = (QUEUED, IN_PROGRESS, REQUIRES_ACTION)

# The one definition of what may follow what. Every status change is a RunChange, which refuses
# (at construction) a source that may not move to its target, and the store conditions each
# write on those sources: the API, the executor and the sweeper all go through it.
TRANSITIONS: Final[dict[str, tuple[str, ...]]] = {
    # queued -> queued: the sweeper re-sends a run whose job was lost.
    QUEUED: (QUEUED, IN_PROGRESS, CANCELLING, CANCELLED, EXPIRED),
    # in_progress -> queued: the sweeper re-queues a run whose worker stopped (its lease lapsed).
    IN_PROGRESS: (QUEUED, REQUIRES_ACTION, COMPLETED, FAILED, INCOMPLETE, CANCELLING, EXPIRED),
    REQUIRES_ACTION: (QUEUED, CANCELLING, CANCELLED, EXPIRED),
    CANCELLING: (CANCELLED, EXPIRED),
}


def check_transition(sources: tuple[str, ...], target: str) -> None:
    """Refuse a change whose sources include one that may not move to `target`."""
    illegal = [s for s in sources if target not in TRANSITIONS.get(s, ())]
    if illegal:
        raise ValueError(f"illegal run transition: {', '.join(illegal)} -> {target}")


def sources_of(target: str) -> tuple[str, ...]:
    """The statuses a run may be in for a write to `target` to be legal."""
    return tuple(src for src, targets in TRANSITIONS.items() if target in targets)


def is_terminal(status: str) -> bool:
    return status in TERMINAL


# Step statuses.
STEP_IN_PROGRESS: Final = "in_progress"
STEP_COMPLETED: Final = "completed"
STEP_CANCELLED: Final = "cancelled"
STEP_FAILED: Final = "failed"
STEP_EXPIRED: Final = "expired"

# What an open step becomes when its run ends in a given terminal status.
STEP_OUTCOME_FOR_RUN: Final = {
    CANCELLED: STEP_CANCELLED,
    EXPIRED: STEP_EXPIRED,
    FAILED: STEP_FAILED,
    COMPLETED: STEP_COMPLETED,
    INCOMPLETE: STEP_COMPLETED,
}
