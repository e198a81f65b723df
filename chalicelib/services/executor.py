"""Advance a queued run one model turn: claim it, ask the model, write the outcome at once.

The claim (`queued -> in_progress`) is conditional, so a duplicate delivery finds nothing to do.
The outcome (message + step + run status) is one transaction conditioned on the run still being
`in_progress`: if it was cancelled meanwhile the write loses and the run ends `cancelled`; if it
expired, the expiry stands.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from ..domain import lifecycle, transitions
from ..domain.errors import ItemTooLarge
from ..domain.objects import Record, message_text, new_assistant_message, new_step, to_wire, usage
from ..domain.transitions import RunChange
from ..observability import metrics
from ..providers.base import ChatMessage, ModelRequest, ModelResponse, ProviderError, ToolCall
from ..providers.registry import resolve_model
from .context import Services
from .events import EventSink, NullSink
from .images import InvalidImage, message_images
from .lazy_expiry import is_past_deadline, settle_run
from .live_turn import LiveTurn
from .provider_calls import complete_with_retries
from .runs import finish_cancel

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    change: RunChange
    # Stream events to emit once the outcome is written, as (event, record) pairs.
    events: list[tuple[str, Record]] = field(default_factory=list)


def advance_run(
    svc: Services, project: str, thread_id: str, run_id: str, sink: EventSink | None = None
) -> Record | None:
    """Take one turn of a queued run; the run as it ends up (None if it is gone)."""
    sink = sink or NullSink()
    claim = transitions.claim(svc.clock.now(), svc.settings.run_lease_seconds)
    claimed = svc.store.change_run(project, thread_id, run_id, claim, base={})
    if claimed is None:
        # Not queued (a duplicate delivery, or cancelled before we got to it), or past its
        # deadline: then expire it as any reader would.
        run = svc.store.get_run(project, thread_id, run_id)
        if run is not None and is_past_deadline(run, svc.clock.now()):
            run = settle_run(svc, project, run)
            sink.emit(f"thread.run.{run['status']}", to_wire(run))
        return run
    sink.emit("thread.run.in_progress", to_wire(claimed))
    turn_started = metrics.now_ms()
    with LeaseKeeper(svc, project, claimed):
        try:
            outcome = take_turn(svc, project, claimed, sink)
        except ProviderError as error:
            metrics.provider_error(error.code)
            outcome = _failed(claimed, svc.clock.now(), error.code, str(error))
        except InvalidImage as error:
            outcome = _failed(claimed, svc.clock.now(), "invalid_prompt", str(error))
        except Exception:
            log.exception("run %s failed while executing", run_id)
            outcome = _failed(claimed, svc.clock.now(), "server_error", "The server had an error.")
    written, outcome = _write_outcome(svc, project, claimed, outcome)
    if written is None:
        return _lost_outcome(svc, project, thread_id, run_id, sink)
    metrics.turn_ended(claimed, written, metrics.now_ms() - turn_started)
    for event, record in outcome.events:
        sink.emit(event, to_wire(record))
    return written


class LeaseKeeper:
    """Renews the claimed attempt's lease every third of its length while the turn runs.

    If the worker dies (a crash, a Lambda timeout, a restart), renewals stop, the lease lapses
    and the sweeper recovers the run. A renewal that finds the run moved on (cancelling,
    expired, or re-queued after this worker was presumed dead) stops renewing: this attempt's
    outcome is fenced off anyway.
    """

    def __init__(self, svc: Services, project: str, run: Record) -> None:
        self.svc = svc
        self.project = project
        self.run = run
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="lease", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _renew(self) -> None:
        lease = self.svc.settings.run_lease_seconds
        run = self.run
        while not self._stop.wait(max(lease / 3, 0.2)):
            change = transitions.renew_lease(self.svc.clock.now(), lease, run["attempt"])
            try:
                renewed = self.svc.store.change_run(
                    self.project, run["thread_id"], run["id"], change, base=run
                )
            except Exception:
                log.exception("renewing the lease of run %s failed", run["id"])
                continue
            if renewed is None:
                return


def _write_outcome(
    svc: Services, project: str, run: Record, outcome: Outcome
) -> tuple[Record | None, Outcome]:
    """Write the turn's outcome, fenced on the attempt; if it cannot be written, end the run
    failed saying why (an output too large to store, say), so it never waits for expiry."""
    outcome.change.attempt = run["attempt"]
    try:
        written = svc.store.change_run(
            project, run["thread_id"], run["id"], outcome.change, base=run
        )
        return written, outcome
    except ItemTooLarge as error:
        reason = f"The run's output could not be stored: {error.message}"
    except Exception:
        log.exception("the outcome of run %s could not be written", run["id"])
        reason = "The run's output could not be stored."
    failed = _failed(run, svc.clock.now(), "server_error", reason)
    failed.change.attempt = run["attempt"]
    return svc.store.change_run(
        project, run["thread_id"], run["id"], failed.change, base=run
    ), failed


def _lost_outcome(
    svc: Services, project: str, thread_id: str, run_id: str, sink: EventSink
) -> Record | None:
    """The outcome lost its race: a cancel asked us to let go, or the run expired."""
    current = svc.store.get_run(project, thread_id, run_id)
    if current is None:
        return None
    if current["status"] == lifecycle.CANCELLING:
        current = finish_cancel(svc, project, current)
    sink.emit(f"thread.run.{current['status']}", to_wire(current))
    return current


def _failed(run: Record, now: int, code: str, message: str) -> Outcome:
    error = {"code": code, "message": message}
    change = transitions.end_run(
        run,
        lifecycle.FAILED,
        now,
        sources=(lifecycle.IN_PROGRESS,),
        extra={"last_error": error},
    )
    return Outcome(change, [("thread.run.failed", {**run, **change.changes})])


def _incomplete(run: Record, now: int, reason: str, tokens: tuple[int, int]) -> RunChange:
    return transitions.end_run(
        run,
        lifecycle.INCOMPLETE,
        now,
        sources=(lifecycle.IN_PROGRESS,),
        deadline="open",
        extra={"incomplete_details": {"reason": reason}},
        turn_tokens=tokens,
    )


def _conversation(svc: Services, project: str, run: Record) -> list[ChatMessage]:
    """The thread's messages (after the truncation strategy), then this run's tool rounds."""
    strategy = run.get("truncation_strategy") or {}
    last = strategy.get("last_messages") if strategy.get("type") == "last_messages" else None
    messages = svc.store.thread_messages(project, run["thread_id"], last=last)
    with_images = getattr(svc.provider, "accepts_images", False)
    seen: dict[str, Any] = {}  # each image fetched once per turn
    chat = [
        ChatMessage(
            role=m["role"],
            text=message_text(m),
            images=message_images(svc, project, m, seen)
            if with_images and m["role"] == "user"
            else (),
        )
        for m in messages
    ]
    for step in svc.store.run_steps(project, run["thread_id"], run["id"]):
        if step["type"] != "tool_calls" or step["status"] != lifecycle.STEP_COMPLETED:
            continue
        calls = [c for c in step["step_details"]["tool_calls"] if c["type"] == "function"]
        chat.append(
            ChatMessage(
                role="assistant",
                tool_calls=tuple(
                    ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"])
                    for c in calls
                ),
            )
        )
        chat += [
            ChatMessage(role="tool", text=c["function"]["output"] or "", tool_call_id=c["id"])
            for c in calls
        ]
    return chat


def _model_request(svc: Services, run: Record, chat: list[ChatMessage]) -> ModelRequest:
    functions = tuple(t["function"] for t in run["tools"] if t["type"] == "function")
    choice: Any = run.get("tool_choice") or "auto"
    if isinstance(choice, dict) and choice.get("type") != "function":
        choice = "auto"  # code_interpreter / file_search do not execute here
    return ModelRequest(
        model=resolve_model(svc.settings, run["model"]),
        instructions=run.get("instructions") or "",
        messages=tuple(chat),
        tools=functions,
        tool_choice=choice,
        parallel_tool_calls=run.get("parallel_tool_calls", True),
        response_format=run.get("response_format") or "auto",
        temperature=run.get("temperature"),
        top_p=run.get("top_p"),
    )


def _fit_prompt(svc: Services, request: ModelRequest, budget: int) -> ModelRequest | None:
    """Truncate `auto`: drop the oldest messages until the prompt fits; None if it never does."""
    messages = list(request.messages)
    while True:
        candidate = replace(request, messages=tuple(messages))
        if svc.provider.count_prompt_tokens(candidate) <= budget:
            return candidate
        if len(messages) <= 1:
            return None
        messages.pop(0)
        while messages and messages[0].role == "tool":
            messages.pop(0)  # never start with an orphaned tool output


def take_turn(svc: Services, project: str, run: Record, sink: EventSink | None = None) -> Outcome:
    """Ask the model once, streaming its events to `sink`, and describe what to write."""
    so_far = run.get("usage_so_far") or {"prompt_tokens": 0, "completion_tokens": 0}
    request = _model_request(svc, run, _conversation(svc, project, run))
    now = svc.clock.now()
    if run.get("max_prompt_tokens") is not None:
        fitted = _fit_prompt(svc, request, run["max_prompt_tokens"] - so_far["prompt_tokens"])
        if fitted is None:
            change = _incomplete(run, now, "max_prompt_tokens", (0, 0))
            return Outcome(change, [("thread.run.incomplete", {**run, **change.changes})])
        request = fitted
    if run.get("max_completion_tokens") is not None:
        left = run["max_completion_tokens"] - so_far["completion_tokens"]
        if left <= 0:
            change = _incomplete(run, now, "max_completion_tokens", (0, 0))
            return Outcome(change, [("thread.run.incomplete", {**run, **change.changes})])
        request = replace(request, max_completion_tokens=left)
    live = LiveTurn(run, sink or NullSink(), svc.clock.now)
    response = complete_with_retries(
        svc.provider,
        request,
        live,
        svc.settings.provider_retry_budget_seconds,
        svc.settings.provider_retry_first_delay_ms / 1000,
    )
    return _outcome(run, response, svc.clock.now(), live)


def _outcome(run: Record, response: ModelResponse, now: int, live: LiveTurn) -> Outcome:
    tokens = (response.prompt_tokens, response.completion_tokens)
    events: list[tuple[str, Record]] = []
    items: list[Record] = []
    if response.text or not response.tool_calls:
        items += _reply_items(run, response, now, events, live)
    if response.tool_calls:
        step = _tool_step(run, response, now, live.tool_step)
        items.append(step)
        if live.tool_step is None:  # the provider streamed no pieces: announce the calls now
            events += _tool_step_events(step)
        so_far = run.get("usage_so_far") or {"prompt_tokens": 0, "completion_tokens": 0}
        calls = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in response.tool_calls
        ]
        change = RunChange(
            sources=(lifecycle.IN_PROGRESS,),
            changes={
                "status": lifecycle.REQUIRES_ACTION,
                "required_action": {
                    "type": "submit_tool_outputs",
                    "submit_tool_outputs": {"tool_calls": calls},
                },
                "open_step_id": step["id"],
                "usage_so_far": {
                    "prompt_tokens": so_far["prompt_tokens"] + tokens[0],
                    "completion_tokens": so_far["completion_tokens"] + tokens[1],
                },
            },
            now=now,
            deadline="open",
            new_items=items,
        )
        events.append(("thread.run.requires_action", {**run, **change.changes}))
        return Outcome(change, events)
    if response.truncated:
        change = _incomplete(run, now, "max_completion_tokens", tokens)
        final_event = "thread.run.incomplete"
    else:
        change = transitions.end_run(
            run,
            lifecycle.COMPLETED,
            now,
            sources=(lifecycle.IN_PROGRESS,),
            deadline="open",
            turn_tokens=tokens,
        )
        final_event = "thread.run.completed"
    change.new_items = items
    events.append((final_event, {**run, **change.changes}))
    return Outcome(change, events)


def _reply_items(
    run: Record,
    response: ModelResponse,
    now: int,
    events: list[tuple[str, Record]],
    live: LiveTurn,
) -> list[Record]:
    """The assistant message and its completed message_creation step, with their events.

    If the reply streamed, the message and step opened then are the ones completed now, and
    their opening and delta events have been sent already.
    """
    message = new_assistant_message(run, response.text, now)
    if live.message is not None and live.message_step is not None:
        message.update(id=live.message["id"], created_at=live.message["created_at"])
    if response.truncated:
        message.update(
            status="incomplete",
            incomplete_details={"reason": "max_tokens"},
            completed_at=None,
            incomplete_at=now,
        )
    step = new_step(
        run, "message_creation", {"type": "message_creation", "message_creation": {}}, now
    )
    step["step_details"]["message_creation"]["message_id"] = message["id"]
    if live.message_step is not None:
        step.update(id=live.message_step["id"], created_at=live.message_step["created_at"])
    opened_step = dict(step)
    opened_message = {**message, "status": "in_progress", "content": [], "completed_at": None}
    opened_message["incomplete_details"] = opened_message["incomplete_at"] = None
    step.update(
        status=lifecycle.STEP_COMPLETED,
        completed_at=now,
        usage=usage(response.prompt_tokens, response.completion_tokens),
    )
    delta = {
        "id": message["id"],
        "object": "thread.message.delta",
        "delta": {
            "content": [
                {
                    "index": 0,
                    "type": "text",
                    "text": {"value": response.text, "annotations": []},
                }
            ]
        },
    }
    if live.message is None:
        events += [
            ("thread.run.step.created", opened_step),
            ("thread.run.step.in_progress", opened_step),
            ("thread.message.created", opened_message),
            ("thread.message.in_progress", opened_message),
            ("thread.message.delta", delta),
        ]
    events += [
        (f"thread.message.{message['status']}", message),
        ("thread.run.step.completed", step),
    ]
    return [message, step]


def _tool_step_events(step: Record) -> list[tuple[str, Record]]:
    """As the hosted API streamed them: the step opens empty, a step delta carries the calls.

    The SDK's event handler reports tool calls (`on_tool_call_created`/`_done`) from step
    deltas only, and adds a delta's calls to the ones the step was created with.
    """
    calls = step["step_details"]["tool_calls"]
    opened = {**step, "step_details": {"type": "tool_calls", "tool_calls": []}}
    delta = {
        "id": step["id"],
        "object": "thread.run.step.delta",
        "delta": {
            "step_details": {
                "type": "tool_calls",
                "tool_calls": [{"index": i, **call} for i, call in enumerate(calls)],
            }
        },
    }
    return [
        ("thread.run.step.created", opened),
        ("thread.run.step.in_progress", opened),
        ("thread.run.step.delta", delta),
    ]


def _tool_step(
    run: Record, response: ModelResponse, now: int, opened: Record | None = None
) -> Record:
    calls = [
        {
            "id": c.id,
            "type": "function",
            "function": {"name": c.name, "arguments": c.arguments, "output": None},
        }
        for c in response.tool_calls
    ]
    step = new_step(run, "tool_calls", {"type": "tool_calls", "tool_calls": calls}, now)
    if opened is not None:  # the step the stream opened when the first piece arrived
        step.update(id=opened["id"], created_at=opened["created_at"])
    # internal: this turn's tokens, the step's usage once its outputs are in
    step["turn_usage"] = {
        "prompt_tokens": response.prompt_tokens,
        "completion_tokens": response.completion_tokens,
    }
    return step
