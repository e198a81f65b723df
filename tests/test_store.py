"""The store (chalicelib/store) on two DynamoDB implementations: moto and dynalite.

Every test takes the `engine` fixture, parametrized over "moto" (in-process, `mock_aws`) and
"dynalite" (npm, an independent implementation, one server per session). Each test gets a table
of its own, made with `create_table`, so tests never see each other's items.

dynalite 4.0.0 has no TransactWriteItems (it answers UnknownOperationException), so the tests of
writes that are transactions (create_run, add_message, create_thread with messages or a run,
terminal run changes, changes that write steps or messages) are parametrized with "moto" only
(`MOTO_ONLY`); `test_dynalite_still_lacks_transactions` keeps that reason true. Where a test on
both engines needs an item that only a transaction would write (a message, a run), it puts the
item with `put_item` in exactly the shape the store writes (`Store._item`, `Store._run_item`).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.domain import lifecycle, transitions
from chalicelib.domain.errors import ItemTooLarge
from chalicelib.domain.ids import new_id
from chalicelib.domain.objects import (
    Record,
    new_assistant,
    new_assistant_message,
    new_run,
    new_step,
    new_thread,
    new_user_message,
    text_part,
)
from chalicelib.domain.pagination import PageRequest
from chalicelib.domain.requests import CreateAssistant, CreateMessage
from chalicelib.domain.transitions import RunChange
from chalicelib.store import keys
from chalicelib.store.store import Store, ThreadConflict
from chalicelib.store.table import MAX_ITEM_BYTES, create_table, deserialize, item_size
from tests.support.dynalite import DynaliteServer, dynalite_client, start_dynalite

PROJECT = "proj_store"
OTHER_PROJECT = "proj_other"
NOW = 1_800_000_000

ENGINES = ["moto", pytest.param("dynalite", marks=pytest.mark.dynalite)]
# dynalite 4.0.0 has no TransactWriteItems: tests of transactional writes run on moto only.
MOTO_ONLY = pytest.mark.parametrize("engine", ["moto"], indirect=True)
DYNALITE_ONLY = pytest.mark.parametrize(
    "engine", [pytest.param("dynalite", marks=pytest.mark.dynalite)], indirect=True
)


# -- fixtures ----------------------------------------------------------------------------


@dataclass
class Engine:
    name: str
    client: Any
    table: str

    def store(self, shards: int = 4) -> Store:
        return Store(self.client, self.table, shards)


@pytest.fixture(scope="session")
def dynalite_server() -> Iterator[DynaliteServer]:
    server = start_dynalite(extra_args=["--createTableMs", "0"])
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    table = f"store-test-{uuid.uuid4().hex[:12]}"
    if request.param == "moto":
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            create_table(client, table)
            yield Engine("moto", client, table)
        return
    # Started lazily: a run of moto-only tests never starts dynalite.
    server: DynaliteServer = request.getfixturevalue("dynalite_server")
    client = dynalite_client(server.endpoint_url, timeout=60)  # a busy machine is slow, not wrong
    create_table(client, table)
    try:
        yield Engine("dynalite", client, table)
    finally:
        client.delete_table(TableName=table)


@pytest.fixture
def store(engine: Engine) -> Store:
    return engine.store()


# -- helpers -----------------------------------------------------------------------------


def put(store: Store, pk: str, sk: str, record: Record, **extra: Any) -> None:
    """Put one item in the store's own shape, without a transaction."""
    store.client.put_item(TableName=store.table, Item=store._item(pk, sk, record, **extra))


def put_message(store: Store, message: Record, project: str = PROJECT) -> None:
    put(store, keys.thread_pk(project, message["thread_id"]), keys.MSG + message["id"], message)


def put_run(store: Store, run: Record, project: str = PROJECT) -> None:
    """A queued run exactly as create_run writes it (with both index keys), minus the marker."""
    store.client.put_item(TableName=store.table, Item=store._run_item(project, run))


def raw_item(store: Store, pk: str, sk: str) -> Record | None:
    """An item with its key and index attributes."""
    response = store.client.get_item(
        TableName=store.table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
    )
    item = response.get("Item")
    return deserialize(item) if item else None


def partition(store: Store, pk: str) -> list[str]:
    """Every sort key in a partition."""
    sks: list[str] = []
    kwargs: dict[str, Any] = {
        "TableName": store.table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": pk}},
        "ConsistentRead": True,
    }
    while True:
        response = store.client.query(**kwargs)
        sks += [i["sk"]["S"] for i in response.get("Items", [])]
        if not response.get("LastEvaluatedKey"):
            return sks
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def stored(record: Record) -> Record:
    """What a record reads back as: top-level nulls are not stored."""
    return {k: v for k, v in record.items() if v is not None}


def assistant_record(**fields: Any) -> Record:
    return new_assistant(CreateAssistant(model="gpt-4o", **fields), NOW)


def thread_record() -> Record:
    return new_thread(NOW, {"k": "v"}, None)


