"""A run past its deadline is expired by whatever request touches it, sweeper or not.

This server's sweeper is effectively off (it would run once an hour), so only the requests
themselves can expire the runs here (CONTRACT.md, Run lifecycle, Expiry).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import openai
import pytest
from openai.types.beta import Assistant, Thread
from openai.types.beta.threads import Run

from tests.e2e.conftest import LiveServer, make_client, new_key, serve
from tests.e2e.helpers import assistant_messages, error_message, text_of, waiting_run

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

EXPIRES_AFTER = 2
SCENARIOS = ("retrieve", "list", "steps", "submit", "cancel", "message", "run")


@dataclass
class Expired:
    client: openai.OpenAI
    assistant: Assistant
    thread: Thread
    run: Run


@pytest.fixture(scope="module")
def no_sweeper_server() -> Iterator[LiveServer]:
    yield from serve(EXPIRES_AFTER, sweep_interval=3600)


@pytest.fixture(scope="module")
def past_deadline(no_sweeper_server: LiveServer) -> Iterator[dict[str, Expired]]:
    """One waiting run per scenario (each its own project), all left alone past their deadline."""
    made: dict[str, Expired] = {}
    for name in SCENARIOS:
        client = make_client(no_sweeper_server, new_key())
        made[name] = Expired(client, *waiting_run(client))
    latest = max(e.run.expires_at or 0 for e in made.values())
    time.sleep(max(0.0, latest + 1.05 - time.time()))
    yield made
    for expired in made.values():
        expired.client.close()


def _assert_expired(e: Expired) -> None:
    run = e.client.beta.threads.runs.retrieve(e.run.id, thread_id=e.thread.id)
    assert run.status == "expired" and run.expires_at is None, run


def test_a_read_sees_it_expired(past_deadline: dict[str, Expired]) -> None:
    _assert_expired(past_deadline["retrieve"])


def test_a_list_sees_it_expired(past_deadline: dict[str, Expired]) -> None:
    e = past_deadline["list"]
    [run] = list(e.client.beta.threads.runs.list(thread_id=e.thread.id))
    assert run.id == e.run.id and run.status == "expired", run


def test_steps_are_expired(past_deadline: dict[str, Expired]) -> None:
    e = past_deadline["steps"]
    [step] = list(e.client.beta.threads.runs.steps.list(e.run.id, thread_id=e.thread.id))
    assert step.status == "expired" and step.expired_at is not None, step
    _assert_expired(e)


def test_late_tool_outputs_are_refused(past_deadline: dict[str, Expired]) -> None:
    e = past_deadline["submit"]
    assert e.run.required_action is not None
    [call] = e.run.required_action.submit_tool_outputs.tool_calls
    with pytest.raises(openai.BadRequestError) as caught:
        e.client.beta.threads.runs.submit_tool_outputs(
            e.run.id, thread_id=e.thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "x"}]
        )
    assert error_message(caught.value) == 'Runs in status "expired" do not accept tool outputs.'
    _assert_expired(e)


def test_a_late_cancel_is_refused(past_deadline: dict[str, Expired]) -> None:
    e = past_deadline["cancel"]
    with pytest.raises(openai.BadRequestError) as caught:
        e.client.beta.threads.runs.cancel(e.run.id, thread_id=e.thread.id)
    assert error_message(caught.value) == "Cannot cancel run with status 'expired'."
    _assert_expired(e)


def test_a_new_message_is_accepted(past_deadline: dict[str, Expired]) -> None:
    e = past_deadline["message"]
    e.client.beta.threads.messages.create(thread_id=e.thread.id, role="user", content="later")
    _assert_expired(e)


def test_a_new_run_is_accepted(past_deadline: dict[str, Expired]) -> None:
    e = past_deadline["run"]
    nxt = e.client.beta.threads.runs.create_and_poll(
        thread_id=e.thread.id,
        assistant_id=e.assistant.id,
        additional_messages=[{"role": "user", "content": "after expiry"}],
    )
    assert nxt.status == "completed", nxt
    assert [text_of(m) for m in assistant_messages(e.client, e.thread.id, nxt.id)] == [
        "after expiry"
    ]
    _assert_expired(e)
