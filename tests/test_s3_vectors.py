"""S3VectorsIndex: keys, manifests, batching and limits on moto; request shapes via Stubber."""

from __future__ import annotations

import math
from typing import Any

import botocore.session
import pytest
from botocore.stub import ANY, Stubber

from chalicelib.config import Settings
from chalicelib.store import s3_vectors
from chalicelib.store.engine import StoreError
from chalicelib.store.s3_vectors import (
    MAX_TOP_K,
    S3VectorsIndex,
    index_definition,
    project_tag,
    vector_key,
)
from chalicelib.store.vector_indexes import build_vector_index
from chalicelib.store.vectors import Chunk
from tests.support.s3vectors import BUCKET, INDEX, QueryingClient, moto_s3vectors_index

P = "proj-a"
D = 4


def unit(*values: float) -> tuple[float, ...]:
    padded = [*values, *([0.0] * (D - len(values)))]
    norm = math.sqrt(sum(x * x for x in padded))
    return tuple(x / norm for x in padded)


def chunks(file_id: str, n: int, store: str = "vs_1", **extra: Any) -> list[Chunk]:
    return [Chunk(store, file_id, i, f"text {i}", unit(1, i), **extra) for i in range(n)]


def keys(client: QueryingClient) -> set[str]:
    listed = client.list_vectors(vectorBucketName=BUCKET, indexName=INDEX)["vectors"]
    return {v["key"] for v in listed}


def test_keys_are_deterministic_and_project_scoped() -> None:
    assert vector_key(P, "vs_1", "file-a", 3) == f"{project_tag(P)}/vs_1/file-a/3"
    assert project_tag(P) == project_tag(P) != project_tag("proj-b")
    assert len(project_tag("x" * 10_000)) == 32


def test_replacing_with_fewer_chunks_deletes_the_rest_and_the_manifest_follows() -> None:
    with moto_s3vectors_index(D) as (index, client):
        index.put_chunks(P, "vs_1", "file-a", chunks("file-a", 5))
        manifest = vector_key(P, "vs_1", "file-a", "manifest")
        assert keys(client) == {manifest, *(vector_key(P, "vs_1", "file-a", i) for i in range(5))}
        index.put_chunks(P, "vs_1", "file-a", chunks("file-a", 2))
        assert keys(client) == {manifest, *(vector_key(P, "vs_1", "file-a", i) for i in range(2))}
        got = client.get_vectors(
            vectorBucketName=BUCKET, indexName=INDEX, keys=[manifest], returnMetadata=True
        )
        assert got["vectors"][0]["metadata"] == {"manifest_count": 2}
        index.put_chunks(P, "vs_1", "file-a", [])
        assert keys(client) == set()


def test_manifests_are_never_query_results() -> None:
    with moto_s3vectors_index(D) as (index, client):
        index.put_chunks(P, "vs_1", "file-a", chunks("file-a", 2))
        hits = index.query(P, ["vs_1"], unit(1, 0), 100)
        assert sorted(h.chunk.position for h in hits) == [0, 1]
        (query,) = client.queries
        assert query["filter"] == {
            "$and": [
                {"project": {"$eq": project_tag(P)}},
                {"vector_store_id": {"$in": ["vs_1"]}},
            ]
        }
        assert query["returnMetadata"] is True and query["returnDistance"] is True


