"""A fake server's HTTP side: a handler served on 127.0.0.1 in a thread of the test's own."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def serve_locally(
    handler: type[BaseHTTPRequestHandler], on_stop: Callable[[], None] = lambda: None
) -> Iterator[str]:
    """Serve `handler` on a free port; yields the base URL (`http://127.0.0.1:<port>/v1`).

    `on_stop` runs before the server shuts down (e.g. to release a request held open)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        on_stop()
        httpd.shutdown()
        httpd.server_close()
