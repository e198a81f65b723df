"""Count the AWS calls each endpoint makes (DynamoDB and SQS), through the real app on moto.

Run: .venv/bin/python bench/round_trips.py
Prints one row per request: the number of calls and which operations they were.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
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
from chalicelib.services.context import Services
from chalicelib.services.jobs import handle_job
from chalicelib.store.blobs import LocalBlobs
from chalicelib.store.dynamodb import DynamoDBEngine
from chalicelib.store.store import Store
from tests.support.services import set_services

HEADERS = {
    "Authorization": "Bearer sk-bench-000001",
    "OpenAI-Beta": "assistants=v2",
    "Content-Type": "application/json",
}


class Recorder:
    def __init__(self, *clients: Any) -> None:
        self.calls: list[str] = []
        for client in clients:
            service = client.meta.service_model.service_name
            client.meta.events.register(
                f"before-call.{service}.*",
                lambda model, service=service, **_: self.calls.append(f"{service}:{model.name}"),
            )

    def take(self) -> list[str]:
        calls, self.calls = self.calls, []
        return calls


def main() -> None:
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        sqs = boto3.client("sqs")
        engine = DynamoDBEngine(dynamodb, "bench")
        engine.create_schema()
        queue_url = sqs.create_queue(QueueName="bench-jobs")["QueueUrl"]
        svc = Services(
            settings=Settings(stage="local", table_name="bench", run_queue_url=queue_url),
            store=Store(engine),
            clock=SystemClock(),
            dispatcher=SqsDispatcher(queue_url, sqs),
            provider=EchoProvider(),
            blobs=LocalBlobs(tempfile.mkdtemp(prefix="bench-blobs-")),
        )
        set_services(svc)
        recorder = Recorder(dynamodb, sqs)
        rows: list[tuple[str, list[str]]] = []

        with Client(app) as client:

            def call(label: str, method: str, path: str, body: Any = None) -> Any:
                recorder.take()
                raw = json.dumps(body) if body is not None else b""
                response = client.http.request(method, path, headers=HEADERS, body=raw)
                rows.append((label, recorder.take()))
                assert response.status_code == 200, (label, response.body)
                return json.loads(response.body)

            asst = call("create assistant", "POST", "/v1/assistants", {"model": "m"})
            call("retrieve assistant", "GET", f"/v1/assistants/{asst['id']}")
            call("list assistants", "GET", "/v1/assistants")
            body = {"messages": [{"role": "user", "content": "hello"}]}
            thread = call("create thread (1 message)", "POST", "/v1/threads", body)
            tid = thread["id"]
            call("retrieve thread", "GET", f"/v1/threads/{tid}")
            msg = {"role": "user", "content": "again"}
            call("create message", "POST", f"/v1/threads/{tid}/messages", msg)
            call("list messages", "GET", f"/v1/threads/{tid}/messages")
            run = call(
                "create run", "POST", f"/v1/threads/{tid}/runs", {"assistant_id": asst["id"]}
            )
            rid = run["id"]
            call("retrieve run", "GET", f"/v1/threads/{tid}/runs/{rid}")
            call("list runs", "GET", f"/v1/threads/{tid}/runs")
            call("modify run", "POST", f"/v1/threads/{tid}/runs/{rid}", {"metadata": {"a": "b"}})
            call("cancel run (queued -> cancelled)", "POST", f"/v1/threads/{tid}/runs/{rid}/cancel")
            run = call(
                "create run (thread was freed)",
                "POST",
                f"/v1/threads/{tid}/runs",
                {"assistant_id": asst["id"]},
            )
            rid = run["id"]
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
            recorder.take()
            handle_job(svc, json.loads(messages[-1]["Body"]))
            rows.append(("worker: one turn to completed", recorder.take()))
            call("list run steps", "GET", f"/v1/threads/{tid}/runs/{rid}/steps")
            call("retrieve run (completed)", "GET", f"/v1/threads/{tid}/runs/{rid}")
            call(
                "create thread and run",
                "POST",
                "/v1/threads/runs",
                {"assistant_id": asst["id"], "thread": body},
            )

        width = max(len(label) for label, _ in rows)
        print(f"{'request':<{width}}  calls  operations")
        for label, calls in rows:
            ops = ", ".join(f"{op} x{n}" if n > 1 else op for op, n in Counter(calls).items())
            print(f"{label:<{width}}  {len(calls):>5}  {ops}")


if __name__ == "__main__":
    main()
