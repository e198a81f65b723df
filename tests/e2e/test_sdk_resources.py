"""Assistants, threads and messages through the official SDK."""

from __future__ import annotations

import httpx2
import openai
import pytest

from tests.e2e.helpers import error_message, text_of
from tests.e2e.wire import sdk_raw

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def test_assistants_create_list_paginate_retrieve_update_delete(client: openai.OpenAI) -> None:
    created = [
        client.beta.assistants.create(model="gpt-4o", name=f"a{i}", instructions=f"be {i}")
        for i in range(5)
    ]
    ids = [a.id for a in created]
    assert all(i.startswith("asst_") and len(i) == len("asst_") + 24 for i in ids)

    ascending = [a.id for a in client.beta.assistants.list(limit=2, order="asc")]
    assert ascending == ids, "auto-pagination (limit=2, asc) must yield all 5 in creation order"
    descending = [a.id for a in client.beta.assistants.list(limit=2)]
    assert descending == ids[::-1], "the default order is desc"

    first_page = client.beta.assistants.list(limit=2, order="asc")
    assert [a.id for a in first_page.data] == ids[:2]
    assert first_page.has_more is True
    last_page = client.beta.assistants.list(limit=2, order="asc", after=ids[2])
    assert [a.id for a in last_page.data] == ids[3:]
    assert last_page.has_more is False
    previous = client.beta.assistants.list(limit=2, order="asc", before=ids[3])
    assert [a.id for a in previous.data] == ids[1:3]

    got, raw = sdk_raw(client.beta.assistants.with_raw_response.retrieve, ids[1])
    assert got.id == ids[1]
    assert (got.name, got.instructions, got.model) == ("a1", "be 1", "gpt-4o")
    assert raw["object"] == "assistant"
    assert raw["tools"] == [] and raw["metadata"] == {}

    updated = client.beta.assistants.update(
        ids[1], name="renamed", metadata={"team": "e2e"}, instructions="be brief"
    )
    assert (updated.name, updated.instructions, updated.metadata) == (
        "renamed",
        "be brief",
        {"team": "e2e"},
    )
    assert client.beta.assistants.retrieve(ids[1]).name == "renamed"

    deleted = client.beta.assistants.delete(ids[1])
    assert (deleted.id, deleted.deleted, deleted.object) == (ids[1], True, "assistant.deleted")
    with pytest.raises(openai.NotFoundError) as missing:
        client.beta.assistants.retrieve(ids[1])
    assert error_message(missing.value) == f"No assistant found with id '{ids[1]}'."
    assert [a.id for a in client.beta.assistants.list(order="asc")] == ids[:1] + ids[2:]


