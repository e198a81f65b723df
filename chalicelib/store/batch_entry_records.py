"""The store's file-batch entries: the files a batch still has to add (mixed into Store).

A batch request writes its files as entries (`BENTRY#<batch>#<slice>#<file>`, in the store's
partition), each slice of them with a marker (`BSLICE#<batch>#<slice>`) in one transaction of at
most 100 items, and then the batch, its files counted in_progress (in the batch and in its store)
and `n_pending` of them still to add. The worker's job for a slice adds each pending entry in the
transaction that creates its vector store file (vector_store_records.add_vector_store_file with
the entry): the entry stops being pending and `n_pending` goes down, and no count moves twice.
An entry that cannot be added (its file is gone, already in the store, the store expired)
is resolved here: its pre-counted in_progress is taken off again. A cancel takes every entry
still pending off at once (`cancel_pending_entries`, fenced on `n_pending`), and a cancelled
batch refuses every later add. The slice marker sits in the pending index by a deadline, so the
sweeper re-sends a slice whose job was lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..domain import vector_stores as vs
from ..domain.transitions import Increment
from . import keys
from .engine import All, Equals, Exists, KeyRange, Missing, Put, Update, Write
from .items import Record, record_item

if TYPE_CHECKING:
    from .engine import Engine, Item

_INDEX_PAGE = 100
# Entries still to add carry this attribute (an engine filter is an equality): adding or
# resolving an entry removes it, conditioned on it, so one of them wins.
PENDING = "pending"
# A transaction holds a slice's entries and its marker: DynamoDB's limit is 100 items.
SLICE_ENTRIES = 99
# The batch takes adds while it exists and is not cancelled.
_BATCH_OPEN = All((Exists("pk"), Missing("cancelled")))


@dataclass(frozen=True)
class SliceRef:
    """A slice of a batch still to add, found through the pending index."""

    project: str
    vector_store_id: str
    batch_id: str
    slice_number: int


@dataclass(frozen=True)
class EntryKey:
    """Where a pending entry lives: the add transaction moves it (and its batch's n_pending)."""

    pk: str
    sk: str
    batch_id: str


class BatchEntryRecords:
    engine: Engine
    shards: int

    if TYPE_CHECKING:

        def _get(self, pk: str, sk: str) -> Record | None: ...

        def _index_items(self, kind: str, below: str, page_size: int) -> Iterator[Item]: ...

    def put_batch_slice(
        self,
        project: str,
        vector_store_id: str,
        batch_id: str,
        slice_number: int,
        entries: list[vs.BatchEntry],
        due: int,
    ) -> None:
        """A slice's entries and its marker (in the sweeper's index by `due`), all or nothing."""
        assert len(entries) <= SLICE_ENTRIES
        pk = keys.vector_store_pk(project, vector_store_id)
        prefix = keys.batch_entries_prefix(batch_id, slice_number)
        index = keys.batch_add_index_keys(vector_store_id, batch_id, slice_number, due, self.shards)
        marker = {"pk": pk, "sk": keys.batch_slice_sk(batch_id, slice_number), "attempt": 1}
        writes: list[Write] = [Put({**marker, **index})]
        for entry in entries:
            item = record_item(pk, prefix + entry["file_id"], dict(entry), **{PENDING: "1"})
            writes.append(Put(item))
        if self.engine.transact(writes) is not None:
            raise RuntimeError("unconditional puts failed")  # cannot happen

    def pending_entries(
        self, project: str, vector_store_id: str, batch_id: str, slice_number: int
    ) -> list[tuple[EntryKey, vs.BatchEntry]]:
        """The slice's entries not yet added or resolved, in file-ID order."""
        pk = keys.vector_store_pk(project, vector_store_id)
        prefix = keys.batch_entries_prefix(batch_id, slice_number)
        key_range = KeyRange(
            pk, prefix, prefix + keys.ABOVE_IDS, limit=SLICE_ENTRIES + 1, equals={PENDING: "1"}
        )
        found = []
        for item in self.engine.query(key_range):
            entry: vs.BatchEntry = {
                "file_id": item["file_id"],
                "chunking_strategy": item["chunking_strategy"],
                "attributes": item.get("attributes"),
            }
            found.append((EntryKey(pk, item["sk"], batch_id), entry))
        return found

    def entry_writes(self, entry: EntryKey) -> list[Write]:
        """The writes an add makes on the entry and its batch (in the add's transaction)."""
        return [
            Update(entry.pk, entry.sk, {PENDING: None}, Exists(PENDING)),
            Update(
                entry.pk,
                keys.VS_BATCH + entry.batch_id,
                {"n_pending": Increment(-1)},
                _BATCH_OPEN,
            ),
        ]

    def resolve_entry(
        self, project: str, vector_store_id: str, entry: EntryKey, outcome: str | None
    ) -> bool:
        """An entry that will not be added: its pre-counted in_progress comes off the batch
        (`failed` counted instead, or, with None, out of its total: a file the store already
        held is skipped) and off the store, which it never joined. False if it was not pending
        or the batch was cancelled (the cancel counted it)."""
        batch_changes: dict[str, Any] = {
            "n_pending": Increment(-1),
            vs.COUNT_OF[vs.IN_PROGRESS]: Increment(-1),
        }
        if outcome is None:
            batch_changes[vs.TOTAL] = Increment(-1)
        else:
            batch_changes[vs.COUNT_OF[outcome]] = Increment(1)
        writes = self.entry_writes(entry)
        writes[1] = Update(entry.pk, keys.VS_BATCH + entry.batch_id, batch_changes, _BATCH_OPEN)
        writes.append(_leave_store(project, vector_store_id, 1))
        failed = self.engine.transact(writes)
        if failed is not None and not (failed[0] or failed[1]):
            # Only the store is gone: the batch goes with it; resolve the entry all the same.
            return self.engine.transact(writes[:2]) is None
        return failed is None

    def cancel_pending_entries(self, project: str, vector_store_id: str, batch_id: str) -> bool:
        """Mark the batch cancelled and count its entries still pending `cancelled` (off the
        store, which they never joined), in one transaction fenced on `n_pending`; every later
        add of one of them fails on the mark. False if the batch is gone or already cancelled."""
        pk = keys.vector_store_pk(project, vector_store_id)
        sk = keys.VS_BATCH + batch_id
        for _ in range(10):  # each retry means an entry was added meanwhile
            batch = self._get(pk, sk)
            if batch is None or batch.get("cancelled"):
                return False
            pending = int(batch.get("n_pending", 0))
            changes: dict[str, Any] = {"cancelled": True}
            condition = _BATCH_OPEN
            if pending:
                changes.update(
                    {
                        "n_pending": Increment(-pending),
                        vs.COUNT_OF[vs.IN_PROGRESS]: Increment(-pending),
                        vs.COUNT_OF[vs.CANCELLED]: Increment(pending),
                    }
                )
                condition = All((_BATCH_OPEN, Equals("n_pending", pending)))
            writes: list[Write] = [Update(pk, sk, changes, condition)]
            if pending:
                writes.append(_leave_store(project, vector_store_id, pending))
            failed = self.engine.transact(writes)
            if failed is None:
                return True
            if not failed[0]:  # the store is gone: only the batch is marked
                return self.engine.update(Update(pk, sk, changes, condition)) is not None
        return False

    def drop_batch_slice(
        self, project: str, vector_store_id: str, batch_id: str, slice_number: int
    ) -> None:
        """A slice that is done (or whose batch or store is gone): its entries and marker go."""
        pk = keys.vector_store_pk(project, vector_store_id)
        prefix = keys.batch_entries_prefix(batch_id, slice_number)
        while not self.engine.delete_under(pk, prefix, 1000)[1]:
            pass
        self.engine.delete(pk, keys.batch_slice_sk(batch_id, slice_number))

    def get_batch_slice(
        self, project: str, vector_store_id: str, batch_id: str, slice_number: int
    ) -> Record | None:
        pk = keys.vector_store_pk(project, vector_store_id)
        return self.engine.get(pk, keys.batch_slice_sk(batch_id, slice_number))

    def reschedule_batch_slice(self, ref: SliceRef, attempt: int, due: int) -> bool:
        """Another delivery of a slice's job: fenced on the attempt the caller saw."""
        pk = keys.vector_store_pk(ref.project, ref.vector_store_id)
        changes: dict[str, Any] = {"attempt": Increment()}
        changes.update(
            keys.batch_add_index_keys(
                ref.vector_store_id, ref.batch_id, ref.slice_number, due, self.shards
            )
        )
        write = Update(
            pk,
            keys.batch_slice_sk(ref.batch_id, ref.slice_number),
            changes,
            Equals("attempt", attempt),
        )
        return self.engine.update(write) is not None

    def batch_slices_due(self, now: int, page_size: int = _INDEX_PAGE) -> Iterator[SliceRef]:
        """Slices still to add whose sweeper deadline has passed."""
        below = f"{now + 1:012d}#"
        for item in self._index_items(keys.BATCH_ADD, below, page_size):
            project, vector_store_id = keys.split_vector_store_pk(item["pk"])
            batch_id, number = keys.split_batch_slice_sk(item["sk"])
            yield SliceRef(project, vector_store_id, batch_id, number)


def _leave_store(project: str, vector_store_id: str, files: int) -> Write:
    """Pre-counted entries that will never be files of the store come off its counts."""
    changes = {vs.COUNT_OF[vs.IN_PROGRESS]: Increment(-files), vs.TOTAL: Increment(-files)}
    return Update(keys.vector_stores_pk(project), keys.VS + vector_store_id, changes, Exists("pk"))
