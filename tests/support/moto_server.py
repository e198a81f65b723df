"""moto in server mode on 127.0.0.1, as a DynamoDB endpoint for the deployed store path.

`python -m tests.support.moto_server PORT` serves moto's app with its calls run one at a time:
moto's backends are not thread-safe, and one call at a time is DynamoDB's own guarantee (each
request and each transaction is atomic and isolated). Connections are still served on threads,
so a client's keep-alive connection never holds up another's.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class SerialisedApp:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            return list(self.app(environ, start_response))


def main(port: int) -> None:
    from moto.moto_server.threaded_moto_server import MotoRequestHandler
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import run_simple

    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        "127.0.0.1", port, SerialisedApp(app), threaded=True, request_handler=MotoRequestHandler
    )


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def moto_endpoint() -> Iterator[str]:
    """Start the server on a free port; yields its endpoint URL; stops it afterwards."""
    from tests.support.live_server import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.moto_server", str(port)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("moto's server did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main(int(sys.argv[1]))
