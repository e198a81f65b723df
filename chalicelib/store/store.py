"""All reads and writes of the service's state, on one DynamoDB table.

Every status change of a run is a conditional write on the run's current status (and, where it
matters, on its deadline), so a cancel, a completion, an expiry and a duplicate delivery can race
and exactly one of them wins. Writes that touch several items (a run and its thread's active-run
marker, an outcome's message and step) are one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ..domain import lifecycle
from ..domain.errors import ItemTooLarge
from ..domain.pagination import Page, PageRequest
from ..domain.transitions import IfMissing, RunChange
from . import keys
from .table import (
    ACTIVE_INDEX,
    MAX_ITEM_BYTES,
    MAX_TRANSACTION_BYTES,
    PENDING_INDEX,
    check_size,
    deserialize,
    item_size,
    serialize,
    serialize_value,
)

Record = dict[str, Any]
_INDEX_ATTRS = ("gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")
_TRANSACTION_RETRIES = 4


class ThreadConflict(Exception):
    """A write that needs the thread free (no active run) or present found otherwise."""


class ConditionFailed(Exception):
    """A conditional write lost: the item was not in the state the write expected."""


@dataclass
class IndexEntry:
    """A run found through a sparse index, with the attributes the index projects."""

    pk: str
    run_id: str
    status: str
    expires_at: int
    open_step_id: str | None
    usage_so_far: dict[str, int] | None
    since: int  # the index's time: the deadline (active) or when it became pending


class _Expr:
    """Builds an expression's placeholder maps."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def name(self, attr: str) -> str:
        placeholder = f"#{attr}"
        self.names[placeholder] = attr
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = serialize_value(value)
        return placeholder

    def update(self, changes: dict[str, Any]) -> str:
        sets = [
            f"{self.name(k)} = if_not_exists({self.name(k)}, {self.value(v.value)})"
            if isinstance(v, IfMissing)
            else f"{self.name(k)} = {self.value(v)}"
            for k, v in changes.items()
            if v is not None
        ]
        removes = [self.name(k) for k, v in changes.items() if v is None]
        parts = []
        if sets:
            parts.append("SET " + ", ".join(sets))
        if removes:
            parts.append("REMOVE " + ", ".join(removes))
        return " ".join(parts)

    def status_in(self, statuses: Iterable[str]) -> str:
        return f"{self.name('status')} IN ({', '.join(self.value(s) for s in statuses)})"

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.names:
            out["ExpressionAttributeNames"] = self.names
        if self.values:
            out["ExpressionAttributeValues"] = self.values
        return out


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _is_condition_failure(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


def _is_item_too_large(error: ClientError) -> bool:
    """An update that would make an item bigger than DynamoDB's 400 KB (nothing is written).

    DynamoDB says so in a ValidationException, or for a transaction in a cancellation reason.
    """
    info = error.response["Error"]
    if info["Code"] == "ValidationException":
        return "Item size" in info.get("Message", "")
    reasons = error.response.get("CancellationReasons") or []
    return any(
        r.get("Code") == "ValidationError" and "Item size" in (r.get("Message") or "")
        for r in reasons
    )


def _too_large() -> ItemTooLarge:
    return ItemTooLarge(
        f"The change would make the object too large to store: over the limit of "
        f"{MAX_ITEM_BYTES} bytes per object.",
        code="object_too_large",
    )


def _cancellation_codes(error: ClientError) -> list[str]:
    reasons = error.response.get("CancellationReasons") or []
    return [reason.get("Code", "None") for reason in reasons]


def _strip(item: Record) -> Record:
    """A stored item without its key and index attributes."""
    return {k: v for k, v in item.items() if k not in ("pk", "sk", "ttl", *_INDEX_ATTRS)}


class Store:
    def __init__(
        self, client: Any, table_name: str, index_shards: int = 4, retention_seconds: int = 0
    ) -> None:
        self.client = client
        self.table = table_name
        self.shards = index_shards
        # When set, a run and its steps carry a DynamoDB TTL (`ttl`) once the run is terminal.
        self.retention_seconds = retention_seconds

    # -- low level ------------------------------------------------------------------------

    def _get(self, pk: str, sk: str) -> Record | None:
        response = self.client.get_item(TableName=self.table, Key=_key(pk, sk), ConsistentRead=True)
        item = response.get("Item")
        return _strip(deserialize(item)) if item else None

    def _item(self, pk: str, sk: str, record: Record, **extra: Any) -> dict[str, Any]:
        check_size(record, record.get("object", "object").replace("thread.", ""))
        return serialize({"pk": pk, "sk": sk, **record, **extra})

    def _update(
        self,
        pk: str,
        sk: str,
        changes: dict[str, Any],
        condition: str,
        expr: _Expr,
        returns: str = "ALL_NEW",
    ) -> Record | None:
        """One conditional UpdateItem; the new (or old) record, or None if the condition failed."""
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key=_key(pk, sk),
                UpdateExpression=expr.update(changes),
                ConditionExpression=condition,
                ReturnValues=returns,
                **expr.kwargs(),
            )
        except ClientError as error:
            if _is_condition_failure(error):
                return None
            if _is_item_too_large(error):
                raise _too_large() from None
            raise
        return _strip(deserialize(response["Attributes"]))

    def _update_existing(self, pk: str, sk: str, changes: dict[str, Any]) -> Record | None:
        """Change an item that must exist (never create one); None if it does not."""
        expr = _Expr()
        return self._update(pk, sk, changes, f"attribute_exists({expr.name('pk')})", expr)

    def _transact(self, ops: list[dict[str, Any]]) -> list[str] | None:
        """Run a transaction. None on success, else each operation's cancellation code."""
        total = sum(item_size(op) for op in ops)
        if total > MAX_TRANSACTION_BYTES:
            raise ItemTooLarge(
                f"The request is too large to store at once: {total} bytes, over the limit of "
                f"{MAX_TRANSACTION_BYTES} bytes.",
                code="object_too_large",
            )
        for attempt in range(_TRANSACTION_RETRIES):
            try:
                self.client.transact_write_items(TransactItems=ops)
                return None
            except ClientError as error:
                if _is_item_too_large(error):
                    raise _too_large() from None
                if error.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                codes = _cancellation_codes(error)
                if "ConditionalCheckFailed" in codes or attempt == _TRANSACTION_RETRIES - 1:
                    return codes or ["Unknown"]
                time.sleep(0.02 * (2**attempt))  # a conflicting transaction: try again
        return ["Unknown"]

    def _put_op(self, item: dict[str, Any], condition: str | None = None) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self.table, "Item": item}
        if condition:
            put["ConditionExpression"] = condition
        return {"Put": put}

    def _query_page(
        self, pk: str, prefix: str, page: PageRequest, filters: dict[str, str] | None = None
    ) -> Page:
        """One page of a list: a key range in ID order, `limit + 1` items for an exact has_more.

        In the requested order, `after` items come after the cursor and `before` items before it;
        with only `before`, the page is the `limit` items nearest the cursor (read backwards).
        """
        ascending = page.order == "asc"
        # Translate the cursors into ID-space bounds.
        low_id, high_id = (page.after, page.before) if ascending else (page.before, page.after)
        low = prefix + low_id + keys.BELOW_IDS if low_id else prefix
        high = prefix + low_id_below(high_id) if high_id else prefix + keys.ABOVE_IDS
        if low > high:
            # No ID lies between the cursors (e.g. after == before); DynamoDB rejects a BETWEEN
            # whose bounds are inverted, so answer the empty page without asking.
            return Page(items=[], has_more=False)
        read_backwards = page.before is not None and page.after is None
        forward = ascending != read_backwards
        expr = _Expr()
        condition = f"{expr.name('pk')} = {expr.value(pk)} AND {expr.name('sk')} BETWEEN "
        condition += f"{expr.value(low)} AND {expr.value(high)}"
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": condition,
            "ScanIndexForward": forward,
            "Limit": page.limit + 1,
            "ConsistentRead": True,
        }
        if filters:
            kwargs["FilterExpression"] = " AND ".join(
                f"{expr.name(k)} = {expr.value(v)}" for k, v in filters.items()
            )
        kwargs.update(expr.kwargs())
        items: list[Record] = []
        while True:
            response = self.client.query(**kwargs)
            items.extend(_strip(deserialize(i)) for i in response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if len(items) > page.limit or not start:
                break
            kwargs["ExclusiveStartKey"] = start
        has_more = len(items) > page.limit
        items = items[: page.limit]
        if read_backwards:
            items.reverse()
        return Page(items=items, has_more=has_more)

    # -- assistants ---------------------------------------------------------------------

    def put_assistant(self, project: str, assistant: Record) -> None:
        item = self._item(keys.assistants_pk(project), keys.ASST + assistant["id"], assistant)
        self.client.put_item(TableName=self.table, Item=item)

    def get_assistant(self, project: str, assistant_id: str) -> Record | None:
        return self._get(keys.assistants_pk(project), keys.ASST + assistant_id)

    def update_assistant(
        self, project: str, assistant_id: str, changes: dict[str, Any]
    ) -> Record | None:
        if not changes:
            return self.get_assistant(project, assistant_id)
        return self._update_existing(keys.assistants_pk(project), keys.ASST + assistant_id, changes)

    def delete_assistant(self, project: str, assistant_id: str) -> bool:
        response = self.client.delete_item(
            TableName=self.table,
            Key=_key(keys.assistants_pk(project), keys.ASST + assistant_id),
            ReturnValues="ALL_OLD",
        )
        return "Attributes" in response

    def list_assistants(self, project: str, page: PageRequest) -> Page:
        return self._query_page(keys.assistants_pk(project), keys.ASST, page)

    # -- threads and messages -----------------------------------------------------------

    def create_thread(
        self, project: str, thread: Record, messages: list[Record], run: Record | None = None
    ) -> None:
        """Put a thread with its messages, and (create thread and run) its first run, at once."""
        pk = keys.thread_pk(project, thread["id"])
        marker = {"active_run_id": run["id"]} if run else {}
        thread_item = self._item(pk, keys.THREAD_SK, thread, **marker)
        if not messages and run is None:
            self.client.put_item(TableName=self.table, Item=thread_item)
            return
        ops = [self._put_op(thread_item)]
        ops += [self._put_op(self._item(pk, keys.MSG + m["id"], m)) for m in messages]
        if run is not None:
            ops.append(self._put_op(self._run_item(project, run)))
        if self._transact(ops) is not None:
            raise ConditionFailed("thread creation was cancelled")

    def _run_item(self, project: str, run: Record) -> dict[str, Any]:
        """A new queued run's item: in the active index by deadline, pending since creation."""
        index = {
            **keys.active_index_keys(run["id"], run["expires_at"], self.shards),
            **keys.pending_index_keys(run["id"], run["created_at"], self.shards),
        }
        pk = keys.thread_pk(project, run["thread_id"])
        return self._item(pk, keys.run_sk(run["id"]), run, **index)

    def get_thread(self, project: str, thread_id: str) -> Record | None:
        return self._get(keys.thread_pk(project, thread_id), keys.THREAD_SK)

    def update_thread(self, project: str, thread_id: str, changes: dict[str, Any]) -> Record | None:
        if not changes:
            return self.get_thread(project, thread_id)
        return self._update_existing(keys.thread_pk(project, thread_id), keys.THREAD_SK, changes)

    def delete_thread(self, project: str, thread_id: str) -> Record | None:
        """Delete the thread item; its messages, runs and steps are purged afterwards."""
        response = self.client.delete_item(
            TableName=self.table,
            Key=_key(keys.thread_pk(project, thread_id), keys.THREAD_SK),
            ReturnValues="ALL_OLD",
        )
        item = response.get("Attributes")
        return _strip(deserialize(item)) if item else None

    def purge_thread_items(self, project: str, thread_id: str, max_items: int = 1000) -> bool:
        """Delete up to `max_items` items of a deleted thread's partition. True when none remain.

        Runs go first: every write into a thread's partition is conditioned on the thread item
        (gone already) or on one of its runs' status, so once the runs are gone nothing can add
        an item behind the purge.
        """
        pk = keys.thread_pk(project, thread_id)
        deleted, runs_gone = self._delete_items(pk, max_items, keys.RUN)
        if not runs_gone:
            return False
        return self._delete_items(pk, max_items - deleted)[1]

    def _delete_items(self, pk: str, budget: int, prefix: str | None = None) -> tuple[int, bool]:
        """Delete up to `budget` of a partition's items (those under `prefix`).

        Returns how many it deleted and whether none are left."""
        condition = "pk = :pk" + (" AND begins_with(sk, :prefix)" if prefix else "")
        values = {":pk": {"S": pk}, **({":prefix": {"S": prefix}} if prefix else {})}
        deleted = 0
        while deleted < budget:
            response = self.client.query(
                TableName=self.table,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=values,
                ProjectionExpression="pk, sk",
                Limit=min(100, budget - deleted),
            )
            batch = response.get("Items", [])
            if not batch:
                return deleted, True
            for start in range(0, len(batch), 25):
                requests = [{"DeleteRequest": {"Key": k}} for k in batch[start : start + 25]]
                pending: dict[str, Any] = {self.table: requests}
                while pending:
                    result = self.client.batch_write_item(RequestItems=pending)
                    pending = result.get("UnprocessedItems") or {}
            deleted += len(batch)
            if not response.get("LastEvaluatedKey"):
                return deleted, True
        return deleted, False

    def add_message(self, project: str, message: Record, stale_run_id: str | None) -> None:
        """Put a message if the thread exists and holds no active run (or only `stale_run_id`)."""
        pk = keys.thread_pk(project, message["thread_id"])
        expr = _Expr()
        condition = self._thread_free_condition(expr, stale_run_id)
        ops = [
            {
                "ConditionCheck": {
                    "TableName": self.table,
                    "Key": _key(pk, keys.THREAD_SK),
                    "ConditionExpression": condition,
                    **expr.kwargs(),
                }
            },
            self._put_op(self._item(pk, keys.MSG + message["id"], message)),
        ]
        if self._transact(ops) is not None:
            raise ThreadConflict(message["thread_id"])

    def _thread_free_condition(self, expr: _Expr, stale_run_id: str | None) -> str:
        marker = expr.name("active_run_id")
        free = f"attribute_not_exists({marker})"
        if stale_run_id:
            free = f"({free} OR {marker} = {expr.value(stale_run_id)})"
        return f"attribute_exists({expr.name('pk')}) AND {free}"

    def get_message(self, project: str, thread_id: str, message_id: str) -> Record | None:
        return self._get(keys.thread_pk(project, thread_id), keys.MSG + message_id)

    def update_message(
        self, project: str, thread_id: str, message_id: str, changes: dict[str, Any]
    ) -> Record | None:
        pk = keys.thread_pk(project, thread_id)
        return self._update_existing(pk, keys.MSG + message_id, changes)

    def delete_message(self, project: str, thread_id: str, message_id: str) -> bool:
        response = self.client.delete_item(
            TableName=self.table,
            Key=_key(keys.thread_pk(project, thread_id), keys.MSG + message_id),
            ReturnValues="ALL_OLD",
        )
        return "Attributes" in response

    def list_messages(
        self, project: str, thread_id: str, page: PageRequest, run_id: str | None = None
    ) -> Page:
        filters = {"run_id": run_id} if run_id else None
        return self._query_page(keys.thread_pk(project, thread_id), keys.MSG, page, filters)

    def thread_messages(
        self, project: str, thread_id: str, last: int | None = None
    ) -> list[Record]:
        """The thread's messages in creation order; with `last`, only the newest `last`."""
        page = PageRequest(limit=last or 1_000_000, order="desc" if last else "asc")
        items = self._query_page(keys.thread_pk(project, thread_id), keys.MSG, page).items
        return list(reversed(items)) if last else items

    # -- runs and steps -----------------------------------------------------------------

    def create_run(
        self, project: str, run: Record, messages: list[Record], stale_run_id: str | None
    ) -> None:
        """Put a queued run, take the thread's active-run marker and add messages, atomically."""
        pk = keys.thread_pk(project, run["thread_id"])
        expr = _Expr()
        condition = self._thread_free_condition(expr, stale_run_id)
        ops = [
            self._put_op(self._run_item(project, run)),
            {
                "Update": {
                    "TableName": self.table,
                    "Key": _key(pk, keys.THREAD_SK),
                    "UpdateExpression": f"SET {expr.name('active_run_id')} = "
                    f"{expr.value(run['id'])}",
                    "ConditionExpression": condition,
                    **expr.kwargs(),
                }
            },
        ]
        ops += [self._put_op(self._item(pk, keys.MSG + m["id"], m)) for m in messages]
        if self._transact(ops) is not None:
            raise ThreadConflict(run["thread_id"])

    def get_run(self, project: str, thread_id: str, run_id: str) -> Record | None:
        return self._get(keys.thread_pk(project, thread_id), keys.run_sk(run_id))

    def list_runs(self, project: str, thread_id: str, page: PageRequest) -> Page:
        return self._query_page(keys.thread_pk(project, thread_id), keys.RUN, page)

    def update_run_metadata(
        self, project: str, thread_id: str, run_id: str, metadata: dict[str, str]
    ) -> Record | None:
        pk = keys.thread_pk(project, thread_id)
        return self._update_existing(pk, keys.run_sk(run_id), {"metadata": metadata})

    def get_step(self, project: str, thread_id: str, run_id: str, step_id: str) -> Record | None:
        return self._get(keys.thread_pk(project, thread_id), keys.step_sk(run_id, step_id))

    def list_steps(self, project: str, thread_id: str, run_id: str, page: PageRequest) -> Page:
        pk = keys.thread_pk(project, thread_id)
        return self._query_page(pk, keys.step_prefix(run_id), page)

    def run_steps(self, project: str, thread_id: str, run_id: str) -> list[Record]:
        page = PageRequest(limit=1_000_000, order="asc")
        return self.list_steps(project, thread_id, run_id, page).items

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

        Index keys follow the status: a terminal run leaves both sparse indexes (and releases the
        thread's marker); a queued or cancelling run enters the pending index.
        """
        pk = keys.thread_pk(project, thread_id)
        changes = dict(change.changes)
        status = changes.get("status")
        terminal = status is not None and lifecycle.is_terminal(status)
        step_updates = list(change.step_updates)
        new_items = list(change.new_items)
        if terminal:
            changes.update(dict.fromkeys(_INDEX_ATTRS))
            if self.retention_seconds:
                ttl = {"ttl": change.now + self.retention_seconds}
                changes.update(ttl)
                step_updates = [(step_id, {**c, **ttl}) for step_id, c in step_updates]
                new_items = [
                    {**r, **ttl} if r["object"] == "thread.run.step" else r for r in new_items
                ]
        elif status in (lifecycle.QUEUED, lifecycle.CANCELLING):
            changes.update(keys.pending_index_keys(run_id, change.now, self.shards))
        elif status is not None:
            changes.update({"gsi2pk": None, "gsi2sk": None})
        expr = _Expr()
        condition = expr.status_in(change.sources)
        if change.deadline == "open":
            condition += f" AND {expr.name('expires_at')} > {expr.value(change.now)}"
        elif change.deadline == "passed":
            condition += f" AND {expr.name('expires_at')} <= {expr.value(change.now)}"
        if not (terminal or step_updates or new_items):
            values = "ALL_OLD" if returns == "old" else "ALL_NEW"
            return self._update(pk, keys.run_sk(run_id), changes, condition, expr, values)

        run_op = {
            "Update": {
                "TableName": self.table,
                "Key": _key(pk, keys.run_sk(run_id)),
                "UpdateExpression": expr.update(changes),
                "ConditionExpression": condition,
                **expr.kwargs(),
            }
        }
        ops = [run_op]
        for step_id, step_changes in step_updates:
            step_expr = _Expr()
            ops.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": _key(pk, keys.step_sk(run_id, step_id)),
                        "UpdateExpression": step_expr.update(step_changes),
                        "ConditionExpression": step_expr.status_in([lifecycle.STEP_IN_PROGRESS]),
                        **step_expr.kwargs(),
                    }
                }
            )
        for record in new_items:
            ops.append(self._put_op(self._item(pk, self._sort_key(record), record)))
        release = None
        if terminal:
            release_expr = _Expr()
            marker = release_expr.name("active_run_id")
            release = {
                "Update": {
                    "TableName": self.table,
                    "Key": _key(pk, keys.THREAD_SK),
                    "UpdateExpression": f"REMOVE {marker}",
                    "ConditionExpression": f"{marker} = {release_expr.value(run_id)}",
                    **release_expr.kwargs(),
                }
            }
        codes = self._transact([*ops, release] if release else ops)
        if codes is not None and release and codes[0] != "ConditionalCheckFailed":
            # The marker had already moved on or the thread is gone: the run change still holds.
            codes = self._transact(ops)
        if codes is not None:
            return None
        merged = {**base, **changes}
        merged.pop("ttl", None)
        return {k: v for k, v in merged.items() if v is not None and k not in _INDEX_ATTRS}

    @staticmethod
    def _sort_key(record: Record) -> str:
        if record["object"] == "thread.message":
            return keys.MSG + record["id"]
        if record["object"] == "thread.run.step":
            return keys.step_sk(record["run_id"], record["id"])
        raise ValueError(f"not a thread item: {record['object']}")

    # -- the sparse indexes (sweeper) ----------------------------------------------------

    def _index_page(
        self, index: str, prefix: str, shard: int, below: str, limit: int, start: Any
    ) -> tuple[list[IndexEntry], Any]:
        pk_attr, sk_attr = ("gsi1pk", "gsi1sk") if index == ACTIVE_INDEX else ("gsi2pk", "gsi2sk")
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": f"{pk_attr} = :p AND {sk_attr} < :below",
            "ExpressionAttributeValues": {
                ":p": {"S": f"{prefix}#{shard}"},
                ":below": {"S": below},
            },
            "Limit": limit,
        }
        if start:
            kwargs["ExclusiveStartKey"] = start
        response = self.client.query(**kwargs)
        entries = []
        for raw in response.get("Items", []):
            item = deserialize(raw)
            entries.append(
                IndexEntry(
                    pk=item["pk"],
                    run_id=item["sk"][len(keys.RUN) :],
                    status=item.get("status", ""),
                    expires_at=int(item.get("expires_at", 0)),
                    open_step_id=item.get("open_step_id"),
                    usage_so_far=item.get("usage_so_far"),
                    since=int(item[sk_attr].split("#", 1)[0]),
                )
            )
        return entries, response.get("LastEvaluatedKey")

    def runs_past_deadline(
        self, shard: int, now: int, limit: int, start: Any = None
    ) -> tuple[list[IndexEntry], Any]:
        """Active runs whose `expires_at` <= now, oldest deadline first."""
        return self._index_page(ACTIVE_INDEX, "ACTIVE", shard, f"{now + 1:012d}", limit, start)

    def runs_pending_since(
        self, shard: int, before: int, limit: int, start: Any = None
    ) -> tuple[list[IndexEntry], Any]:
        """Queued or cancelling runs that entered that status before `before`."""
        return self._index_page(PENDING_INDEX, "PENDING", shard, f"{before:012d}", limit, start)

    # -- API keys -----------------------------------------------------------------------

    def put_api_key(self, key_hash: str, record: Record) -> None:
        """Store a key (hashed) twice: by hash for lookups and under its project for listing."""
        by_hash = serialize({"pk": keys.api_key_pk(key_hash), "sk": keys.API_KEY_SK, **record})
        by_project = serialize({"pk": f"P#{record['project']}#KEYS", "sk": key_hash, **record})
        if self._transact([self._put_op(by_hash), self._put_op(by_project)]) is not None:
            raise ConditionFailed("the key could not be stored")

    def get_api_key(self, key_hash: str) -> Record | None:
        return self._get(keys.api_key_pk(key_hash), keys.API_KEY_SK)

    def list_api_keys(self, project: str) -> list[Record]:
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"P#{project}#KEYS"}},
        )
        return [_strip(deserialize(i)) for i in response.get("Items", [])]

    def delete_api_key(self, project: str, key_hash: str) -> bool:
        found = self.client.delete_item(
            TableName=self.table,
            Key=_key(f"P#{project}#KEYS", key_hash),
            ReturnValues="ALL_OLD",
        )
        self.client.delete_item(
            TableName=self.table, Key=_key(keys.api_key_pk(key_hash), keys.API_KEY_SK)
        )
        return "Attributes" in found


def low_id_below(cursor: str) -> str:
    """The highest sort-key suffix strictly below ID `cursor` that no ID can equal.

    IDs have a fixed length, so any ID below `cursor` is at most `cursor` with its last character
    lowered by one and anything appended; "~" sorts above every ID character.
    """
    return cursor[:-1] + chr(ord(cursor[-1]) - 1) + keys.ABOVE_IDS
