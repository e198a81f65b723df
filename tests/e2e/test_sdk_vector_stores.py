"""Vector stores through the official SDK against the live local server (both store paths).

Ingestion runs on the server's own worker threads, so every `*_and_poll` helper here returns
only because the server finished the work by itself.
"""

from __future__ import annotations

import io

import openai
import pytest

from tests.e2e.helpers import error_message, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
POLL_MS = 50
DOCS = {
    "zebra.txt": "Zebras live on the African savanna. Their black and white stripes are unique.",
    "rocket.md": "# Rockets\nA rocket engine burns propellant and expels exhaust to make thrust.",
    "bread.html": "<html><body><p>Dough of flour, water and yeast rises.</p></body></html>",
}


def named(name: str, text: str | bytes) -> tuple[str, io.BytesIO]:
    return name, io.BytesIO(text.encode() if isinstance(text, str) else text)


def upload(client: openai.OpenAI, name: str, text: str | bytes) -> str:
    return client.files.create(file=named(name, text), purpose="assistants").id


def test_batch_upload_and_poll_completes_and_search_finds_the_right_file(
    client: openai.OpenAI,
) -> None:
    store = client.vector_stores.create(name="docs")
    assert (store.object, store.status, store.name) == ("vector_store", "completed", "docs")
    batch = client.vector_stores.file_batches.upload_and_poll(
        store.id, files=[named(n, t) for n, t in DOCS.items()], poll_interval_ms=POLL_MS
    )
    assert batch.status == "completed"
    counts = batch.file_counts
    assert (counts.completed, counts.failed, counts.in_progress, counts.total) == (3, 0, 0, 3)
    listed = client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id)
    assert {f.status for f in listed.data} == {"completed"} and len(listed.data) == 3

    retrieved = client.vector_stores.retrieve(store.id)
    assert retrieved.status == "completed" and retrieved.file_counts.completed == 3
    assert retrieved.usage_bytes > 0

    results = client.vector_stores.search(store.id, query="rocket engine thrust")
    first = results.data[0]
    assert first.filename == "rocket.md" and first.content[0].type == "text"
    assert "propellant" in first.content[0].text
    bread = client.vector_stores.search(store.id, query="flour yeast dough", max_num_results=1)
    assert [r.filename for r in bread.data] == ["bread.html"]
    assert "<p>" not in bread.data[0].content[0].text


def test_create_with_file_ids_then_files_list_retrieve_update_delete(
    client: openai.OpenAI,
) -> None:
    ids = [upload(client, name, text) for name, text in DOCS.items()]
    store = client.vector_stores.create(name="from ids", file_ids=ids[:2])
    assert store.file_counts.total == 2
    added = client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=named("extra.py", "def fly():\n    return 'rocket'\n"),
        poll_interval_ms=POLL_MS,
    )  # fmt: skip
    assert added.status == "completed" and added.last_error is None
    store = wait_until(
        lambda: client.vector_stores.retrieve(store.id),
        lambda s: s.status == "completed",
        timeout=30,
        what="the store completes",
    )
    assert store.file_counts.completed == 3

    everything = [f.id for f in client.vector_stores.files.list(store.id, limit=1)]
    assert sorted(everything) == sorted([*ids[:2], added.id]), "auto-pagination sees every file"
    done = client.vector_stores.files.list(store.id, filter="completed")
    assert len(done.data) == 3
    got = client.vector_stores.files.retrieve(ids[0], vector_store_id=store.id)
    assert got.vector_store_id == store.id and got.chunking_strategy.type == "static"
    updated = client.vector_stores.files.update(
        ids[0], vector_store_id=store.id, attributes={"topic": "animals", "year": 2024}
    )
    assert updated.attributes == {"topic": "animals", "year": 2024}
    animals = {"type": "eq", "key": "topic", "value": "animals"}
    filtered = wait_until(  # the file is indexed again with its new attributes, in the background
        lambda: client.vector_stores.search(store.id, query="stripes", filters=animals),
        lambda page: bool(page.data),
        timeout=30,
        what="a search filtered on the new attributes finds the file",
    )
    assert [r.file_id for r in filtered.data] == [ids[0]]
    content = client.vector_stores.files.content(ids[0], vector_store_id=store.id)
    assert [part.text for part in content] == [DOCS["zebra.txt"]]

    deleted = client.vector_stores.files.delete(ids[1], vector_store_id=store.id)
    assert deleted.deleted is True and deleted.object == "vector_store.file.deleted"
    assert client.vector_stores.retrieve(store.id).file_counts.total == 2
    assert client.files.retrieve(ids[1]).id == ids[1], "the file itself remains"

    client.files.delete(ids[0])  # the Files API delete cascades into the store
    wait_until(
        lambda: [f.id for f in client.vector_stores.files.list(store.id)],
        lambda listed: ids[0] not in listed,
        timeout=30,
        what="the deleted file leaves the store",
    )
    assert client.vector_stores.retrieve(store.id).file_counts.total == 1

    modified = client.vector_stores.update(store.id, name="renamed", metadata={"k": "v"})
    assert (modified.name, modified.metadata) == ("renamed", {"k": "v"})
    gone = client.vector_stores.delete(store.id)
    assert gone.deleted is True and gone.object == "vector_store.deleted"
    with pytest.raises(openai.NotFoundError) as caught:
        client.vector_stores.retrieve(store.id)
    assert error_message(caught.value) == f"No vector store found with id '{store.id}'."


