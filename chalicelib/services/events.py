"""Stream events: emitted while a run advances, written as server-sent-events frames."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator
from typing import Any, Protocol

DONE_FRAME = b"event: done\ndata: [DONE]\n\n"


class EventSink(Protocol):
    def emit(self, event: str, data: dict[str, Any]) -> None: ...


class NullSink:
    def emit(self, event: str, data: dict[str, Any]) -> None:
        return None


def sse_frame(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class EventList:
    """Collects the events (a response that is sent whole)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def emit(self, event: str, data: dict[str, Any]) -> None:
        self.events.append((event, data))

    def to_sse(self) -> str:
        frames = [sse_frame(event, data) for event, data in self.events]
        return b"".join([*frames, DONE_FRAME]).decode()


class FrameQueue:
    """Frames handed from the thread running the turn to the one writing the response.

    The producer never blocks (the queue is unbounded), so a reader that stops reading, a
    client gone, never holds the turn up: it runs to its end either way.
    """

    _END = b""

    def __init__(self) -> None:
        self._frames: queue.Queue[bytes] = queue.Queue()

    def emit(self, event: str, data: dict[str, Any]) -> None:
        self._frames.put(sse_frame(event, data))

    def close(self) -> None:
        """The turn is over: the stream ends with the `done` frame."""
        self._frames.put(DONE_FRAME)
        self._frames.put(self._END)

    def frames(self) -> Iterator[bytes]:
        while True:
            frame = self._frames.get()
            if frame == self._END:
                return
            yield frame
