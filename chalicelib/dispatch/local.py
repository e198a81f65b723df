"""Locally (`make run`): jobs run on worker threads inside the server process."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from .base import Job

log = logging.getLogger(__name__)


class ThreadDispatcher:
    def __init__(self, handle: Callable[[Job], None], workers: int = 4) -> None:
        self._handle = handle
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="run-worker")

    def send(self, job: Job) -> None:
        self._pool.submit(self._run, job)

    def _run(self, job: Job) -> None:
        try:
            self._handle(job)
        except Exception:  # a worker thread must never die silently
            log.exception("job failed: %s", job)