def user_message(thread_id: str, text: str = "hello", run_id: str | None = None) -> Record:
    message = new_user_message(thread_id, CreateMessage(role="user", content="-"), NOW)
    # Set the content directly: the store must cope with texts longer than a request allows.
    message.update(content=[text_part(text)], run_id=run_id)
    return message


def run_record(
    thread_id: str, *, created_at: int = NOW, expires_after: int = 600, **overrides: Any
) -> Record:
    assistant = {"id": new_id("assistant"), "model": "gpt-4o", "temperature": None}
    return new_run(
        thread_id=thread_id,
        assistant=assistant,
        overrides=overrides,
        now=created_at,
        expires_after=expires_after,
    )


def ids_of(items: list[Record]) -> list[str]:
    return [item["id"] for item in items]


# -- assistants --------------------------------------------------------------------------


def test_assistant_put_get(store: Store) -> None:
    assistant = assistant_record(name="a", temperature=0.7, metadata={"k": "v"})
    store.put_assistant(PROJECT, assistant)
    assert store.get_assistant(PROJECT, assistant["id"]) == stored(assistant)
    assert store.get_assistant(PROJECT, new_id("assistant")) is None
    assert store.get_assistant(OTHER_PROJECT, assistant["id"]) is None, "projects must not mix"


def test_assistant_update(store: Store) -> None:
    assistant = assistant_record(name="before", description="d")
    store.put_assistant(PROJECT, assistant)
    updated = store.update_assistant(
        PROJECT, assistant["id"], {"name": "after", "metadata": {"x": "1"}, "description": None}
    )
    expected = {**stored(assistant), "name": "after", "metadata": {"x": "1"}}
    del expected["description"]
    assert updated == expected, "update returns the new record; None removes the attribute"
    assert store.get_assistant(PROJECT, assistant["id"]) == expected
    assert store.update_assistant(PROJECT, assistant["id"], {}) == expected


def test_assistant_update_of_a_missing_one_creates_nothing(store: Store) -> None:
    missing = new_id("assistant")
    assert store.update_assistant(PROJECT, missing, {"name": "x"}) is None
    assert raw_item(store, keys.assistants_pk(PROJECT), keys.ASST + missing) is None
    assert store.update_assistant(PROJECT, missing, {}) is None


def test_assistant_delete(store: Store) -> None:
    assistant = assistant_record()
    store.put_assistant(PROJECT, assistant)
    assert store.delete_assistant(OTHER_PROJECT, assistant["id"]) is False
    assert store.delete_assistant(PROJECT, assistant["id"]) is True
    assert store.get_assistant(PROJECT, assistant["id"]) is None
    assert store.delete_assistant(PROJECT, assistant["id"]) is False


# -- threads and messages (no transaction) -----------------------------------------------


def test_thread_put_get_update_delete(store: Store) -> None:
    thread = thread_record()
    store.create_thread(PROJECT, thread, [])  # no messages, no run: a plain PutItem
    assert store.get_thread(PROJECT, thread["id"]) == stored(thread)
    assert store.get_thread(OTHER_PROJECT, thread["id"]) is None

    updated = store.update_thread(PROJECT, thread["id"], {"metadata": {"a": "b"}})
    assert updated == {**stored(thread), "metadata": {"a": "b"}}
    assert store.update_thread(PROJECT, thread["id"], {}) == updated

    assert store.delete_thread(PROJECT, thread["id"]) == updated
    assert store.get_thread(PROJECT, thread["id"]) is None
    assert store.delete_thread(PROJECT, thread["id"]) is None


def test_thread_update_of_a_missing_one_creates_nothing(store: Store) -> None:
    missing = new_id("thread")
    assert store.update_thread(PROJECT, missing, {"metadata": {}}) is None
    assert store.get_thread(PROJECT, missing) is None


def test_message_get_update_delete(store: Store) -> None:
    thread_id = new_id("thread")
    message = user_message(thread_id, "hi")
    put_message(store, message)
    assert store.get_message(PROJECT, thread_id, message["id"]) == stored(message)
    assert store.get_message(OTHER_PROJECT, thread_id, message["id"]) is None

    updated = store.update_message(PROJECT, thread_id, message["id"], {"metadata": {"m": "1"}})
    assert updated == {**stored(message), "metadata": {"m": "1"}}

    missing = new_id("message")
    assert store.update_message(PROJECT, thread_id, missing, {"metadata": {}}) is None
    assert store.get_message(PROJECT, thread_id, missing) is None, "a failed update created it"

    assert store.delete_message(PROJECT, thread_id, message["id"]) is True
    assert store.get_message(PROJECT, thread_id, message["id"]) is None
    assert store.delete_message(PROJECT, thread_id, message["id"]) is False


# -- lists: _query_page ------------------------------------------------------------------


def expected_page(
    ids: list[str], limit: int, order: str, after: str | None, before: str | None
) -> tuple[list[str], bool]:
    """CONTRACT.md, Lists, applied to the stored IDs (any order)."""
    ordered = sorted(ids, reverse=order == "desc")

    def follows(a: str, b: str) -> bool:  # a comes after b in the requested order
        return a > b if order == "asc" else a < b

    window = [
        i
        for i in ordered
        if (after is None or follows(i, after)) and (before is None or follows(before, i))
    ]
    if before is not None and after is None:
        return window[-limit:], len(window) > limit  # the items just before the cursor
    return window[:limit], len(window) > limit


