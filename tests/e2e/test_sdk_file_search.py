"""file_search in runs through the official SDKs against the live local server (both store
paths): the flows the SDK's docs show, ingestion and runs on the server's own worker threads.

Echo's file_search (README, "file_search in runs"): it searches with the last user message,
then answers with the top result's first words and its citation marker.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import openai
import pytest

from tests.e2e.helpers import error_message
from tests.support.live_server import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
POLL_MS = 50
INCLUDE = "step_details.tool_calls[*].file_search.results[*].content"
DOCS = {
    "zebra.txt": "Zebras live on the African savanna. Their black and white stripes are unique.",
    "rocket.md": "Rockets burn propellant and expel exhaust to make thrust in space.",
    "bread.txt": "Bread dough of flour, water and yeast rises before it is baked.",
}
ROOT = Path(__file__).resolve().parents[2]
NODE_SCRIPT = Path(__file__).parent / "node" / "stream_file_search.cjs"


def named(name: str, text: str) -> tuple[str, io.BytesIO]:
    return name, io.BytesIO(text.encode())


def _store(client: openai.OpenAI) -> str:
    store = client.vector_stores.create(name="docs")
    batch = client.vector_stores.file_batches.upload_and_poll(
        store.id, files=[named(n, t) for n, t in DOCS.items()], poll_interval_ms=POLL_MS
    )
    assert batch.status == "completed" and batch.file_counts.completed == 3
    return store.id


def _assistant(client: openai.OpenAI, store_id: str | None) -> str:
    resources = {"file_search": {"vector_store_ids": [store_id]}} if store_id else None
    return client.beta.assistants.create(
        model="gpt-4o",
        tools=[{"type": "file_search"}],
        tool_resources=resources,  # type: ignore[arg-type]
    ).id


def _cited(message: openai.types.beta.threads.Message, file_name: str) -> tuple[str, str]:
    """The answer's text and the cited file id (checking the annotation points at its marker)."""
    (part,) = message.content
    assert part.type == "text"
    text = part.text.value
    (annotation,) = part.text.annotations
    assert annotation.type == "file_citation"
    assert text[annotation.start_index : annotation.end_index] == annotation.text
    assert annotation.text == f"【0:0†{file_name}】" and text.endswith(annotation.text)
    return text, annotation.file_citation.file_id


def test_create_and_poll_searches_and_cites(client: openai.OpenAI) -> None:
    store_id = _store(client)
    assistant_id = _assistant(client, store_id)
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "What do rockets expel to make thrust?"}]
    )
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, include=[INCLUDE], poll_interval_ms=POLL_MS
    )
    assert run.status == "completed" and run.required_action is None
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc")
    search, reply = steps.data
    assert search.type == "tool_calls" and reply.type == "message_creation"
    assert search.step_details.type == "tool_calls"
    (call,) = search.step_details.tool_calls
    assert call.type == "file_search"
    ranking = call.file_search.ranking_options
    assert ranking is not None and ranking.score_threshold == 0
    results = call.file_search.results or []
    assert results[0].file_name == "rocket.md" and results[0].content is None
    with_content = client.beta.threads.runs.steps.retrieve(
        search.id, thread_id=thread.id, run_id=run.id, include=[INCLUDE]
    )
    assert with_content.step_details.type == "tool_calls"
    top = with_content.step_details.tool_calls[0].file_search.results[0]  # type: ignore[union-attr]
    assert top.content is not None and top.content[0].text == DOCS["rocket.md"]
    listed = client.beta.threads.runs.steps.list(
        run.id, thread_id=thread.id, include=[INCLUDE], order="asc"
    )
    assert listed.data[0].step_details == with_content.step_details
    (message,) = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    text, file_id = _cited(message, "rocket.md")
    assert text.startswith("Rockets burn propellant") and file_id == results[0].file_id


def test_message_attachments_with_file_search(client: openai.OpenAI) -> None:
    file = client.files.create(file=named("zebra.txt", DOCS["zebra.txt"]), purpose="assistants")
    assistant_id = _assistant(client, None)
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(
        thread.id,
        role="user",
        content="zebra stripes",
        attachments=[{"file_id": file.id, "tools": [{"type": "file_search"}]}],
    )
    resources = client.beta.threads.retrieve(thread.id).tool_resources
    assert resources is not None and resources.file_search is not None
    (store_id,) = resources.file_search.vector_store_ids or []
    # no waiting here: the run itself waits for the thread's store to finish ingesting
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, poll_interval_ms=POLL_MS
    )
    assert run.status == "completed"
    assert client.vector_stores.retrieve(store_id).file_counts.completed == 1
    (message,) = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    _, cited = _cited(message, "zebra.txt")
    assert cited == file.id


