"""Use cases for runs and their steps (everything but executing a turn)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..dispatch.base import run_job
from ..domain import errors, lifecycle, transitions
from ..domain.ids import is_valid_id, require_id
from ..domain.objects import Record, new_run, new_user_message, usage
from ..domain.pagination import Page, PageRequest
from ..domain.transitions import RunChange
from ..observability import metrics
from ..store.store import ThreadConflict
from .context import Services
from .handoff import hand_off
from .lazy_expiry import settle_run
from .threads import ThreadBusy, prepare_thread, stale_marker

if TYPE_CHECKING:  # annotations only: polls and the worker never load pydantic
    from ..domain.requests import CreateRun, CreateThreadAndRun, SubmitToolOutputs

INCLUDABLE = ("step_details.tool_calls[*].file_search.results[*].content",)
_RUN_OVERRIDES = (
    "model", "instructions", "additional_instructions", "tools", "metadata", "temperature",
    "top_p", "max_prompt_tokens", "max_completion_tokens", "truncation_strategy", "tool_choice",
    "parallel_tool_calls", "response_format", "reasoning_effort",
)  # fmt: skip


def check_include(values: list[str]) -> list[str]:
    for value in values:
        if value not in INCLUDABLE:
            raise errors.InvalidRequest(
                f"Invalid value for 'include[]': '{value[:100]}'. Supported values are: "
                f"'{INCLUDABLE[0]}'.",
                param="include[]",
            )
    return values


def _assistant(svc: Services, project: str, assistant_id: str) -> Record:
    assistant = (
        svc.store.get_assistant(project, assistant_id)
        if is_valid_id("assistant", assistant_id)
        else None
    )
    if assistant is None:
        raise errors.InvalidRequest(
            f"No assistant found with id '{assistant_id}'.", param="assistant_id", status=404
        )
    return assistant


def _queued_run(
    svc: Services,
    project: str,
    thread_id: str,
    request: CreateRun | CreateThreadAndRun,
    assistant: Record | None = None,
) -> Record:
    assistant = assistant or _assistant(svc, project, request.assistant_id)
    overrides = {k: getattr(request, k, None) for k in _RUN_OVERRIDES}
    return new_run(
        thread_id=thread_id,
        assistant=assistant,
        overrides=overrides,
        now=svc.clock.now(),
        expires_after=svc.settings.run_expires_after_seconds,
    )


def create_run(
    svc: Services,
    project: str,
    thread_id: str,
    request: CreateRun,
    dispatch: bool = True,
    include: list[str] | None = None,
) -> Record:
    """Queue a run on a thread (its additional messages first) and hand it to the worker.

    `include` (the request's include[]) is kept on the run: its stream's step events show
    file_search result content when it asks for it.
    """
    from .resources import attach_to_thread, check_messages

    run = _queued_run(svc, project, thread_id, request)
    if include:
        run["include"] = list(include)
    require_id("thread", thread_id)  # after the assistant, as for an unknown thread
    check_messages(svc, project, request.additional_messages, "additional_messages")
    messages = [
        new_user_message(thread_id, m, run["created_at"]) for m in request.additional_messages or []
    ]
    stale: str | None = None
    for _ in range(3):
        try:
            svc.store.create_run(project, run, messages, stale)
            break
        except ThreadConflict:
            try:
                stale = stale_marker(svc, project, thread_id) or None
            except ThreadBusy as busy:
                raise errors.thread_has_active_run(thread_id, busy.run_id) from None
    else:
        raise errors.ServerError("The thread kept changing; please try again.")
    # Before the worker can start: file_search attachments into the thread's store.
    attach_to_thread(svc, project, thread_id, messages)
    metrics.run_started()
    if dispatch:
        hand_off(svc, run_job(project, thread_id, run["id"]))
    return run


def create_thread_and_run(
    svc: Services, project: str, request: CreateThreadAndRun, dispatch: bool = True
) -> tuple[Record, Record]:
    """A new thread (with its messages) and a queued run on it."""
    assistant = _assistant(svc, project, request.assistant_id)  # 404 before any store is made
    thread, messages = prepare_thread(
        svc, project, request.thread, request.tool_resources, "thread.messages"
    )
    run = _queued_run(svc, project, thread["id"], request, assistant)
    svc.store.create_thread(project, thread, messages, run)
    metrics.run_started()
    if dispatch:
        hand_off(svc, run_job(project, thread["id"], run["id"]))
    return thread, run


def _require_run_ids(svc: Services, project: str, thread_id: str, run_id: str) -> None:
    """IDs of the wrong shape answer as unknown ones do, before either reaches a key."""
    require_id("thread", thread_id)
    if not is_valid_id("run", run_id):
        raise _missing(svc, project, thread_id, run_id)


def _missing(svc: Services, project: str, thread_id: str, run_id: str) -> errors.NotFound:
    if svc.store.get_thread(project, thread_id) is None:
        return errors.thread_not_found(thread_id)
    return errors.run_not_found(run_id)


def get_run(svc: Services, project: str, thread_id: str, run_id: str) -> Record:
    _require_run_ids(svc, project, thread_id, run_id)
    run = svc.store.get_run(project, thread_id, run_id)
    if run is None:
        raise _missing(svc, project, thread_id, run_id)
    return settle_run(svc, project, run)


def list_runs(svc: Services, project: str, thread_id: str, page: PageRequest) -> Page:
    require_id("thread", thread_id)
    result = svc.store.list_runs(project, thread_id, page)
    if not result.items and svc.store.get_thread(project, thread_id) is None:
        raise errors.thread_not_found(thread_id)
    return Page([settle_run(svc, project, r) for r in result.items], result.has_more)


def modify_run(
    svc: Services, project: str, thread_id: str, run_id: str, metadata: dict[str, str] | None
) -> Record:
    _require_run_ids(svc, project, thread_id, run_id)
    run = svc.store.update_run_metadata(project, thread_id, run_id, metadata or {})
    if run is None:
        raise _missing(svc, project, thread_id, run_id)
    return settle_run(svc, project, run)


def cancel_run(svc: Services, project: str, thread_id: str, run_id: str) -> Record:
    """Cancel: an executing run goes `cancelling`; one nobody is executing ends `cancelled`."""
    _require_run_ids(svc, project, thread_id, run_id)
    now = svc.clock.now()
    previous = svc.store.change_run(
        project, thread_id, run_id, transitions.request_cancel(now), base={}, returns="old"
    )
    if previous is None:
        run = get_run(svc, project, thread_id, run_id)
        raise errors.cannot_cancel(run["status"])
    cancelling = {**previous, "status": lifecycle.CANCELLING}
    if previous["status"] == lifecycle.IN_PROGRESS:
        return cancelling  # the executor lets go at its next write
    return finish_cancel(svc, project, cancelling)


def finish_cancel(svc: Services, project: str, run: Record) -> Record:
    """End a run nobody is executing as `cancelled` (or report what beat us to it)."""
    now = svc.clock.now()
    done = svc.store.change_run(
        project, run["thread_id"], run["id"], transitions.cancel_now(run, now), base=run
    )
    if done is not None:
        metrics.run_ended(done["status"])
        return done
    return get_run(svc, project, run["thread_id"], run["id"])


def submit_tool_outputs(
    svc: Services,
    project: str,
    thread_id: str,
    run_id: str,
    request: SubmitToolOutputs,
    dispatch: bool = True,
) -> tuple[Record, Record]:
    """Record the outputs on the waiting step and queue the run again. Returns (run, step)."""
    run = get_run(svc, project, thread_id, run_id)
    if run["status"] != lifecycle.REQUIRES_ACTION:
        raise errors.no_tool_outputs(run["status"])
    pending = run["required_action"]["submit_tool_outputs"]["tool_calls"]
    outputs = _match_outputs(pending, request)
    step = svc.store.get_step(project, thread_id, run_id, run["open_step_id"])
    if step is None:
        raise errors.ServerError("The run's tool call step is missing.")
    now = svc.clock.now()
    details = step["step_details"]
    for call in details["tool_calls"]:
        if call["type"] == "function":  # file_search calls of the step were run by us
            call["function"]["output"] = outputs[call["id"]]
    turn = step.get("turn_usage") or {"prompt_tokens": 0, "completion_tokens": 0}
    step_changes: dict[str, Any] = {
        "status": lifecycle.STEP_COMPLETED,
        "completed_at": now,
        "step_details": details,
        "usage": usage(turn["prompt_tokens"], turn["completion_tokens"]),
    }
    change = RunChange(
        sources=(lifecycle.REQUIRES_ACTION,),
        changes={"status": lifecycle.QUEUED, "required_action": None, "open_step_id": None},
        now=now,
        deadline="open",
        step_updates=[(step["id"], step_changes)],
    )
    queued = svc.store.change_run(project, thread_id, run_id, change, base=run)
    if queued is None:
        current = get_run(svc, project, thread_id, run_id)
        raise errors.no_tool_outputs(current["status"])
    if dispatch:
        hand_off(svc, run_job(project, thread_id, run_id))
    return queued, {**step, **step_changes}


def _match_outputs(pending: list[Record], request: SubmitToolOutputs) -> dict[str, str]:
    """Exactly one output per pending call, all in one request."""
    expected = [call["id"] for call in pending]
    given: dict[str, str] = {}
    if not request.tool_outputs:
        raise errors.InvalidRequest(
            f"Expected tool outputs for call_ids {expected}, got none.", param="tool_outputs"
        )
    for output in request.tool_outputs:
        if output.tool_call_id not in expected:
            raise errors.InvalidRequest(
                f"No tool call found with id '{output.tool_call_id}'. Expected tool outputs for "
                f"call_ids {expected}.",
                param="tool_outputs",
            )
        if output.tool_call_id in given:
            raise errors.InvalidRequest(
                f"Duplicate tool output for call_id '{output.tool_call_id}'.",
                param="tool_outputs",
            )
        given[output.tool_call_id] = output.output
    missing = [call_id for call_id in expected if call_id not in given]
    if missing:
        raise errors.InvalidRequest(
            f"Expected tool outputs for call_ids {expected}, got {list(given)}. "
            f"Missing: {missing}.",
            param="tool_outputs",
        )
    return given


def get_step(svc: Services, project: str, thread_id: str, run_id: str, step_id: str) -> Record:
    _require_run_ids(svc, project, thread_id, run_id)
    if not is_valid_id("step", step_id):
        get_run(svc, project, thread_id, run_id)  # 404 for a missing thread or run first
        raise errors.step_not_found(step_id)
    step = svc.store.get_step(project, thread_id, run_id, step_id)
    if step is None:
        get_run(svc, project, thread_id, run_id)  # 404 for a missing thread or run first
        raise errors.step_not_found(step_id)
    return step


def list_steps(svc: Services, project: str, thread_id: str, run_id: str, page: PageRequest) -> Page:
    _require_run_ids(svc, project, thread_id, run_id)
    result = svc.store.list_steps(project, thread_id, run_id, page)
    if not result.items:
        get_run(svc, project, thread_id, run_id)  # 404 for a missing thread or run
    elif any(s["status"] == lifecycle.STEP_IN_PROGRESS for s in result.items):
        # An open step may belong to a run past its deadline: settle the run, then re-read.
        run = svc.store.get_run(project, thread_id, run_id)
        if run is not None and settle_run(svc, project, run) is not run:
            result = svc.store.list_steps(project, thread_id, run_id, page)
    return result