def test_same_millisecond_ids_list_in_creation_order(store: Store) -> None:
    created = [new_id("assistant") for _ in range(40)]
    time_digits = {i[len("asst_") :][:9] for i in created}
    assert len(time_digits) < len(created), "the premise: some IDs share their millisecond"
    assert created == sorted(created), "IDs must sort in creation order"
    shuffled = created[:]
    random.Random(7).shuffle(shuffled)
    for assistant_id in shuffled:
        store.put_assistant(PROJECT, {**assistant_record(), "id": assistant_id})
    page = store.list_assistants(PROJECT, PageRequest(limit=100, order="asc"))
    assert ids_of(page.items) == created and page.has_more is False
    page = store.list_assistants(PROJECT, PageRequest(limit=100, order="desc"))
    assert ids_of(page.items) == created[::-1]


def test_query_page_matches_the_contract_for_every_cursor(store: Store) -> None:
    generated = [new_id("assistant") for _ in range(9)]
    # Keep a cursor below all, one between, and one above all that match no stored item.
    kept = [generated[i] for i in (1, 2, 4, 5, 6, 7)]
    for assistant_id in kept:
        store.put_assistant(PROJECT, {**assistant_record(), "id": assistant_id})
    cursors: list[str | None] = [None, *generated]
    for order in ("asc", "desc"):
        for limit in (1, 2, 5, 6, 7):
            for after in cursors:
                for before in cursors:
                    request = PageRequest(limit=limit, order=order, after=after, before=before)
                    page = store.list_assistants(PROJECT, request)
                    got = (ids_of(page.items), page.has_more)
                    want = expected_page(kept, limit, order, after, before)
                    assert got == want, f"{request}: got {got}, want {want}"


def test_query_page_cases(store: Store) -> None:
    ids = [new_id("assistant") for _ in range(5)]
    for assistant_id in ids:
        store.put_assistant(PROJECT, {**assistant_record(), "id": assistant_id})
    a0, a1, a2, a3, a4 = ids

    def page(**kwargs: Any) -> tuple[list[str], bool]:
        result = store.list_assistants(PROJECT, PageRequest(**kwargs))
        return ids_of(result.items), result.has_more

    # No cursor: newest first by default; has_more is exact.
    assert page(limit=2) == ([a4, a3], True)
    assert page(limit=5) == ([a4, a3, a2, a1, a0], False)
    assert page(limit=4, order="asc") == ([a0, a1, a2, a3], True)
    # after: the next items in the requested order (the SDK's auto-pagination).
    assert page(limit=2, after=a3) == ([a2, a1], True)
    assert page(limit=2, after=a1) == ([a0], False)
    assert page(limit=2, order="asc", after=a2) == ([a3, a4], False), "exactly the rest"
    # before: the items just before the cursor, still in the requested order.
    assert page(limit=2, order="asc", before=a3) == ([a1, a2], True)
    assert page(limit=2, order="asc", before=a2) == ([a0, a1], False)
    assert page(limit=2, before=a1) == ([a3, a2], True)
    assert page(limit=3, before=a1) == ([a4, a3, a2], False)
    # Both: the first items strictly between them.
    assert page(limit=2, order="asc", after=a0, before=a4) == ([a1, a2], True)
    assert page(limit=3, order="asc", after=a0, before=a4) == ([a1, a2, a3], False)
    assert page(limit=2, after=a4, before=a0) == ([a3, a2], True)
    # Empty pages.
    assert page(after=a0) == ([], False)
    assert page(order="asc", after=a4) == ([], False)
    assert page(order="asc", before=a0) == ([], False)
    assert page(order="asc", after=a2, before=a3) == ([], False)
    assert store.list_assistants(OTHER_PROJECT, PageRequest()).items == []


def test_list_messages_by_run_gives_exact_pages_between_other_messages(store: Store) -> None:
    thread_id = new_id("thread")
    run_id, other_run = new_id("run"), new_id("run")
    # Long stretches of other messages (more than limit + 1) between the run's messages, so
    # one page needs several Query calls.
    matching_at = {0, 12, 13, 30, 31, 32, 50}
    messages = []
    for i in range(55):
        owner = run_id if i in matching_at else (other_run if i % 2 else None)
        message = user_message(thread_id, f"m{i}", run_id=owner)
        messages.append(message)
        put_message(store, message)
    mine = [m["id"] for i, m in enumerate(messages) if i in matching_at]

    for order, expected in (("asc", mine), ("desc", mine[::-1])):
        seen: list[str] = []
        after = None
        while True:
            request = PageRequest(limit=2, order=order, after=after)
            result = store.list_messages(PROJECT, thread_id, request, run_id=run_id)
            left = len(expected) - len(seen)
            assert len(result.items) == min(2, left), f"{request}: page of {len(result.items)}"
            assert result.has_more is (left > 2), f"{request}: has_more {result.has_more}"
            assert all(m["run_id"] == run_id for m in result.items)
            seen += ids_of(result.items)
            if not result.has_more:
                break
            after = seen[-1]
        assert seen == expected

    # before: the previous page, exact, with has_more for what lies beyond it.
    request = PageRequest(limit=3, order="asc", before=mine[5])
    result = store.list_messages(PROJECT, thread_id, request, run_id=run_id)
    assert (ids_of(result.items), result.has_more) == (mine[2:5], True)
    request = PageRequest(limit=3, order="asc", before=mine[3])
    result = store.list_messages(PROJECT, thread_id, request, run_id=run_id)
    assert (ids_of(result.items), result.has_more) == (mine[0:3], False)

    whole = store.list_messages(PROJECT, thread_id, PageRequest(limit=100, order="asc"), run_id)
    assert (ids_of(whole.items), whole.has_more) == (mine, False)
    unfiltered = store.list_messages(PROJECT, thread_id, PageRequest(limit=100, order="asc"))
    assert ids_of(unfiltered.items) == [m["id"] for m in messages]
    nobody = store.list_messages(PROJECT, thread_id, PageRequest(limit=5), new_id("run"))
    assert (nobody.items, nobody.has_more) == ([], False)


