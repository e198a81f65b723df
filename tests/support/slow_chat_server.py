"""A slow OpenAI-compatible chat-completions server on 127.0.0.1, streaming like a real model.

Text replies are `tokens` words, `interval` seconds apart (the first at once). If the request
offers tools and the last user message names one, the reply is a call of it instead, its
arguments (the first JSON object in the message, else {}) streamed in small pieces at the same
pace. Every stream ends with a usage chunk and `[DONE]`, as OpenAI's does with
`stream_options.include_usage`.

    with slow_chat_server(tokens=20, interval=0.1) as base_url: ...
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ARGUMENT_PIECE_CHARS = 6


def reply_words(tokens: int) -> list[str]:
    return [f"word{i} " if i < tokens - 1 else f"word{i}" for i in range(tokens)]


def _tool_call(body: dict[str, Any]) -> tuple[str, str] | None:
    names = [t["function"]["name"] for t in body.get("tools") or []]
    users = [m for m in body["messages"] if m["role"] == "user"]
    if not names or not users or body["messages"][-1]["role"] == "tool":
        return None
    text = str(users[-1]["content"])
    for name in names:
        if re.search(rf"\b{re.escape(name)}\b", text):
            match = re.search(r"\{.*\}", text)
            return name, (match.group(0) if match else "{}")
    return None


def _chunks(body: dict[str, Any], tokens: int) -> Iterator[dict[str, Any]]:
    call = _tool_call(body)
    if call is None:
        for word in reply_words(tokens):
            yield {"choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
        finish = "stop"
    else:
        name, arguments = call
        yield {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_slow0",
                                "type": "function",
                                "function": {"name": name, "arguments": ""},
                            }
                        ]
                    },
                }
            ]
        }
        for start in range(0, len(arguments), ARGUMENT_PIECE_CHARS):
            piece = arguments[start : start + ARGUMENT_PIECE_CHARS]
            yield {
                "choices": [
                    {
                        "index": 0,
                        "delta": {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]},
                    }
                ]
            }
        finish = "tool_calls"
    yield {"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
    yield {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": tokens}}


@contextmanager
def slow_chat_server(tokens: int = 20, interval: float = 0.1) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for index, chunk in enumerate(_chunks(body, tokens)):
                if index and chunk.get("choices"):
                    time.sleep(interval)
                data = {"id": "chatcmpl-slow", "object": "chat.completion.chunk", **chunk}
                self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
