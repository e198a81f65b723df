"""`stream: true`: create the run at once, then play its turn into an event sink.

`start_*` do what the request asks (and raise its 4xx) before anything is streamed; the
returned StreamTurn then emits the events as they happen: the opening ones, the run's progress,
every text and tool-call delta while the model writes, and the outcome once it is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..domain.objects import Record, to_wire
from . import runs
from .context import Services
from .events import EventList, EventSink
from .executor import advance_run

if TYPE_CHECKING:  # annotations only: polls and the worker never load pydantic
    from ..domain.requests import CreateRun, CreateThreadAndRun, SubmitToolOutputs


@dataclass
class StreamTurn:
    svc: Services
    project: str
    run: Record
    opening: list[tuple[str, Record]] = field(default_factory=list)

    def play(self, sink: EventSink) -> None:
        """Emit every event of the turn into `sink`, in the hosted API's order."""
        for event, record in self.opening:
            sink.emit(event, to_wire(record))
        sink.emit("thread.run.queued", to_wire(self.run))
        advance_run(self.svc, self.project, self.run["thread_id"], self.run["id"], sink)

    def collect(self) -> EventList:
        """The whole turn as one list (for a response that cannot stream)."""
        events = EventList()
        self.play(events)
        return events


def start_create_run(
    svc: Services,
    project: str,
    thread_id: str,
    request: CreateRun,
    include: list[str] | None = None,
) -> StreamTurn:
    run = runs.create_run(svc, project, thread_id, request, dispatch=False, include=include)
    return StreamTurn(svc, project, run, [("thread.run.created", run)])


def start_create_thread_and_run(
    svc: Services, project: str, request: CreateThreadAndRun
) -> StreamTurn:
    thread, run = runs.create_thread_and_run(svc, project, request, dispatch=False)
    return StreamTurn(svc, project, run, [("thread.created", thread), ("thread.run.created", run)])


def start_submit_tool_outputs(
    svc: Services, project: str, thread_id: str, run_id: str, request: SubmitToolOutputs
) -> StreamTurn:
    run, step = runs.submit_tool_outputs(svc, project, thread_id, run_id, request, dispatch=False)
    return StreamTurn(svc, project, run, [("thread.run.step.completed", step)])