def test_a_crash_mid_replacement_leaves_every_key_findable() -> None:
    """The manifest is raised before the new chunks go in: a delete after a crash finds all."""
    with moto_s3vectors_index(D) as (index, client):
        index.put_chunks(P, "vs_1", "file-a", chunks("file-a", 2))
        real_put = client._inner.put_vectors
        calls = {"n": 0}

        def crash_after_manifest(**params: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 3:  # manifest raised, first batch put; the second batch "crashes"
                raise RuntimeError("worker died")
            return real_put(**params)

        client._inner.put_vectors = crash_after_manifest
        many = chunks("file-a", 700)  # two PutVectors batches
        with pytest.raises(RuntimeError):
            index.put_chunks(P, "vs_1", "file-a", many)
        client._inner.put_vectors = real_put
        assert len(keys(client)) == 1 + 500
        index.delete_file(P, "vs_1", "file-a")
        assert keys(client) == set()


def test_puts_and_deletes_are_batched_within_the_service_limits() -> None:
    with moto_s3vectors_index(D) as (index, client):
        sizes: dict[str, list[int]] = {"put_vectors": [], "delete_vectors": []}
        for name in sizes:
            real = getattr(client._inner, name)

            def recorder(real: Any = real, name: str = name, **params: Any) -> Any:
                sizes[name].append(len(params.get("vectors") or params.get("keys")))
                return real(**params)

            setattr(client._inner, name, recorder)
        index.put_chunks(P, "vs_1", "file-a", chunks("file-a", 1201))
        assert sizes["put_vectors"] == [1, 500, 500, 201]  # the manifest, then the chunks
        index.delete_file(P, "vs_1", "file-a")
        assert sizes["delete_vectors"] == [500, 500, 201, 1]
        assert keys(client) == set()


def test_delete_store_finds_its_files_by_querying() -> None:
    with moto_s3vectors_index(D) as (index, client):
        for n, file_id in enumerate(["file-a", "file-b", "file-c"]):
            index.put_chunks(P, "vs_1", file_id, chunks(file_id, 60 + n))
        index.put_chunks(P, "vs_2", "file-a", chunks("file-a", 3, store="vs_2"))
        index.put_chunks("proj-b", "vs_1", "file-a", chunks("file-a", 3))
        index.delete_store(P, "vs_1")
        left = keys(client)
        assert not any(k.startswith(f"{project_tag(P)}/vs_1/") for k in left)
        assert any(k.startswith(f"{project_tag(P)}/vs_2/") for k in left)
        assert any(k.startswith(f"{project_tag('proj-b')}/vs_1/") for k in left)


def test_attributes_are_filterable_metadata_and_filters_compile() -> None:
    with moto_s3vectors_index(D) as (index, client):
        index.put_chunks(P, "vs_1", "file-a", chunks("file-a", 1, attributes={"lang": "en"}))
        index.put_chunks(P, "vs_1", "file-b", chunks("file-b", 1, attributes={"n": 3}))
        spec = {"type": "ne", "key": "lang", "value": "en"}
        assert [h.chunk.file_id for h in index.query(P, ["vs_1"], unit(1), 5, spec)] == ["file-b"]
        assert client.queries[-1]["filter"]["$and"][2] == {
            "$or": [{"attr_lang": {"$exists": False}}, {"attr_lang": {"$ne": "en"}}]
        }
        (hit,) = index.query(P, ["vs_1"], unit(1), 5, {"type": "eq", "key": "lang", "value": "en"})
        assert hit.chunk.attributes == {"lang": "en"}


def test_metadata_limits() -> None:
    with moto_s3vectors_index(D) as (index, _):
        big = {f"key{i}": "v" * 200 for i in range(16)}
        with pytest.raises(StoreError, match="filterable metadata"):
            index.put_chunks(P, "vs_1", "file-a", chunks("file-a", 1, attributes=big))
        text = "é" * 30_000  # 60,000 UTF-8 bytes
        index.put_chunks(P, "vs_1", "file-a", [Chunk("vs_1", "file-a", 0, text, unit(1))])
        (hit,) = index.query(P, ["vs_1"], unit(1), 1)
        assert text.startswith(hit.chunk.text)
        assert 19_000 < len(hit.chunk.text) < 20_000  # cut to ~40 KB, on a character boundary
        with pytest.raises(StoreError, match="2-dimensional vector"):
            index.put_chunks(P, "vs_1", "file-a", [Chunk("vs_1", "file-a", 0, "x", (1.0, 0.0))])


def test_create_schema_is_idempotent_and_matches_the_stack_definition() -> None:
    with moto_s3vectors_index(D) as (index, client):
        index.put_chunks(P, "vs_1", "file-a", chunks("file-a", 1))
        index.create_schema()  # exists: nothing recreated, nothing lost
        assert len(keys(client)) == 2
        got = client.get_index(vectorBucketName=BUCKET, indexName=INDEX)["index"]
        definition = index_definition(D)
        assert got["dimension"] == definition["Dimension"]
        assert got["distanceMetric"] == definition["DistanceMetric"]


# -- request shapes through botocore's Stubber (validated against the service model) ----------


def stubbed() -> tuple[S3VectorsIndex, Stubber]:
    client = botocore.session.get_session().create_client("s3vectors", region_name="us-east-1")
    return S3VectorsIndex(client, BUCKET, INDEX, D), Stubber(client)


def test_query_request_and_scores_through_stubber() -> None:
    index, stub = stubbed()
    metadata = {
        "project": project_tag(P),
        "vector_store_id": "vs_2",
        "file_id": "file-x",
        "position": 7,
        "filename": "a.md",
        "text": "hello",
        "attr_year": 2024,
    }
    stub.add_response(
        "query_vectors",
        {
            "vectors": [
                {"key": "k2", "distance": 0.5, "metadata": metadata},
                {"key": "k1", "distance": 0.25, "metadata": {**metadata, "position": 1}},
            ],
            "distanceMetric": "cosine",
        },
        {
            "vectorBucketName": BUCKET,
            "indexName": INDEX,
            "topK": MAX_TOP_K,  # 500 asked, capped
            "queryVector": {"float32": [1.0, 0.0, 0.0, 0.0]},
            "filter": {
                "$and": [
                    {"project": {"$eq": project_tag(P)}},
                    {"vector_store_id": {"$in": ["vs_1", "vs_2"]}},
                    {"attr_year": {"$gte": 2000}},
                ]
            },
            "returnMetadata": True,
            "returnDistance": True,
        },
    )
    with stub:
        hits = index.query(
            P, ["vs_1", "vs_2", "vs_1"], [1.0, 0, 0, 0], 500,
            {"type": "gte", "key": "year", "value": 2000},
        )  # fmt: skip
    assert [(h.chunk.position, h.score) for h in hits] == [(1, 0.75), (7, 0.5)]
    assert hits[0].chunk == Chunk("vs_2", "file-x", 1, "hello", (), "a.md", {"year": 2024})
    stub.assert_no_pending_responses()


def test_put_and_delete_requests_through_stubber() -> None:
    index, stub = stubbed()
    manifest = vector_key(P, "vs_1", "file-a", "manifest")
    where = {"vectorBucketName": BUCKET, "indexName": INDEX}
    stub.add_response(
        "get_vectors",
        {"vectors": [{"key": manifest, "metadata": {"manifest_count": 3}}]},
        {**where, "keys": [manifest], "returnMetadata": True},
    )
    stub.add_response("put_vectors", {}, {**where, "vectors": ANY})  # the two chunks
    stub.add_response("delete_vectors", {}, {**where, "keys": [vector_key(P, "vs_1", "file-a", 2)]})
    stub.add_response(
        "put_vectors",
        {},
        {
            **where,
            "vectors": [
                {
                    "key": manifest,
                    "data": {"float32": [1.0, 0.0, 0.0, 0.0]},
                    "metadata": {"manifest_count": 2},
                }
            ],
        },
    )
    with stub:
        index.put_chunks(P, "vs_1", "file-a", chunks("file-a", 2, filename="a.md"))
    stub.assert_no_pending_responses()


def test_service_errors_become_store_errors() -> None:
    index, stub = stubbed()
    stub.add_client_error(
        "query_vectors", "TooManyRequestsException", "slow down", http_status_code=429
    )
    with stub, pytest.raises(StoreError, match="query_vectors failed: TooManyRequestsException"):
        index.query(P, ["vs_1"], unit(1), 5)


def test_build_vector_index_on_the_stacks_names(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Any] = []
    monkeypatch.setattr(s3_vectors, "botocore_client", lambda: made.append(1) or object())
    index = build_vector_index(
        Settings(vector_bucket_name="b-1", vector_index_name="chunks", embeddings_dimension=256)
    )
    assert isinstance(index, S3VectorsIndex) and made
    assert (index.bucket, index.index, index.dimension) == ("b-1", "chunks", 256)
