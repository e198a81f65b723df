"""The local stage on its embedded engine: data that survives restarts and kill -9, `chalice
local` that works like `make run`, and an HTTP server that answers every odd request.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.e2e.conftest import make_client, new_key
from tests.support.live_server import ROOT, LiveServer, free_port, server_env, start_server

READ_TIMEOUT = 2  # LOCAL_READ_TIMEOUT_SECONDS for these servers: refusals come quickly


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="assistants-data-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def local_server(data_dir: Path, *args: str) -> LiveServer:
    env = {
        "DATA_DIR": str(data_dir),
        "MODEL_PROVIDER": "echo",
        "LOCAL_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT),
    }
    return start_server(env, args=args)


def kill_hard(server: LiveServer) -> None:
    """kill -9: no shutdown, no flush, as a crash or an OOM kill would end it."""
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)


def model_env(data_dir: Path, base_url: str, **extra: str) -> dict[str, str]:
    """A local server on `data_dir` whose model is the chat-completions server at `base_url`,
    with a 2 s lease so a killed worker's runs come back quickly."""
    return {
        "DATA_DIR": str(data_dir),
        "MODEL_PROVIDER": "openai",
        "OPENAI_COMPAT_BASE_URL": base_url,
        "RUN_LEASE_SECONDS": "2",
        **extra,
    }


def populate(sdk: openai.OpenAI) -> dict[str, Any]:
    """One of everything: an assistant, a thread with messages, a completed run and its steps."""
    assistant = sdk.beta.assistants.create(model="echo", name="keeper", instructions="be kind")
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "remember me"}])
    run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"
    messages = sdk.beta.threads.messages.list(thread_id=thread.id, order="asc")
    steps = sdk.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id)
    return {
        "assistant": assistant.model_dump(),
        "thread": thread.model_dump(),
        "run": run.model_dump(),
        "messages": [m.model_dump() for m in messages.data],
        "steps": [s.model_dump() for s in steps.data],
    }


def read_back(sdk: openai.OpenAI, made: dict[str, Any]) -> dict[str, Any]:
    thread_id, run_id = made["thread"]["id"], made["run"]["id"]
    return {
        "assistant": sdk.beta.assistants.retrieve(made["assistant"]["id"]).model_dump(),
        "thread": sdk.beta.threads.retrieve(thread_id).model_dump(),
        "run": sdk.beta.threads.runs.retrieve(thread_id=thread_id, run_id=run_id).model_dump(),
        "messages": [
            m.model_dump()
            for m in sdk.beta.threads.messages.list(thread_id=thread_id, order="asc").data
        ],
        "steps": [
            s.model_dump()
            for s in sdk.beta.threads.runs.steps.list(thread_id=thread_id, run_id=run_id).data
        ],
    }


def test_a_restart_keeps_everything(data_dir: Path) -> None:
    key = new_key()
    with local_server(data_dir) as first, make_client(first, key) as sdk:
        made = populate(sdk)
    assert (data_dir / "assistants.sqlite3").exists()
    with local_server(data_dir) as second, make_client(second, key) as sdk:
        assert read_back(sdk, made) == made
        # Still fully usable: the thread takes a new run after the restart.
        again = sdk.beta.threads.runs.create_and_poll(
            thread_id=made["thread"]["id"], assistant_id=made["assistant"]["id"]
        )
        assert again.status == "completed"


def test_reset_starts_fresh(data_dir: Path) -> None:
    key = new_key()
    with local_server(data_dir) as first, make_client(first, key) as sdk:
        assistant = sdk.beta.assistants.create(model="echo")
    with local_server(data_dir, "--reset") as second, make_client(second, key) as sdk:
        with pytest.raises(openai.NotFoundError):
            sdk.beta.assistants.retrieve(assistant.id)
        assert sdk.beta.assistants.list().data == []


def test_a_killed_server_loses_no_committed_write(data_dir: Path) -> None:
    """Every write the server answered before kill -9 is there after the restart."""
    key = new_key()
    server = local_server(data_dir)
    try:
        with make_client(server, key) as sdk:
            thread = sdk.beta.threads.create()
            written = []
            for i in range(40):
                message = sdk.beta.threads.messages.create(
                    thread_id=thread.id, role="user", content=f"message {i}"
                )
                written.append(message.id)
            kill_hard(server)  # right after the last answer
    finally:
        server.stop()
    with local_server(data_dir) as second, make_client(second, key) as sdk:
        listed = sdk.beta.threads.messages.list(thread_id=thread.id, order="asc", limit=100)
        assert [m.id for m in listed.data] == written


