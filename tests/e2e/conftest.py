"""A live local server (`python -m chalicelib.local.server`) driven with the official openai SDK.

Two servers, each started once per session and only when a test asks for it: `server` with runs
that expire after 600 s, and `short_expiry_server` with runs that expire after 3 s (a module may
start its own with `start_server`). Every test gets its own API key, i.e. its own project, so
tests never see each other's objects. Every response is checked against OpenAI's OpenAPI
document on the wire (see wire.py) before the SDK parses it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import openai
import pytest

from tests.e2e.wire import check_response

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 30.0
SHORT_EXPIRY_SECONDS = 3
_DROPPED = frozenset({"USE_AWS", "TABLE_NAME", "RUN_QUEUE_URL", "MODEL_MAP"})


@dataclass
class LiveServer:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    expires_after: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            pass
        httpx2.get(f"http://127.0.0.1:{port}/v1/assistants", timeout=2.0)
    except (OSError, httpx2.HTTPError):
        return False
    return True  # any status will do: the server is up


def _server_env(port: int, expires_after: int, sweep_interval: int) -> dict[str, str]:
    # Nothing that could point the server at a real table, queue, account or model.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in _DROPPED}
    env.update(
        PORT=str(port),
        STAGE="local",
        MODEL_PROVIDER="echo",
        RUN_EXPIRES_AFTER_SECONDS=str(expires_after),
        SWEEP_INTERVAL_SECONDS=str(sweep_interval),
        POLL_AFTER_MS="50",
        PYTHONUNBUFFERED="1",
    )
    return env


def start_server(
    log_dir: Path, expires_after: int, sweep_interval: int = 1
) -> Iterator[LiveServer]:
    """Start a local server, wait until it answers, yield it, and terminate it afterwards."""
    port = _free_port()
    log_path = log_dir / f"server-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.local.server"],
            cwd=ROOT,
            env=_server_env(port, expires_after, sweep_interval),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(port, process, log_path, expires_after)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not _answers(port):
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}:\n{server.log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer within 30 s:\n{server.log()}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The local server with the normal run expiry (600 s)."""
    yield from start_server(tmp_path_factory.mktemp("e2e-server"), 600)


@pytest.fixture(scope="session")
def short_expiry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A second local server whose runs expire 3 s after they are created."""
    yield from start_server(tmp_path_factory.mktemp("e2e-short"), SHORT_EXPIRY_SECONDS)


def new_key() -> str:
    """A random well-formed API key: a project of its own."""
    return "sk-e2e-" + uuid.uuid4().hex


def make_client(server: LiveServer, key: str) -> openai.OpenAI:
    """The SDK as a user configures it, plus a hook that checks every response on the wire."""
    return openai.OpenAI(
        base_url=server.base_url,
        api_key=key,
        max_retries=0,
        _strict_response_validation=True,
        http_client=openai.DefaultHttpxClient(event_hooks={"response": [check_response]}),
    )


def make_http(server: LiveServer, key: str | None) -> httpx2.Client:
    """A raw HTTP client with the headers the SDK would send (none for auth if `key` is None)."""
    headers = {"OpenAI-Beta": "assistants=v2"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return httpx2.Client(
        base_url=server.base_url,
        headers=headers,
        timeout=30.0,
        event_hooks={"response": [check_response]},
    )


@pytest.fixture
def api_key() -> str:
    return new_key()


@pytest.fixture
def client(server: LiveServer, api_key: str) -> Iterator[openai.OpenAI]:
    with make_client(server, api_key) as sdk:
        yield sdk


@pytest.fixture
def other_client(server: LiveServer) -> Iterator[openai.OpenAI]:
    """Another project on the same server."""
    with make_client(server, new_key()) as sdk:
        yield sdk


@pytest.fixture
def http(server: LiveServer, api_key: str) -> Iterator[httpx2.Client]:
    """Raw HTTP on the same project as `client`."""
    with make_http(server, api_key) as raw:
        yield raw


@pytest.fixture
def short_client(short_expiry_server: LiveServer) -> Iterator[openai.OpenAI]:
    with make_client(short_expiry_server, new_key()) as sdk:
        yield sdk
