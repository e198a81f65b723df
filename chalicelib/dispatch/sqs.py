"""Deployed: jobs go to the SQS queue that triggers the worker function."""

from __future__ import annotations

import json
from typing import Any

from .base import Job


class SqsDispatcher:
    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # lazily: the API's cold start pays for it only when a job is sent

            self._client = boto3.client("sqs")
        return self._client

    def send(self, job: Job) -> None:
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(job))
