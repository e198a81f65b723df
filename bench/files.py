"""Files: the AWS calls each /v1/files request makes, and upload/download times on the local server.

Run: .venv/bin/python bench/files.py [--rounds 5]
Prints (1) per request, the DynamoDB, S3 and SQS calls through the real app on moto (the deployed
store path: what a request costs), and (2) for 1 KiB, 1 MiB and 4 MiB files, the median time of
an SDK upload and of a download against the live local server (embedded engine, content under
DATA_DIR/files), with the throughput that makes.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")

BOUNDARY = "bench-boundary"
SIZES = {"1 KiB": 1024, "1 MiB": 1024 * 1024, "4 MiB": 4 * 1024 * 1024 - 1024}


def _form(data: bytes) -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="b.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def aws_calls() -> None:
    import json

    import boto3
    from chalice.test import Client
    from moto import mock_aws

    from app import app
    from chalicelib.config import Settings
    from chalicelib.dispatch.sqs import SqsDispatcher
    from chalicelib.domain.clock import SystemClock
    from chalicelib.providers.echo import EchoProvider
    from chalicelib.services.context import Services
    from chalicelib.store.blobs import S3Blobs
    from chalicelib.store.dynamodb import DynamoDBEngine
    from chalicelib.store.store import Store
    from tests.support.services import set_services

    with mock_aws():
        dynamodb, s3, sqs = (boto3.client(n) for n in ("dynamodb", "s3", "sqs"))
        engine = DynamoDBEngine(dynamodb, "bench")
        engine.create_schema()
        s3.create_bucket(Bucket="bench-files")
        queue_url = sqs.create_queue(QueueName="bench-jobs")["QueueUrl"]
        svc = Services(
            settings=Settings(stage="local", table_name="bench", run_queue_url=queue_url),
            store=Store(engine),
            clock=SystemClock(),
            dispatcher=SqsDispatcher(queue_url, sqs),
            provider=EchoProvider(),
            blobs=S3Blobs("bench-files", s3),
        )
        set_services(svc)
        calls: list[str] = []
        for client in (dynamodb, s3, sqs):
            name = client.meta.service_model.service_name
            client.meta.events.register(
                f"before-call.{name}.*",
                lambda model, name=name, **_: calls.append(f"{name}:{model.name}"),
            )
        auth = {"Authorization": "Bearer sk-bench-files-1"}
        upload = {**auth, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        with Client(app) as test_client:
            http = test_client.http
            created = http.post("/v1/files", headers=upload, body=_form(b"hello"))
            file_id = json.loads(created.body)["id"]
            rows = [("POST /v1/files", list(calls))]
            requests: list[tuple[str, str, dict[str, str]]] = [
                ("GET", "/v1/files", auth),
                ("GET", f"/v1/files/{file_id}", auth),
                ("GET", f"/v1/files/{file_id}/content", {**auth, "Accept": "*/*"}),
                ("DELETE", f"/v1/files/{file_id}", auth),
            ]
            for method, path, headers in requests:
                calls.clear()
                response = http.request(method, path, headers=headers)
                assert response.status_code == 200, response.body
                rows.append((f"{method} {path.replace(file_id, '{id}')}", list(calls)))
        set_services(None)
    print("AWS calls per request (the deployed store path, on moto):")
    for label, made in rows:
        counted = ", ".join(f"{n} {op}" for op, n in Counter(made).items())
        print(f"  {label:<32} {len(made)} calls: {counted}")


def local_times(rounds: int) -> None:
    import openai

    from tests.support.live_server import start_server

    print(f"\nLocal server, official SDK, median of {rounds} (embedded engine):")
    with start_server({"FILE_MAX_BYTES": str(8 * 1024 * 1024)}) as server:
        sdk = openai.OpenAI(base_url=server.base_url, api_key="sk-bench-files-2", max_retries=0)
        for label, size in SIZES.items():
            data = os.urandom(size)
            up: list[float] = []
            down: list[float] = []
            for _ in range(rounds):
                started = time.perf_counter()
                file = sdk.files.create(file=("b.bin", data), purpose="assistants")
                up.append(time.perf_counter() - started)
                started = time.perf_counter()
                got = sdk.files.content(file.id).read()
                down.append(time.perf_counter() - started)
                assert got == data
                sdk.files.delete(file.id)
            for what, times in (("upload", up), ("download", down)):
                median = statistics.median(times)
                rate = size / median / 1e6
                print(f"  {label:>6} {what:<8} {median * 1000:8.1f} ms  {rate:8.1f} MB/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import app  # noqa: F401  (configures JSON logs: quiet the clients' request lines here)

    for name in ("httpx2", "botocore", "chalicelib"):
        logging.getLogger(name).setLevel(logging.ERROR)
    aws_calls()
    local_times(args.rounds)


if __name__ == "__main__":
    main()
