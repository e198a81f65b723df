"""A live local server (`python -m chalicelib.local.server`) driven with the official openai SDK.

Servers are started once per session and only when a test asks for one: `server` with runs that
expire after 600 s, once on the embedded engine and once on a DynamoDB endpoint (moto's server
mode on 127.0.0.1: the deployed store path, with file content in an S3 bucket on the same moto
server), so every test that uses it runs on both; and
`short_expiry_server` (embedded) with runs that expire after 3 s (a module may start its own
with `serve`). Every test gets its own API key, i.e. its own project, so
tests never see each other's objects. Every response is checked against OpenAI's OpenAPI
document on the wire (see wire.py) before the SDK parses it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx2
import openai
import pytest

from tests.e2e.wire import check_response
from tests.support.live_server import LiveServer, dynamodb_env, s3_env, start_server
from tests.support.moto_server import moto_endpoint

SHORT_EXPIRY_SECONDS = 3


def serve(
    expires_after: int, sweep_interval: int = 1, store_env: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    """A local server on the echo model whose runs expire `expires_after` s after creation."""
    env = {
        "MODEL_PROVIDER": "echo",
        "MODEL_MAP": "",
        "RUN_EXPIRES_AFTER_SECONDS": str(expires_after),
        "SWEEP_INTERVAL_SECONDS": str(sweep_interval),
        **(store_env or {}),
    }
    with start_server(env) as server:
        yield server


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    with moto_endpoint() as endpoint:
        yield endpoint


@pytest.fixture(scope="session", params=["embedded", "dynamodb"])
def server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """The local server with the normal run expiry (600 s), on each store path."""
    if request.param == "dynamodb":
        endpoint = request.getfixturevalue("dynamodb_endpoint")
        yield from serve(600, store_env={**dynamodb_env(endpoint), **s3_env(endpoint)})
    else:
        yield from serve(600)


@pytest.fixture(scope="session")
def short_expiry_server() -> Iterator[LiveServer]:
    """A second local server whose runs expire 3 s after they are created."""
    yield from serve(SHORT_EXPIRY_SECONDS)


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
