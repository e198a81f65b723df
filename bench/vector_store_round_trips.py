"""Count the AWS calls of each vector store request and job, through the real app on moto.

Run: .venv/bin/python bench/vector_store_round_trips.py [batch sizes, default 10 500 2000]
DynamoDB, SQS and S3 (file content) on moto; S3 Vectors on moto with the QueryVectors double of
tests/support/s3vectors.py; embeddings from the hashing embedder (deployed, add one Bedrock
InvokeModel per chunk and per search). Prints one row per request or job: the number of calls
and which operations they were; then the calls of the create-batch request alone for batches of
each size given (the work it leaves to the worker is not counted there).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")

import boto3
from chalice.test import Client
from moto import mock_aws

from app import app
from chalicelib.config import Settings
from chalicelib.dispatch.sqs import SqsDispatcher
from chalicelib.domain.clock import SystemClock
from chalicelib.providers.echo import EchoProvider
from chalicelib.providers.embeddings.hashing import HashingEmbedder
from chalicelib.services import files
from chalicelib.services.auth import project_for
from chalicelib.services.context import Services
from chalicelib.services.jobs import handle_job
from chalicelib.store.blobs import S3Blobs
from chalicelib.store.dynamodb import DynamoDBEngine
from chalicelib.store.s3_vectors import S3VectorsIndex
from chalicelib.store.store import Store
from tests.support.s3vectors import BUCKET, INDEX, QueryingClient
from tests.support.services import set_services

KEY = "sk-bench-000001"
HEADERS = {
    "Authorization": f"Bearer {KEY}",
    "OpenAI-Beta": "assistants=v2",
    "Content-Type": "application/json",
}
PAGE = " ".join(["The quick brown fox jumps over the lazy dog."] * 60)  # ~2,700 characters


class Recorder:
    def __init__(self, *clients: Any) -> None:
        self.calls: list[str] = []
        self.paused = False
        for client in clients:
            service = client.meta.service_model.service_name
            client.meta.events.register(f"before-call.{service}.*", self._record(service))

    def _record(self, service: str) -> Any:
        def record(model: Any, **_: Any) -> None:
            if not self.paused:
                self.calls.append(f"{service}:{model.name}")

        return record

    def count_queries(self, client: QueryingClient) -> None:
        """QueryVectors is answered by the double (moto has none): count it as one call, not
        the moto calls the double makes to answer it."""
        answer = client.query_vectors

        def query_vectors(**params: Any) -> Any:
            self.calls.append("s3vectors:QueryVectors")
            self.paused = True
            try:
                return answer(**params)
            finally:
                self.paused = False

        client.query_vectors = query_vectors  # type: ignore[method-assign]

    def take(self) -> list[str]:
        calls, self.calls = self.calls, []
        return calls


def main(batch_sizes: list[int]) -> None:
    with mock_aws():
        dynamodb, sqs, s3 = (boto3.client(name) for name in ("dynamodb", "sqs", "s3"))
        s3vectors = QueryingClient(boto3.client("s3vectors"))
        engine = DynamoDBEngine(dynamodb, "bench")
        engine.create_schema()
        s3.create_bucket(Bucket="bench-files")
        index = S3VectorsIndex(s3vectors, BUCKET, INDEX, 512)
        index.create_schema()
        queue_url = sqs.create_queue(QueueName="bench-jobs")["QueueUrl"]
        svc = Services(
            settings=Settings(stage="local", table_name="bench", run_queue_url=queue_url),
            store=Store(engine),
            clock=SystemClock(),
            dispatcher=SqsDispatcher(queue_url, sqs),
            provider=EchoProvider(),
            blobs=S3Blobs("bench-files", s3),
            vectors=index,
            embedder=HashingEmbedder(),
        )
        set_services(svc)
        project = project_for(svc, f"Bearer {KEY}")
        ids = [
            files.create_file(svc, project, f"p{n}.txt", "assistants", PAGE.encode())["id"]
            for n in range(3)
        ]
        recorder = Recorder(dynamodb, sqs, s3, s3vectors._inner)
        recorder.count_queries(s3vectors)
        rows: list[tuple[str, list[str]]] = []

        def jobs(label: str) -> None:
            received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
            for message in received.get("Messages", []):
                recorder.take()
                handle_job(svc, json.loads(message["Body"]))
                rows.append((label, recorder.take()))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            recorder.take()

        with Client(app) as client:

            def call(label: str, method: str, path: str, body: Any = None) -> Any:
                recorder.take()
                raw = json.dumps(body) if body is not None else b""
                response = client.http.request(method, path, headers=HEADERS, body=raw)
                rows.append((label, recorder.take()))
                assert response.status_code == 200, (label, response.body)
                return json.loads(response.body)

            vs = call("create vector store (1 file)", "POST", "/v1/vector_stores", {
                "file_ids": ids[:1]})  # fmt: skip
            base = f"/v1/vector_stores/{vs['id']}"
            jobs("worker: ingest one page (1 chunk)")
            call("add file", "POST", f"{base}/files", {"file_id": ids[1]})
            jobs("worker: ingest one page (1 chunk)")
            batch = call("create file batch (1 file)", "POST", f"{base}/file_batches", {
                "file_ids": ids[2:]})  # fmt: skip
            jobs("worker: ingest one page, batch counted")
            call("retrieve file batch", "GET", f"{base}/file_batches/{batch['id']}")
            call("retrieve vector store", "GET", base)
            call("list vector store files", "GET", f"{base}/files")
            call("retrieve vector store file", "GET", f"{base}/files/{ids[0]}")
            call("search (max_num_results 5)", "POST", f"{base}/search", {
                "query": "lazy dog", "max_num_results": 5})  # fmt: skip
            call("update file attributes", "POST", f"{base}/files/{ids[0]}", {
                "attributes": {"k": "v"}})  # fmt: skip
            jobs("worker: refresh (re-index) one page")
            call("delete vector store file", "DELETE", f"{base}/files/{ids[1]}")
            call("delete vector store (2 files)", "DELETE", base)

            # The create-batch request alone, for large batches (jobs left on the queue).
            recorder.paused = True
            many = [
                files.create_file(svc, project, f"b{n}.txt", "assistants", b"tiny")["id"]
                for n in range(max(batch_sizes, default=0))
            ]
            recorder.paused = False
            for size in batch_sizes:
                target = call(f"create vector store for a {size}-file batch", "POST",
                              "/v1/vector_stores", {})  # fmt: skip
                call(f"create file batch ({size} files)", "POST",
                     f"/v1/vector_stores/{target['id']}/file_batches",
                     {"file_ids": many[:size]})  # fmt: skip

        width = max(len(label) for label, _ in rows)
        print(f"{'request':<{width}}  calls  operations")
        for label, calls in rows:
            ops = ", ".join(f"{op} x{n}" if n > 1 else op for op, n in Counter(calls).items())
            print(f"{label:<{width}}  {len(calls):>5}  {ops}")


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [10, 500, 2000])