# -- single-item run changes -------------------------------------------------------------


def run_key(run: Record) -> tuple[str, str]:
    return keys.thread_pk(PROJECT, run["thread_id"]), keys.run_sk(run["id"])


def test_runs_put_get_list_and_metadata(store: Store) -> None:
    thread_id = new_id("thread")
    runs = [run_record(thread_id, temperature=0.7) for _ in range(3)]
    for run in runs:
        put_run(store, run)
    assert store.get_run(PROJECT, thread_id, runs[0]["id"]) == stored(runs[0])
    assert store.get_run(PROJECT, new_id("thread"), runs[0]["id"]) is None
    page = store.list_runs(PROJECT, thread_id, PageRequest(limit=2))
    assert (ids_of(page.items), page.has_more) == ([runs[2]["id"], runs[1]["id"]], True)

    updated = store.update_run_metadata(PROJECT, thread_id, runs[0]["id"], {"new": "1"})
    assert updated is not None and updated["metadata"] == {"new": "1"}, "metadata is replaced"
    missing = new_id("run")
    assert store.update_run_metadata(PROJECT, thread_id, missing, {"a": "b"}) is None
    assert store.get_run(PROJECT, thread_id, missing) is None


def test_change_run_claims_a_queued_run_once(store: Store) -> None:
    run = run_record(new_id("thread"))
    put_run(store, run)
    claimed = store.change_run(
        PROJECT, run["thread_id"], run["id"], transitions.claim(NOW + 5), base=run
    )
    assert claimed is not None
    assert claimed["status"] == lifecycle.IN_PROGRESS and claimed["started_at"] == NOW + 5
    assert store.get_run(PROJECT, run["thread_id"], run["id"]) == claimed
    item = raw_item(store, *run_key(run))
    assert item is not None
    assert item["gsi1sk"] == f"{run['expires_at']:012d}#{run['id']}", "still active"
    assert "gsi2pk" not in item and "gsi2sk" not in item, "in_progress leaves the pending index"

    again = transitions.claim(NOW + 6)
    assert store.change_run(PROJECT, run["thread_id"], run["id"], again, base=run) is None
    assert store.get_run(PROJECT, run["thread_id"], run["id"]) == claimed, "the loser wrote"


def test_change_run_can_return_the_run_as_it_was(store: Store) -> None:
    run = run_record(new_id("thread"))
    put_run(store, run)
    thread_id = run["thread_id"]
    store.change_run(PROJECT, thread_id, run["id"], transitions.claim(NOW + 1), base=run)
    old = store.change_run(
        PROJECT, thread_id, run["id"], transitions.request_cancel(NOW + 9), base={}, returns="old"
    )
    assert old is not None and old["status"] == lifecycle.IN_PROGRESS
    item = raw_item(store, *run_key(run))
    assert item is not None and item["status"] == lifecycle.CANCELLING
    assert item["gsi2sk"] == f"{NOW + 9:012d}#{run['id']}", "cancelling enters pending, now"
    again = transitions.request_cancel(NOW + 10)
    assert store.change_run(PROJECT, thread_id, run["id"], again, base={}, returns="old") is None


def test_change_run_checks_the_deadline(store: Store) -> None:
    run = run_record(new_id("thread"))
    put_run(store, run)
    late = transitions.claim(run["expires_at"])
    assert store.change_run(PROJECT, run["thread_id"], run["id"], late, base=run) is None
    assert store.get_run(PROJECT, run["thread_id"], run["id"]) == stored(run)
    in_time = transitions.claim(run["expires_at"] - 1)
    assert store.change_run(PROJECT, run["thread_id"], run["id"], in_time, base=run) is not None
    not_yet = RunChange(
        lifecycle.ACTIVE, {"metadata": {"x": "y"}}, run["expires_at"] - 1, deadline="passed"
    )
    assert store.change_run(PROJECT, run["thread_id"], run["id"], not_yet, base=run) is None


