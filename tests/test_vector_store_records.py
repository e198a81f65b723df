"""The store contract for vector stores, their files and batches: the same tests on SQLite and moto.

Counts are the point: every status change of a file is one transaction with the store's and the
batch's counters, so they must come out exact however changes race.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.domain import vector_stores as vs
from chalicelib.domain.ids import new_id
from chalicelib.domain.pagination import PageRequest
from chalicelib.store import keys
from chalicelib.store.engine import Engine
from chalicelib.store.store import Store
from chalicelib.store.vector_store_records import AddOutcome
from tests.support import engines

PROJECT = "proj_vs"
OTHER = "proj_other"
NOW = 1_800_000_000


@pytest.fixture(params=["sqlite", "moto"])
def engine(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Engine]:
    if request.param == "sqlite":
        sqlite = engines.sqlite_engine(tmp_path)
        yield sqlite
        sqlite.close()
        return
    with engines.moto_engine() as moto:
        yield moto


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine, 4)


def new_store(store: Store, project: str = PROJECT, **fields: Any) -> dict[str, Any]:
    record = vs.new_vector_store(NOW, fields.pop("name", "s"), None, fields.pop("expires", None))
    store.put_vector_store(project, record)
    return record


def file_record(vector_store_id: str, batch_id: str | None = None) -> dict[str, Any]:
    return vs.new_vector_store_file(
        vector_store_id,
        new_id("file"),
        NOW,
        filename="a.txt",
        chunking_strategy=vs.resolve_strategy(None),
        attributes={"k": "v"},
        batch_id=batch_id,
    )


def add(store: Store, record: dict[str, Any], project: str = PROJECT) -> str:
    outcome, _ = store.add_vector_store_file(project, record, NOW + 60)
    return outcome


def counts(store: Store, vector_store_id: str, project: str = PROJECT) -> dict[str, int]:
    found = store.get_vector_store(project, vector_store_id)
    assert found is not None
    return vs.file_counts(found)


def test_stores_list_in_creation_order_with_exact_has_more(store: Store) -> None:
    ids = [new_store(store)["id"] for _ in range(5)]
    new_store(store, OTHER)
    page = store.list_vector_stores(PROJECT, PageRequest(limit=2, order="asc"))
    assert [r["id"] for r in page.items] == ids[:2] and page.has_more
    page = store.list_vector_stores(PROJECT, PageRequest(limit=3, order="asc", after=ids[1]))
    assert [r["id"] for r in page.items] == ids[2:] and not page.has_more
    page = store.list_vector_stores(PROJECT, PageRequest(limit=2, before=ids[2]))
    assert [r["id"] for r in page.items] == [ids[4], ids[3]]
    everything = store.list_vector_stores(PROJECT, PageRequest(limit=100))
    assert [r["id"] for r in everything.items] == ids[::-1], "another project's store never shows"
    assert store.get_vector_store(OTHER, ids[0]) is None


def test_add_counts_and_refuses_duplicates_missing_and_expired_stores(store: Store) -> None:
    target = new_store(store)
    record = file_record(target["id"])
    assert add(store, record) == AddOutcome.ADDED
    assert counts(store, target["id"]) == {**_zero(), "in_progress": 1, "total": 1}
    outcome, existing = store.add_vector_store_file(PROJECT, {**record, "status": "x"}, NOW)
    assert outcome == AddOutcome.EXISTS and existing["status"] == vs.IN_PROGRESS
    assert counts(store, target["id"])["total"] == 1, "a duplicate add counts nothing"
    assert add(store, file_record(new_id("vector_store"))) == AddOutcome.NO_STORE
    assert store.stores_holding_file(PROJECT, record["id"]) == [target["id"]]
    assert store.stores_holding_file(OTHER, record["id"]) == []

    expiring = new_store(store, expires={"anchor": "last_active_at", "days": 1})
    assert store.expire_vector_store(PROJECT, expiring["id"], NOW + 86_400)
    assert add(store, file_record(expiring["id"])) == AddOutcome.EXPIRED
    assert counts(store, expiring["id"])["total"] == 0


def _zero() -> dict[str, int]:
    return {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 0}


def test_finish_moves_counts_once_with_the_batch(store: Store) -> None:
    target = new_store(store)
    batch = vs.new_file_batch(target["id"], NOW)
    assert store.put_file_batch(PROJECT, batch)
    first, second = file_record(target["id"], batch["id"]), file_record(target["id"], batch["id"])
    add(store, first)
    add(store, second)
    done = {"usage_bytes": 120, "chunk_count": 2}
    assert store.finish_vector_store_file(PROJECT, first, vs.COMPLETED, done)
    assert not store.finish_vector_store_file(PROJECT, first, vs.COMPLETED, done), "only once"
    error = {"last_error": {"code": "invalid_file", "message": "m"}}
    assert store.finish_vector_store_file(PROJECT, second, vs.FAILED, error)
    expected = {**_zero(), "completed": 1, "failed": 1, "total": 2}
    assert counts(store, target["id"]) == expected
    found = store.get_vector_store(PROJECT, target["id"])
    assert found is not None and found["usage_bytes"] == 120
    stored_batch = store.get_file_batch(PROJECT, target["id"], batch["id"])
    assert stored_batch is not None and vs.file_counts(stored_batch) == expected
    again = store.get_vector_store_file(PROJECT, target["id"], second["id"])
    assert again is not None and again["last_error"] == error["last_error"]
    page = store.list_vector_store_files(PROJECT, target["id"], PageRequest(), vs.COMPLETED)
    assert [r["id"] for r in page.items] == [first["id"]]
    page = store.list_vector_store_files(PROJECT, target["id"], PageRequest(), None, batch["id"])
    assert {r["id"] for r in page.items} == {first["id"], second["id"]}


def test_counts_stay_exact_under_concurrent_ingestion(store: Store) -> None:
    target = new_store(store)
    records = [file_record(target["id"]) for _ in range(12)]
    for record in records:
        add(store, record)
    wins: list[bool] = []

    def finish(record: dict[str, Any]) -> None:
        # Two deliveries of the same job race: exactly one of them counts.
        wins.append(
            store.finish_vector_store_file(PROJECT, record, vs.COMPLETED, {"usage_bytes": 10})
        )

    threads = [threading.Thread(target=finish, args=(r,)) for r in records + records]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wins.count(True) == 12
    assert counts(store, target["id"]) == {**_zero(), "completed": 12, "total": 12}
    found = store.get_vector_store(PROJECT, target["id"])
    assert found is not None and found["usage_bytes"] == 120


def test_remove_takes_counts_off_and_forgets_the_membership(store: Store) -> None:
    target = new_store(store)
    batch = vs.new_file_batch(target["id"], NOW)
    store.put_file_batch(PROJECT, batch)
    done, pending = file_record(target["id"], batch["id"]), file_record(target["id"], batch["id"])
    add(store, done)
    add(store, pending)
    store.finish_vector_store_file(PROJECT, done, vs.COMPLETED, {"usage_bytes": 50})
    removed = store.remove_vector_store_file(PROJECT, target["id"], done["id"], NOW)
    assert removed is not None and removed["status"] == vs.COMPLETED
    assert store.remove_vector_store_file(PROJECT, target["id"], done["id"], NOW) is None
    assert counts(store, target["id"]) == {**_zero(), "in_progress": 1, "total": 1}
    found = store.get_vector_store(PROJECT, target["id"])
    assert found is not None and found["usage_bytes"] == 0
    assert store.stores_holding_file(PROJECT, done["id"]) == []
    store.remove_vector_store_file(PROJECT, target["id"], pending["id"], NOW)
    stored_batch = store.get_file_batch(PROJECT, target["id"], batch["id"])
    assert stored_batch is not None and vs.batch_status(stored_batch) != vs.IN_PROGRESS, (
        "a batch never waits for a file that left its store"
    )
    assert store.list_vector_store_files(PROJECT, target["id"], PageRequest()).items == []


def test_a_tombstone_is_invisible_and_a_re_add_finishes_it(store: Store) -> None:
    target = new_store(store)
    record = file_record(target["id"])
    add(store, record)
    pk = keys.vector_store_pk(PROJECT, target["id"])
    # A delete that crashed after its transaction: the item is still there, marked deleted.
    from chalicelib.store.engine import Update

    store.engine.update(Update(pk, keys.VS_FILE + record["id"], {"status": vs.DELETED}))
    store.engine.update(Update(pk, keys.VS_FILE + record["id"], {"listed": None}))
    assert store.get_vector_store_file(PROJECT, target["id"], record["id"]) is None
    assert store.list_vector_store_files(PROJECT, target["id"], PageRequest()).items == []
    assert add(store, record) == AddOutcome.ADDED


def test_ingestion_index_finds_due_files_and_fences_resends(store: Store) -> None:
    target = new_store(store)
    record = file_record(target["id"])
    add(store, record)  # due at NOW + 60
    assert list(store.files_ingesting_due(NOW + 59)) == []
    (due,) = list(store.files_ingesting_due(NOW + 60))
    assert (due.project, due.vector_store_id, due.file_id) == (PROJECT, target["id"], record["id"])
    assert store.reschedule_ingestion(PROJECT, target["id"], record["id"], 1, NOW + 120)
    assert not store.reschedule_ingestion(PROJECT, target["id"], record["id"], 1, NOW + 120), (
        "a second sweep that saw the same attempt sends nothing"
    )
    assert list(store.files_ingesting_due(NOW + 100)) == []
    store.finish_vector_store_file(PROJECT, record, vs.COMPLETED, {})
    assert list(store.files_ingesting_due(NOW + 10_000)) == [], "a finished file leaves the index"


def test_expiry_index_moves_with_activity_and_expires_once(store: Store) -> None:
    days = {"anchor": "last_active_at", "days": 2}
    target = new_store(store, expires=days)
    new_store(store)  # no expiry: never in the index
    assert [r.vector_store_id for r in store.stores_past_expiry(NOW + 2 * 86_400)] == [target["id"]]
    later = NOW + 86_400
    assert store.touch_vector_store(PROJECT, target["id"], later, later + 2 * 86_400)
    assert list(store.stores_past_expiry(NOW + 2 * 86_400)) == []
    assert not store.expire_vector_store(PROJECT, target["id"], NOW + 2 * 86_400), "not yet due"
    assert store.expire_vector_store(PROJECT, target["id"], later + 2 * 86_400)
    assert not store.expire_vector_store(PROJECT, target["id"], later + 3 * 86_400), "only once"
    found = store.get_vector_store(PROJECT, target["id"])
    assert found is not None and vs.store_status(found) == vs.EXPIRED
    assert list(store.stores_past_expiry(later + 9 * 86_400)) == []
    assert not store.touch_vector_store(PROJECT, target["id"], later + 9, None)


def test_delete_and_purge_remove_files_batches_and_memberships(store: Store) -> None:
    target = new_store(store)
    batch = vs.new_file_batch(target["id"], NOW)
    store.put_file_batch(PROJECT, batch)
    records = [file_record(target["id"], batch["id"]) for _ in range(3)]
    for record in records:
        add(store, record)
    assert store.delete_vector_store(PROJECT, target["id"]) is not None
    # Counts can no longer move: a late finish changes nothing.
    assert not store.finish_vector_store_file(PROJECT, records[0], vs.COMPLETED, {})
    assert store.purge_vector_store(PROJECT, target["id"], max_items=2) is False
    assert store.purge_vector_store(PROJECT, target["id"]) is True
    assert engines.partition(store.engine, keys.vector_store_pk(PROJECT, target["id"])) == []
    assert all(store.stores_holding_file(PROJECT, r["id"]) == [] for r in records)
    assert not store.put_file_batch(PROJECT, vs.new_file_batch(target["id"], NOW))
