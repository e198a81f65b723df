"""All reads and writes of the service's state: the service layer's only view of persistence.

The store owns the key formats, the sparse indexes and their paging; an engine (DynamoDB when
deployed, SQLite locally) applies what the store asks for atomically. Every status change of a
run is a conditional write on the run's current status (and, where it matters, on its deadline),
so a cancel, a completion, an expiry and a duplicate delivery can race and exactly one of them
wins. Writes that touch several items (a run and its thread's active-run marker, an outcome's
message and step) are one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..domain import lifecycle
from ..domain.pagination import Page, PageRequest
from ..domain.transitions import RunChange
from . import keys
from .engine import (
    Above,
    All,
    AtMost,
    Check,
    Condition,
    Either,
    Engine,
    Equals,
    Exists,
    Item,
    KeyRange,
    Missing,
    OneOf,
    Put,
    Update,
    Write,
)
from .items import Record, record_item, strip_item
from .vector_store_records import VectorStoreRecords

_INDEX_PAGE = 100


class ThreadConflict(Exception):
    """A write that needs the thread free (no active run) or present found otherwise."""


class ConditionFailed(Exception):
    """A conditional write lost: the item was not in the state the write expected."""


@dataclass
class IndexEntry:
    """A run found through a sparse index, with the attributes the index projects."""

    project: str
    thread_id: str
    run_id: str
    status: str
    expires_at: int
    open_step_id: str | None
    usage_so_far: dict[str, int] | None
    since: int  # the index's time: the deadline (active) or when it became pending

    def as_run(self) -> Record:
        """The run as far as the index knows it: enough to build a change from."""
        return {
            "id": self.run_id,
            "thread_id": self.thread_id,
            "status": self.status,
            "expires_at": self.expires_at,
            "open_step_id": self.open_step_id,
            "usage_so_far": self.usage_so_far,
        }


def _thread_free(stale_run_id: str | None) -> Condition:
    """The thread exists and holds no active run (or only `stale_run_id`, found terminal)."""
    free: Condition = Missing("active_run_id")
    if stale_run_id:
        free = Either((free, Equals("active_run_id", stale_run_id)))
    return All((Exists("pk"), free))


def _sort_key(record: Record) -> str:
    if record["object"] == "thread.message":
        return keys.MSG + record["id"]
    if record["object"] == "thread.run.step":
        return keys.step_sk(record["run_id"], record["id"])
    raise ValueError(f"not a thread item: {record['object']}")


def low_id_below(cursor: str) -> str:
    """The highest sort-key suffix strictly below ID `cursor` that no ID can equal.

    IDs have a fixed length, so any ID below `cursor` is at most `cursor` with its last character
    lowered by one and anything appended; "~" sorts above every ID character.
    """
    return cursor[:-1] + chr(ord(cursor[-1]) - 1) + keys.ABOVE_IDS


class Store(VectorStoreRecords):
    def __init__(self, engine: Engine, index_shards: int = 4, retention_seconds: int = 0) -> None:
        self.engine = engine
        self.shards = index_shards
        # When set, a run and its steps carry a TTL (`ttl`) once the run is terminal.
        self.retention_seconds = retention_seconds

    def create_schema(self) -> None:
        self.engine.create_schema()

    # -- reads and lists -------------------------------------------------------------------

    def _get(self, pk: str, sk: str) -> Record | None:
        return strip_item(self.engine.get(pk, sk))

    def _update_existing(self, pk: str, sk: str, changes: dict[str, Any]) -> Record | None:
        """Change an item that must exist (never create one); None if it does not."""
        return strip_item(self.engine.update(Update(pk, sk, changes, Exists("pk"))))

    def _page(
        self, pk: str, prefix: str, page: PageRequest, filters: dict[str, str] | None = None
    ) -> Page:
        """One page of a list: a key range in ID order, `limit + 1` items for an exact has_more.

        In the requested order, `after` items come after the cursor and `before` items before it;
        with only `before`, the page is the `limit` items nearest the cursor (read backwards).
        """
        ascending = page.order == "asc"
        low_id, high_id = (page.after, page.before) if ascending else (page.before, page.after)
        low = prefix + low_id + keys.BELOW_IDS if low_id else prefix
        high = prefix + low_id_below(high_id) if high_id else prefix + keys.ABOVE_IDS
        if low > high:
            # No ID lies between the cursors (e.g. after == before); DynamoDB rejects a BETWEEN
            # whose bounds are inverted, so answer the empty page without asking.
            return Page(items=[], has_more=False)
        read_backwards = page.before is not None and page.after is None
        key_range = KeyRange(
            pk, low, high, ascending != read_backwards, page.limit + 1, dict(filters or {})
        )
        items = [r for r in map(strip_item, self.engine.query(key_range)) if r is not None]
        has_more = len(items) > page.limit
        items = items[: page.limit]
        if read_backwards:
            items.reverse()
        return Page(items=items, has_more=has_more)

    def _all(self, pk: str, prefix: str) -> list[Record]:
        return self._page(pk, prefix, PageRequest(limit=1_000_000, order="asc")).items

    # -- assistants ------------------------------------------------------------------------

    def put_assistant(self, project: str, assistant: Record) -> None:
        pk, sk = keys.assistants_pk(project), keys.ASST + assistant["id"]
        self.engine.put(Put(record_item(pk, sk, assistant)))

    def get_assistant(self, project: str, assistant_id: str) -> Record | None:
        return self._get(keys.assistants_pk(project), keys.ASST + assistant_id)

    def update_assistant(
        self, project: str, assistant_id: str, changes: dict[str, Any]
    ) -> Record | None:
        if not changes:
            return self.get_assistant(project, assistant_id)
        return self._update_existing(keys.assistants_pk(project), keys.ASST + assistant_id, changes)

    def delete_assistant(self, project: str, assistant_id: str) -> bool:
        return self.engine.delete(keys.assistants_pk(project), keys.ASST + assistant_id) is not None

    def list_assistants(self, project: str, page: PageRequest) -> Page:
        return self._page(keys.assistants_pk(project), keys.ASST, page)

    # -- threads and messages --------------------------------------------------------------

    def create_thread(
        self, project: str, thread: Record, messages: list[Record], run: Record | None = None
    ) -> None:
        """Put a thread with its messages, and (create thread and run) its first run, at once."""
        pk = keys.thread_pk(project, thread["id"])
        marker = {"active_run_id": run["id"]} if run else {}
        thread_item = record_item(pk, keys.THREAD_SK, thread, **marker)
        if not messages and run is None:
            self.engine.put(Put(thread_item))
            return
        writes: list[Write] = [Put(thread_item)]
        writes += [Put(record_item(pk, keys.MSG + m["id"], m)) for m in messages]
        if run is not None:
            writes.append(Put(self._new_run_item(project, run)))
        if self.engine.transact(writes) is not None:
            raise ConditionFailed("thread creation was cancelled")

    def get_thread(self, project: str, thread_id: str) -> Record | None:
        return self._get(keys.thread_pk(project, thread_id), keys.THREAD_SK)

    def update_thread(self, project: str, thread_id: str, changes: dict[str, Any]) -> Record | None:
        if not changes:
            return self.get_thread(project, thread_id)
        return self._update_existing(keys.thread_pk(project, thread_id), keys.THREAD_SK, changes)

    def delete_thread(self, project: str, thread_id: str) -> Record | None:
        """Delete the thread item; its messages, runs and steps are purged afterwards."""
        return strip_item(self.engine.delete(keys.thread_pk(project, thread_id), keys.THREAD_SK))

    def purge_thread_items(self, project: str, thread_id: str, max_items: int = 1000) -> bool:
        """Delete up to `max_items` items of a deleted thread's partition. True when none remain.

        Runs go first: every write into a thread's partition is conditioned on the thread item
        (gone already) or on one of its runs' status, so once the runs are gone nothing can add
        an item behind the purge.
        """
        pk = keys.thread_pk(project, thread_id)
        deleted, runs_gone = self.engine.delete_under(pk, keys.RUN, max_items)
        if not runs_gone:
            return False
        return self.engine.delete_under(pk, "", max_items - deleted)[1]

    def add_message(self, project: str, message: Record, stale_run_id: str | None) -> None:
        """Put a message if the thread exists and holds no active run (or only `stale_run_id`)."""
        pk = keys.thread_pk(project, message["thread_id"])
        writes: list[Write] = [
            Check(pk, keys.THREAD_SK, _thread_free(stale_run_id)),
            Put(record_item(pk, keys.MSG + message["id"], message)),
        ]
        if self.engine.transact(writes) is not None:
            raise ThreadConflict(message["thread_id"])

    def get_message(self, project: str, thread_id: str, message_id: str) -> Record | None:
        return self._get(keys.thread_pk(project, thread_id), keys.MSG + message_id)

    def update_message(
        self, project: str, thread_id: str, message_id: str, changes: dict[str, Any]
    ) -> Record | None:
        pk = keys.thread_pk(project, thread_id)
        return self._update_existing(pk, keys.MSG + message_id, changes)

    def delete_message(self, project: str, thread_id: str, message_id: str) -> bool:
        pk = keys.thread_pk(project, thread_id)
        return self.engine.delete(pk, keys.MSG + message_id) is not None

    def list_messages(
        self, project: str, thread_id: str, page: PageRequest, run_id: str | None = None
    ) -> Page:
        filters = {"run_id": run_id} if run_id else None
        return self._page(keys.thread_pk(project, thread_id), keys.MSG, page, filters)

    def thread_messages(
        self, project: str, thread_id: str, last: int | None = None
    ) -> list[Record]:
        """The thread's messages in creation order; with `last`, only the newest `last`."""
        page = PageRequest(limit=last or 1_000_000, order="desc" if last else "asc")
        items = self._page(keys.thread_pk(project, thread_id), keys.MSG, page).items
        return list(reversed(items)) if last else items

    # -- runs and steps --------------------------------------------------------------------

    def _new_run_item(self, project: str, run: Record) -> Item:
        """A new queued run's item: in the active index by deadline, pending since creation."""
        index = {
            **keys.active_index_keys(run["id"], run["expires_at"], self.shards),
            **keys.pending_index_keys(run["id"], run["created_at"], self.shards),
        }
        pk = keys.thread_pk(project, run["thread_id"])
        return record_item(pk, keys.run_sk(run["id"]), run, **index)

    def create_run(
        self, project: str, run: Record, messages: list[Record], stale_run_id: str | None
    ) -> None:
        """Put a queued run, take the thread's active-run marker and add messages, atomically."""
        pk = keys.thread_pk(project, run["thread_id"])
        writes: list[Write] = [
            Put(self._new_run_item(project, run)),
            Update(pk, keys.THREAD_SK, {"active_run_id": run["id"]}, _thread_free(stale_run_id)),
        ]
        writes += [Put(record_item(pk, keys.MSG + m["id"], m)) for m in messages]
        if self.engine.transact(writes) is not None:
            raise ThreadConflict(run["thread_id"])

    def get_run(self, project: str, thread_id: str, run_id: str) -> Record | None:
        return self._get(keys.thread_pk(project, thread_id), keys.run_sk(run_id))

    def list_runs(self, project: str, thread_id: str, page: PageRequest) -> Page:
        return self._page(keys.thread_pk(project, thread_id), keys.RUN, page)

    def update_run_metadata(
        self, project: str, thread_id: str, run_id: str, metadata: dict[str, str]
    ) -> Record | None:
        pk = keys.thread_pk(project, thread_id)
        return self._update_existing(pk, keys.run_sk(run_id), {"metadata": metadata})

    def get_step(self, project: str, thread_id: str, run_id: str, step_id: str) -> Record | None:
        return self._get(keys.thread_pk(project, thread_id), keys.step_sk(run_id, step_id))

    def list_steps(self, project: str, thread_id: str, run_id: str, page: PageRequest) -> Page:
        return self._page(keys.thread_pk(project, thread_id), keys.step_prefix(run_id), page)

    def run_steps(self, project: str, thread_id: str, run_id: str) -> list[Record]:
        return self._all(keys.thread_pk(project, thread_id), keys.step_prefix(run_id))

    # -- run changes -------------------------------------------------------------------------

    def change_run(
        self,
        project: str,
        thread_id: str,
        run_id: str,
        change: RunChange,
        base: Record,
        returns: str = "new",
    ) -> Record | None:
        """Apply a conditional run change; the run as it now is, or None if the condition failed.

        `base` is the run as the caller read it: a transaction returns nothing, so the new state
        is `base` plus the changes. A single-item change may ask for the run as it was instead
        (`returns="old"`), e.g. to learn which status a cancel found.
        """
        pk, sk = keys.thread_pk(project, thread_id), keys.run_sk(run_id)
        attributes = self._run_attributes(run_id, change)
        run_write = Update(pk, sk, attributes, self._run_condition(change))
        terminal = _is_terminal(change)
        if not (terminal or change.step_updates or change.new_items):
            return strip_item(self.engine.update(run_write, "old" if returns == "old" else "new"))
        writes: list[Write] = [run_write, *self._outcome_writes(pk, run_id, change)]
        if not self._commit_run_change(writes, release=_release(pk, run_id) if terminal else None):
            return None
        merged = {**base, **attributes}
        return {k: v for k, v in merged.items() if v is not None and k not in _NOT_RETURNED}

    def _run_attributes(self, run_id: str, change: RunChange) -> dict[str, Any]:
        """The change's attributes plus what follows from its status: index keys, retention.

        A terminal run leaves both sparse indexes; a queued or cancelling run enters the pending
        index (since now); an executing run is there by its lease; any other status leaves it.
        """
        attributes = dict(change.changes)
        status = attributes.get("status")
        lease_until = attributes.get("lease_until")
        if _is_terminal(change):
            attributes.update(dict.fromkeys(keys.INDEX_ATTRS))
            attributes.update(self._retention(change))
        elif status in (lifecycle.QUEUED, lifecycle.CANCELLING):
            attributes.update(keys.pending_index_keys(run_id, change.now, self.shards))
        elif status in (None, lifecycle.IN_PROGRESS) and lease_until is not None:
            attributes.update(keys.lease_index_keys(run_id, lease_until, self.shards))
        elif status is not None:
            attributes.update(dict.fromkeys(keys.INDEX_KEY_ATTRS[keys.PENDING_INDEX]))
        return attributes

    def _retention(self, change: RunChange) -> dict[str, int]:
        return {"ttl": change.now + self.retention_seconds} if self.retention_seconds else {}

    @staticmethod
    def _run_condition(change: RunChange) -> Condition:
        """The run is in one of the change's source statuses (and its deadline is as required)."""
        parts: list[Condition] = [OneOf("status", tuple(change.sources))]
        if change.deadline == "open":
            parts.append(Above("expires_at", change.now))
        elif change.deadline == "passed":
            parts.append(AtMost("expires_at", change.now))
        if change.attempt is not None:
            parts.append(Equals("attempt", change.attempt))
        if change.lease_lapsed:
            parts.append(AtMost("lease_until", change.now))
        return All(tuple(parts))

    def _outcome_writes(self, pk: str, run_id: str, change: RunChange) -> list[Write]:
        """What goes with the run in its transaction: open steps closed, new items put."""
        retention = self._retention(change) if _is_terminal(change) else {}
        writes: list[Write] = [
            Update(
                pk,
                keys.step_sk(run_id, step_id),
                {**step_changes, **retention},
                Equals("status", lifecycle.STEP_IN_PROGRESS),
            )
            for step_id, step_changes in change.step_updates
        ]
        for record in change.new_items:
            extra = retention if record["object"] == "thread.run.step" else {}
            writes.append(Put(record_item(pk, _sort_key(record), record, **extra)))
        return writes

    def _commit_run_change(self, writes: list[Write], release: Write | None) -> bool:
        """Write a run change's transaction, releasing the thread's marker if it is ours.

        If the release is what failed (the marker moved on, or the thread is gone), the run
        change still holds: write it without the release.
        """
        failed = self.engine.transact([*writes, release] if release else writes)
        if failed is not None and release is not None and not any(failed[:-1]):
            failed = self.engine.transact(writes)
        return failed is None

    # -- the sparse indexes (the sweeper's view) ----------------------------------------------

    def _index_entries(self, kind: str, below: str, page_size: int) -> Iterator[IndexEntry]:
        """Every entry of an index partition kind with sort key < `below`, shard by shard."""
        time_attr = keys.INDEX_KEY_ATTRS[keys.INDEX_OF[kind]][1]
        for item in self._index_items(kind, below, page_size):
            project, thread_id = keys.split_thread_pk(item["pk"])
            yield IndexEntry(
                project=project,
                thread_id=thread_id,
                run_id=item["sk"][len(keys.RUN) :],
                status=item.get("status", ""),
                expires_at=int(item.get("expires_at", 0)),
                open_step_id=item.get("open_step_id"),
                usage_so_far=item.get("usage_so_far"),
                since=keys.index_time(item[time_attr]),
            )

    def runs_past_deadline(self, now: int, page_size: int = _INDEX_PAGE) -> Iterator[IndexEntry]:
        """Active runs whose `expires_at` <= now, oldest deadline first within each shard."""
        return self._index_entries(keys.ACTIVE, keys.index_sort_key(now + 1, ""), page_size)

    def runs_pending_since(self, before: int, page_size: int = _INDEX_PAGE) -> Iterator[IndexEntry]:
        """Queued or cancelling runs that entered that status before `before`."""
        return self._index_entries(keys.PENDING, keys.index_sort_key(before, ""), page_size)

    def runs_with_lapsed_lease(
        self, now: int, page_size: int = _INDEX_PAGE
    ) -> Iterator[IndexEntry]:
        """Executing runs whose worker's lease ran out (`lease_until` <= now)."""
        return self._index_entries(keys.LEASE, keys.index_sort_key(now + 1, ""), page_size)

    def remove_expired_items(self, now: int, limit: int = 1000) -> int:
        """Delete items past their retention TTL where the engine does not do it itself."""
        return self.engine.remove_expired(now, limit)

    # -- files -------------------------------------------------------------------------------

    def put_file(self, project: str, file: Record) -> None:
        """A file's record; one that expires is also in the file-expiry index, by when."""
        expiry = file.get("expires_at")
        index = keys.file_expiry_index_keys(file["id"], expiry, self.shards) if expiry else {}
        pk, sk = keys.files_pk(project), keys.FILE + file["id"]
        self.engine.put(Put(record_item(pk, sk, file, **index)))

    def get_file(self, project: str, file_id: str) -> Record | None:
        return self._get(keys.files_pk(project), keys.FILE + file_id)

    def delete_file(self, project: str, file_id: str) -> Record | None:
        """Delete a file's record; the record as it was, or None if there was none."""
        return strip_item(self.engine.delete(keys.files_pk(project), keys.FILE + file_id))

    def list_files(self, project: str, page: PageRequest, purpose: str | None = None) -> Page:
        filters = {"purpose": purpose} if purpose else None
        return self._page(keys.files_pk(project), keys.FILE, page, filters)

    def files_past_expiry(
        self, now: int, page_size: int = _INDEX_PAGE
    ) -> Iterator[tuple[str, str]]:
        """(project, file_id) of every file whose `expires_at` <= now, shard by shard."""
        for item in self._index_items(
            keys.FILE_EXPIRY, keys.index_sort_key(now + 1, ""), page_size
        ):
            yield keys.project_of_files_pk(item["pk"]), item["sk"][len(keys.FILE) :]

    def _index_items(self, kind: str, below: str, page_size: int) -> Iterator[Item]:
        """Every raw item of an index partition kind with sort key < `below`, shard by shard."""
        index = keys.INDEX_OF[kind]
        for shard in range(self.shards):
            start = None
            while True:
                page = self.engine.query_index(
                    index, keys.index_partition(kind, shard), below, page_size, start
                )
                yield from page.items
                start = page.next_start
                if not start:
                    break

    # -- API keys ----------------------------------------------------------------------------

    def put_api_key(self, key_hash: str, record: Record) -> None:
        """Store a key (hashed) twice: by hash for lookups and under its project for listing."""
        by_hash = {"pk": keys.api_key_pk(key_hash), "sk": keys.API_KEY_SK, **record}
        by_project = {"pk": keys.project_keys_pk(record["project"]), "sk": key_hash, **record}
        if self.engine.transact([Put(by_hash), Put(by_project)]) is not None:
            raise ConditionFailed("the key could not be stored")

    def get_api_key(self, key_hash: str) -> Record | None:
        return self._get(keys.api_key_pk(key_hash), keys.API_KEY_SK)

    def list_api_keys(self, project: str) -> list[Record]:
        key_range = KeyRange(
            keys.project_keys_pk(project), keys.BELOW_IDS, keys.ABOVE_IDS, limit=1000
        )
        return [r for r in map(strip_item, self.engine.query(key_range)) if r is not None]

    def delete_api_key(self, project: str, key_hash: str) -> bool:
        found = self.engine.delete(keys.project_keys_pk(project), key_hash)
        self.engine.delete(keys.api_key_pk(key_hash), keys.API_KEY_SK)
        return found is not None


_NOT_RETURNED = ("ttl", *keys.INDEX_ATTRS)


def _is_terminal(change: RunChange) -> bool:
    status = change.changes.get("status")
    return status is not None and lifecycle.is_terminal(status)


def _release(pk: str, run_id: str) -> Write:
    """Free the thread's active-run marker, if it still names this run."""
    return Update(pk, keys.THREAD_SK, {"active_run_id": None}, Equals("active_run_id", run_id))
