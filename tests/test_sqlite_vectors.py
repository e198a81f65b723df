"""The local vector index: a table in the embedded engine's file, exact top-k, project-scoped."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import pytest

from chalicelib.config import Settings
from chalicelib.providers.embeddings.hashing import HashingEmbedder
from chalicelib.store.engine import StoreError
from chalicelib.store.sqlite import SqliteEngine
from chalicelib.store.sqlite_vectors import SqliteVectorIndex
from chalicelib.store.vector_indexes import UnconfiguredVectorIndex, build_vector_index
from chalicelib.store.vectors import Chunk

P, OTHER = "proj-a", "proj-b"


@pytest.fixture
def index(sqlite_engine: SqliteEngine) -> SqliteVectorIndex:
    index = SqliteVectorIndex(sqlite_engine)
    index.create_schema()
    index.create_schema()  # idempotent
    return index


def unit(values: list[float]) -> tuple[float, ...]:
    norm = math.sqrt(sum(x * x for x in values))
    return tuple(x / norm for x in values)


def chunk(
    store: str, file_id: str, position: int, vector: tuple[float, ...], **extra: Any
) -> Chunk:
    return Chunk(store, file_id, position, f"{file_id}#{position}", vector, **extra)


def brute_force(chunks: list[Chunk], query: tuple[float, ...], k: int) -> list[tuple[str, int]]:
    scored = sorted(chunks, key=lambda c: -sum(a * b for a, b in zip(c.vector, query, strict=True)))
    return [(c.file_id, c.position) for c in scored[:k]]


def test_sparse_and_dense_queries_score_alike(index: SqliteVectorIndex) -> None:
    vectors = [unit([1, 2, 0, 0, 3, 0, 0, 1]), unit([0, 1, 1, 0, 0, 0, 2, 0])]
    index.put_chunks(
        P, "vs_1", "file-a", [chunk("vs_1", "file-a", i, v) for i, v in enumerate(vectors)]
    )
    sparse = unit([1, 0, 0, 0, 0, 0, 0, 0])  # one non-zero component
    fewer = unit([1, 0, 0, 0, 1, 0, 0, 0])  # below the sparse share
    dense = unit([1, 1, 1, 1, 1, 1, 1, 1])
    for query in (sparse, fewer, dense):
        hits = index.query(P, ["vs_1"], query, 2)
        expected = sorted(
            (sum(a * b for a, b in zip(v, query, strict=True)) for v in vectors), reverse=True
        )
        assert [h.score for h in hits] == pytest.approx(expected, abs=1e-6)
    assert index.query(P, ["vs_1"], (0.0,) * 8, 5) == []


def test_a_failed_replacement_keeps_the_old_chunks(index: SqliteVectorIndex) -> None:
    v = unit([1, 1])
    index.put_chunks(P, "vs_1", "file-a", [chunk("vs_1", "file-a", i, v) for i in range(3)])
    duplicate = [chunk("vs_1", "file-a", 0, v), chunk("vs_1", "file-a", 0, v)]
    with pytest.raises(Exception, match="UNIQUE"):
        index.put_chunks(P, "vs_1", "file-a", duplicate)
    assert index.count(P, "vs_1", "file-a") == 3


def test_vectors_of_another_dimension_are_skipped(index: SqliteVectorIndex) -> None:
    index.put_chunks(P, "vs_1", "file-a", [chunk("vs_1", "file-a", 0, unit([1, 0, 0]))])
    index.put_chunks(P, "vs_1", "file-b", [chunk("vs_1", "file-b", 0, unit([1, 0]))])
    assert [h.chunk.file_id for h in index.query(P, ["vs_1"], unit([1, 0]), 5)] == ["file-b"]


def test_the_index_lives_in_the_engines_file_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "assistants.sqlite3"
    engine = SqliteEngine(path)
    engine.create_schema()
    index = SqliteVectorIndex(engine)
    index.create_schema()
    embedder = HashingEmbedder()
    texts = ["refunds take fourteen days", "shipping is worldwide"]
    vectors = embedder.embed(texts)
    pairs = enumerate(zip(texts, vectors, strict=True))
    index.put_chunks(
        P, "vs_1", "file-a", [Chunk("vs_1", "file-a", i, t, tuple(v)) for i, (t, v) in pairs]
    )
    engine.close()

    reopened = SqliteEngine(path)
    again = SqliteVectorIndex(reopened)
    again.create_schema()
    (hit,) = again.query(P, ["vs_1"], embedder.embed(["when do refunds arrive"])[0], 1)
    assert hit.chunk.text == "refunds take fourteen days"
    tables = {r[0] for r in reopened.connection().execute("SELECT name FROM sqlite_master")}
    assert {"items", "vector_chunks"} <= tables
    reopened.close()


def test_concurrent_replacements_and_queries_see_whole_files(index: SqliteVectorIndex) -> None:
    v = unit([1, 1])
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer() -> None:
        try:
            for n in range(30):
                size = 3 if n % 2 else 6
                index.put_chunks(
                    P, "vs_1", "file-a", [chunk("vs_1", "file-a", i, v) for i in range(size)]
                )
        except BaseException as error:
            errors.append(error)
        finally:
            stop.set()

    def reader() -> None:
        try:
            while not stop.is_set():
                hits = index.query(P, ["vs_1"], v, 100)
                assert len(hits) in (0, 3, 6), len(hits)
        except BaseException as error:
            errors.append(error)

    threads = [
        threading.Thread(target=writer),
        *(threading.Thread(target=reader) for _ in range(3)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_build_vector_index_picks_by_settings(sqlite_engine: SqliteEngine, tmp_path: Path) -> None:
    local = build_vector_index(Settings(stage="local"), sqlite_engine)
    assert isinstance(local, SqliteVectorIndex) and local.engine is sqlite_engine
    beside = build_vector_index(Settings(stage="local", data_dir=str(tmp_path / "new")), None)
    assert isinstance(beside, SqliteVectorIndex)
    assert beside.engine.path == str(tmp_path / "new" / "assistants.sqlite3")
    beside.create_schema()  # makes the directory
    assert beside.query(P, ["vs_1"], (1.0,), 1) == []
    missing = build_vector_index(Settings(stage="prod"), None)
    assert isinstance(missing, UnconfiguredVectorIndex)
    with pytest.raises(StoreError, match="VECTOR_BUCKET_NAME"):
        missing.query(P, ["vs_1"], (1.0,), 1)
    with pytest.raises(ValueError, match="VECTOR_INDEX_NAME"):
        build_vector_index(Settings(vector_bucket_name="b"), None)
