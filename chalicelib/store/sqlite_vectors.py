"""The local vector index: a table in the embedded engine's own SQLite file, exact top-k.

Why a table beside the items: one file to back up or delete, the engine's connections, its write
lock and its durability (WAL, synchronous=NORMAL) for free, and a chunk's replacement is one
transaction, so a search never sees half of a file's old chunks and half of its new ones.

A chunk is a row keyed by (project, vector_store_id, file_id, position); its vector is stored as
float32 bytes (`array`), 4 bytes a dimension. A query reads the vectors of the project's stores
through that key's index and scores each one in pure Python (no numpy: the package stays lean):
the dot product of unit vectors is their cosine. Only the query's non-zero components are
multiplied, which is exact and, for the hashing embedder's sparse queries, several times faster;
`heapq.nlargest` keeps the top k; the texts of those k alone are read afterwards. See
bench/vector_index.py for what this costs at 1k-50k chunks.
"""

from __future__ import annotations

import heapq
import json
import logging
import operator
import sqlite3
from array import array
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .sqlite import SqliteEngine
from .vector_filters import matches, stores_to_query
from .vectors import Chunk, Hit

log = logging.getLogger(__name__)

_SCHEMA = [
    # A rowid table: rows are large (a vector and a text), and the vector comes before the text
    # so that scoring reads no text pages.
    """CREATE TABLE IF NOT EXISTS vector_chunks (
        project TEXT NOT NULL, vector_store_id TEXT NOT NULL, file_id TEXT NOT NULL,
        position INTEGER NOT NULL, vector BLOB NOT NULL, attributes TEXT NOT NULL,
        filename TEXT NOT NULL, text TEXT NOT NULL
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS vector_chunks_key "
    "ON vector_chunks (project, vector_store_id, file_id, position)",
]
_INSERT = (
    "INSERT INTO vector_chunks "
    "(project, vector_store_id, file_id, position, vector, attributes, filename, text) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
# Below this share of non-zero query components, multiply only those (itemgetter + map).
_SPARSE_SHARE = 0.6
# SQLite's default limit on bound parameters is 999 (older builds) or 32766.
_MAX_STORES_PER_QUERY = 500


def pack(vector: Sequence[float]) -> bytes:
    return array("f", vector).tobytes()


def unpack(blob: bytes) -> tuple[float, ...]:
    return tuple(memoryview(blob).cast("f"))


class SqliteVectorIndex:
    """A VectorIndex on the embedded engine's file (`engine`: the store's SqliteEngine)."""

    def __init__(self, engine: SqliteEngine) -> None:
        self.engine = engine

    def create_schema(self) -> None:
        # Its own engine (a local stage on a DynamoDB endpoint) may not have made the directory.
        Path(self.engine.path).parent.mkdir(parents=True, exist_ok=True)
        with self.engine.writing() as connection:
            for statement in _SCHEMA:
                connection.execute(statement)

    def put_chunks(
        self, project: str, vector_store_id: str, file_id: str, chunks: Sequence[Chunk]
    ) -> None:
        rows = []
        for chunk in chunks:
            if (chunk.vector_store_id, chunk.file_id) != (vector_store_id, file_id):
                raise ValueError("every chunk must belong to the file being replaced")
            rows.append(
                (
                    project,
                    vector_store_id,
                    file_id,
                    chunk.position,
                    pack(chunk.vector),
                    json.dumps(chunk.attributes, separators=(",", ":"), ensure_ascii=False),
                    chunk.filename,
                    chunk.text,
                )
            )
        with self.engine.writing() as connection:
            connection.execute(
                "DELETE FROM vector_chunks "
                "WHERE project = ? AND vector_store_id = ? AND file_id = ?",
                (project, vector_store_id, file_id),
            )
            connection.executemany(_INSERT, rows)

    def delete_file(self, project: str, vector_store_id: str, file_id: str) -> None:
        with self.engine.writing() as connection:
            connection.execute(
                "DELETE FROM vector_chunks "
                "WHERE project = ? AND vector_store_id = ? AND file_id = ?",
                (project, vector_store_id, file_id),
            )

    def delete_store(self, project: str, vector_store_id: str) -> None:
        with self.engine.writing() as connection:
            connection.execute(
                "DELETE FROM vector_chunks WHERE project = ? AND vector_store_id = ?",
                (project, vector_store_id),
            )

    def count(self, project: str, vector_store_id: str, file_id: str | None = None) -> int:
        """How many chunks a store (or one file of it) has (tests and the bench)."""
        sql = "SELECT COUNT(*) FROM vector_chunks WHERE project = ? AND vector_store_id = ?"
        params: list[Any] = [project, vector_store_id]
        if file_id is not None:
            sql += " AND file_id = ?"
            params.append(file_id)
        return int(self.engine.connection().execute(sql, params).fetchone()[0])

    def query(
        self,
        project: str,
        vector_store_ids: Sequence[str],
        vector: Sequence[float],
        top_k: int,
        filters: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        stores = stores_to_query(vector_store_ids, top_k, filters)
        if not stores:
            return []
        # One read transaction: the scores and the texts come from the same snapshot (WAL), so
        # a file replaced meanwhile is seen either all old or all new.
        connection = self.engine.connection()
        connection.execute("BEGIN")
        try:
            scored = heapq.nlargest(
                top_k,
                self._scores(connection, project, stores, vector, filters),
                key=operator.itemgetter(0),
            )
            return self._hits(connection, scored)
        finally:
            connection.execute("COMMIT")

    def _scores(
        self,
        connection: sqlite3.Connection,
        project: str,
        stores: list[str],
        vector: Sequence[float],
        filters: Mapping[str, Any] | None,
    ) -> Iterable[tuple[float, int]]:
        """(score, rowid) of every chunk of the stores that passes `filters`."""
        size = len(vector) * 4
        nonzero = [i for i, x in enumerate(vector) if x]
        if not nonzero:
            return
        weights: Sequence[float]
        if len(nonzero) < _SPARSE_SHARE * len(vector) and len(nonzero) > 1:
            weights = [vector[i] for i in nonzero]
            pick = operator.itemgetter(*nonzero)
        else:
            weights = list(vector)
            pick = None
        mul = operator.mul
        columns = "rowid, vector" + (", attributes" if filters is not None else "")
        mismatched = 0
        for start in range(0, len(stores), _MAX_STORES_PER_QUERY):
            batch = stores[start : start + _MAX_STORES_PER_QUERY]
            marks = ",".join("?" * len(batch))
            rows = connection.execute(
                f"SELECT {columns} FROM vector_chunks "
                f"WHERE project = ? AND vector_store_id IN ({marks})",
                [project, *batch],
            )
            for row in rows:
                blob = row[1]
                if len(blob) != size:
                    mismatched += 1  # embedded with another dimension (the setting changed)
                    continue
                if filters is not None and not matches(filters, json.loads(row[2])):
                    continue
                values = memoryview(blob).cast("f")
                if pick is None:
                    yield sum(map(mul, weights, values)), row[0]
                elif len(nonzero) == 1:
                    yield weights[0] * values[nonzero[0]], row[0]
                else:
                    yield sum(map(mul, weights, pick(values))), row[0]
        if mismatched:
            log.warning(
                "skipped %d chunk(s) whose vectors are not %d-dimensional: re-index them "
                "(EMBEDDINGS_DIMENSION or the model changed)",
                mismatched,
                len(vector),
            )

    def _hits(self, connection: sqlite3.Connection, scored: list[tuple[float, int]]) -> list[Hit]:
        if not scored:
            return []
        marks = ",".join("?" * len(scored))
        rows = connection.execute(
            "SELECT rowid, vector_store_id, file_id, position, attributes, filename, text "
            f"FROM vector_chunks WHERE rowid IN ({marks})",
            [rowid for _, rowid in scored],
        )
        chunks = {
            rowid: Chunk(
                vector_store_id=store,
                file_id=file_id,
                position=position,
                text=text,
                vector=(),
                filename=filename,
                attributes=json.loads(attributes),
            )
            for rowid, store, file_id, position, attributes, filename, text in rows
        }
        return [Hit(chunks[rowid], score) for score, rowid in scored]
