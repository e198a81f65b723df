"""The store's vector stores section: stores, their files and file batches (mixed into Store).

Layout (see keys.py): a project's stores in one partition (`VS#<id>`), each store's files
(`FILE#<file id>`) and batches (`BATCH#<id>`) in a partition of its own, and for each file the
stores holding it (`P#<project>#FVS#<file id>`, for the cascade of a file delete). Files list in
file-ID order, which is the files' creation order.

Counts stay right under concurrent ingestion: every status change of a vector store file is one
transaction, conditioned on the file's current status, that moves the store's (and the batch's)
counters with increments. Whoever loses a race (a duplicate delivery, a cancel, a delete, the
sweeper) changes nothing. An engine transaction cannot delete, so removing a file first turns it
into a `deleted` tombstone (counts taken off, in the transaction) and then deletes the item; a
tombstone left by a crash in between is invisible to reads and lists and carries a TTL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..domain import vector_stores as vs
from ..domain.pagination import Page, PageRequest
from ..domain.transitions import Increment
from . import keys
from .batch_entry_records import BatchEntryRecords, EntryKey
from .engine import (
    All,
    AtMost,
    Check,
    Condition,
    Equals,
    Exists,
    Item,
    KeyRange,
    Missing,
    Put,
    Update,
    Write,
)
from .items import Record, record_item, strip_item

if TYPE_CHECKING:
    from .engine import Engine

_TOMBSTONE_SECONDS = 86_400
_INDEX_PAGE = 100
# Lists of live files filter on this attribute (an engine filter is an equality): a tombstone
# drops it.
_LISTED = "listed"
# A store files can be added to: it exists and has not expired.
_USABLE: Condition = All((Exists("pk"), Missing("expired")))


@dataclass(frozen=True)
class FileRef:
    """A vector store file found through the ingestion index."""

    project: str
    vector_store_id: str
    file_id: str


@dataclass(frozen=True)
class StoreRef:
    project: str
    vector_store_id: str


class ConflictingChange(Exception):
    """A write kept losing to concurrent changes of the same item (should not happen)."""


class AddOutcome:
    ADDED = "added"
    EXISTS = "exists"
    NO_STORE = "no_store"
    EXPIRED = "expired"
    # A batch entry only: it was added or resolved already (a duplicate delivery), or its batch
    # was cancelled or is gone.
    NOT_PENDING = "not_pending"


def _live_only(record: Record | None) -> Record | None:
    return record if vs.is_live(record) else None


def _store_sk(vector_store_id: str) -> str:
    return keys.VS + vector_store_id


def _count_changes(source: str | None, target: str | None, usage: int = 0) -> dict[str, Any]:
    """Counter increments for a file moving from `source` to `target` (None: in/out)."""
    changes: dict[str, Any] = {}
    if source is not None:
        changes[vs.COUNT_OF[source]] = Increment(-1)
    if target is not None:
        changes[vs.COUNT_OF[target]] = Increment(1)
    if source is None:
        changes[vs.TOTAL] = Increment(1)
    if target is None:
        changes[vs.TOTAL] = Increment(-1)
    if usage:
        changes["usage_bytes"] = Increment(usage)
    return changes


def _status_writes(
    project: str,
    record: Record,
    file_changes: dict[str, Any],
    source: str,
    target: str | None,
    usage: int,
) -> list[Write]:
    """A file leaving `source` (for `target`, or out of the store when None) with its store's
    counts and usage and, when it came in a batch, the batch's counts: one transaction."""
    vector_store_id, file_id = record["vector_store_id"], record["id"]
    pk = keys.vector_store_pk(project, vector_store_id)
    writes: list[Write] = [
        Update(pk, keys.VS_FILE + file_id, file_changes, Equals("status", source)),
        Update(
            keys.vector_stores_pk(project),
            _store_sk(vector_store_id),
            _count_changes(source, target, usage),
            Exists("pk"),
        ),
    ]
    batch_id = record.get("batch_id")
    if batch_id:
        batch_changes = _count_changes(source, target)
        writes.append(Update(pk, keys.VS_BATCH + batch_id, batch_changes, Exists("pk")))
    return writes


