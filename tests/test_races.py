"""Races on one run: real threads, lined up with a Barrier, through the services layer.

Each race is repeated (ITERATIONS times, with the start of one side shifted a little more each
time) and must end the same way every time: exactly one side wins, and the loser sees an answer
consistent with what won. After each race, `assert_consistent` checks what must hold whoever
won: a terminal run holds no `active_run_id` marker on its thread and has no `in_progress` step,
and a message_creation step points at the run's one assistant message.

Part of the store contract suite: every race runs on the embedded engine (SQLite, real
concurrent connections) and on moto. Not on dynalite: every race here ends in a terminal write,
and terminal writes are transactions (the run, its open step and the thread's marker at once);
dynalite 4.0.0 has no TransactWriteItems. moto is not thread-safe, so its client is wrapped in
`SerializedClient` (tests/support/engines.py): one DynamoDB call at a time, exactly DynamoDB's
own guarantee, while the services interleave freely between calls, which is where races live.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain import lifecycle
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.objects import Record, message_text
from chalicelib.domain.pagination import PageRequest
from chalicelib.domain.requests import (
    CreateAssistant,
    CreateRun,
    CreateThread,
    SubmitToolOutputs,
)
from chalicelib.providers.base import ModelRequest, ModelResponse
from chalicelib.providers.echo import EchoProvider
from chalicelib.services import assistants, executor, runs, sweeper, threads
from chalicelib.services.context import Services
from chalicelib.store.sqlite import SqliteEngine
from chalicelib.store.store import Store
from tests.conftest import make_services
from tests.support import engines
from tests.support.doubles import ManualClock

PROJECT = "proj_races"
ITERATIONS = 20  # each race of the brief, in its plainest setting
VARIANT_ITERATIONS = 10  # the same race from another starting point (keeps the file < 20 s)
TURN_SECONDS = 0.01  # how long the model "thinks": the window a cancel can land in
SHIFT_SECONDS = 0.003  # one side starts i * SHIFT_SECONDS later in iteration i
JOIN_TIMEOUT_SECONDS = 20.0


# -- harness -----------------------------------------------------------------------------


class SlowProvider:
    """The echo model, thinking for `delay` seconds per turn so a race has room to happen."""

    def __init__(self, delay: float = TURN_SECONDS) -> None:
        self.inner = EchoProvider()
        self.delay = delay
        self.started = threading.Event()  # the model was asked
        self.finished = threading.Event()  # it answered: the outcome write comes next

    def count_prompt_tokens(self, request: ModelRequest) -> int:
        return self.inner.count_prompt_tokens(request)

    def complete(self, request: ModelRequest, listener: object = None) -> ModelResponse:
        self.started.set()
        time.sleep(self.delay)
        try:
            return self.inner.complete(request)
        finally:
            self.finished.set()


@dataclass
class Result:
    value: Any = None
    error: BaseException | None = None

    def api_error(self) -> InvalidRequest | None:
        """The InvalidRequest the call raised, if any; anything else is a test failure."""
        if self.error is None:
            return None
        if isinstance(self.error, InvalidRequest):
            return self.error
        raise AssertionError(f"unexpected {self.error!r}") from self.error


def race(*calls: Callable[[], Any]) -> list[Result]:
    """Run the calls on their own threads, released at once; each one's value or exception."""
    barrier = threading.Barrier(len(calls))
    results = [Result() for _ in calls]

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index].value = call()
        except BaseException as error:
            results[index].error = error

    workers = [threading.Thread(target=run, args=item, daemon=True) for item in enumerate(calls)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(JOIN_TIMEOUT_SECONDS)
        assert not worker.is_alive(), "a racing call never returned (deadlock?)"
    return results


def after(seconds: float, call: Callable[[], Any]) -> Callable[[], Any]:
    def delayed() -> Any:
        time.sleep(seconds)
        return call()

    return delayed


def staggered(
    offset: float, first: Callable[[], Any], second: Callable[[], Any]
) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """Start `second` `offset` seconds after `first` (or `first` after `second`, if negative)."""
    if offset >= 0:
        return first, after(offset, second)
    return after(-offset, first), second


def offset(i: int, spread: int = 5) -> float:
    """Iteration i's start offset: -2, -1, 0, 1, 2 steps (for spread 5), round and round."""
    return (i % spread - spread // 2) * SHIFT_SECONDS


@pytest.fixture(params=["sqlite", "moto"])
def svc(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Services]:
    if request.param == "sqlite":
        services = make_services(engines.sqlite_engine(tmp_path))
        services.provider = SlowProvider()
        yield services
        return
    with engines.moto_engine() as engine:
        services = make_services(engine)
        services.provider = SlowProvider()
        yield services


def fresh_table(svc: Services) -> None:
    """Move `svc` to a new, empty table or file: moto deep-copies a whole table per
    transaction, so each iteration on a table of its own keeps the loop's cost flat."""
    engine = svc.store.engine
    if isinstance(engine, SqliteEngine):
        fresh: Any = engines.sqlite_engine(Path(engine.path).parent)
        engine.close()
    else:
        fresh = engines.dynamodb_engine(engine.client)
    svc.store = Store(fresh, svc.store.shards)


def at(svc: Services, now: int) -> Services:
    """The same services, store and dispatcher, with a clock of its own set to `now`."""
    return dataclasses.replace(svc, clock=ManualClock(now))


def manual_clock(svc: Services) -> ManualClock:
    assert isinstance(svc.clock, ManualClock)
    return svc.clock


def slow_provider(svc: Services) -> SlowProvider:
    assert isinstance(svc.provider, SlowProvider)
    return svc.provider


# -- setting up a run --------------------------------------------------------------------

TOOL = {"type": "function", "function": {"name": "get_weather"}}


def new_assistant(svc: Services, with_tool: bool = False) -> Record:
    body: dict[str, Any] = {"model": "echo"}
    if with_tool:
        body["tools"] = [TOOL]
    return assistants.create_assistant(svc, PROJECT, CreateAssistant.model_validate(body))


def new_thread(svc: Services, text: str) -> Record:
    request = CreateThread.model_validate({"messages": [{"role": "user", "content": text}]})
    return threads.create_thread(svc, PROJECT, request)


def queue_run(svc: Services, assistant: Record, text: str) -> Record:
    thread = new_thread(svc, text)
    request = CreateRun.model_validate({"assistant_id": assistant["id"]})
    return runs.create_run(svc, PROJECT, thread["id"], request, dispatch=False)


def waiting_run(svc: Services, assistant: Record) -> Record:
    """A run in requires_action, its tool_calls step open."""
    run = queue_run(svc, assistant, 'get_weather {"city": "Paris"}')
    provider = slow_provider(svc)
    provider.delay, delay = 0.0, provider.delay
    try:
        waiting = executor.advance_run(svc, PROJECT, run["thread_id"], run["id"])
    finally:
        provider.delay = delay
    assert waiting is not None and waiting["status"] == lifecycle.REQUIRES_ACTION
    return waiting


def outputs_for(run: Record) -> SubmitToolOutputs:
    calls = run["required_action"]["submit_tool_outputs"]["tool_calls"]
    outputs = [{"tool_call_id": c["id"], "output": "sunny"} for c in calls]
    return SubmitToolOutputs.model_validate({"tool_outputs": outputs})


# -- what must hold after any race -------------------------------------------------------


@dataclass
class Final:
    run: Record
    steps: list[Record]
    replies: list[Record]  # the run's assistant messages

    @property
    def status(self) -> str:
        return str(self.run["status"])


def assert_consistent(svc: Services, thread_id: str, run_id: str) -> Final:
    store = svc.store
    run = store.get_run(PROJECT, thread_id, run_id)
    assert run is not None, f"{run_id} vanished"
    thread = store.get_thread(PROJECT, thread_id)
    assert thread is not None
    steps = store.run_steps(PROJECT, thread_id, run_id)
    page = PageRequest(limit=100, order="asc")
    replies = store.list_messages(PROJECT, thread_id, page, run_id=run_id).items
    status = run["status"]
    if lifecycle.is_terminal(status):
        holder = thread.get("active_run_id")
        assert holder != run_id, f"{status} run still holds its thread"
        if holder is not None:  # only another run, still active, may hold it
            other = store.get_run(PROJECT, thread_id, holder)
            assert other is not None and not lifecycle.is_terminal(other["status"]), (
                f"the thread is held by {holder}, which is {other and other['status']}"
            )
        open_steps = [s["id"] for s in steps if s["status"] == lifecycle.STEP_IN_PROGRESS]
        assert open_steps == [], f"{status} run has in_progress steps {open_steps}"
        assert run.get("open_step_id") is None
        assert run.get("usage") is not None, f"{status} run without usage"
    creations = [s for s in steps if s["type"] == "message_creation"]
    assert len(creations) <= 1, f"{len(creations)} message_creation steps"
    assert len(replies) == len(creations), f"{len(replies)} replies, {len(creations)} steps"
    for step, reply in zip(creations, replies, strict=True):
        assert step["step_details"]["message_creation"]["message_id"] == reply["id"]
        assert step["status"] == lifecycle.STEP_COMPLETED
        assert reply["role"] == "assistant" and reply["assistant_id"] == run["assistant_id"]
    return Final(run, steps, replies)


def distribution(outcomes: list[str]) -> dict[str, int]:
    return {o: outcomes.count(o) for o in sorted(set(outcomes))}


# -- cancel vs completion ----------------------------------------------------------------


def cancel_schedule(
    svc: Services, i: int, work: Callable[[], Any], thread_id: str, run_id: str
) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """When the cancel starts in iteration i, aimed at each window of the worker's turn.

    Before the claim; while the model thinks; just as (0 or 3 ms after) the model answers, so
    it races the outcome write itself; and well after the answer, when the outcome has won.
    """
    provider = slow_provider(svc)
    provider.started.clear()
    provider.finished.clear()

    def cancel_once(event: threading.Event | None, wait: float) -> Callable[[], Any]:
        def call() -> Any:
            if event is not None:
                assert event.wait(JOIN_TIMEOUT_SECONDS), "the worker never reached the model"
            time.sleep(wait)
            return runs.cancel_run(svc, PROJECT, thread_id, run_id)

        return call

    window = i % 5
    if window == 0:
        return after(0.002, work), cancel_once(None, 0)
    if window == 1:
        return work, cancel_once(provider.started, 0)
    return work, cancel_once(provider.finished, {2: 0, 3: 0.003, 4: 0.1}[window])


def test_cancel_vs_completion(svc: Services) -> None:
    """A worker executes a queued run while a client cancels it: one of them wins, cleanly."""
    outcomes: list[str] = []
    for i in range(ITERATIONS):
        fresh_table(svc)
        assistant = new_assistant(svc)
        text = f"hello race {i}"
        run = queue_run(svc, assistant, text)
        thread_id, run_id = run["thread_id"], run["id"]
        work = partial(executor.advance_run, svc, PROJECT, thread_id, run_id)
        worker, cancel = race(*cancel_schedule(svc, i, work, thread_id, run_id))
        assert worker.error is None, f"the worker raised {worker.error!r}"
        refused = cancel.api_error()
        final = assert_consistent(svc, thread_id, run_id)
        label = f"iteration {i}: final {final.status}, cancel {cancel.value or refused}"
        assert final.status in (lifecycle.COMPLETED, lifecycle.CANCELLED), label
        if final.status == lifecycle.COMPLETED:
            assert refused is not None, f"{label}: a cancel was accepted but the run completed"
            assert (refused.status, refused.message) == (
                400,
                "Cannot cancel run with status 'completed'.",
            ), label
            assert [message_text(m) for m in final.replies] == [text], label
            assert [s["type"] for s in final.steps] == ["message_creation"], label
            assert worker.value["status"] == lifecycle.COMPLETED, label
            outcomes.append("completed")
        else:
            assert refused is None, f"{label}: the cancel was refused, yet the run was cancelled"
            assert cancel.value["status"] in (lifecycle.CANCELLING, lifecycle.CANCELLED), label
            assert final.replies == [] and final.steps == [], f"{label}: the turn was written"
            assert final.run["cancelled_at"] is not None, label
            assert worker.value is None or worker.value["status"] != lifecycle.COMPLETED, label
            # "cancelling": the cancel found the run in_progress and the worker let go.
            outcomes.append(f"cancelled ({cancel.value['status']} answered)")
    seen = {o.split(" ")[0] for o in outcomes}
    assert seen == {"completed", "cancelled"}, (
        f"the race never went both ways ({distribution(outcomes)})"
    )


# -- cancel vs expiry --------------------------------------------------------------------


def start_run(svc: Services, assistant: Record, start: str, index: int) -> Record:
    if start == lifecycle.QUEUED:
        return queue_run(svc, assistant, f"never run {index}")
    return waiting_run(svc, assistant)


@pytest.mark.parametrize(
    ("start", "iterations"),
    [(lifecycle.QUEUED, ITERATIONS), (lifecycle.REQUIRES_ACTION, VARIANT_ITERATIONS)],
)
def test_cancel_vs_expiry_past_the_deadline(svc: Services, start: str, iterations: int) -> None:
    """The clock is past the deadline: the sweeper and the cancel's own read both expire it."""
    clock = manual_clock(svc)
    for i in range(iterations):
        fresh_table(svc)
        assistant = new_assistant(svc, with_tool=True)
        run = start_run(svc, assistant, start, i)
        thread_id, run_id = run["thread_id"], run["id"]
        clock.set(run["expires_at"])
        sweep, cancel = race(
            *staggered(
                offset(i),
                lambda: sweeper.expire_stale_runs(svc),
                partial(runs.cancel_run, svc, PROJECT, thread_id, run_id),
            )
        )
        assert sweep.error is None, f"the sweep raised {sweep.error!r}"
        assert sweep.value.expired in (0, 1)
        refused = cancel.api_error()
        final = assert_consistent(svc, thread_id, run_id)
        label = f"iteration {i}: final {final.status}, cancel {cancel.value or refused}"
        assert final.status == lifecycle.EXPIRED, label
        assert refused is not None, f"{label}: a cancel past the deadline was accepted"
        assert (refused.status, refused.message) == (
            400,
            "Cannot cancel run with status 'expired'.",
        ), label
        assert final.run.get("cancelled_at") is None, label
        if start == lifecycle.REQUIRES_ACTION:
            (step,) = final.steps
            assert (step["status"], step["expired_at"]) == ("expired", run["expires_at"]), label


@pytest.mark.parametrize("start", [lifecycle.QUEUED, lifecycle.REQUIRES_ACTION])
def test_cancel_just_before_the_deadline_vs_the_sweeper(svc: Services, start: str) -> None:
    """A cancel that arrived a second before the deadline races the sweeper at the deadline.

    Either may win; a cancel the run had already accepted (it went `cancelling`) may still lose
    to the expiry before it finishes, and then answers the run as it ended: `expired`.
    """
    clock = manual_clock(svc)
    for i in range(VARIANT_ITERATIONS):
        fresh_table(svc)
        assistant = new_assistant(svc, with_tool=True)
        run = start_run(svc, assistant, start, i)
        thread_id, run_id = run["thread_id"], run["id"]
        clock.set(run["expires_at"])
        early = at(svc, run["expires_at"] - 1)
        sweep, cancel = race(
            *staggered(
                offset(i),
                lambda: sweeper.expire_stale_runs(svc),
                partial(runs.cancel_run, early, PROJECT, thread_id, run_id),
            )
        )
        assert sweep.error is None, f"the sweep raised {sweep.error!r}"
        refused = cancel.api_error()
        final = assert_consistent(svc, thread_id, run_id)
        label = f"iteration {i}: final {final.status}, cancel {cancel.value or refused}"
        assert final.status in (lifecycle.CANCELLED, lifecycle.EXPIRED), label
        if refused is not None:
            assert final.status == lifecycle.EXPIRED, label
            assert refused.message == "Cannot cancel run with status 'expired'.", label
        else:
            assert cancel.value["status"] == final.status, f"{label}: the cancel answered stale"
        # The cancel's clock is before the deadline: only the sweeper can have expired it.
        assert sweep.value.expired == int(final.status == lifecycle.EXPIRED), label
        if start == lifecycle.REQUIRES_ACTION:
            (step,) = final.steps
            assert step["status"] == final.status, f"{label}: the open step ended {step['status']}"


# -- submit tool outputs vs expiry -------------------------------------------------------


def test_submit_tool_outputs_vs_expiry_past_the_deadline(svc: Services) -> None:
    clock = manual_clock(svc)
    for i in range(ITERATIONS):
        fresh_table(svc)
        assistant = new_assistant(svc, with_tool=True)
        run = waiting_run(svc, assistant)
        thread_id, run_id = run["thread_id"], run["id"]
        clock.set(run["expires_at"])
        svc.dispatcher.take()  # type: ignore[attr-defined]
        request = outputs_for(run)
        sweep, submit = race(
            *staggered(
                offset(i),
                lambda: sweeper.expire_stale_runs(svc),
                partial(runs.submit_tool_outputs, svc, PROJECT, thread_id, run_id, request),
            )
        )
        assert sweep.error is None, f"the sweep raised {sweep.error!r}"
        refused = submit.api_error()
        final = assert_consistent(svc, thread_id, run_id)
        label = f"iteration {i}: final {final.status}, submit {submit.value or refused}"
        assert final.status == lifecycle.EXPIRED, label
        assert refused is not None, f"{label}: tool outputs past the deadline were accepted"
        assert (refused.status, refused.message) == (
            400,
            'Runs in status "expired" do not accept tool outputs.',
        ), label
        (step,) = final.steps
        assert step["status"] == "expired", label
        assert all(c["function"]["output"] is None for c in step["step_details"]["tool_calls"])
        assert svc.dispatcher.take() == [], f"{label}: a job was sent"  # type: ignore[attr-defined]


def test_submit_tool_outputs_just_before_the_deadline_vs_the_sweeper(svc: Services) -> None:
    """Outputs sent a second before the deadline race the sweeper at the deadline.

    If the outputs win, the run is queued again with its step completed; it is still past its
    deadline, so this sweep expires it with the step as the outputs left it (when the outputs
    land between the sweep's index read and its write, the sweep re-reads the run and expires
    it from what it is now). If the expiry wins, the outputs are refused and the step ends
    `expired`.
    """
    clock = manual_clock(svc)
    for i in range(VARIANT_ITERATIONS):
        fresh_table(svc)
        assistant = new_assistant(svc, with_tool=True)
        run = waiting_run(svc, assistant)
        thread_id, run_id = run["thread_id"], run["id"]
        clock.set(run["expires_at"])
        early = at(svc, run["expires_at"] - 1)
        request = outputs_for(run)
        svc.dispatcher.take()  # type: ignore[attr-defined]
        sweep, submit = race(
            *staggered(
                offset(i),
                lambda: sweeper.expire_stale_runs(svc),
                partial(runs.submit_tool_outputs, early, PROJECT, thread_id, run_id, request),
            )
        )
        assert sweep.error is None, f"the sweep raised {sweep.error!r}"
        refused = submit.api_error()
        swept = svc.store.get_run(PROJECT, thread_id, run_id)
        assert swept is not None
        label = f"iteration {i}: swept to {swept['status']}, submit {submit.value or refused}"
        assert swept["status"] == lifecycle.EXPIRED, label  # this sweep did it, not a later read
        final = assert_consistent(svc, thread_id, run_id)
        assert final.status == lifecycle.EXPIRED, label
        (step,) = final.steps
        outputs = [c["function"]["output"] for c in step["step_details"]["tool_calls"]]
        jobs = svc.dispatcher.take()  # type: ignore[attr-defined]
        if refused is not None:
            assert refused.message == 'Runs in status "expired" do not accept tool outputs.'
            assert (step["status"], outputs) == ("expired", [None]), label
            assert jobs == [], label
        else:
            queued, completed_step = submit.value
            assert queued["status"] == lifecycle.QUEUED, label
            assert (step["status"], outputs) == ("completed", ["sunny"]), label
            assert completed_step["status"] == "completed", label
            assert len(jobs) == 1, label


# -- two creates on one thread -----------------------------------------------------------


@pytest.mark.parametrize(
    ("thread_state", "iterations"),
    [("free", ITERATIONS), ("run past its deadline", VARIANT_ITERATIONS)],
)
def test_two_creates_on_one_thread(svc: Services, thread_state: str, iterations: int) -> None:
    clock = manual_clock(svc)
    for i in range(iterations):
        fresh_table(svc)
        assistant = new_assistant(svc)
        thread = new_thread(svc, f"thread {i}")
        thread_id = thread["id"]
        stale: Record | None = None
        if thread_state != "free":
            request = CreateRun.model_validate({"assistant_id": assistant["id"]})
            stale = runs.create_run(svc, PROJECT, thread_id, request, dispatch=False)
            clock.set(stale["expires_at"])
        svc.dispatcher.take()  # type: ignore[attr-defined]

        def create(
            who: str, thread_id: str = thread_id, assistant_id: str = assistant["id"]
        ) -> Record:
            body = {
                "assistant_id": assistant_id,
                "additional_messages": [{"role": "user", "content": who}],
            }
            return runs.create_run(svc, PROJECT, thread_id, CreateRun.model_validate(body))

        first, second = race(
            *staggered(offset(i) / 3, partial(create, "first"), partial(create, "second"))
        )
        errors = [r.api_error() for r in (first, second)]
        winners = [r.value for r in (first, second) if r.error is None]
        label = f"iteration {i}: {errors}"
        assert len(winners) == 1, f"{label}: {len(winners)} creates succeeded"
        (winner,) = winners
        (loser_error,) = [e for e in errors if e is not None]
        assert (loser_error.status, loser_error.message) == (
            400,
            f"Thread {thread_id} already has an active run {winner['id']}.",
        ), label
        current = svc.store.get_thread(PROJECT, thread_id)
        assert current is not None and current["active_run_id"] == winner["id"], label
        listed = svc.store.list_runs(PROJECT, thread_id, PageRequest(limit=10)).items
        expected = [winner["id"]] + ([stale["id"]] if stale else [])
        assert [r["id"] for r in listed] == expected, f"{label}: the loser's run was written"
        texts = [message_text(m) for m in svc.store.thread_messages(PROJECT, thread_id)]
        who = "first" if first.error is None else "second"
        assert texts == [f"thread {i}", who], f"{label}: the loser's message was written"
        jobs = svc.dispatcher.take()  # type: ignore[attr-defined]
        assert [j["run_id"] for j in jobs] == [winner["id"]], label
        assert_consistent(svc, thread_id, winner["id"])
        if stale:
            old = assert_consistent(svc, thread_id, stale["id"])
            assert old.status == lifecycle.EXPIRED, label


# -- one job delivered twice at once -----------------------------------------------------


@pytest.mark.parametrize(
    ("turn", "iterations"),
    [("first turn", ITERATIONS), ("after tool outputs", VARIANT_ITERATIONS)],
)
def test_duplicate_delivery(svc: Services, turn: str, iterations: int) -> None:
    """The same SQS job reaches two workers at once: the turn happens exactly once."""
    for i in range(iterations):
        fresh_table(svc)
        assistant = new_assistant(svc, with_tool=True)
        if turn == "first turn":
            run = queue_run(svc, assistant, f"echo me {i}")
            expected_reply, expected_steps = f"echo me {i}", ["message_creation"]
        else:
            waiting = waiting_run(svc, assistant)
            run, _ = runs.submit_tool_outputs(
                svc, PROJECT, waiting["thread_id"], waiting["id"], outputs_for(waiting)
            )
            expected_reply, expected_steps = "sunny", ["tool_calls", "message_creation"]
        thread_id, run_id = run["thread_id"], run["id"]
        deliver = partial(executor.advance_run, svc, PROJECT, thread_id, run_id)
        one, two = race(*staggered(offset(i) / 3, deliver, deliver))
        assert one.error is None and two.error is None, f"a worker raised: {one}, {two}"
        final = assert_consistent(svc, thread_id, run_id)
        label = f"iteration {i}: final {final.status}"
        assert final.status == lifecycle.COMPLETED, label
        assert [message_text(m) for m in final.replies] == [expected_reply], label
        assert sorted(s["type"] for s in final.steps) == sorted(expected_steps), label
        words = len(expected_reply.split())
        assert final.run["usage"]["completion_tokens"] == words, f"{label}: usage counted twice"
