"""The store's engines as tests make them, and raw views of what an engine holds.

`make_engine` builds each engine the contract suite runs on, with its own empty table or file:
"sqlite" (the embedded engine), "moto" (in-process DynamoDB, `mock_aws`, whose calls are
serialised: moto is not thread-safe, DynamoDB is) and "dynalite" (an independent DynamoDB from
npm; it has no TransactWriteItems).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from chalicelib.store.dynamodb import DynamoDBEngine, from_item
from chalicelib.store.engine import Engine, KeyRange
from chalicelib.store.sqlite import SqliteEngine

# Every sort key the store writes sorts between these.
FIRST_SK, LAST_SK = "!", "~~~~"


class SerializedClient:
    """A moto client that lets one DynamoDB call run at a time.

    moto is not thread-safe: a conditional write is a read, a check and a write in Python with no
    lock, and a failed transaction restores a deep copy of the whole table taken before it began,
    undoing what other threads wrote meanwhile. One call at a time is exactly DynamoDB's own
    guarantee (each request and each transaction is atomic and isolated).
    """

    _lock = threading.RLock()

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr) or name.startswith("get_waiter") or name == "exceptions":
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return call


def sqlite_engine(directory: Path) -> SqliteEngine:
    engine = SqliteEngine(directory / f"store-{uuid.uuid4().hex[:8]}.sqlite3")
    engine.create_schema()
    return engine


def dynamodb_engine(client: Any) -> DynamoDBEngine:
    engine = DynamoDBEngine(client, f"test-{uuid.uuid4().hex[:12]}")
    engine.create_schema()
    return engine


@contextmanager
def moto_engine() -> Iterator[DynamoDBEngine]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        yield dynamodb_engine(SerializedClient(boto3.client("dynamodb", region_name="us-east-1")))


def partition(engine: Engine, pk: str) -> list[str]:
    """Every sort key in a partition, in order."""
    return [i["sk"] for i in engine.query(KeyRange(pk, FIRST_SK, LAST_SK, limit=1_000_000))]


def partition_items(engine: Engine, pk: str) -> list[dict[str, Any]]:
    """Every item of a partition, raw: with keys, index attributes and TTL."""
    return engine.query(KeyRange(pk, FIRST_SK, LAST_SK, limit=1_000_000))


def count_items(engine: Engine) -> int:
    """Every item the engine holds (all projects, all kinds)."""
    if isinstance(engine, SqliteEngine):
        return int(engine._connection().execute("SELECT count(*) FROM items").fetchone()[0])
    assert isinstance(engine, DynamoDBEngine)
    total, kwargs = 0, {"TableName": engine.table, "Select": "COUNT"}
    while True:
        page = engine.client.scan(**kwargs)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def all_items(engine: Engine) -> list[dict[str, Any]]:
    """Every item, raw (a full read: for tests only)."""
    if isinstance(engine, SqliteEngine):
        import json

        rows = engine._connection().execute("SELECT pk, sk, data FROM items").fetchall()
        return [{"pk": pk, "sk": sk, **json.loads(data)} for pk, sk, data in rows]
    assert isinstance(engine, DynamoDBEngine)
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": engine.table}
    while True:
        page = engine.client.scan(**kwargs)
        items += [from_item(i) for i in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
