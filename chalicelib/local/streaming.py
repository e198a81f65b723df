"""The local server's streaming responses: SSE frames written and flushed as they are produced.

chalice local answers a request only once its view has returned the whole body. In front of it,
`serve_streams` sends the three POSTs that can stream (with `"stream": true`) to the streaming
entry (chalicelib/api/streaming.py) and writes each frame as one HTTP/1.1 chunk; every other
request goes to chalice local unchanged. The server is threaded, so a long stream holds up only
its own connection.
"""

from __future__ import annotations

import logging
from typing import Any

from ..api.streaming import StreamingResponse, open_stream
from ..wiring import get_services

log = logging.getLogger(__name__)


def _write_chunked(handler: Any, response: StreamingResponse) -> None:
    handler.send_response(response.status)
    for name, value in response.headers.items():
        handler.send_header(name, value)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    handler.wfile.flush()
    try:
        for chunk in response.chunks:
            if chunk:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                handler.wfile.flush()
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()
    except OSError:  # the client went away; the run goes on without it
        handler.close_connection = True
        log.info("client left a stream of %s %s", handler.command, handler.path)


def serve_streams(handler_class: Any) -> None:
    """Patch chalice local's request handler class to stream what can stream (once)."""
    if getattr(handler_class, "_serves_streams", False):
        return
    handler_class._serves_streams = True
    original = handler_class._generic_handle

    def generic_handle(self: Any) -> None:
        headers, body = self._parse_payload()
        response = open_stream(
            self.command, self.path, list(self.headers.items()), body or b"", get_services
        )
        if response is not None:
            _write_chunked(self, response)
            return
        # Not a stream: chalice local serves it, with the body we already read.
        self._parse_payload = lambda: (headers, body)
        try:
            original(self)
        finally:
            del self._parse_payload

    handler_class._generic_handle = generic_handle
    for method in ("do_GET", "do_PUT", "do_POST", "do_HEAD", "do_DELETE", "do_PATCH", "do_OPTIONS"):
        setattr(handler_class, method, generic_handle)


def serve_chalice_local_streams() -> None:
    """For `chalice local` (app.py calls this in Chalice's CLI mode; `make run` does it itself)."""
    from chalice import local

    serve_streams(local.ChaliceRequestHandler)
