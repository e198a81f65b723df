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

from ..domain import file_search as fs
from ..domain import lifecycle, transitions
from ..domain.errors import ItemTooLarge
from ..domain.objects import Record, message_text, new_assistant_message, new_step, to_wire, usage
from ..domain.transitions import RunChange
from ..observability import metrics
from ..providers.base import ChatMessage, ModelRequest, ModelResponse, ProviderError, ToolCall
from ..providers.registry import resolve_model
from . import file_search
from .context import Services
from .events import EventSink, NullSink
from .file_search import FileSearch
from .images import InvalidImage, message_images
from .lazy_expiry import is_past_deadline, settle_run
from .live_turn import LiveTurn
from .provider_calls import complete_with_retries
from .runs import finish_cancel

log = logging.getLogger(__name__)
# Model calls one turn may spend on file_search before the tool is withdrawn (so it ends).
MAX_SEARCH_ROUNDS = 3


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
    include = claimed.get("include") or ()
    for event, record in outcome.events:
        sink.emit(event, to_wire(record, include))
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


def _conversation(
    svc: Services, project: str, run: Record, search: FileSearch | None = None
) -> list[ChatMessage]:
    """The thread's messages (after the truncation strategy), then this run's tool rounds.

    file_search calls are replayed with their arguments and results as the model first read
    them; each is counted on `search` (so new calls' citation markers continue the numbering).
    """
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
    counter = search or FileSearch({}, [], [], 0, {})
    for step in svc.store.run_steps(project, run["thread_id"], run["id"]):
        if step["type"] != "tool_calls" or step["status"] != lifecycle.STEP_COMPLETED:
            continue
        arguments = step.get("call_arguments") or {}
        calls: list[ToolCall] = []
        outputs: list[ChatMessage] = []
        for c in step["step_details"]["tool_calls"]:
            if c["type"] == "function":
                calls.append(ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"]))
                output = c["function"]["output"] or ""
            elif c["type"] == "file_search":
                calls.append(ToolCall(c["id"], fs.FUNCTION, arguments.get(c["id"], "{}")))
                ordinal = counter.note_call(c)
                output = fs.output_for_model(ordinal, c["file_search"].get("results") or [])
            else:
                continue
            outputs.append(ChatMessage(role="tool", text=output, tool_call_id=c["id"]))
        if calls:
            chat.append(ChatMessage(role="assistant", tool_calls=tuple(calls)))
            chat += outputs
    return chat


def _model_request(
    svc: Services, run: Record, chat: list[ChatMessage], search: FileSearch | None = None
) -> ModelRequest:
    functions = [t["function"] for t in run["tools"] if t["type"] == "function"]
    # The internal file_search function, unless a function of the run already has its name.
    offered = search is not None and all(f["name"] != fs.FUNCTION for f in functions)
    if offered:
        functions.append(fs.TOOL)
    choice: Any = run.get("tool_choice") or "auto"
    if isinstance(choice, dict) and choice.get("type") != "function":
        # {"type": "file_search"} forces a first search; code_interpreter does not execute here
        forced = choice.get("type") == "file_search" and offered and search.calls_so_far == 0
        choice = {"type": "function", "function": {"name": fs.FUNCTION}} if forced else "auto"
    return ModelRequest(
        model=resolve_model(svc.settings, run["model"]),
        instructions=run.get("instructions") or "",
        messages=tuple(chat),
        tools=tuple(functions),
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


@dataclass
class Searches:
    """What this turn's file_search rounds leave: records to write with the outcome, their
    tokens, and the calls of the last model answer that were searched (a mixed answer)."""

    search: FileSearch | None = None
    items: list[Record] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: dict[str, Record] = field(default_factory=dict)  # call id -> file_search call
    arguments: dict[str, str] = field(default_factory=dict)


def take_turn(svc: Services, project: str, run: Record, sink: EventSink | None = None) -> Outcome:
    """Ask the model, streaming its events to `sink`, and describe what to write.

    With file_search, each answer that only searches is searched at once, written as a
    completed `tool_calls` step, and the model is asked again with the results, all within the
    turn (at most MAX_SEARCH_ROUNDS searching answers).
    """
    sink = sink or NullSink()
    so_far = run.get("usage_so_far") or {"prompt_tokens": 0, "completion_tokens": 0}
    search = file_search.setup(svc, project, run)
    request = _model_request(svc, run, _conversation(svc, project, run, search), search)
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
    if search is not None:
        file_search.wait_for_ingestion(svc, project, search)
    searches = Searches(search)
    hidden = frozenset({fs.FUNCTION}) if search is not None else frozenset()
    rounds = 0
    while True:
        live = LiveTurn(run, sink, svc.clock.now, hidden=hidden)
        response = complete_with_retries(
            svc.provider,
            request,
            live,
            svc.settings.provider_retry_budget_seconds,
            svc.settings.provider_retry_first_delay_ms / 1000,
        )
        if search is None or not any(c.name == fs.FUNCTION for c in response.tool_calls):
            break
        _search_calls(svc, project, run, response, search, searches, request)
        if any(c.name != fs.FUNCTION for c in response.tool_calls):
            break  # function calls too: the run waits for their outputs (requires_action)
        rounds += 1
        request = _after_search(run, request, response, searches, live, sink, svc, rounds)
    return _outcome(run, response, svc.clock.now(), live, searches)


def _search_calls(
    svc: Services,
    project: str,
    run: Record,
    response: ModelResponse,
    search: FileSearch,
    searches: Searches,
    request: ModelRequest,
) -> None:
    """Search every file_search call of `response` (in order) into `searches.calls`."""
    last_user = next((m.text for m in reversed(request.messages) if m.role == "user"), "")
    searches.calls = {}
    for call in response.tool_calls:
        if call.name != fs.FUNCTION:
            continue
        record, _ = file_search.execute(svc, project, search, call.id, call.arguments, last_user)
        searches.calls[call.id] = record
        searches.arguments[call.id] = call.arguments


def _after_search(
    run: Record,
    request: ModelRequest,
    response: ModelResponse,
    searches: Searches,
    live: LiveTurn,
    sink: EventSink,
    svc: Services,
    rounds: int,
) -> ModelRequest:
    """Write down a searching answer (its step, any text it had) and ask again with results."""
    now = svc.clock.now()
    include = run.get("include") or ()
    events: list[tuple[str, Record]] = []
    if response.text:  # text before the search: its message, already streamed, is kept
        searches.items += _reply_items(run, response, now, events, live, [])
    step = _tool_step(run, response, now, None, searches.calls, searches.arguments)
    tokens = (0, 0) if response.text else (response.prompt_tokens, response.completion_tokens)
    step.update(status=lifecycle.STEP_COMPLETED, completed_at=now, usage=usage(*tokens))
    step.pop("turn_usage", None)
    events += _tool_step_events(step)
    events.append(("thread.run.step.completed", step))
    for event, record in events:
        sink.emit(event, to_wire(record, include))
    searches.items.append(step)
    searches.prompt_tokens += response.prompt_tokens
    searches.completion_tokens += response.completion_tokens
    calls = tuple(response.tool_calls)
    outputs = [
        ChatMessage(
            role="tool",
            text=fs.output_for_model(ordinal_of(searches, c.id), _results(searches, c.id)),
            tool_call_id=c.id,
        )
        for c in calls
    ]
    messages = (
        *request.messages,
        ChatMessage(role="assistant", text=response.text, tool_calls=calls),
        *outputs,
    )
    tools = request.tools
    choice = request.tool_choice
    if isinstance(choice, dict) and (choice.get("function") or {}).get("name") == fs.FUNCTION:
        choice = "auto"  # the forced search happened
    if choice == "required" and all(t["name"] == fs.FUNCTION for t in tools):
        choice = "auto"
    if rounds >= MAX_SEARCH_ROUNDS:
        tools = tuple(t for t in tools if t["name"] != fs.FUNCTION)
        if choice == "required" and not tools:
            choice = "auto"
    left = request.max_completion_tokens
    if left is not None:
        left = max(left - response.completion_tokens, 1)
    searches.calls = {}
    return replace(
        request, messages=messages, tools=tools, tool_choice=choice, max_completion_tokens=left
    )


def ordinal_of(searches: Searches, call_id: str) -> int:
    """The citation ordinal a searched call got (its place among the run's searches)."""
    assert searches.search is not None
    ids = list(searches.calls)
    return searches.search.calls_so_far - len(ids) + ids.index(call_id)


def _results(searches: Searches, call_id: str) -> list[Record]:
    return searches.calls[call_id]["file_search"].get("results") or []


def _outcome(
    run: Record,
    response: ModelResponse,
    now: int,
    live: LiveTurn,
    searches: Searches | None = None,
) -> Outcome:
    searches = searches or Searches()
    tokens = (
        response.prompt_tokens + searches.prompt_tokens,
        response.completion_tokens + searches.completion_tokens,
    )
    events: list[tuple[str, Record]] = []
    items: list[Record] = list(searches.items)
    if response.text or not response.tool_calls:
        sources = searches.search.sources if searches.search is not None else {}
        annotations = fs.citations(response.text, sources)
        items += _reply_items(run, response, now, events, live, annotations)
    if response.tool_calls:
        step = _tool_step(run, response, now, live.tool_step, searches.calls, searches.arguments)
        items.append(step)
        if live.tool_step is None:  # the provider streamed no pieces: announce the calls now
            events += _tool_step_events(step)
        elif searches.calls:  # the searched calls were not streamed as functions: add them
            events.append(_searched_calls_delta(step))
        so_far = run.get("usage_so_far") or {"prompt_tokens": 0, "completion_tokens": 0}
        calls = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in response.tool_calls
            if c.id not in searches.calls
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
    annotations: list[Record] | None = None,
) -> list[Record]:
    """The assistant message and its completed message_creation step, with their events.

    If the reply streamed, the message and step opened then are the ones completed now, and
    their opening and delta events have been sent already; its annotations (file citations,
    known once the text is whole) follow in one more delta.
    """
    annotations = annotations or []
    message = new_assistant_message(run, response.text, now)
    message["content"][0]["text"]["annotations"] = annotations
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
                    "text": {
                        "value": response.text,
                        "annotations": [{"index": i, **a} for i, a in enumerate(annotations)],
                    },
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
    elif annotations:
        text = delta["delta"]["content"][0]["text"]
        del text["value"]
        events.append(("thread.message.delta", delta))
    events += [
        (f"thread.message.{message['status']}", message),
        ("thread.run.step.completed", step),
    ]
    return [message, step]


def _tool_step_events(step: Record) -> list[tuple[str, Record]]:
    """As the hosted API streamed them: the step opens empty, a step delta carries the calls.

    The SDK's event handler reports tool calls (`on_tool_call_created`/`_done`) from step
    deltas only, and adds a delta's calls to the ones the step was created with. A file_search
    call's delta has an empty `file_search` (as the spec's delta schema says); its results
    come with the completed step.
    """
    calls = step["step_details"]["tool_calls"]
    opened = {**step, "step_details": {"type": "tool_calls", "tool_calls": []}}
    opened.update(status=lifecycle.STEP_IN_PROGRESS, completed_at=None, usage=None)
    delta = {
        "id": step["id"],
        "object": "thread.run.step.delta",
        "delta": {
            "step_details": {
                "type": "tool_calls",
                "tool_calls": [_call_delta(i, call) for i, call in enumerate(calls)],
            }
        },
    }
    return [
        ("thread.run.step.created", opened),
        ("thread.run.step.in_progress", opened),
        ("thread.run.step.delta", delta),
    ]


def _call_delta(index: int, call: Record) -> Record:
    if call["type"] == "file_search":
        return {"index": index, "id": call["id"], "type": "file_search", "file_search": {}}
    return {"index": index, **call}


def _searched_calls_delta(step: Record) -> tuple[str, Record]:
    """The file_search calls of a step whose function calls streamed (they were not)."""
    calls = [
        _call_delta(i, call)
        for i, call in enumerate(step["step_details"]["tool_calls"])
        if call["type"] == "file_search"
    ]
    delta = {
        "id": step["id"],
        "object": "thread.run.step.delta",
        "delta": {"step_details": {"type": "tool_calls", "tool_calls": calls}},
    }
    return ("thread.run.step.delta", delta)


def _tool_step(
    run: Record,
    response: ModelResponse,
    now: int,
    opened: Record | None = None,
    searched: dict[str, Record] | None = None,
    arguments: dict[str, str] | None = None,
) -> Record:
    searched = searched or {}
    calls = [
        searched.get(c.id)
        or {
            "id": c.id,
            "type": "function",
            "function": {"name": c.name, "arguments": c.arguments, "output": None},
        }
        for c in response.tool_calls
    ]
    step = new_step(run, "tool_calls", {"type": "tool_calls", "tool_calls": calls}, now)
    if opened is not None:  # the step the stream opened when the first piece arrived
        step.update(id=opened["id"], created_at=opened["created_at"])
    if searched:
        step["call_arguments"] = {i: (arguments or {}).get(i, "{}") for i in searched}
    # internal: this turn's tokens, the step's usage once its outputs are in
    step["turn_usage"] = {
        "prompt_tokens": response.prompt_tokens,
        "completion_tokens": response.completion_tokens,
    }
    return step
