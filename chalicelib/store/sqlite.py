"""The embedded engine (the local stage): the store's items in one SQLite file.

Why SQLite: it is in the standard library (nothing to install), has real transactions, and in WAL
mode readers never wait for the writer. Items keep DynamoDB's shape: a (pk, sk) primary key, the
item as JSON, and the sparse indexes' keys as columns with partial indexes, so a sweep reads only
active runs and a list reads one key range, as on DynamoDB. Every write is one `BEGIN IMMEDIATE`
transaction that checks its conditions and writes, so conditional writes and transactions mean
exactly what they mean on DynamoDB. A committed write is in the WAL before the call returns: a
killed process loses nothing it was told was written (synchronous=NORMAL; an OS crash or power
cut may lose the last transactions, never corrupt the file).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from ..domain.transitions import IfMissing, Increment
from . import keys
from .engine import (
    Check,
    IndexPage,
    Item,
    KeyRange,
    Put,
    Returns,
    StoreError,
    Update,
    Write,
    apply_changes,
    holds,
)
from .limits import (
    MAX_ITEM_BYTES,
    MAX_PARTITION_KEY_BYTES,
    MAX_SORT_KEY_BYTES,
    check_transaction_size,
    dynamodb_item_size,
    item_size,
    too_large_after_change,
)

SCHEMA_VERSION = 1
_COLUMNS = ("gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "ttl")
_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS items (
        pk TEXT NOT NULL, sk TEXT NOT NULL, data TEXT NOT NULL,
        gsi1pk TEXT, gsi1sk TEXT, gsi2pk TEXT, gsi2sk TEXT, ttl INTEGER,
        PRIMARY KEY (pk, sk)
    ) WITHOUT ROWID""",
    *(
        f"CREATE INDEX IF NOT EXISTS items_{index} ON items ({pk_attr}, {sk_attr}) "
        f"WHERE {pk_attr} IS NOT NULL"
        for index, (pk_attr, sk_attr) in keys.INDEX_KEY_ATTRS.items()
    ),
    "CREATE INDEX IF NOT EXISTS items_ttl ON items (ttl) WHERE ttl IS NOT NULL",
]
_UPSERT = (
    "INSERT OR REPLACE INTO items (pk, sk, data, gsi1pk, gsi1sk, gsi2pk, gsi2sk, ttl) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _check_keys(pk: str, sk: str) -> None:
    """DynamoDB's key rules: non-empty, at most 2048 (partition) and 1024 (sort) bytes."""
    if not pk or not sk:
        raise StoreError("One or more parameter values are not valid: a key attribute is empty")
    if len(pk.encode("utf-8", "surrogatepass")) > MAX_PARTITION_KEY_BYTES:
        raise StoreError(
            f"Size of hashkey has exceeded the maximum size limit of {MAX_PARTITION_KEY_BYTES} "
            "bytes"
        )
    if len(sk.encode("utf-8", "surrogatepass")) > MAX_SORT_KEY_BYTES:
        raise StoreError(
            f"Size of range key has exceeded the maximum size limit of {MAX_SORT_KEY_BYTES} bytes"
        )


def _row(item: Item) -> tuple[Any, ...]:
    if dynamodb_item_size(item) > MAX_ITEM_BYTES:
        raise too_large_after_change()
    pk, sk = item["pk"], item["sk"]
    _check_keys(pk, sk)
    body = {k: v for k, v in item.items() if k not in ("pk", "sk")}
    try:
        data = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        data.encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError) as error:
        raise StoreError(f"the item cannot be stored: {error}") from None
    return (pk, sk, data, *(item.get(column) for column in _COLUMNS))


def _item(pk: str, sk: str, data: str) -> Item:
    return {"pk": pk, "sk": sk, **json.loads(data)}


def _key_of(write: Write) -> tuple[str, str]:
    return (write.item["pk"], write.item["sk"]) if isinstance(write, Put) else (write.pk, write.sk)


def _size(write: Write) -> int:
    if isinstance(write, Put):
        return item_size(write.item)
    if isinstance(write, Update):
        changes = write.changes.items()
        plain = {k: v for k, v in changes if not isinstance(v, IfMissing | Increment)}
        return item_size(plain)
    return 0


