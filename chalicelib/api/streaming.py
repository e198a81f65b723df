"""The streaming entry: the three POSTs that can stream, answered as frames while the run goes.

Framework-independent: `open_stream(method, path, headers, body, services)` returns None for any
request that is not one of those POSTs with `"stream": true` (the caller then serves it as
usual, through the Chalice routes), or a StreamingResponse whose `chunks` yield each SSE frame
as the run emits it. The request's checks, the run's creation and any 4xx happen before the
status is returned; then the turn runs on a thread of its own and hands frames over a queue, so
a client that goes away mid-stream never stops or strands the run: it runs to its end.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..domain.errors import ApiError, ServerError
from ..domain.requests import CreateRun, CreateThreadAndRun, SubmitToolOutputs
from ..services import runs, streams
from ..services.context import Services
from ..services.events import FrameQueue
from .router import ApiRequest, admit

log = logging.getLogger(__name__)
SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
_CREATE_RUN = re.compile(r"^/v1/threads/(?P<thread_id>[^/]+)/runs$")
_SUBMIT = re.compile(
    r"^/v1/threads/(?P<thread_id>[^/]+)/runs/(?P<run_id>[^/]+)/submit_tool_outputs$"
)
_CREATE_THREAD_AND_RUN = "/v1/threads/runs"


@dataclass
class StreamingResponse:
    status: int
    headers: dict[str, str]
    chunks: Iterator[bytes]


class _Headers:
    """Request headers as the router reads them: case-insensitive, duplicates kept."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.multi: dict[str, list[str]] = {}
        for name, value in pairs:
            self.multi.setdefault(name.lower(), []).append(value)
        self.headers = {name: values[-1] for name, values in self.multi.items()}

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def to_original_event(self) -> dict[str, Any]:
        return {"multiValueHeaders": self.multi}


def wants_stream(body: bytes) -> bool:
    """`"stream": true` in a JSON object body; anything else is for the ordinary routes."""
    try:
        data = json.loads(body.decode("utf-8")) if body.strip() else None
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("stream") is True


def _route(method: str, path: str) -> dict[str, str] | None:
    if method != "POST":
        return None
    if path == _CREATE_THREAD_AND_RUN:
        return {"kind": "create_thread_and_run"}
    for kind, pattern in (("create_run", _CREATE_RUN), ("submit", _SUBMIT)):
        match = pattern.match(path)
        if match:
            return {"kind": kind, **match.groupdict()}
    return None


def _start(req: ApiRequest, route: dict[str, str]) -> streams.StreamTurn:
    if route["kind"] == "create_run":
        include = runs.check_include(req.query_list("include[]"))
        request = req.body(CreateRun)
        return streams.start_create_run(req.svc, req.project, route["thread_id"], request, include)
    if route["kind"] == "create_thread_and_run":
        return streams.start_create_thread_and_run(
            req.svc, req.project, req.body(CreateThreadAndRun)
        )
    return streams.start_submit_tool_outputs(
        req.svc, req.project, route["thread_id"], route["run_id"], req.body(SubmitToolOutputs)
    )


def _error(error: ApiError) -> StreamingResponse:
    body = json.dumps(error.body(), separators=(",", ":")).encode()
    return StreamingResponse(error.status, {"Content-Type": "application/json"}, iter([body]))


def _play(turn: streams.StreamTurn, frames: FrameQueue) -> None:
    try:
        turn.play(frames)
    except Exception:  # the executor ends the run itself; this only keeps the stream closing
        log.exception("stream of run %s failed", turn.run["id"])
    finally:
        frames.close()


def open_stream(
    method: str,
    path: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    services: Callable[[], Services],
) -> StreamingResponse | None:
    """The response to a streaming request as it is produced; None if it is not one."""
    url = urlsplit(path)
    route = _route(method.upper(), url.path)
    if route is None or not wants_stream(body):
        return None
    request = _Headers(headers)
    try:
        svc = services()
        project = admit(svc, request, body)
        multi = parse_qs(url.query, keep_blank_values=True)
        query = {name: values[-1] for name, values in multi.items()}
        turn = _start(ApiRequest(svc, project, query, multi, body), route)
    except ApiError as error:
        return _error(error)
    except Exception:
        log.exception("unhandled error on %s %s", method, path)
        return _error(ServerError("The server had an error while processing your request."))
    frames = FrameQueue()
    threading.Thread(
        target=_play, args=(turn, frames), name=f"stream-{turn.run['id']}", daemon=True
    ).start()
    return StreamingResponse(200, dict(SSE_HEADERS), frames.frames())
