"""Streaming that streams: the official SDKs see the model's tokens as it writes them.

A chat-completions server on 127.0.0.1 streams 20 tokens 100 ms apart; the local server runs
with MODEL_PROVIDER=openai pointed at it. The Python SDK (runs.stream with an event handler) and
the Node SDK (runs.stream(...).on('textDelta')) must see the first delta early in the stream,
many deltas that join to the stored message, tool-call argument pieces that join to the
arguments in required_action; and a client that leaves mid-stream leaves a run that completes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import openai
import pytest
from openai import AssistantEventHandler
from openai.types.beta.threads import Text, TextDelta
from openai.types.beta.threads.runs import ToolCallDelta
from typing_extensions import override

from tests.e2e.conftest import make_http, new_key
from tests.e2e.helpers import WEATHER, assistant_messages, text_of, thread_with, wait_until
from tests.e2e.wire import check_response
from tests.support.live_server import ROOT, LiveServer, start_server
from tests.support.slow_chat_server import reply_words, slow_chat_server

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

TOKENS = 20
INTERVAL = 0.1
FIRST_DELTA_SHARE = 0.15
NODE_SCRIPT = Path(__file__).parent / "node" / "stream_text.cjs"
EXPECTED_TEXT = "".join(reply_words(TOKENS))


@pytest.fixture(scope="module")
def slow_server() -> Iterator[LiveServer]:
    with slow_chat_server(TOKENS, INTERVAL) as model_url:
        env = {
            "MODEL_PROVIDER": "openai",
            "OPENAI_COMPAT_BASE_URL": model_url,
            "MODEL_MAP": "",
        }
        with start_server(env) as server:
            yield server


@pytest.fixture
def key() -> str:
    return new_key()


def _check_unless_stream(response: httpx2.Response) -> None:
    """The e2e wire check, except on event streams: it reads a body whole before the SDK sees
    it, which would turn every stream into a replay. test_the_same_stream_on_the_wire checks
    the frames of one of these streams instead."""
    if not response.headers.get("content-type", "").startswith("text/event-stream"):
        check_response(response)


@pytest.fixture
def slow_client(slow_server: LiveServer, key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=slow_server.base_url,
        api_key=key,
        max_retries=0,
        _strict_response_validation=True,
        http_client=openai.DefaultHttpxClient(event_hooks={"response": [_check_unless_stream]}),
    ) as sdk:
        yield sdk


class _TimedRecorder(AssistantEventHandler):
    def __init__(self, started: float) -> None:
        super().__init__()
        self.started = started
        self.text_deltas: list[tuple[float, str]] = []
        self.argument_deltas: list[str] = []
        self.texts_done: list[str] = []

    @override
    def on_text_delta(self, delta: TextDelta, snapshot: Text) -> None:
        self.text_deltas.append((time.monotonic() - self.started, delta.value or ""))

    @override
    def on_text_done(self, text: Text) -> None:
        self.texts_done.append(text.value)

    @override
    def on_tool_call_delta(self, delta: ToolCallDelta, snapshot: object) -> None:
        if delta.type == "function" and delta.function and delta.function.arguments:
            self.argument_deltas.append(delta.function.arguments)


def test_python_sdk_sees_tokens_as_the_model_writes_them(slow_client: openai.OpenAI) -> None:
    assistant = slow_client.beta.assistants.create(model="gpt-4o")
    thread = thread_with(slow_client, "tell me something")
    started = time.monotonic()
    recorder = _TimedRecorder(started)
    with slow_client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=recorder
    ) as stream:
        stream.until_done()
        run = stream.get_final_run()
    total = time.monotonic() - started

    assert run.status == "completed"
    assert len(recorder.text_deltas) >= 10, recorder.text_deltas
    first = recorder.text_deltas[0][0]
    assert first <= FIRST_DELTA_SHARE * total, (first, total)
    streamed = "".join(value for _, value in recorder.text_deltas)
    [message] = assistant_messages(slow_client, thread.id, run.id)
    assert streamed == text_of(message) == EXPECTED_TEXT
    assert recorder.texts_done == [EXPECTED_TEXT]


def test_tool_call_argument_deltas_join_to_the_required_action(
    slow_client: openai.OpenAI,
) -> None:
    assistant = slow_client.beta.assistants.create(model="gpt-4o", tools=[WEATHER])
    thread = thread_with(slow_client, 'get_weather for {"city": "Trondheim", "unit": "celsius"}')
    recorder = _TimedRecorder(time.monotonic())
    with slow_client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=recorder
    ) as stream:
        stream.until_done()
        run = stream.get_final_run()

    assert run.status == "requires_action" and run.required_action is not None
    [call] = run.required_action.submit_tool_outputs.tool_calls
    assert len(recorder.argument_deltas) >= 5, recorder.argument_deltas
    assert "".join(recorder.argument_deltas) == call.function.arguments
    assert json.loads(call.function.arguments) == {"city": "Trondheim", "unit": "celsius"}


def test_a_client_that_leaves_mid_stream_leaves_a_run_that_completes(
    slow_server: LiveServer, slow_client: openai.OpenAI, key: str
) -> None:
    assistant = slow_client.beta.assistants.create(model="gpt-4o")
    thread = thread_with(slow_client, "i will not stay")
    run_id = None
    deltas = 0
    headers = {"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"}
    with httpx2.Client(base_url=slow_server.base_url, headers=headers, timeout=30) as http:
        body = {"assistant_id": assistant.id, "stream": True}
        with http.stream("POST", f"/threads/{thread.id}/runs", json=body) as response:
            assert response.status_code == 200
            event = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[len("event: ") :]
                elif line.startswith("data: ") and event == "thread.run.created":
                    run_id = json.loads(line[len("data: ") :])["id"]
                elif line.startswith("data: ") and event == "thread.message.delta":
                    deltas += 1
                    if deltas == 3:
                        break  # leave: closing the response drops the connection
    assert run_id is not None and deltas == 3
    seen = slow_client.beta.threads.runs.retrieve(run_id, thread_id=thread.id)
    assert seen.status == "in_progress", "the client left well before the model finished"
    run = wait_until(
        lambda: slow_client.beta.threads.runs.retrieve(run_id, thread_id=thread.id),
        lambda r: r.status not in ("queued", "in_progress"),
        timeout=30,
        what="the abandoned run ends",
    )
    assert run.status == "completed"
    [message] = assistant_messages(slow_client, thread.id, run_id)
    assert text_of(message) == EXPECTED_TEXT


def _node_env() -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(ROOT / "node_modules"), *filter(None, [env.get("NODE_PATH")])]
    env["NODE_PATH"] = os.pathsep.join(paths)
    return env


def test_node_sdk_text_delta_events_arrive_as_written(
    slow_server: LiveServer, slow_client: openai.OpenAI, key: str
) -> None:
    assert shutil.which("node"), "the Node SDK test needs node on PATH"
    assistant = slow_client.beta.assistants.create(model="gpt-4o")
    thread = thread_with(slow_client, "tell node something")
    done = subprocess.run(
        ["node", str(NODE_SCRIPT), slow_server.base_url, key, thread.id, assistant.id],
        capture_output=True,
        text=True,
        timeout=60,
        env=_node_env(),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    deltas = result["deltas"]
    assert result["status"] == "completed"
    assert len(deltas) >= 10, deltas
    assert deltas[0][0] <= FIRST_DELTA_SHARE * result["total_ms"], result
    assert "".join(text for _, text in deltas) == result["final_text"] == EXPECTED_TEXT


def test_the_same_stream_on_the_wire_is_valid_event_by_event(
    slow_server: LiveServer, slow_client: openai.OpenAI, key: str
) -> None:
    """Every frame as sent is a valid stream event (the response hook checks them), in order."""
    assistant = slow_client.beta.assistants.create(model="gpt-4o")
    thread = thread_with(slow_client, "check every frame")
    with make_http(slow_server, key) as http:
        response = http.post(
            f"/threads/{thread.id}/runs", json={"assistant_id": assistant.id, "stream": True}
        )
    assert response.status_code == 200
    assert isinstance(response, httpx2.Response)
    names = [
        line[len("event: ") :] for line in response.text.splitlines() if line.startswith("event: ")
    ]
    first_delta = names.index("thread.message.delta")
    assert names[:first_delta] == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
    ]
    assert names.count("thread.message.delta") == TOKENS
    assert names[-4:] == [
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
        "done",
    ]


def test_other_requests_are_answered_while_a_stream_is_open(
    slow_server: LiveServer, slow_client: openai.OpenAI, key: str
) -> None:
    assistant = slow_client.beta.assistants.create(model="gpt-4o")
    thread = thread_with(slow_client, "keep streaming")
    other = thread_with(slow_client, "meanwhile")
    headers = {"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"}
    deltas_before = deltas_after = 0
    answered_meanwhile = False
    with httpx2.Client(base_url=slow_server.base_url, headers=headers, timeout=30) as http:
        body = {"assistant_id": assistant.id, "stream": True}
        with http.stream("POST", f"/threads/{thread.id}/runs", json=body) as response:
            for line in response.iter_lines():
                if line != "event: thread.message.delta":
                    continue
                if answered_meanwhile:
                    deltas_after += 1
                    continue
                deltas_before += 1
                if deltas_before == 2:
                    # A second request, a whole create-and-read, while this stream is open.
                    assert slow_client.beta.threads.retrieve(other.id).id == other.id
                    listed = slow_client.beta.threads.messages.list(thread_id=other.id)
                    assert [text_of(m) for m in listed] == ["meanwhile"]
                    answered_meanwhile = True
    assert answered_meanwhile and deltas_after >= 10, (deltas_before, deltas_after)
