"""The VectorIndex contract, on both implementations: the embedded engine's table
(SqliteVectorIndex) and S3 Vectors (S3VectorsIndex on moto, with the QueryVectors moto lacks
answered by tests/support/s3vectors.py after botocore validated the request).

Exact top-k: the S3 Vectors double scores exactly, the real service is approximate (ANN), so
on AWS the order of near-ties may differ; everything else (scoping, replacement, deletes,
filters, what a hit carries) must be the same.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.store.s3_vectors import S3VectorsIndex
from chalicelib.store.sqlite import SqliteEngine
from chalicelib.store.sqlite_vectors import SqliteVectorIndex
from chalicelib.store.vector_filters import FilterError
from chalicelib.store.vectors import Chunk, VectorIndex
from tests.support.s3vectors import BUCKET, INDEX, moto_s3vectors_index

P, OTHER = "proj-a", "proj-b"
DIMENSION = 32


@pytest.fixture(params=["sqlite", "s3vectors"])
def index(request: pytest.FixtureRequest) -> Iterator[VectorIndex]:
    if request.param == "sqlite":
        engine: SqliteEngine = request.getfixturevalue("sqlite_engine")
        local = SqliteVectorIndex(engine)
        local.create_schema()
        yield local
        return
    with moto_s3vectors_index(DIMENSION) as (deployed, _):
        yield deployed


def count(index: VectorIndex, project: str, store: str, file_id: str | None = None) -> int:
    if isinstance(index, SqliteVectorIndex):
        return index.count(project, store, file_id)
    assert isinstance(index, S3VectorsIndex)
    from chalicelib.store.s3_vectors import project_tag

    listed = index.client.list_vectors(
        vectorBucketName=BUCKET, indexName=INDEX, returnMetadata=True
    )["vectors"]
    return sum(
        1
        for v in listed
        if (m := v.get("metadata") or {}).get("project") == project_tag(project)
        and m.get("vector_store_id") == store
        and (file_id is None or m.get("file_id") == file_id)
    )


def unit(values: list[float]) -> tuple[float, ...]:
    """A unit vector of DIMENSION floats (`values` padded with zeros)."""
    padded = [*values, *([0.0] * (DIMENSION - len(values)))]
    norm = math.sqrt(sum(x * x for x in padded))
    return tuple(x / norm for x in padded)


def chunk(
    store: str, file_id: str, position: int, vector: tuple[float, ...], **extra: Any
) -> Chunk:
    return Chunk(store, file_id, position, f"{file_id}#{position}", vector, **extra)


def brute_force(chunks: list[Chunk], query: tuple[float, ...], k: int) -> list[tuple[str, int]]:
    scored = sorted(chunks, key=lambda c: -sum(a * b for a, b in zip(c.vector, query, strict=True)))
    return [(c.file_id, c.position) for c in scored[:k]]


def test_query_is_exact_top_k_best_first(index: VectorIndex) -> None:
    rng = random.Random(7)
    chunks = [
        chunk("vs_1", f"file-{f}", p, unit([rng.gauss(0, 1) for _ in range(32)]))
        for f in range(5)
        for p in range(40)
    ]
    for f in range(5):
        index.put_chunks(P, "vs_1", f"file-{f}", [c for c in chunks if c.file_id == f"file-{f}"])
    for _ in range(5):
        query = unit([rng.gauss(0, 1) for _ in range(32)])
        hits = index.query(P, ["vs_1"], query, 10)
        assert [(h.chunk.file_id, h.chunk.position) for h in hits] == brute_force(chunks, query, 10)
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
        assert all(-1.0001 <= s <= 1.0001 for s in scores)
        first = hits[0].chunk
        assert first.text == f"{first.file_id}#{first.position}" and first.vector == ()


def test_results_are_scoped_to_project_and_stores(index: VectorIndex) -> None:
    v = unit([1, 0, 0])
    index.put_chunks(P, "vs_1", "file-a", [chunk("vs_1", "file-a", 0, v)])
    index.put_chunks(P, "vs_2", "file-b", [chunk("vs_2", "file-b", 0, v)])
    index.put_chunks(OTHER, "vs_1", "file-a", [chunk("vs_1", "file-a", 0, v)])
    assert [h.chunk.file_id for h in index.query(P, ["vs_1"], v, 10)] == ["file-a"]
    both = index.query(P, ["vs_1", "vs_2", "vs_1"], v, 10)
    assert sorted(h.chunk.vector_store_id for h in both) == ["vs_1", "vs_2"]
    assert index.query("proj-c", ["vs_1"], v, 10) == []
    assert index.query(P, [], v, 10) == []
    assert index.query(P, ["vs_1"], v, 0) == []


def test_put_chunks_replaces_a_files_chunks(index: VectorIndex) -> None:
    v = unit([1, 1])
    index.put_chunks(P, "vs_1", "file-a", [chunk("vs_1", "file-a", i, v) for i in range(5)])
    index.put_chunks(P, "vs_1", "file-b", [chunk("vs_1", "file-b", 0, v)])
    index.put_chunks(P, "vs_1", "file-a", [chunk("vs_1", "file-a", i, v) for i in range(2)])
    assert count(index, P, "vs_1", "file-a") == 2
    assert count(index, P, "vs_1") == 3
    index.put_chunks(P, "vs_1", "file-a", [])
    assert count(index, P, "vs_1", "file-a") == 0
    with pytest.raises(ValueError, match="belong"):
        index.put_chunks(P, "vs_1", "file-a", [chunk("vs_1", "file-z", 0, v)])


def test_delete_file_and_delete_store(index: VectorIndex) -> None:
    v = unit([1, 0])
    for store in ("vs_1", "vs_2"):
        for f in ("file-a", "file-b"):
            index.put_chunks(P, store, f, [chunk(store, f, i, v) for i in range(3)])
    index.put_chunks(OTHER, "vs_1", "file-a", [chunk("vs_1", "file-a", 0, v)])
    index.delete_file(P, "vs_1", "file-a")
    assert count(index, P, "vs_1") == 3 and count(index, P, "vs_2") == 6
    index.delete_store(P, "vs_1")
    assert count(index, P, "vs_1") == 0 and count(index, P, "vs_2") == 6
    assert count(index, OTHER, "vs_1") == 1
    index.delete_store(P, "vs_1")  # nothing left: no error


def test_chunks_keep_filename_attributes_and_unicode_text(index: VectorIndex) -> None:
    v = unit([1, 0])
    attrs = {"author": "Zoë", "year": 2024, "draft": False, "score": 0.5}
    c = Chunk("vs_1", "file-a", 0, "naïve café ✓", v, filename="notes.md", attributes=attrs)
    index.put_chunks(P, "vs_1", "file-a", [c])
    (hit,) = index.query(P, ["vs_1"], v, 1)
    assert hit.chunk == Chunk("vs_1", "file-a", 0, "naïve café ✓", (), "notes.md", attrs)
    assert hit.score == pytest.approx(1.0, abs=1e-6)


def test_filters_apply_before_the_top_k(index: VectorIndex) -> None:
    best, worse = unit([1, 0.1]), unit([0.1, 1])
    index.put_chunks(
        P, "vs_1", "file-a", [chunk("vs_1", "file-a", 0, best, attributes={"lang": "en"})]
    )
    index.put_chunks(
        P, "vs_1", "file-b", [chunk("vs_1", "file-b", 0, worse, attributes={"lang": "fr", "n": 3})]
    )
    query = unit([1, 0])
    only_fr = {"type": "eq", "key": "lang", "value": "fr"}
    assert [h.chunk.file_id for h in index.query(P, ["vs_1"], query, 1, only_fr)] == ["file-b"]
    compound = {"type": "or", "filters": [only_fr, {"type": "gte", "key": "n", "value": 5}]}
    assert [h.chunk.file_id for h in index.query(P, ["vs_1"], query, 5, compound)] == ["file-b"]
    assert index.query(P, ["vs_1"], query, 5, {"type": "gt", "key": "n", "value": 3}) == []
    with pytest.raises(FilterError):
        index.query(P, ["vs_1"], query, 5, {"type": "gt", "key": "n", "value": "3"})