class VectorStoreRecords(BatchEntryRecords):
    """Store methods for vector stores; `Store` gives `engine`, `shards` and the helpers below."""

    engine: Engine
    shards: int

    if TYPE_CHECKING:

        def _get(self, pk: str, sk: str) -> Record | None: ...

        def _page(
            self, pk: str, prefix: str, page: PageRequest, filters: dict[str, str] | None = None
        ) -> Page: ...

        def _index_items(self, kind: str, below: str, page_size: int) -> Iterator[Item]: ...

    # -- vector stores ---------------------------------------------------------------------

    def _store_item(self, project: str, record: Record) -> Item:
        index: dict[str, str] = {}
        if record.get("expires_at") is not None and not record.get("expired"):
            index = keys.expiry_index_keys(record["id"], record["expires_at"], self.shards)
        return record_item(keys.vector_stores_pk(project), _store_sk(record["id"]), record, **index)

    def put_vector_store(self, project: str, record: Record) -> None:
        self.engine.put(Put(self._store_item(project, record)))

    def get_vector_store(self, project: str, vector_store_id: str) -> Record | None:
        return self._get(keys.vector_stores_pk(project), _store_sk(vector_store_id))

    def list_vector_stores(self, project: str, page: PageRequest) -> Page:
        return self._page(keys.vector_stores_pk(project), keys.VS, page)

    def update_vector_store(
        self, project: str, vector_store_id: str, changes: dict[str, Any]
    ) -> Record | None:
        """Change an existing store; a new `expires_at` moves its expiry index entry."""
        changes = dict(changes)
        if "expires_at" in changes:
            due = changes["expires_at"]
            if due is None:
                changes.update(dict.fromkeys(keys.INDEX_KEY_ATTRS[keys.ACTIVE_INDEX]))
            else:
                changes.update(keys.expiry_index_keys(vector_store_id, due, self.shards))
        condition: Condition = _USABLE if "expires_at" in changes else Exists("pk")
        write = Update(
            keys.vector_stores_pk(project), _store_sk(vector_store_id), changes, condition
        )
        updated = strip_item(self.engine.update(write))
        if updated is None and "expires_at" in changes:
            # Expired meanwhile: the other changes still apply, the expiry no longer moves.
            rest = {k: v for k, v in changes.items() if k in ("name", "metadata")}
            if rest:
                return self.update_vector_store(project, vector_store_id, rest)
            return self.get_vector_store(project, vector_store_id)
        return updated

    def touch_vector_store(
        self, project: str, vector_store_id: str, now: int, expires_at: int | None
    ) -> bool:
        """The store was used: `last_active_at` (and a sliding `expires_at`) move to now."""
        changes: dict[str, Any] = {"last_active_at": now}
        if expires_at is not None:
            changes["expires_at"] = expires_at
            changes.update(keys.expiry_index_keys(vector_store_id, expires_at, self.shards))
        write = Update(
            keys.vector_stores_pk(project),
            _store_sk(vector_store_id),
            changes,
            _USABLE,
        )
        return self.engine.update(write) is not None

    def expire_vector_store(self, project: str, vector_store_id: str, now: int) -> bool:
        """Mark a store past its `expires_at` expired (once); it leaves the expiry index."""
        changes: dict[str, Any] = {"expired": True}
        changes.update(dict.fromkeys(keys.INDEX_KEY_ATTRS[keys.ACTIVE_INDEX]))
        write = Update(
            keys.vector_stores_pk(project),
            _store_sk(vector_store_id),
            changes,
            All((Exists("pk"), Missing("expired"), AtMost("expires_at", now))),
        )
        return self.engine.update(write) is not None

    def delete_vector_store(self, project: str, vector_store_id: str) -> Record | None:
        """Delete the store's item; every later count change fails on it. Purge the rest next."""
        item = self.engine.delete(keys.vector_stores_pk(project), _store_sk(vector_store_id))
        return strip_item(item)

    def purge_vector_store(self, project: str, vector_store_id: str, max_items: int = 1000) -> bool:
        """Delete up to `max_items` of a deleted store's files and batches; True when none remain.

        Each file's membership item goes with it, so the cascade of a later file delete never
        looks in a store that is gone.
        """
        pk = keys.vector_store_pk(project, vector_store_id)
        files = self.engine.query(
            KeyRange(pk, keys.VS_FILE, keys.VS_FILE + keys.ABOVE_IDS, limit=max_items)
        )
        for item in files:
            file_id = item["sk"][len(keys.VS_FILE) :]
            self.engine.delete(keys.file_stores_pk(project, file_id), _store_sk(vector_store_id))
            self.engine.delete(pk, item["sk"])
        if len(files) >= max_items:
            return False
        return self.engine.delete_under(pk, "", max_items - len(files))[1]

    def stores_past_expiry(self, now: int, page_size: int = _INDEX_PAGE) -> Iterator[StoreRef]:
        below = keys.index_sort_key(now + 1, "")
        for item in self._index_items(keys.VS_EXPIRY, below, page_size):
            project = keys.project_of_vector_stores_pk(item["pk"])
            yield StoreRef(project, item["sk"][len(keys.VS) :])

    # -- vector store files ----------------------------------------------------------------

    def _file_key(self, project: str, vector_store_id: str, file_id: str) -> tuple[str, str]:
        return keys.vector_store_pk(project, vector_store_id), keys.VS_FILE + file_id

    def add_vector_store_file(
        self, project: str, record: Record, due: int, entry: EntryKey | None = None
    ) -> tuple[str, Record]:
        """Add an in_progress file to its store (and batch), counts and all, in one transaction.

        With a batch `entry`, the file was counted in_progress (in the store and the batch) when
        its batch was created: the transaction only takes the entry off the pending ones instead,
        conditioned on it still pending and its batch not cancelled.
        (outcome, record): ADDED with the new record, EXISTS with the file already there (left as
        it is), NO_STORE / EXPIRED with the record as given, NOT_PENDING (an entry only).
        """
        vector_store_id, file_id = record["vector_store_id"], record["id"]
        pk, sk = self._file_key(project, vector_store_id, file_id)
        index = keys.ingesting_index_keys(vector_store_id, file_id, due, self.shards)
        item = record_item(pk, sk, {**record, "attempt": 1}, listed="1", **index)
        store_key = (keys.vector_stores_pk(project), _store_sk(vector_store_id))
        store_write: Write = Update(*store_key, _count_changes(None, vs.IN_PROGRESS), _USABLE)
        if entry is not None:
            store_write = Check(*store_key, _USABLE)
        writes: list[Write] = [
            Put(item, Missing("pk")),
            store_write,
            Put({"pk": keys.file_stores_pk(project, file_id), "sk": _store_sk(vector_store_id)}),
        ]
        batch_id = record.get("batch_id")
        if entry is not None:
            writes.extend(self.entry_writes(entry))
        elif batch_id:
            batch_key = (pk, keys.VS_BATCH + batch_id)
            writes.append(Update(*batch_key, _count_changes(None, vs.IN_PROGRESS), Exists("pk")))
        for _ in range(3):
            failed = self.engine.transact(writes)
            if failed is None:
                return AddOutcome.ADDED, record
            if entry is not None and (failed[3] or failed[4]):
                return AddOutcome.NOT_PENDING, record
            if failed[1] or (batch_id and failed[3]):
                store = self.get_vector_store(project, vector_store_id)
                return (AddOutcome.NO_STORE if store is None else AddOutcome.EXPIRED), record
            existing = self._get(pk, sk)
            if vs.is_live(existing):
                assert existing is not None
                return AddOutcome.EXISTS, existing
            if existing is not None:  # a tombstone a crashed delete left: finish that delete
                self._drop_file_items(project, vector_store_id, file_id)
        raise ConflictingChange(f"{file_id} kept changing while it was added to {vector_store_id}")

    def get_vector_store_file(
        self, project: str, vector_store_id: str, file_id: str
    ) -> Record | None:
        return _live_only(self._get(*self._file_key(project, vector_store_id, file_id)))

    def raw_vector_store_file(
        self, project: str, vector_store_id: str, file_id: str
    ) -> Record | None:
        """The file's record even while it is being deleted (the worker's view)."""
        return self._get(*self._file_key(project, vector_store_id, file_id))

    def list_vector_store_files(
        self,
        project: str,
        vector_store_id: str,
        page: PageRequest,
        status: str | None = None,
        batch_id: str | None = None,
    ) -> Page:
        filters = {"status": status} if status else {_LISTED: "1"}
        if batch_id:
            filters["batch_id"] = batch_id
        pk = keys.vector_store_pk(project, vector_store_id)
        return self._page(pk, keys.VS_FILE, page, filters)

    def finish_vector_store_file(
        self,
        project: str,
        record: Record,
        status: str,
        changes: dict[str, Any],
        source: str = vs.IN_PROGRESS,
    ) -> bool:
        """Move a file from `source` to a final `status`, its store's and batch's counts with it.

        False when the file is no longer in `source` (a duplicate, a cancel, a delete won).
        """
        vector_store_id, file_id = record["vector_store_id"], record["id"]
        pk, sk = self._file_key(project, vector_store_id, file_id)
        usage = int(changes.get("usage_bytes", 0))
        file_changes = {"status": status, **changes}
        file_changes.update(dict.fromkeys(keys.INDEX_KEY_ATTRS[keys.PENDING_INDEX]))
        writes = _status_writes(project, record, file_changes, source, status, usage)
        failed = self.engine.transact(writes)
        if failed is None:
            return True
        if not failed[0]:
            # The store (or batch) is gone: the file goes with it, only the file changes.
            self.engine.update(Update(pk, sk, file_changes, Equals("status", source)))
        return False

    def update_vector_store_file(
        self, project: str, vector_store_id: str, file_id: str, changes: dict[str, Any]
    ) -> Record | None:
        """Change a live file's own fields (attributes): no status, no counts."""
        pk, sk = self._file_key(project, vector_store_id, file_id)
        return strip_item(self.engine.update(Update(pk, sk, changes, Exists(_LISTED))))

    def remove_vector_store_file(
        self, project: str, vector_store_id: str, file_id: str, now: int
    ) -> Record | None:
        """Take a file out of its store: counts off (one transaction), then the items go.

        The record as it was, or None if the store did not hold it.
        """
        pk, sk = self._file_key(project, vector_store_id, file_id)
        for _ in range(10):  # each retry means the file's status moved meanwhile
            record = self._get(pk, sk)
            if record is None:
                return None
            if record.get("status") == vs.DELETED:
                self._drop_file_items(project, vector_store_id, file_id)
                return None
            status = record["status"]
            tombstone: dict[str, Any] = {
                "status": vs.DELETED,
                _LISTED: None,
                "ttl": now + _TOMBSTONE_SECONDS,
                **dict.fromkeys(keys.INDEX_KEY_ATTRS[keys.PENDING_INDEX]),
            }
            usage = -int(record.get("usage_bytes", 0))
            writes = _status_writes(project, record, tombstone, status, None, usage)
            failed = self.engine.transact(writes)
            if failed is None or not failed[0]:
                # Done, or the store/batch is gone (nothing left to count): the items go.
                self._drop_file_items(project, vector_store_id, file_id)
                return record
        return None

    def _drop_file_items(self, project: str, vector_store_id: str, file_id: str) -> None:
        self.engine.delete(*self._file_key(project, vector_store_id, file_id))
        self.engine.delete(keys.file_stores_pk(project, file_id), _store_sk(vector_store_id))

    def stores_holding_file(self, project: str, file_id: str) -> list[str]:
        key_range = KeyRange(
            keys.file_stores_pk(project, file_id), keys.VS, keys.VS + keys.ABOVE_IDS, limit=10_000
        )
        return [item["sk"][len(keys.VS) :] for item in self.engine.query(key_range)]

    def reschedule_ingestion(
        self, project: str, vector_store_id: str, file_id: str, attempt: int, due: int
    ) -> bool:
        """Another delivery of an in_progress file's job: fenced on the attempt the caller saw."""
        pk, sk = self._file_key(project, vector_store_id, file_id)
        changes: dict[str, Any] = {"attempt": Increment()}
        changes.update(keys.ingesting_index_keys(vector_store_id, file_id, due, self.shards))
        condition = All((Equals("status", vs.IN_PROGRESS), Equals("attempt", attempt)))
        return self.engine.update(Update(pk, sk, changes, condition)) is not None

    def files_ingesting_due(self, now: int, page_size: int = _INDEX_PAGE) -> Iterator[FileRef]:
        """In_progress files whose sweeper deadline has passed."""
        below = f"{now + 1:012d}#"
        for item in self._index_items(keys.INGESTING, below, page_size):
            project, vector_store_id = keys.split_vector_store_pk(item["pk"])
            yield FileRef(project, vector_store_id, item["sk"][len(keys.VS_FILE) :])

    # -- file batches ----------------------------------------------------------------------

    def put_file_batch(self, project: str, record: Record) -> bool:
        """Put a new batch if its store exists (and has not expired); its pending entries (put
        before it, batch_entry_records.py) are counted in_progress in the store with it."""
        vector_store_id = record["vector_store_id"]
        pk = keys.vector_store_pk(project, vector_store_id)
        pending = int(record.get("n_pending", 0))
        store_write: Write = _store_usable_check(project, vector_store_id)
        if pending:
            changes = {
                vs.COUNT_OF[vs.IN_PROGRESS]: Increment(pending),
                vs.TOTAL: Increment(pending),
            }
            store_write = Update(
                keys.vector_stores_pk(project), _store_sk(vector_store_id), changes, _USABLE
            )
        writes: list[Write] = [
            Put(record_item(pk, keys.VS_BATCH + record["id"], record)),
            store_write,
        ]
        return self.engine.transact(writes) is None

    def get_file_batch(self, project: str, vector_store_id: str, batch_id: str) -> Record | None:
        pk = keys.vector_store_pk(project, vector_store_id)
        return self._get(pk, keys.VS_BATCH + batch_id)


def _store_usable_check(project: str, vector_store_id: str) -> Write:
    return Check(keys.vector_stores_pk(project), _store_sk(vector_store_id), _USABLE)
