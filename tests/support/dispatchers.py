"""Dispatcher doubles: a queue that is down until the test brings it back."""

from __future__ import annotations

from chalicelib.dispatch.base import Job
from tests.support.doubles import RecordingDispatcher


class QueueDown(Exception):
    """What botocore would raise for SendMessage with SQS unreachable (any exception will do)."""


class FlakyDispatcher(RecordingDispatcher):
    """Every send fails while `down`; afterwards jobs are recorded like RecordingDispatcher's."""

    def __init__(self, down: bool = True) -> None:
        super().__init__()
        self.down = down
        self.failed: list[Job] = []

    def send(self, job: Job) -> None:
        if self.down:
            self.failed.append(job)
            raise QueueDown("Could not connect to the endpoint URL: sqs.us-east-1.amazonaws.com")
        super().send(job)