def test_change_run_on_a_missing_run_creates_nothing(store: Store) -> None:
    thread_id, run_id = new_id("thread"), new_id("run")
    claim = transitions.claim(NOW)
    assert store.change_run(PROJECT, thread_id, run_id, claim, base={}) is None
    assert store.get_run(PROJECT, thread_id, run_id) is None


# -- the sparse indexes ------------------------------------------------------------------


def drain(fetch: Any, limit: int) -> list[Any]:
    """Every entry of an index query, page by page; each page at most `limit` long."""
    entries: list[Any] = []
    start = None
    for _ in range(100):
        page, start = fetch(limit, start)
        assert len(page) <= limit, f"a page of {len(page)} entries for limit {limit}"
        entries += page
        if not start:
            return entries
    raise AssertionError("the index query never stopped returning a start key")


def test_runs_past_deadline(engine: Engine) -> None:
    store = engine.store(shards=1)
    now = NOW + 1000
    deadlines = [now + 100, now - 30, now, now + 1, now - 10, now - 10]
    runs = []
    for deadline in deadlines:
        run = run_record(new_id("thread"), created_at=deadline - 600)
        runs.append(run)
        put_run(store, run)
    # A terminal run carries no index keys, however old its deadline.
    done = {**run_record(new_id("thread"), created_at=NOW), "status": lifecycle.COMPLETED}
    put(store, *run_key(done), done)
    # A claimed run is still active: it stays in the active index.
    claim = transitions.claim(NOW)
    assert store.change_run(PROJECT, runs[1]["thread_id"], runs[1]["id"], claim, runs[1])

    due = sorted(
        (r for r in runs if r["expires_at"] <= now), key=lambda r: (r["expires_at"], r["id"])
    )
    entries, _ = store.runs_past_deadline(0, now, limit=100)
    assert [e.run_id for e in entries] == [r["id"] for r in due], "deadline order, <= now only"
    first = entries[0]
    assert first.pk == keys.thread_pk(PROJECT, runs[1]["thread_id"])
    assert (first.status, first.expires_at, first.since) == ("in_progress", now - 30, now - 30)
    assert first.usage_so_far == {"prompt_tokens": 0, "completion_tokens": 0}
    assert first.open_step_id is None

    for limit in (1, 2, 3):
        paged = drain(lambda n, s: store.runs_past_deadline(0, now, n, s), limit)
        assert [e.run_id for e in paged] == [r["id"] for r in due], f"paging by {limit}"
    assert store.runs_past_deadline(0, now - 31, limit=10)[0] == []


def test_runs_pending_since(engine: Engine) -> None:
    store = engine.store(shards=1)
    created = [NOW + 50, NOW + 10, NOW + 20, NOW + 30, NOW + 40]
    runs = []
    for at in created:
        run = run_record(new_id("thread"), created_at=at)
        runs.append(run)
        put_run(store, run)
    # Claimed: leaves the pending index. Then cancelling: back in it, since the cancel.
    claimed, cancelled = runs[1], runs[2]
    for run in (claimed, cancelled):
        store.change_run(PROJECT, run["thread_id"], run["id"], transitions.claim(NOW), run)
    cancel = transitions.request_cancel(NOW + 45)
    assert store.change_run(PROJECT, cancelled["thread_id"], cancelled["id"], cancel, {})

    before = NOW + 46
    # queued since NOW+30, NOW+40; cancelling since NOW+45; NOW+50 is not before NOW+46.
    expected = [runs[3]["id"], runs[4]["id"], cancelled["id"]]
    entries, _ = store.runs_pending_since(0, before, limit=100)
    assert [e.run_id for e in entries] == expected
    assert [(e.status, e.since) for e in entries] == [
        ("queued", NOW + 30),
        ("queued", NOW + 40),
        ("cancelling", NOW + 45),
    ]
    entries, _ = store.runs_pending_since(0, NOW + 45, limit=100)
    assert [e.run_id for e in entries] == expected[:2], "`before` is exclusive"
    for limit in (1, 2):
        paged = drain(lambda n, s: store.runs_pending_since(0, before, n, s), limit)
        assert [e.run_id for e in paged] == expected, f"paging by {limit}"


def test_index_queries_cover_every_shard(engine: Engine) -> None:
    store = engine.store(shards=4)
    runs = [run_record(new_id("thread"), created_at=NOW + i) for i in range(16)]
    for run in runs:
        put_run(store, run)
    shards_used = {keys.shard_of(r["id"], 4) for r in runs}
    assert len(shards_used) > 1, "the premise: runs spread over several shards"
    now = NOW + 600 + 7  # deadlines NOW+600 .. NOW+607 have passed
    found: list[str] = []
    for shard in range(4):
        entries = drain(lambda n, s, shard=shard: store.runs_past_deadline(shard, now, n, s), 2)
        assert all(keys.shard_of(e.run_id, 4) == shard for e in entries)
        assert [e.expires_at for e in entries] == sorted(e.expires_at for e in entries)
        found += [e.run_id for e in entries]
    assert sorted(found) == sorted(r["id"] for r in runs if r["expires_at"] <= now)