def test_threads_create_retrieve_update_delete(client: openai.OpenAI) -> None:
    thread, raw = sdk_raw(
        client.beta.threads.with_raw_response.create,
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "second"},
        ],
        metadata={"k": "v"},
    )
    assert thread.id.startswith("thread_")
    assert raw["object"] == "thread"
    assert raw["metadata"] == {"k": "v"}
    assert "tool_resources" in raw

    messages = list(client.beta.threads.messages.list(thread_id=thread.id, order="asc"))
    assert [(m.role, text_of(m)) for m in messages] == [("user", "first"), ("assistant", "second")]
    assert all(m.thread_id == thread.id and m.run_id is None for m in messages)

    assert client.beta.threads.retrieve(thread.id).metadata == {"k": "v"}
    updated = client.beta.threads.update(thread.id, metadata={"other": "1"})
    assert updated.metadata == {"other": "1"}
    assert client.beta.threads.retrieve(thread.id).metadata == {"other": "1"}

    deleted = client.beta.threads.delete(thread.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (thread.id, True, "thread.deleted")
    with pytest.raises(openai.NotFoundError) as missing:
        client.beta.threads.retrieve(thread.id)
    assert error_message(missing.value) == f"No thread found with id '{thread.id}'."
    with pytest.raises(openai.NotFoundError) as again:
        client.beta.threads.delete(thread.id)
    assert error_message(again.value) == f"No thread found with id '{thread.id}'."


def test_a_deleted_threads_contents_are_gone_at_once(
    client: openai.OpenAI, http: httpx2.Client
) -> None:
    """Right after DELETE /threads/{id} answers, everything under the thread is 404.

    The server purges a deleted thread's messages, runs and steps in a background job; reads of
    them must not depend on whether that job has run yet. Several threads of 30 messages make
    the window wide enough to see on every run of this test if reads leak.
    """
    assistant = client.beta.assistants.create(model="gpt-4o")
    leaks: list[str] = []
    for _ in range(3):
        run = client.beta.threads.create_and_run_poll(
            assistant_id=assistant.id,
            thread={"messages": [{"role": "user", "content": f"m{i}"} for i in range(30)]},
        )
        tid = run.thread_id
        message_id = next(iter(client.beta.threads.messages.list(tid, limit=1))).id
        assert http.delete(f"/threads/{tid}").status_code == 200
        for path in (
            f"/threads/{tid}/messages",
            f"/threads/{tid}/messages/{message_id}",
            f"/threads/{tid}/runs",
            f"/threads/{tid}/runs/{run.id}",
            f"/threads/{tid}/runs/{run.id}/steps",
        ):
            response = http.get(path)
            expected = f"No thread found with id '{tid}'."
            if response.status_code != 404 or response.json()["error"]["message"] != expected:
                leaks.append(f"GET {path} -> {response.status_code} {response.text[:120]}")
    assert leaks == [], (
        "reads under a deleted thread must answer 404 'No thread found' at once, not only once "
        "the background purge has run; these answered otherwise:\n" + "\n".join(leaks)
    )


def test_messages_create_list_retrieve_update_delete(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    assert list(client.beta.threads.messages.list(thread_id=thread.id)) == []

    created = [
        client.beta.threads.messages.create(
            thread_id=thread.id, role="user", content=f"message {i}", metadata={"i": str(i)}
        )
        for i in range(3)
    ]
    retrieve = client.beta.threads.messages.with_raw_response.retrieve
    first, raw = sdk_raw(retrieve, created[0].id, thread_id=thread.id)
    assert raw["object"] == "thread.message"
    assert raw["status"] == "completed" and raw["role"] == "user"
    assert raw["assistant_id"] is None and raw["run_id"] is None
    assert raw["content"] == [{"type": "text", "text": {"value": "message 0", "annotations": []}}]
    assert first.metadata == {"i": "0"}

    listed = [m.id for m in client.beta.threads.messages.list(thread_id=thread.id, limit=2)]
    assert listed == [m.id for m in reversed(created)]

    multi = client.beta.threads.messages.create(
        thread_id=thread.id,
        role="user",
        content=[{"type": "text", "text": "part one"}, {"type": "text", "text": "part two"}],
    )
    assert text_of(multi) == "part one\npart two"

    updated = client.beta.threads.messages.update(
        created[1].id, thread_id=thread.id, metadata={"new": "yes"}
    )
    assert updated.metadata == {"new": "yes"}
    assert text_of(updated) == "message 1"

    deleted = client.beta.threads.messages.delete(created[1].id, thread_id=thread.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (
        created[1].id,
        True,
        "thread.message.deleted",
    )
    with pytest.raises(openai.NotFoundError) as missing:
        client.beta.threads.messages.retrieve(created[1].id, thread_id=thread.id)
    assert error_message(missing.value) == f"No message found with id '{created[1].id}'."
    remaining = [m.id for m in client.beta.threads.messages.list(thread_id=thread.id, order="asc")]
    assert remaining == [created[0].id, created[2].id, multi.id]


def test_messages_run_id_filter(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "one"}])
    run1 = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    client.beta.threads.messages.create(thread_id=thread.id, role="user", content="two")
    run2 = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert (run1.status, run2.status) == ("completed", "completed")

    by_run1 = list(client.beta.threads.messages.list(thread_id=thread.id, run_id=run1.id))
    by_run2 = list(client.beta.threads.messages.list(thread_id=thread.id, run_id=run2.id))
    assert [(m.role, m.run_id, text_of(m)) for m in by_run1] == [("assistant", run1.id, "one")]
    assert [(m.role, m.run_id, text_of(m)) for m in by_run2] == [("assistant", run2.id, "two")]
    assert len(list(client.beta.threads.messages.list(thread_id=thread.id))) == 4
