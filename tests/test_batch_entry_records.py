"""The store contract for file-batch entries, on SQLite and moto: a batch's files pre-counted
in_progress when it is written, each entry then added (or resolved, or cancelled) exactly once.
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain import vector_stores as vs
from chalicelib.domain.ids import new_id
from chalicelib.store import keys
from chalicelib.store.batch_entry_records import SLICE_ENTRIES, SliceRef
from chalicelib.store.store import Store
from chalicelib.store.vector_store_records import AddOutcome
from tests import test_vector_store_records as records
from tests.support import engines
from tests.test_vector_store_records import NOW, PROJECT, _zero, counts, new_store

# The same fixtures: an engine of each kind (SQLite, moto) and a store on it.
engine = records.engine
store = records.store


def entries(n: int, attributes: dict[str, Any] | None = None) -> list[vs.BatchEntry]:
    requested = [(new_id("file"), None, attributes) for _ in range(n)]
    return vs.batch_entries(requested)


def start(store: Store, vector_store_id: str, given: list[vs.BatchEntry]) -> dict[str, Any]:
    """What a batch request writes: the slices, then the batch pre-counted."""
    batch = vs.new_file_batch(vector_store_id, NOW, pending=len(given))
    for number, piece in enumerate(vs.slices(given, SLICE_ENTRIES)):
        store.put_batch_slice(PROJECT, vector_store_id, batch["id"], number, piece, NOW + 60)
    assert store.put_file_batch(PROJECT, batch)
    return dict(batch)


def batch_counts(store: Store, vector_store_id: str, batch_id: str) -> dict[str, int]:
    found = store.get_file_batch(PROJECT, vector_store_id, batch_id)
    assert found is not None
    return vs.file_counts(found)


def record_for(vector_store_id: str, entry: vs.BatchEntry, batch_id: str) -> dict[str, Any]:
    return vs.new_vector_store_file(
        vector_store_id,
        entry["file_id"],
        NOW,
        filename="a.txt",
        chunking_strategy=entry["chunking_strategy"],
        attributes=entry["attributes"],
        batch_id=batch_id,
    )


def test_a_batch_is_pre_counted_and_each_entry_added_once(store: Store) -> None:
    target = new_store(store)
    given = entries(3, {"k": "v" * 512})
    batch = start(store, target["id"], given)
    pre = {**_zero(), "in_progress": 3, "total": 3}
    assert (
        counts(store, target["id"]) == pre and batch_counts(store, target["id"], batch["id"]) == pre
    )
    pending = store.pending_entries(PROJECT, target["id"], batch["id"], 0)
    assert [entry for _, entry in pending] == sorted(given, key=lambda e: e["file_id"])
    key, entry = pending[0]
    record = record_for(target["id"], entry, batch["id"])
    assert store.add_vector_store_file(PROJECT, record, NOW + 60, key)[0] == AddOutcome.ADDED
    assert store.add_vector_store_file(PROJECT, record, NOW + 60, key)[0] == AddOutcome.NOT_PENDING
    assert counts(store, target["id"]) == pre, "the add counts nothing again"
    assert batch_counts(store, target["id"], batch["id"]) == pre
    assert len(store.pending_entries(PROJECT, target["id"], batch["id"], 0)) == 2
    # The file then completes as any file does: its counts move from in_progress.
    assert store.finish_vector_store_file(PROJECT, record, vs.COMPLETED, {"usage_bytes": 5})
    done = {**pre, "in_progress": 2, "completed": 1}
    assert counts(store, target["id"]) == done == batch_counts(store, target["id"], batch["id"])
    found = store.get_file_batch(PROJECT, target["id"], batch["id"])
    assert found is not None and found["n_pending"] == 2

    # One entry's file is gone (failed in the batch, never in the store), one already there.
    (gone_key, _), (held_key, _) = store.pending_entries(PROJECT, target["id"], batch["id"], 0)
    assert store.resolve_entry(PROJECT, target["id"], gone_key, vs.FAILED)
    assert not store.resolve_entry(PROJECT, target["id"], gone_key, vs.FAILED), "only once"
    assert store.resolve_entry(PROJECT, target["id"], held_key, None)
    assert batch_counts(store, target["id"], batch["id"]) == {
        **_zero(), "completed": 1, "failed": 1, "total": 2
    }  # fmt: skip
    assert counts(store, target["id"]) == {**_zero(), "completed": 1, "total": 1}
    assert vs.batch_status(store.get_file_batch(PROJECT, target["id"], batch["id"]) or {}) == (
        vs.COMPLETED
    )


def test_cancel_counts_pending_entries_and_refuses_later_adds(store: Store) -> None:
    target = new_store(store)
    given = entries(SLICE_ENTRIES + 5)
    batch = start(store, target["id"], given)
    key, entry = store.pending_entries(PROJECT, target["id"], batch["id"], 1)[0]
    first = record_for(target["id"], entry, batch["id"])
    assert store.add_vector_store_file(PROJECT, first, NOW + 60, key)[0] == AddOutcome.ADDED
    assert store.cancel_pending_entries(PROJECT, target["id"], batch["id"])
    assert not store.cancel_pending_entries(PROJECT, target["id"], batch["id"]), "once"
    total = SLICE_ENTRIES + 5
    assert batch_counts(store, target["id"], batch["id"]) == {
        **_zero(), "in_progress": 1, "cancelled": total - 1, "total": total
    }  # fmt: skip
    assert counts(store, target["id"]) == {**_zero(), "in_progress": 1, "total": 1}
    key, entry = store.pending_entries(PROJECT, target["id"], batch["id"], 0)[0]
    late = record_for(target["id"], entry, batch["id"])
    assert store.add_vector_store_file(PROJECT, late, NOW + 60, key)[0] == AddOutcome.NOT_PENDING
    assert not store.resolve_entry(PROJECT, target["id"], key, vs.FAILED)
    assert store.get_vector_store_file(PROJECT, target["id"], late["id"]) is None
    assert counts(store, target["id"])["total"] == 1


def test_slices_are_found_when_due_fenced_and_dropped(store: Store) -> None:
    target = new_store(store)
    batch = start(store, target["id"], entries(SLICE_ENTRIES + 1))
    assert list(store.batch_slices_due(NOW + 59)) == []
    due = sorted(store.batch_slices_due(NOW + 60), key=lambda ref: ref.slice_number)
    assert due == [SliceRef(PROJECT, target["id"], batch["id"], n) for n in (0, 1)]
    assert store.reschedule_batch_slice(due[0], 1, NOW + 120)
    assert not store.reschedule_batch_slice(due[0], 1, NOW + 120), "a second sweep sends nothing"
    assert [ref.slice_number for ref in store.batch_slices_due(NOW + 100)] == [1]
    store.drop_batch_slice(PROJECT, target["id"], batch["id"], 1)
    assert list(store.batch_slices_due(NOW + 100)) == []
    assert store.pending_entries(PROJECT, target["id"], batch["id"], 1) == []
    pk = keys.vector_store_pk(PROJECT, target["id"])
    left = [sk for sk in engines.partition(store.engine, pk) if "#0001" in sk]
    assert left == []


def test_a_deleted_store_takes_no_adds_and_purges_its_entries(store: Store) -> None:
    target = new_store(store)
    batch = start(store, target["id"], entries(3))
    key, entry = store.pending_entries(PROJECT, target["id"], batch["id"], 0)[0]
    store.delete_vector_store(PROJECT, target["id"])
    record = record_for(target["id"], entry, batch["id"])
    assert store.add_vector_store_file(PROJECT, record, NOW + 60, key)[0] == AddOutcome.NO_STORE
    assert store.purge_vector_store(PROJECT, target["id"])
    assert engines.partition(store.engine, keys.vector_store_pk(PROJECT, target["id"])) == []
    assert list(store.batch_slices_due(NOW + 10_000)) == []
    # A batch whose store is gone is refused and pre-counts nothing.
    assert not store.put_file_batch(PROJECT, vs.new_file_batch(target["id"], NOW, pending=2))