# -- purging a deleted thread ------------------------------------------------------------


def fill_thread(store: Store, thread_id: str, count: int) -> None:
    """A thread item plus `count` messages, runs and steps, written in batches."""
    pk = keys.thread_pk(PROJECT, thread_id)
    items = [store._item(pk, keys.THREAD_SK, {**thread_record(), "id": thread_id})]
    for i in range(count):
        kind = i % 3
        if kind == 0:
            items.append(store._item(pk, keys.MSG + new_id("message"), user_message(thread_id)))
        elif kind == 1:
            run = run_record(thread_id)
            items.append(store._item(pk, keys.run_sk(run["id"]), run))
        else:
            run = run_record(thread_id)
            step = new_step(run, "message_creation", {"type": "message_creation"}, NOW)
            items.append(store._item(pk, keys.step_sk(run["id"], step["id"]), step))
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        pending: dict[str, Any] = {store.table: requests}
        while pending:
            pending = store.client.batch_write_item(RequestItems=pending).get("UnprocessedItems")


def test_purge_thread_items_empties_only_that_thread(store: Store) -> None:
    doomed, kept = new_id("thread"), new_id("thread")
    fill_thread(store, doomed, 240)  # more than one Query page (100) and many batches (25)
    fill_thread(store, kept, 5)
    kept_before = partition(store, keys.thread_pk(PROJECT, kept))
    assert store.purge_thread_items(PROJECT, doomed) is True
    assert partition(store, keys.thread_pk(PROJECT, doomed)) == []
    assert partition(store, keys.thread_pk(PROJECT, kept)) == kept_before
    assert store.purge_thread_items(PROJECT, doomed) is True, "purging again is harmless"


def test_purge_thread_items_stops_at_max_items(store: Store) -> None:
    thread_id = new_id("thread")
    fill_thread(store, thread_id, 59)  # 60 items with the thread item
    assert store.purge_thread_items(PROJECT, thread_id, max_items=25) is False
    assert len(partition(store, keys.thread_pk(PROJECT, thread_id))) == 35
    assert store.purge_thread_items(PROJECT, thread_id, max_items=1000) is True
    assert partition(store, keys.thread_pk(PROJECT, thread_id)) == []


# -- item size and number round trips ---------------------------------------------------


