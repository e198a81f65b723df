"""The local stage's database: an in-process DynamoDB (moto), or a real one if configured."""

from __future__ import annotations

import os
import threading
from typing import Any


def uses_real_dynamodb() -> bool:
    """An explicit endpoint, or a table name (used with your AWS credentials), means a real one."""
    return bool(os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("TABLE_NAME"))


def start_embedded_dynamodb() -> Any:
    """Patch botocore so DynamoDB (and SQS) calls stay in this process. Returns the mock."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "local")  # never real: nothing leaves the process
    from moto import mock_aws  # a development dependency: imported only here

    mock = mock_aws()
    mock.start()
    _serialise_moto()
    return mock


def _serialise_moto() -> None:
    """One mocked AWS call at a time: moto's backends are not thread-safe.

    The local server answers requests on threads and runs jobs on worker threads; two concurrent
    calls (e.g. a TransactWriteItems, which deep-copies the table, beside a PutItem) otherwise
    fail inside moto with "dictionary changed size during iteration", leaving a run stuck.
    """
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.process_request
    if getattr(original, "_serialised", False):
        return
    lock = threading.RLock()

    def process_request(self: Any, request: Any) -> Any:
        with lock:
            return original(self, request)

    process_request._serialised = True  # type: ignore[attr-defined]
    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]