def _upper_bound(prefix: str) -> str:
    """The smallest string above every string that starts with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class SqliteEngine:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._local = threading.local()
        # One writer at a time within the process: threads hand over in order instead of
        # spinning on SQLite's busy handler (which is still there for other processes).
        self._write_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()

    # -- connections and transactions ----------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            connection.execute("PRAGMA busy_timeout = 30000")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            self._local.connection = connection
            with self._connections_lock:
                self._connections.append(connection)
        return connection

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            connection = self._connection()
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    # Other tables in the same file (the vector index) use the same connections and lock.
    def connection(self) -> sqlite3.Connection:
        """This thread's connection, for reads."""
        return self._connection()

    def writing(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE under the engine's write lock)."""
        return self._writing()

    def close(self) -> None:
        with self._connections_lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()

    def create_schema(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with self._writing() as connection:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} was written by a newer version (schema {version}); "
                    f"this one reads schema {SCHEMA_VERSION}"
                )
            for statement in _SCHEMA:
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- single items --------------------------------------------------------------------

    @staticmethod
    def _read(connection: sqlite3.Connection, pk: str, sk: str) -> Item | None:
        row = connection.execute(
            "SELECT data FROM items WHERE pk = ? AND sk = ?", (pk, sk)
        ).fetchone()
        return _item(pk, sk, row[0]) if row else None

    def get(self, pk: str, sk: str) -> Item | None:
        _check_keys(pk, sk)
        return self._read(self._connection(), pk, sk)

    def put(self, write: Put) -> bool:
        row = _row(write.item)
        with self._writing() as connection:
            if write.condition is not None:
                current = self._read(connection, write.item["pk"], write.item["sk"])
                if not holds(write.condition, current):
                    return False
            connection.execute(_UPSERT, row)
        return True

    def put_many(self, items: list[Item]) -> None:
        rows = [_row(item) for item in items]
        with self._writing() as connection:
            connection.executemany(_UPSERT, rows)

    def update(self, write: Update, returns: Returns = "new") -> Item | None:
        _check_keys(write.pk, write.sk)
        with self._writing() as connection:
            current = self._read(connection, write.pk, write.sk)
            if not holds(write.condition, current):
                return None
            new = apply_changes(current, write.changes, write.pk, write.sk)
            connection.execute(_UPSERT, _row(new))
        return new if returns == "new" else (current or {})

    def delete(self, pk: str, sk: str) -> Item | None:
        _check_keys(pk, sk)
        with self._writing() as connection:
            current = self._read(connection, pk, sk)
            if current is not None:
                connection.execute("DELETE FROM items WHERE pk = ? AND sk = ?", (pk, sk))
        return current

    def transact(self, writes: list[Write]) -> list[bool] | None:
        check_transaction_size(sum(_size(write) for write in writes))
        with self._writing() as connection:
            results: list[Item | None] = []
            failed = []
            for write in writes:
                pk, sk = _key_of(write)
                _check_keys(pk, sk)
                current = self._read(connection, pk, sk)
                failed.append(not holds(write.condition, current))
                results.append(current)
            if any(failed):
                return failed
            for write, current in zip(writes, results, strict=True):
                if isinstance(write, Put):
                    connection.execute(_UPSERT, _row(write.item))
                elif isinstance(write, Update):
                    new = apply_changes(current, write.changes, write.pk, write.sk)
                    connection.execute(_UPSERT, _row(new))
                else:
                    assert isinstance(write, Check)
        return None

    # -- ranges and indexes ----------------------------------------------------------------

    def query(self, key_range: KeyRange) -> list[Item]:
        for bound in (key_range.low, key_range.high):
            _check_keys(key_range.pk, bound)
        sql = "SELECT pk, sk, data FROM items WHERE pk = ? AND sk BETWEEN ? AND ?"
        params: list[Any] = [key_range.pk, key_range.low, key_range.high]
        for attr, value in key_range.equals.items():
            sql += " AND json_extract(data, ?) = ?"
            params += [f'$."{attr}"', value]
        sql += f" ORDER BY sk {'ASC' if key_range.forward else 'DESC'} LIMIT ?"
        params.append(key_range.limit)
        rows = self._connection().execute(sql, params).fetchall()
        return [_item(*row) for row in rows]

    def query_index(
        self, index: str, partition: str, below: str, limit: int, start: Any = None
    ) -> IndexPage:
        pk_attr, sk_attr = keys.INDEX_KEY_ATTRS[index]
        sql = f"SELECT pk, sk, data, {sk_attr} FROM items WHERE {pk_attr} = ? AND {sk_attr} < ?"
        params: list[Any] = [partition, below]
        if start is not None:
            sql += f" AND {sk_attr} > ?"
            params.append(start)
        sql += f" ORDER BY {sk_attr} LIMIT ?"
        params.append(limit)
        rows = self._connection().execute(sql, params).fetchall()
        items = [_item(pk, sk, data) for pk, sk, data, _ in rows]
        return IndexPage(items, rows[-1][3] if len(rows) == limit else None)

    def delete_under(self, pk: str, prefix: str, limit: int) -> tuple[int, bool]:
        where = "pk = ?"
        params: list[Any] = [pk]
        if prefix:
            where += " AND sk >= ? AND sk < ?"
            params += [prefix, _upper_bound(prefix)]
        with self._writing() as connection:
            doomed = connection.execute(
                f"SELECT sk FROM items WHERE {where} ORDER BY sk LIMIT ?", [*params, limit + 1]
            ).fetchall()
            connection.executemany(
                "DELETE FROM items WHERE pk = ? AND sk = ?", [(pk, sk) for (sk,) in doomed[:limit]]
            )
        return min(len(doomed), limit), len(doomed) <= limit

    def remove_expired(self, now: int, limit: int) -> int:
        with self._writing() as connection:
            cursor = connection.execute(
                "DELETE FROM items WHERE (pk, sk) IN "
                "(SELECT pk, sk FROM items WHERE ttl IS NOT NULL AND ttl <= ? LIMIT ?)",
                (now, limit),
            )
            return cursor.rowcount
