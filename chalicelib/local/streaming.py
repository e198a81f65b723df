"""The local server's streaming responses: SSE frames written and flushed as they are produced.

chalice local answers a request only once its view has returned the whole body. In front of it,
the local handler (local/http.py) sends the three POSTs that can stream (with `"stream": true`)
to the streaming entry (chalicelib/api/streaming.py), which `write_chunked` writes frame by frame,
each as one HTTP/1.1 chunk; every other request goes to chalice local's gateway. The server is
threaded, so a long stream holds up only its own connection.
"""

from __future__ import annotations

import logging
from typing import Any

from ..api.streaming import StreamingResponse, open_stream
from ..wiring import get_services

log = logging.getLogger(__name__)


def write_chunked(handler: Any, response: StreamingResponse) -> None:
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


def stream_if_asked(handler: Any, headers: dict[str, Any], body: bytes | None) -> bool:
    """Answer a request that asks to stream, frame by frame; False for any other request."""
    response = open_stream(
        handler.command, handler.path, list(headers.items()), body or b"", get_services
    )
    if response is None:
        return False
    write_chunked(handler, response)
    return True
