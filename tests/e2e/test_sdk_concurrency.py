"""Requests that race on one thread or one run: exactly one wins, the others get the contract's
errors, and what is stored afterwards agrees with what each request was told."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest

from tests.e2e.helpers import (
    WEATHER_QUESTION,
    assistant_messages,
    error_message,
    thread_with,
    tool_assistant,
    waiting_run,
)

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call()
    except openai.APIStatusError as error:
        return "error", error


def test_concurrent_run_creation_admits_one_active_run(client: openai.OpenAI) -> None:
    assistant = tool_assistant(client)
    thread = thread_with(client, WEATHER_QUESTION)
    runs = client.beta.threads.runs

    def create() -> Any:
        return runs.create(thread_id=thread.id, assistant_id=assistant.id)

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: _outcome(create), range(6)))
    winners = [value for kind, value in results if kind == "ok"]
    assert len(winners) == 1, f"exactly one run may be active on a thread: {results}"
    winner = winners[0]
    for kind, value in results:
        if kind == "error":
            assert isinstance(value, openai.BadRequestError), value
            assert error_message(value) == (
                f"Thread {thread.id} already has an active run {winner.id}."
            )
    assert [r.id for r in runs.list(thread_id=thread.id)] == [winner.id]
    assert runs.poll(winner.id, thread_id=thread.id).status == "requires_action"


def test_cancel_racing_tool_outputs_agree_with_the_final_state(client: openai.OpenAI) -> None:
    runs = client.beta.threads.runs
    for _ in range(4):
        _, thread, run = waiting_run(client)
        [call] = run.required_action.submit_tool_outputs.tool_calls  # type: ignore[union-attr]

        def cancel(run_id: str = run.id, thread_id: str = thread.id) -> Any:
            return runs.cancel(run_id, thread_id=thread_id)

        def submit(run_id: str = run.id, thread_id: str = thread.id, call_id: str = call.id) -> Any:
            return runs.submit_tool_outputs(
                run_id, thread_id=thread_id, tool_outputs=[{"tool_call_id": call_id, "output": "o"}]
            )

        with ThreadPoolExecutor(max_workers=2) as pool:
            cancelled = pool.submit(_outcome, cancel)
            submitted = pool.submit(_outcome, submit)
            (cancel_kind, cancel_value), (submit_kind, submit_value) = (
                cancelled.result(),
                submitted.result(),
            )
        final = runs.poll(run.id, thread_id=thread.id)
        replies = assistant_messages(client, thread.id, run.id)
        story = f"cancel={cancel_kind}:{cancel_value!r} submit={submit_kind}:{submit_value!r}"
        assert final.status in ("cancelled", "completed"), f"{final.status}; {story}"
        if cancel_kind == "ok":
            assert final.status == "cancelled", f"cancel was accepted; {story}"
            assert replies == [], f"a cancelled run wrote a reply; {story}"
        else:
            assert error_message(cancel_value) == "Cannot cancel run with status 'completed'.", (
                story
            )
            assert final.status == "completed" and len(replies) == 1, story
        if submit_kind == "error":
            assert final.status == "cancelled", story
            # the cancel passes through `cancelling` on its way; either may be seen
            assert error_message(submit_value) in (
                'Runs in status "cancelling" do not accept tool outputs.',
                'Runs in status "cancelled" do not accept tool outputs.',
            ), story
