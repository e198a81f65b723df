"""Expiry, on a server whose runs expire 3 s after creation (sweeper every second)."""

from __future__ import annotations

import json
import time

import openai
import pytest

from tests.e2e.conftest import SHORT_EXPIRY_SECONDS, LiveServer
from tests.e2e.helpers import assistant_messages, error_message, text_of, wait_until, waiting_run
from tests.e2e.wire import sdk_raw

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _swept(server: LiveServer) -> int:
    """How many runs the sweeper has expired so far, from its log lines."""
    total = 0
    for line in server.log().splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "sweep":
            total += int(entry.get("expired", 0))
    return total


def test_a_waiting_run_expires(short_client: openai.OpenAI) -> None:
    assistant, thread, run = waiting_run(short_client)
    assert run.expires_at == run.created_at + SHORT_EXPIRY_SECONDS
    runs = short_client.beta.threads.runs

    expired = wait_until(
        lambda: runs.retrieve(run.id, thread_id=thread.id),
        lambda r: r.status != "requires_action",
        timeout=10,
        what="the run should expire",
    )
    assert expired.status == "expired", expired
    _, raw = sdk_raw(runs.with_raw_response.retrieve, run.id, thread_id=thread.id)
    assert raw["expires_at"] is None, "expires_at is null once the run is terminal"
    assert raw["required_action"] is None
    assert raw["usage"] is not None
    assert raw["usage"]["total_tokens"] == (
        raw["usage"]["prompt_tokens"] + raw["usage"]["completion_tokens"]
    )

    [step] = list(runs.steps.list(run.id, thread_id=thread.id))
    assert step.type == "tool_calls" and step.status == "expired"
    assert step.expired_at is not None

    with pytest.raises(openai.BadRequestError) as outputs:
        runs.submit_tool_outputs(
            run.id,
            thread_id=thread.id,
            tool_outputs=[{"tool_call_id": "call_00000000000000000000zzzz", "output": "late"}],
        )
    assert error_message(outputs.value) == 'Runs in status "expired" do not accept tool outputs.'
    with pytest.raises(openai.BadRequestError) as cancel:
        runs.cancel(run.id, thread_id=thread.id)
    assert error_message(cancel.value) == "Cannot cancel run with status 'expired'."

    short_client.beta.threads.messages.create(thread_id=thread.id, role="user", content="again")
    nxt = runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert nxt.status == "completed", "the thread is free once its run expired"
    assert [text_of(m) for m in assistant_messages(short_client, thread.id, nxt.id)] == ["again"]


def test_the_sweeper_expires_a_run_nobody_touches(
    short_client: openai.OpenAI, short_expiry_server: LiveServer
) -> None:
    before = _swept(short_expiry_server)
    _, thread, run = waiting_run(short_client)
    wait_until(
        lambda: _swept(short_expiry_server),
        lambda swept: swept > before,
        timeout=10,
        what="the sweeper should expire the run on its own (no request touches it)",
    )
    final = short_client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert final.status == "expired" and final.expires_at is None
    assert time.time() >= run.created_at + SHORT_EXPIRY_SECONDS - 1
