"""Stream events: collected while a run advances, sent as one server-sent-events body."""

from __future__ import annotations

import json
from typing import Any, Protocol


class EventSink(Protocol):
    def emit(self, event: str, data: dict[str, Any]) -> None: ...


class NullSink:
    def emit(self, event: str, data: dict[str, Any]) -> None:
        return None


class EventList:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def emit(self, event: str, data: dict[str, Any]) -> None:
        self.events.append((event, data))

    def to_sse(self) -> str:
        frames = [
            f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
            for event, data in self.events
        ]
        frames.append("event: done\ndata: [DONE]\n\n")
        return "".join(frames)