def test_a_message_over_400_kb_is_refused_before_any_write(store: Store) -> None:
    thread = thread_record()
    store.create_thread(PROJECT, thread, [])
    huge = user_message(thread["id"], "x" * (MAX_ITEM_BYTES + 1))
    # add_message is a transaction: on dynalite, reaching it would raise
    # UnknownOperationException instead, so this also shows the check comes first.
    with pytest.raises(ItemTooLarge) as info:
        store.add_message(PROJECT, huge, None)
    assert info.value.status == 400 and info.value.code == "object_too_large"
    assert "message" in info.value.message
    assert store.get_message(PROJECT, thread["id"], huge["id"]) is None

    other = thread_record()
    big = user_message(other["id"], "€" * (MAX_ITEM_BYTES // 3 + 1))  # 3 bytes a character
    with pytest.raises(ItemTooLarge):
        store.create_thread(PROJECT, other, [user_message(other["id"]), big])
    assert store.get_thread(PROJECT, other["id"]) is None, "the thread was written anyway"
    assert partition(store, keys.thread_pk(PROJECT, other["id"])) == []

    with pytest.raises(ItemTooLarge):
        store.put_assistant(PROJECT, {**assistant_record(), "instructions": "y" * MAX_ITEM_BYTES})
    assert store.list_assistants(PROJECT, PageRequest()).items == []


@DYNALITE_ONLY
def test_a_message_at_the_limit_is_stored_whole(store: Store) -> None:
    """The size check is never looser than DynamoDB: the largest message it lets through fits.

    dynalite only: moto refuses items over 405,000 bytes (a guess it makes "to be safe", see
    moto/dynamodb/models/dynamo_type.py), below DynamoDB's 400 KB = 409,600 bytes, which
    dynalite enforces like DynamoDB (attribute names plus values, keys included).
    """
    thread_id = new_id("thread")
    text = "z" * (MAX_ITEM_BYTES - item_size(user_message(thread_id, "")))
    message = user_message(thread_id, text)
    assert item_size(message) == MAX_ITEM_BYTES
    put_message(store, message)  # with its keys: pk, sk
    got = store.get_message(PROJECT, thread_id, message["id"])
    assert got is not None and got["content"][0]["text"]["value"] == text
    with pytest.raises(ItemTooLarge):
        put_message(store, user_message(thread_id, text + "z"))


def test_a_large_message_is_stored_whole(store: Store) -> None:
    thread_id = new_id("thread")
    text = "z\u00e9\u20ac" * 60_000  # 360 KB of 1-, 2- and 3-byte characters
    message = user_message(thread_id, text)
    put_message(store, message)
    got = store.get_message(PROJECT, thread_id, message["id"])
    assert got is not None and got["content"][0]["text"]["value"] == text


def test_floats_round_trip(store: Store) -> None:
    schema = {"type": "object", "properties": {"x": {"minimum": 0.1, "maximum": 1e-7}}}
    assistant = assistant_record(
        temperature=0.7,
        top_p=0.1 + 0.2,
        response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": schema}},
    )
    store.put_assistant(PROJECT, assistant)
    got = store.get_assistant(PROJECT, assistant["id"])
    assert got is not None
    assert got["temperature"] == 0.7 and isinstance(got["temperature"], float)
    assert got["top_p"] == 0.30000000000000004, "every digit of a float survives"
    assert got["response_format"]["json_schema"]["schema"] == schema
    updated = store.update_assistant(PROJECT, assistant["id"], {"temperature": 0.3})
    assert updated is not None and updated["temperature"] == 0.3

    run = run_record(new_id("thread"), temperature=0.7, top_p=1.0)
    put_run(store, run)
    read = store.get_run(PROJECT, run["thread_id"], run["id"])
    assert read is not None and read["temperature"] == 0.7 and read["top_p"] == 1.0


# -- transactions (moto only: dynalite 4.0.0 has no TransactWriteItems) ------------------


def new_thread_in(store: Store) -> Record:
    thread = thread_record()
    store.create_thread(PROJECT, thread, [])
    return thread


def marker(store: Store, thread_id: str) -> str | None:
    thread = store.get_thread(PROJECT, thread_id)
    assert thread is not None
    return thread.get("active_run_id")


@DYNALITE_ONLY
def test_dynalite_still_lacks_transactions(store: Store) -> None:
    """Why the tests below run on moto only: the day this fails, run them on dynalite too."""
    thread = new_thread_in(store)
    run = run_record(thread["id"])
    with pytest.raises(ClientError) as info:
        store.create_run(PROJECT, run, [user_message(thread["id"])], None)
    assert info.value.response["Error"]["Code"] == "UnknownOperationException"
    assert store.get_run(PROJECT, thread["id"], run["id"]) is None
    assert marker(store, thread["id"]) is None


@MOTO_ONLY
def test_create_run_takes_the_marker_with_its_messages(store: Store) -> None:
    thread = new_thread_in(store)
    run = run_record(thread["id"])
    extra = [user_message(thread["id"], "a"), user_message(thread["id"], "b")]
    store.create_run(PROJECT, run, extra, None)
    assert marker(store, thread["id"]) == run["id"]
    assert store.get_run(PROJECT, thread["id"], run["id"]) == stored(run)
    assert ids_of(store.thread_messages(PROJECT, thread["id"])) == ids_of(extra)
    item = raw_item(store, *run_key(run))
    assert item is not None and "gsi1pk" in item and "gsi2pk" in item


@MOTO_ONLY
def test_create_run_conflicts_with_an_active_run(store: Store) -> None:
    thread = new_thread_in(store)
    first, second = run_record(thread["id"]), run_record(thread["id"])
    store.create_run(PROJECT, first, [], None)
    message = user_message(thread["id"])
    with pytest.raises(ThreadConflict):
        store.create_run(PROJECT, second, [message], None)
    assert store.get_run(PROJECT, thread["id"], second["id"]) is None, "half a transaction"
    assert store.get_message(PROJECT, thread["id"], message["id"]) is None
    with pytest.raises(ThreadConflict):
        store.create_run(PROJECT, second, [], new_id("run"))  # the wrong stale run
    # Naming the marker's run as stale (the caller saw it terminal) takes the thread over.
    store.create_run(PROJECT, second, [], first["id"])
    assert marker(store, thread["id"]) == second["id"]

    lost = run_record(new_id("thread"))
    with pytest.raises(ThreadConflict):
        store.create_run(PROJECT, lost, [], None)  # no such thread
    assert store.get_run(PROJECT, lost["thread_id"], lost["id"]) is None


@MOTO_ONLY
def test_add_message_needs_a_free_thread(store: Store) -> None:
    thread = new_thread_in(store)
    first = user_message(thread["id"], "1")
    store.add_message(PROJECT, first, None)
    assert store.get_message(PROJECT, thread["id"], first["id"]) == stored(first)

    run = run_record(thread["id"])
    store.create_run(PROJECT, run, [], None)
    blocked = user_message(thread["id"], "2")
    with pytest.raises(ThreadConflict):
        store.add_message(PROJECT, blocked, None)
    assert store.get_message(PROJECT, thread["id"], blocked["id"]) is None
    store.add_message(PROJECT, blocked, run["id"])  # the caller found that run terminal
    assert store.get_message(PROJECT, thread["id"], blocked["id"]) is not None

    orphan = user_message(new_id("thread"))
    with pytest.raises(ThreadConflict):
        store.add_message(PROJECT, orphan, None)
    assert store.get_message(PROJECT, orphan["thread_id"], orphan["id"]) is None


@MOTO_ONLY
def test_create_thread_with_messages_and_a_run(store: Store) -> None:
    thread = thread_record()
    messages = [user_message(thread["id"], str(i)) for i in range(3)]
    store.create_thread(PROJECT, thread, messages)
    assert store.get_thread(PROJECT, thread["id"]) == stored(thread)
    assert ids_of(store.thread_messages(PROJECT, thread["id"])) == ids_of(messages)

    other = thread_record()
    run = run_record(other["id"])
    store.create_thread(PROJECT, other, [user_message(other["id"])], run)
    assert marker(store, other["id"]) == run["id"]
    assert store.get_run(PROJECT, other["id"], run["id"]) == stored(run)
    entries, _ = store.runs_past_deadline(keys.shard_of(run["id"], 4), run["expires_at"], 10)
    assert run["id"] in [e.run_id for e in entries], "the run is in the active index"


def claimed_run(store: Store) -> Record:
    """A run created by create_run and claimed by a worker."""
    thread = new_thread_in(store)
    run = run_record(thread["id"])
    store.create_run(PROJECT, run, [], None)
    claimed = store.change_run(
        PROJECT, thread["id"], run["id"], transitions.claim(NOW + 1), base=run
    )
    assert claimed is not None
    return claimed


@MOTO_ONLY
def test_a_terminal_change_writes_its_items_and_releases_the_thread(store: Store) -> None:
    run = claimed_run(store)
    thread_id = run["thread_id"]
    reply = new_assistant_message(run, "hi", NOW + 2)
    step = new_step(run, "message_creation", {"type": "message_creation"}, NOW + 2)
    step["status"] = lifecycle.STEP_COMPLETED
    change = transitions.end_run(
        run,
        lifecycle.COMPLETED,
        NOW + 2,
        sources=(lifecycle.IN_PROGRESS,),
        deadline="open",
        turn_tokens=(3, 1),
    )
    change.new_items = [reply, step]
    done = store.change_run(PROJECT, thread_id, run["id"], change, base=run)
    assert done is not None and done["status"] == lifecycle.COMPLETED
    assert done["usage"] == {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    assert store.get_run(PROJECT, thread_id, run["id"]) == done
    assert marker(store, thread_id) is None, "the terminal write releases the thread"
    item = raw_item(store, *run_key(run))
    assert item is not None and not {"gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"} & set(item)
    assert store.get_message(PROJECT, thread_id, reply["id"]) == stored(reply)
    assert ids_of(store.run_steps(PROJECT, thread_id, run["id"])) == [step["id"]]

    again = transitions.end_run(run, lifecycle.FAILED, NOW + 3, sources=(lifecycle.IN_PROGRESS,))
    late = new_assistant_message(run, "late", NOW + 3)
    again.new_items = [late]
    assert store.change_run(PROJECT, thread_id, run["id"], again, base=run) is None
    assert store.get_message(PROJECT, thread_id, late["id"]) is None, "a loser wrote an item"
    assert store.get_run(PROJECT, thread_id, run["id"]) == done


@MOTO_ONLY
def test_expiry_closes_the_open_step(store: Store) -> None:
    run = claimed_run(store)
    thread_id = run["thread_id"]
    step = new_step(run, "tool_calls", {"type": "tool_calls", "tool_calls": []}, NOW + 2)
    waiting = RunChange(
        (lifecycle.IN_PROGRESS,),
        {"status": lifecycle.REQUIRES_ACTION, "open_step_id": step["id"]},
        NOW + 2,
        deadline="open",
        new_items=[step],
    )
    run = store.change_run(PROJECT, thread_id, run["id"], waiting, base=run)
    assert run is not None and run["open_step_id"] == step["id"]

    early = transitions.expire(run, run["expires_at"] - 1)
    assert store.change_run(PROJECT, thread_id, run["id"], early, base=run) is None
    now = run["expires_at"]
    expired = store.change_run(PROJECT, thread_id, run["id"], transitions.expire(run, now), run)
    assert expired is not None and expired["status"] == lifecycle.EXPIRED
    assert "open_step_id" not in expired
    closed = store.get_step(PROJECT, thread_id, run["id"], step["id"])
    assert closed is not None
    assert (closed["status"], closed["expired_at"]) == (lifecycle.STEP_EXPIRED, now)
    assert marker(store, thread_id) is None
    cancel = transitions.cancel_now(run, now - 1)
    assert store.change_run(PROJECT, thread_id, run["id"], cancel, base=run) is None


@MOTO_ONLY
def test_a_terminal_change_holds_when_the_marker_moved_on(store: Store) -> None:
    run = claimed_run(store)
    thread_id = run["thread_id"]
    other = new_id("run")
    store.update_thread(PROJECT, thread_id, {"active_run_id": other})
    change = transitions.end_run(run, lifecycle.FAILED, NOW + 2, sources=(lifecycle.IN_PROGRESS,))
    assert store.change_run(PROJECT, thread_id, run["id"], change, base=run) is not None
    assert marker(store, thread_id) == other, "another run's marker must stay"

    gone = claimed_run(store)
    store.delete_thread(PROJECT, gone["thread_id"])
    change = transitions.end_run(gone, lifecycle.FAILED, NOW + 2, sources=(lifecycle.IN_PROGRESS,))
    assert store.change_run(PROJECT, gone["thread_id"], gone["id"], change, base=gone)
    assert store.get_thread(PROJECT, gone["thread_id"]) is None, "the release recreated it"
