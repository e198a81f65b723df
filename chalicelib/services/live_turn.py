"""A model turn's events as they happen: the step and message open at the first chunk, and
every chunk becomes a delta event. What is finally written (once, at the end of the turn) uses
the same message and step IDs, so the stream and the stored objects agree."""

from __future__ import annotations

from collections.abc import Callable

from ..domain import lifecycle
from ..domain.objects import Record, new_assistant_message, new_step, to_wire
from .events import EventSink


class LiveTurn:
    """A StreamListener that turns model chunks into the hosted API's stream events.

    (The run's lease is renewed by the executor's LeaseKeeper while the model works, chunks or
    not, so a model that thinks long before its first token keeps its run too.)
    """

    def __init__(
        self,
        run: Record,
        sink: EventSink,
        now: Callable[[], int],
        hidden: frozenset[str] = frozenset(),
    ) -> None:
        self.run = run
        self.sink = sink
        self.now = now
        # Tool names the server runs itself (file_search): their pieces are not streamed as
        # function calls; the executor announces them as what they are.
        self.hidden = hidden
        self.message: Record | None = None  # as opened (in_progress, no content yet)
        self.message_step: Record | None = None
        self.tool_step: Record | None = None
        self.announced_calls: set[int] = set()
        self.chunks = 0

    @property
    def streamed(self) -> bool:
        """Whether anything reached the client yet (a turn that did cannot be asked again)."""
        return self.chunks > 0

    def _emit(self, event: str, record: Record) -> None:
        self.sink.emit(event, to_wire(record))

    def on_text(self, delta: str) -> None:
        self.chunks += 1
        if self.message is None:
            self._open_message()
        assert self.message is not None
        self.sink.emit(
            "thread.message.delta",
            {
                "id": self.message["id"],
                "object": "thread.message.delta",
                "delta": {
                    "content": [
                        {"index": 0, "type": "text", "text": {"value": delta, "annotations": []}}
                    ]
                },
            },
        )

    def on_tool_call(self, index: int, call_id: str, name: str, arguments_delta: str) -> None:
        if name in self.hidden:
            return
        self.chunks += 1
        if self.tool_step is None:
            self._open_tool_step()
        assert self.tool_step is not None
        call: Record = {"index": index, "type": "function"}
        if index not in self.announced_calls:
            # The first piece of a call carries what the SDK needs to create it.
            self.announced_calls.add(index)
            call.update(
                id=call_id,
                function={"name": name, "arguments": arguments_delta, "output": None},
            )
        else:
            call["function"] = {"arguments": arguments_delta}
        self.sink.emit(
            "thread.run.step.delta",
            {
                "id": self.tool_step["id"],
                "object": "thread.run.step.delta",
                "delta": {"step_details": {"type": "tool_calls", "tool_calls": [call]}},
            },
        )

    def _open_message(self) -> None:
        now = self.now()
        message = new_assistant_message(self.run, "", now)
        message.update(status="in_progress", content=[], completed_at=None)
        step = new_step(
            self.run,
            "message_creation",
            {"type": "message_creation", "message_creation": {"message_id": message["id"]}},
            now,
        )
        self.message, self.message_step = message, step
        self._emit("thread.run.step.created", step)
        self._emit("thread.run.step.in_progress", step)
        self._emit("thread.message.created", message)
        self._emit("thread.message.in_progress", message)

    def _open_tool_step(self) -> None:
        step = new_step(
            self.run, "tool_calls", {"type": "tool_calls", "tool_calls": []}, self.now()
        )
        assert step["status"] == lifecycle.STEP_IN_PROGRESS
        self.tool_step = step
        self._emit("thread.run.step.created", step)
        self._emit("thread.run.step.in_progress", step)