def test_chalice_local_serves_create_and_poll(data_dir: Path) -> None:
    """`chalice local --stage local` gets the embedded engine, worker threads and the sweeper."""
    port = free_port()
    env = server_env(port, {"DATA_DIR": str(data_dir)})
    env.pop("STAGE")  # the local stage's own config (.chalice/config.json) sets it
    chalice = Path(sys.executable).parent / "chalice"
    process = subprocess.Popen(
        [str(chalice), "local", "--stage", "local", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    server = LiveServer(process, port, data_dir / "unused.log")
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):
            assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "chalice local did not start"
            time.sleep(0.2)
        with make_client(server, new_key()) as sdk:
            assistant = sdk.beta.assistants.create(model="echo")
            thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "ping"}])
            run = sdk.beta.threads.runs.create_and_poll(
                thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
            )
            assert run.status == "completed"
            reply = sdk.beta.threads.messages.list(thread_id=thread.id).data[0]
            assert reply.role == "assistant" and reply.content[0].text.value  # type: ignore[union-attr]
        assert (data_dir / "assistants.sqlite3").exists()
    finally:
        server.stop()


def test_a_wrong_configuration_is_one_message_at_startup(data_dir: Path) -> None:
    port = free_port()
    env = server_env(port, {"DATA_DIR": str(data_dir), "MODEL_PROVIDER": "nonsense"})
    result = subprocess.run(
        [sys.executable, "-m", "chalicelib.local.server"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "cannot start the local stage: unknown MODEL_PROVIDER 'nonsense'" in result.stderr
    assert "Traceback" not in result.stderr


# -- the HTTP server ---------------------------------------------------------------------------


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with local_server(tmp_path_factory.mktemp("data")) as server:
        yield server


def exchange(port: int, raw: bytes, timeout: float = 15) -> bytes:
    """Send raw bytes, read until the server closes the connection (or `timeout`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def request(method: str, path: str, body: bytes = b"", extra: str = "") -> bytes:
    headers = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Authorization: Bearer sk-http-test-key-0001\r\n"
        f"OpenAI-Beta: assistants=v2\r\nContent-Type: application/json\r\n{extra}"
    )
    if body and "Transfer-Encoding" not in extra and "Content-Length" not in extra:
        headers += f"Content-Length: {len(body)}\r\n"
    return headers.encode() + b"\r\n" + body


def responses(raw: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Split the HTTP/1.1 responses read from one connection (Content-Length framed)."""
    found = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = 0 if headers.get("x-head") else int(headers.get("content-length", "0"))
        found.append((status, headers, rest[:length]))
        raw = rest[length:]
    return found


def error_message(body: bytes) -> str:
    import json

    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return str(error["message"])


def test_head_answers_headers_only_and_the_connection_stays_usable(hardened: LiveServer) -> None:
    raw = request("HEAD", "/v1/assistants") + request(
        "GET", "/v1/assistants", extra="Connection: close\r\n"
    )
    with socket.create_connection(("127.0.0.1", hardened.port), timeout=15) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head_part, _, rest = data.partition(b"\r\n\r\n")
    assert head_part.startswith(b"HTTP/1.1 200")
    assert b"content-length:" in head_part.lower(), "HEAD tells GET's length"
    # No body after the HEAD answer: the next bytes are the GET's status line.
    assert rest.startswith(b"HTTP/1.1 200"), rest[:80]
    ((status, _, body),) = responses(rest)
    assert status == 200 and b'"object":"list"' in body


def test_a_chunked_body_is_read(hardened: LiveServer) -> None:
    body = b'{"model": "echo", "name": "chunky"}'
    chunked = (
        b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (body[:10], body[10:]))
        + b"0\r\n\r\n"
    )
    raw = request(
        "POST", "/v1/assistants", chunked, "Transfer-Encoding: chunked\r\nConnection: close\r\n"
    )
    ((status, _, answer),) = responses(exchange(hardened.port, raw))
    assert status == 200 and b'"name":"chunky"' in answer


def test_a_body_shorter_than_its_content_length_is_a_408(hardened: LiveServer) -> None:
    raw = request("POST", "/v1/assistants", b'{"model"', "Content-Length: 500\r\n")
    started = time.monotonic()
    ((status, headers, body),) = responses(exchange(hardened.port, raw))
    assert status == 408 and "not received within" in error_message(body)
    assert time.monotonic() - started < READ_TIMEOUT + 5
    assert headers.get("connection") == "close"


def test_a_url_too_long_is_a_414_and_headers_too_large_a_431(hardened: LiveServer) -> None:
    long_url = "/v1/assistants?x=" + "a" * 20_000
    ((status, headers, body),) = responses(exchange(hardened.port, request("GET", long_url)))
    assert status == 414 and headers["content-type"] == "application/json"
    assert "URL is too long" in error_message(body)
    big = "".join(f"X-Big-{i}: {'b' * 1000}\r\n" for i in range(40))
    ((status, _, body),) = responses(
        exchange(hardened.port, request("GET", "/v1/assistants", extra=big))
    )
    assert status == 431 and "headers are too large" in error_message(body)


def test_conflicting_authorization_headers_are_a_401(hardened: LiveServer) -> None:
    extra = "Authorization: Bearer sk-other\r\nConnection: close\r\n"
    ((status, _, body),) = responses(
        exchange(hardened.port, request("GET", "/v1/assistants", extra=extra))
    )
    assert status == 401 and "Multiple Authorization headers" in error_message(body)


def test_a_slow_client_holds_up_only_itself(hardened: LiveServer) -> None:
    """A client that sends half its headers and stalls gets a 408; others are served meanwhile."""
    with socket.create_connection(("127.0.0.1", hardened.port), timeout=15) as slow:
        slow.sendall(b"GET /v1/assistants HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        with make_client(hardened, new_key()) as sdk:
            for _ in range(5):
                assert sdk.beta.assistants.list().data == []
        data = b""
        while chunk := slow.recv(65536):
            data += chunk
    ((status, _, body),) = responses(data)
    assert status == 408 and "headers were not received in time" in error_message(body)


# -- a server killed mid-turn ------------------------------------------------------------------


def test_a_run_whose_server_was_killed_mid_turn_completes_after_the_restart(
    data_dir: Path,
) -> None:
    """kill -9 while the model is answering; after the restart the lease lapses, the sweeper
    re-queues the run and it completes (the embedded engine kept the claim)."""
    from tests.support.fake_chat import REPLY, fake_chat

    key = new_key()
    with fake_chat(hang_first=1) as model:
        env = model_env(data_dir, model.base_url)
        first = start_server(env)
        try:
            with make_client(first, key) as sdk:
                assistant = sdk.beta.assistants.create(model="fake")
                thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
                run = sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
                assert model.started.wait(20), "the model was never called"
                claimed = sdk.beta.threads.runs.retrieve(thread_id=thread.id, run_id=run.id)
                assert claimed.status == "in_progress"
            kill_hard(first)
        finally:
            first.stop()
        with start_server(env) as second, make_client(second, key) as sdk:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                current = sdk.beta.threads.runs.retrieve(thread_id=thread.id, run_id=run.id)
                if current.status in ("completed", "failed", "expired", "cancelled"):
                    break
                time.sleep(0.2)
            assert current.status == "completed", current.last_error
            reply = sdk.beta.threads.messages.list(thread_id=thread.id).data[0]
            assert reply.content[0].text.value == REPLY  # type: ignore[union-attr]
        assert model.calls == 2, "the turn was asked again once, after the restart"


def test_queued_runs_resume_at_once_after_a_restart(data_dir: Path) -> None:
    """Four runs hold the four worker threads (their model hangs), a fifth waits queued; after
    kill -9 and a restart all five complete: the queued one is re-sent at startup (not after
    QUEUED_RESEND_AFTER_SECONDS, an hour here), the others when their leases lapse."""
    from tests.support.fake_chat import fake_chat

    key = new_key()
    with fake_chat(hang_first=4) as model:
        env = model_env(data_dir, model.base_url, QUEUED_RESEND_AFTER_SECONDS="3600")
        first = start_server(env)
        made = []
        try:
            with make_client(first, key) as sdk:
                assistant = sdk.beta.assistants.create(model="fake")
                for _ in range(5):
                    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "x"}])
                    run = sdk.beta.threads.runs.create(
                        thread_id=thread.id, assistant_id=assistant.id
                    )
                    made.append((thread.id, run.id))
                deadline = time.monotonic() + 20
                while model.calls < 4 and time.monotonic() < deadline:
                    time.sleep(0.05)
                statuses = [
                    sdk.beta.threads.runs.retrieve(thread_id=t, run_id=r).status for t, r in made
                ]
                assert sorted(statuses) == ["in_progress"] * 4 + ["queued"], statuses
            kill_hard(first)
        finally:
            first.stop()
        with start_server(env) as second, make_client(second, key) as sdk:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                statuses = [
                    sdk.beta.threads.runs.retrieve(thread_id=t, run_id=r).status for t, r in made
                ]
                if all(s == "completed" for s in statuses):
                    break
                time.sleep(0.2)
            assert statuses == ["completed"] * 5, statuses