def test_unknown_file_and_vector_store_ids_are_refused(
    client: openai.OpenAI, other_client: openai.OpenAI
) -> None:
    missing_file = "file-AAAAAAAAAAAAAAAAAAAAAAAA"
    thread = client.beta.threads.create()
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.threads.messages.create(
            thread.id,
            role="user",
            content="hi",
            attachments=[{"file_id": missing_file, "tools": [{"type": "file_search"}]}],
        )
    assert error_message(caught.value) == f"No such File object: {missing_file}"
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.assistants.create(
            model="m", tool_resources={"file_search": {"vector_store_ids": ["vs_nope"]}}
        )
    assert error_message(caught.value) == "No vector store found with id 'vs_nope'."
    theirs = other_client.vector_stores.create(name="theirs").id
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.create(tool_resources={"file_search": {"vector_store_ids": [theirs]}})
    with pytest.raises(openai.BadRequestError) as bad:
        client.beta.threads.create(
            messages=[
                {"role": "user", "content": "x", "attachments": [{"file_id": "abc", "tools": []}]}
            ]
        )
    assert error_message(bad.value).startswith("Invalid 'messages[0].attachments[0].file_id'")


def test_the_vector_stores_helper_on_create_assistant(client: openai.OpenAI) -> None:
    file = client.files.create(file=named("bread.txt", DOCS["bread.txt"]), purpose="assistants")
    assistant = client.beta.assistants.create(
        model="gpt-4o",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_stores": [{"file_ids": [file.id]}]}},
    )
    assert assistant.tool_resources is not None and assistant.tool_resources.file_search
    (store_id,) = assistant.tool_resources.file_search.vector_store_ids or []
    assert client.vector_stores.files.list(store_id).data[0].id == file.id


def test_streaming_with_the_python_sdk_event_handler(client: openai.OpenAI) -> None:
    store_id = _store(client)
    assistant_id = _assistant(client, store_id)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "flour yeast"}])
    created: list[str] = []
    completed = []
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant_id, include=[INCLUDE]
    ) as stream:
        for event in stream:
            if event.event == "thread.run.step.delta":
                details = event.data.delta.step_details
                if details is not None and details.type == "tool_calls":
                    created += [c.type for c in details.tool_calls or []]
            if event.event == "thread.run.step.completed" and event.data.type == "tool_calls":
                completed.append(event.data)
        final = stream.get_final_messages()
        run = stream.get_final_run()
    assert run.status == "completed" and created == ["file_search"]
    # the SDK's step snapshots grow from deltas (whose file_search is empty, as the spec says);
    # the results come with the completed step
    (search,) = completed
    assert search.step_details.type == "tool_calls"
    top = search.step_details.tool_calls[0].file_search.results[0]  # type: ignore[union-attr]
    assert top.file_name == "bread.txt" and top.content is not None
    (message,) = final
    _cited(message, "bread.txt")


def _node_env() -> dict[str, str]:
    env = dict(os.environ)
    env["NODE_PATH"] = os.pathsep.join(
        [str(ROOT / "node_modules"), *filter(None, [env.get("NODE_PATH")])]
    )
    return env


def test_streaming_with_the_node_sdk(
    client: openai.OpenAI, server: LiveServer, api_key: str
) -> None:
    store_id = _store(client)
    assistant_id = _assistant(client, store_id)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "zebra stripes"}])
    done = subprocess.run(
        ["node", str(NODE_SCRIPT), server.base_url, api_key, thread.id, assistant_id],
        capture_output=True,
        text=True,
        timeout=60,
        env=_node_env(),
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "completed"
    assert result["tool_calls"] == ["file_search"]
    (annotation,) = result["annotations"]
    assert annotation["type"] == "file_citation" and annotation["text"] == "【0:0†zebra.txt】"
    assert result["text"].endswith(annotation["text"])