def test_an_unsupported_binary_file_fails_with_last_error(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="binary")
    failed = client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id,
        file=named("image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
        poll_interval_ms=POLL_MS,
    )
    assert failed.status == "failed"
    assert failed.last_error is not None and failed.last_error.code == "unsupported_file"
    assert "'.png'" in failed.last_error.message
    store_now = client.vector_stores.retrieve(store.id)
    assert (store_now.status, store_now.file_counts.failed) == ("completed", 1)


def test_another_projects_key_gets_404_for_each_kind(
    client: openai.OpenAI, other_client: openai.OpenAI
) -> None:
    file_id = upload(client, "zebra.txt", DOCS["zebra.txt"])
    store = client.vector_stores.create(name="mine", file_ids=[file_id])
    batch = client.vector_stores.file_batches.create_and_poll(
        store.id, file_ids=[file_id], poll_interval_ms=POLL_MS
    )
    batches = other_client.vector_stores.file_batches
    attempts = [
        lambda: other_client.vector_stores.retrieve(store.id),
        lambda: other_client.vector_stores.update(store.id, name="theirs"),
        lambda: other_client.vector_stores.delete(store.id),
        lambda: other_client.vector_stores.search(store.id, query="zebra"),
        lambda: other_client.vector_stores.files.list(store.id),
        lambda: other_client.vector_stores.files.retrieve(file_id, vector_store_id=store.id),
        lambda: other_client.vector_stores.files.delete(file_id, vector_store_id=store.id),
        lambda: batches.retrieve(batch.id, vector_store_id=store.id),
        lambda: batches.cancel(batch.id, vector_store_id=store.id),
    ]  # fmt: skip
    for attempt in attempts:
        with pytest.raises(openai.NotFoundError) as caught:
            attempt()
        assert error_message(caught.value) == f"No vector store found with id '{store.id}'."
    theirs = other_client.vector_stores.create(name="theirs")
    with pytest.raises(openai.NotFoundError):
        other_client.vector_stores.files.create(theirs.id, file_id=file_id)
    assert [s.id for s in other_client.vector_stores.list()] == [theirs.id]
    assert client.vector_stores.retrieve(store.id).name == "mine"


# 150 files on the embedded engine; fewer on moto's server, which copies the whole table for
# every transaction (each file takes two: its add and its ingestion): 150 there took minutes.
BATCH_FILES = {"embedded": 150, "dynamodb": 20}


def test_a_large_batch_is_answered_at_once_and_completes_in_the_background(
    client: openai.OpenAI, request: pytest.FixtureRequest
) -> None:
    """The batch is answered in_progress with every file counted, added and ingested by the
    server's worker: `upload_and_poll` and `create_and_poll` return once it completed."""
    n = BATCH_FILES[request.node.callspec.params["server"]]
    store = client.vector_stores.create(name="many")
    uploaded = [named(f"note{i}.txt", f"note {i}: number {i} of many") for i in range(n)]
    batch = client.vector_stores.file_batches.upload_and_poll(
        store.id, files=uploaded, poll_interval_ms=POLL_MS, max_concurrency=8
    )
    counts = batch.file_counts
    assert batch.status == "completed"
    assert (counts.completed, counts.in_progress, counts.total) == (n, 0, n)
    listed = client.vector_stores.file_batches.list_files(
        batch.id, vector_store_id=store.id, limit=100
    )
    assert len(list(listed)) == n, "auto-pagination sees every file"

    ids = [f.id for f in client.vector_stores.files.list(store.id, limit=100)]
    other = client.vector_stores.create(name="again")
    created = client.vector_stores.file_batches.create(other.id, file_ids=ids)
    assert created.status == "in_progress"
    assert (created.file_counts.in_progress, created.file_counts.total) == (n, n)
    polled = client.vector_stores.file_batches.poll(
        created.id, vector_store_id=other.id, poll_interval_ms=POLL_MS
    )
    assert polled.status == "completed" and polled.file_counts.completed == n
    third = client.vector_stores.create(name="third")
    done = client.vector_stores.file_batches.create_and_poll(
        third.id, file_ids=ids, poll_interval_ms=POLL_MS
    )
    assert done.status == "completed" and done.file_counts.completed == n
    assert client.vector_stores.retrieve(third.id).file_counts.completed == n
    found = client.vector_stores.search(third.id, query="note 7: number 7", max_num_results=1)
    assert "number 7 of many" in found.data[0].content[0].text
