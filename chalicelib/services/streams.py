"""`stream: true`: run the turn inline and return the events it produced, in order.

Behind API Gateway the body is delivered whole when the run stops (or asks for tool outputs);
the events and their order are the same as the hosted API's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..domain.objects import Record, to_wire
from . import runs
from .context import Services
from .events import EventList
from .executor import advance_run

if TYPE_CHECKING:  # annotations only: polls and the worker never load pydantic
    from ..domain.requests import CreateRun, CreateThreadAndRun, SubmitToolOutputs


def _advance(svc: Services, project: str, run: Record, events: EventList) -> EventList:
    events.emit("thread.run.queued", to_wire(run))
    advance_run(svc, project, run["thread_id"], run["id"], events)
    return events


def create_run_stream(svc: Services, project: str, thread_id: str, request: CreateRun) -> EventList:
    run = runs.create_run(svc, project, thread_id, request, dispatch=False)
    events = EventList()
    events.emit("thread.run.created", to_wire(run))
    return _advance(svc, project, run, events)


def create_thread_and_run_stream(
    svc: Services, project: str, request: CreateThreadAndRun
) -> EventList:
    thread, run = runs.create_thread_and_run(svc, project, request, dispatch=False)
    events = EventList()
    events.emit("thread.created", to_wire(thread))
    events.emit("thread.run.created", to_wire(run))
    return _advance(svc, project, run, events)


def submit_tool_outputs_stream(
    svc: Services, project: str, thread_id: str, run_id: str, request: SubmitToolOutputs
) -> EventList:
    run, step = runs.submit_tool_outputs(svc, project, thread_id, run_id, request, dispatch=False)
    events = EventList()
    events.emit("thread.run.step.completed", to_wire(step))
    return _advance(svc, project, run, events)
