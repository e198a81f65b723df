"""An OpenAI-compatible embeddings server on 127.0.0.1: `POST /v1/embeddings`.

It answers as OpenAI does (`{"object": "list", "data": [{"object": "embedding", "index",
"embedding"}], "model", "usage"}`), with the hashing embedder's vectors (so answers are
deterministic and meaningful), scaled by 3 so that a client that forgets to normalise is caught.
It checks the bearer key when given one, records every request body, can answer its next calls
with an error status, can hang (for timeouts), and makes `native_dimension` floats unless the
request asks for `dimensions`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from chalicelib.providers.embeddings.hashing import HashingEmbedder
from tests.support.local_http import serve_locally


@dataclass
class FakeEmbeddings:
    api_key: str | None = None
    native_dimension: int = 512
    base_url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # statuses for the next calls
    hang: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(fake: FakeEmbeddings) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            error = {"message": message, "type": "invalid_request_error", "param": None}
            self._send(status, {"error": {**error, "code": None}})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            with fake._lock:
                fake.requests.append(body)
                fake.headers.append(dict(self.headers))
                status = fake.fail_next.pop(0) if fake.fail_next else None
            if fake.hang:
                fake._stop.wait()
                return
            if self.path != "/v1/embeddings":
                self._error(404, f"no route {self.path}")
            elif fake.api_key and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                self._error(401, "Incorrect API key provided")
            elif status is not None:
                self._error(status, f"failing on purpose with {status}")
            elif not isinstance(body.get("input"), list) or not body["input"]:
                self._error(400, "'input' must be a non-empty list")
            else:
                dimension = int(body.get("dimensions") or fake.native_dimension)
                vectors = HashingEmbedder(dimension).embed(body["input"])
                data = [
                    {"object": "embedding", "index": i, "embedding": [3 * x for x in v]}
                    for i, v in reversed(list(enumerate(vectors)))  # any order; `index` says
                ]
                words = sum(len(str(t).split()) for t in body["input"])
                self._send(
                    200,
                    {
                        "object": "list",
                        "data": data,
                        "model": body.get("model"),
                        "usage": {"prompt_tokens": words, "total_tokens": words},
                    },
                )

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def fake_embeddings(
    api_key: str | None = None, native_dimension: int = 512
) -> Iterator[FakeEmbeddings]:
    fake = FakeEmbeddings(api_key=api_key, native_dimension=native_dimension)
    with serve_locally(_handler(fake), on_stop=fake._stop.set) as base_url:
        fake.base_url = base_url
        yield fake
