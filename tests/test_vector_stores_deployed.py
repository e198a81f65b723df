"""Vector stores on the deployed store path: DynamoDB and S3 (file content) on moto, the chunks in
Amazon S3 Vectors (moto's, with the QueryVectors double of tests/support/s3vectors.py), and
Bedrock Titan embeddings through botocore's Stubber, which checks every request ingestion and
search send. Ingest two files, search, delete a file and the store.
"""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import botocore.session
from botocore.response import StreamingBody
from botocore.stub import Stubber

from chalicelib.dispatch.base import ingest_job
from chalicelib.domain import vector_stores as vs
from chalicelib.providers.embeddings.bedrock import DEFAULT_MODEL, BedrockEmbedder
from chalicelib.providers.embeddings.hashing import HashingEmbedder
from chalicelib.services import files, search, vector_stores
from chalicelib.services.jobs import handle_job
from chalicelib.store.s3_vectors import S3VectorsIndex
from tests.conftest import make_services, moto_blobs
from tests.support.s3vectors import BUCKET, INDEX, QueryingClient

PROJECT = "proj-deployed"
DIMENSION = 256
TEXTS = {
    "zebra.txt": "Zebras graze on the savanna; their stripes confuse biting flies.",
    "rocket.md": "A rocket engine burns propellant and pushes exhaust out to make thrust.",
}


def titan(text: str) -> dict[str, Any]:
    """Titan's answer for `text`: a meaningful vector (the hashing embedder's)."""
    payload = json.dumps({"embedding": HashingEmbedder(DIMENSION).embed([text])[0]}).encode()
    return {"body": StreamingBody(io.BytesIO(payload), len(payload)), "contentType": "json"}


def expect(stub: Stubber, text: str) -> None:
    request = {"inputText": text, "dimensions": DIMENSION, "normalize": True}
    stub.add_response(
        "invoke_model",
        titan(text),
        {
            "modelId": DEFAULT_MODEL,
            "body": json.dumps(request).encode(),
            "contentType": "application/json",
            "accept": "application/json",
        },
    )


def test_ingest_search_and_delete_on_dynamodb_s3_s3vectors_and_bedrock(dynamodb: Any) -> None:
    s3vectors = QueryingClient(boto3.client("s3vectors", region_name="us-east-1"))
    index = S3VectorsIndex(s3vectors, BUCKET, INDEX, DIMENSION)
    index.create_schema()
    runtime = botocore.session.get_session().create_client(
        "bedrock-runtime", region_name="us-east-1"
    )
    svc = make_services(dynamodb, blobs=moto_blobs(), vectors=index)
    svc.embedder = BedrockEmbedder(dimension=DIMENSION, client=runtime, concurrency=1)

    ids = {
        name: files.create_file(svc, PROJECT, name, "assistants", text.encode())["id"]
        for name, text in TEXTS.items()
    }
    store = vector_stores.create_vector_store(svc, PROJECT, {"file_ids": list(ids.values())})
    jobs = svc.dispatcher.take()  # type: ignore[attr-defined]
    assert jobs == [ingest_job(PROJECT, store["id"], file_id) for file_id in ids.values()]

    with Stubber(runtime) as stub:
        for text in TEXTS.values():  # one chunk each, embedded in job order
            expect(stub, text)
        for job in jobs:
            handle_job(svc, job)
        expect(stub, "what makes a rocket fly")
        results = search.search_vector_stores(
            svc, PROJECT, [store["id"]], "what makes a rocket fly", 2, None
        )
        stub.assert_no_pending_responses()
    done = vector_stores.get_vector_store(svc, PROJECT, store["id"])
    assert vs.file_counts(done) == {
        "in_progress": 0, "completed": 2, "failed": 0, "cancelled": 0, "total": 2
    }  # fmt: skip
    assert [r.filename for r in results] == ["rocket.md", "zebra.txt"]
    assert results[0].content == [{"type": "text", "text": TEXTS["rocket.md"]}]
    assert s3vectors.queries[-1]["topK"] >= 2

    def stored_keys() -> list[str]:
        found = s3vectors.list_vectors(vectorBucketName=BUCKET, indexName=INDEX)["vectors"]
        return [v["key"] for v in found]

    assert stored_keys(), "the chunks are in S3 Vectors"
    vector_stores.delete_vector_store_file(svc, PROJECT, store["id"], ids["rocket.md"])
    with Stubber(runtime) as stub:
        expect(stub, "rocket")
        left = search.search_vector_stores(svc, PROJECT, [store["id"]], "rocket", 5, None)
    assert [r.filename for r in left] == ["zebra.txt"]
    vector_stores.delete_vector_store(svc, PROJECT, store["id"])
    assert stored_keys() == [], "deleting the store deletes its chunks"
    assert files.read_file_content(svc, PROJECT, ids["zebra.txt"]) == TEXTS["zebra.txt"].encode()
