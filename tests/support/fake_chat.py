"""A chat-completions server on 127.0.0.1 for end-to-end tests and benches: it answers "ok"
(as JSON, or as SSE chunks when the request asks to stream), and can hang on its first calls,
like a model whose worker is about to die mid-turn."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.local_http import serve_locally

REPLY = "ok"


@dataclass
class FakeChat:
    base_url: str = ""
    hang_first: int = 0  # this many calls never answer (until the server stops)
    calls: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)  # every request body, in order
    started: threading.Event = field(default_factory=threading.Event)  # a call came in
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take_call(self) -> int:
        with self._lock:
            self.calls += 1
            return self.calls


def _completion() -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": REPLY},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


def _chunks() -> Iterator[dict[str, Any]]:
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk"}
    yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": REPLY}}]}
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    yield {**base, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}


def _handler(fake: FakeChat) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            fake.bodies.append(body)
            number = fake.take_call()
            fake.started.set()
            if number <= fake.hang_first:
                fake._stop.wait()
                return
            if body.get("stream"):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for chunk in _chunks():
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.close_connection = True
                return
            data = json.dumps(_completion()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def fake_chat(hang_first: int = 0) -> Iterator[FakeChat]:
    fake = FakeChat(hang_first=hang_first)
    with serve_locally(_handler(fake), on_stop=fake._stop.set) as base_url:
        fake.base_url = base_url
        yield fake
