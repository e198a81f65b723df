"""The streaming function's entry point, driven the way Lambda drives it: a Runtime API on
127.0.0.1 hands it API Gateway proxy events and receives the chunked, streamed responses."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chalicelib.lambda_stream.runtime import PRELUDE_DELIMITER, RuntimeClient, serve
from chalicelib.providers.echo import EchoProvider
from chalicelib.services.context import Services
from tests.conftest import KEY, Api

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@dataclass
class Streamed:
    headers: dict[str, str]
    chunks: list[tuple[float, bytes]] = field(default_factory=list)

    @property
    def body(self) -> bytes:
        return b"".join(chunk for _, chunk in self.chunks)


@dataclass
class FakeRuntimeApi:
    """Lambda's Runtime API: /invocation/next serves queued events, /response records chunks."""

    address: str = ""
    events: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    responses: dict[str, Streamed] = field(default_factory=dict)
    errors: dict[str, Any] = field(default_factory=dict)


def _handler(api: FakeRuntimeApi) -> type[BaseHTTPRequestHandler]:
    counter = iter(range(10**6))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            assert self.path == "/2018-06-01/runtime/invocation/next"
            event = api.events.get()
            request_id = f"req-{next(counter)}"
            deadline = str(int(time.time() * 1000) + 900_000)
            headers = {"Lambda-Runtime-Aws-Request-Id": request_id}
            headers["Lambda-Runtime-Deadline-Ms"] = deadline
            self._answer(200, json.dumps(event).encode(), headers)

        def do_POST(self) -> None:
            request_id = self.path.split("/")[4]
            if self.path.endswith("/error"):
                length = int(self.headers["Content-Length"])
                api.errors[request_id] = json.loads(self.rfile.read(length))
                self._answer(202, b"{}")
                return
            streamed = Streamed({k.lower(): v for k, v in self.headers.items()})
            while True:  # chunked transfer encoding, read chunk by chunk as it arrives
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                streamed.chunks.append((time.monotonic(), self.rfile.read(size)))
                self.rfile.readline()
            api.responses[request_id] = streamed
            self._answer(202, b"{}")

    return Handler


@pytest.fixture
def runtime_api() -> Iterator[FakeRuntimeApi]:
    fake = FakeRuntimeApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.address = f"127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield fake
    server.shutdown()
    server.server_close()


def _proxy_event(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """An API Gateway REST proxy event, as the streaming integration passes it."""
    headers = {
        "Authorization": f"Bearer {KEY}",
        "OpenAI-Beta": "assistants=v2",
        "Content-Type": "application/json",
    }
    thread_id = path.split("/")[3]
    return {
        "resource": "/v1/threads/{thread_id}/runs",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"thread_id": thread_id},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/v1/threads/{thread_id}/runs",
            "httpMethod": method,
            "path": f"/api{path}",
            "stage": "api",
            "requestId": "gw-1",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def _split_prelude(body: bytes) -> tuple[dict[str, Any], bytes]:
    metadata, delimiter, rest = body.partition(PRELUDE_DELIMITER)
    assert delimiter == PRELUDE_DELIMITER, body[:200]
    return json.loads(metadata), rest


def test_a_streamed_run_is_posted_frame_by_frame(
    api: Api, svc: Services, runtime_api: FakeRuntimeApi
) -> None:
    svc.provider = EchoProvider(word_delay=0.05)
    assistant = api.ok("POST", "/v1/assistants", {"model": "m"})
    words = "one two three four five six seven eight"
    thread = api.ok("POST", "/v1/threads", {"messages": [{"role": "user", "content": words}]})
    path = f"/v1/threads/{thread['id']}/runs"
    runtime_api.events.put(
        _proxy_event("POST", path, {"assistant_id": assistant["id"], "stream": True})
    )

    serve(RuntimeClient(runtime_api.address), invocations=1)

    [streamed] = runtime_api.responses.values()
    assert streamed.headers["lambda-runtime-function-response-mode"] == "streaming"
    assert streamed.headers["transfer-encoding"] == "chunked"
    assert streamed.headers["content-type"] == "application/vnd.awslambda.http-integration-response"
    metadata, sse = _split_prelude(streamed.body)
    assert metadata["statusCode"] == 200
    assert metadata["headers"]["Content-Type"].startswith("text/event-stream")
    assert sse.endswith(b"event: done\ndata: [DONE]\n\n")
    deltas = [c for t, c in streamed.chunks if c.startswith(b"event: thread.message.delta")]
    assert len(deltas) == 8, "one chunk per word, each sent as it was produced"
    times = [t for t, c in streamed.chunks if c.startswith(b"event: thread.message.delta")]
    assert times[-1] - times[0] >= 0.25, "the deltas arrived over time, not in one piece"
    text = "".join(
        json.loads(c.split(b"\ndata: ", 1)[1])["delta"]["content"][0]["text"]["value"]
        for c in deltas
    )
    assert text == words
    run_id = json.loads(streamed.chunks[1][1].split(b"\ndata: ", 1)[1])["id"]
    assert api.ok("GET", f"{path}/{run_id}")["status"] == "completed"


def test_without_stream_the_chalice_app_answers_plain_json(
    api: Api, svc: Services, runtime_api: FakeRuntimeApi
) -> None:
    assistant = api.ok("POST", "/v1/assistants", {"model": "m"})
    thread = api.ok("POST", "/v1/threads", {"messages": [{"role": "user", "content": "hi"}]})
    path = f"/v1/threads/{thread['id']}/runs"
    runtime_api.events.put(_proxy_event("POST", path, {"assistant_id": assistant["id"]}))

    serve(RuntimeClient(runtime_api.address), invocations=1)

    [streamed] = runtime_api.responses.values()
    metadata, body = _split_prelude(streamed.body)
    assert metadata["statusCode"] == 200
    assert metadata["headers"]["Content-Type"] == "application/json"
    run = json.loads(body)
    assert run["object"] == "thread.run" and run["status"] == "queued"


def test_a_bad_streamed_request_is_an_openai_error_before_any_frame(
    api: Api, svc: Services, runtime_api: FakeRuntimeApi
) -> None:
    thread = api.ok("POST", "/v1/threads", {"messages": [{"role": "user", "content": "hi"}]})
    path = f"/v1/threads/{thread['id']}/runs"
    runtime_api.events.put(
        _proxy_event("POST", path, {"assistant_id": "asst_nope", "stream": True})
    )

    serve(RuntimeClient(runtime_api.address), invocations=1)

    [streamed] = runtime_api.responses.values()
    metadata, body = _split_prelude(streamed.body)
    assert metadata["statusCode"] == 404
    assert json.loads(body)["error"]["param"] == "assistant_id"
