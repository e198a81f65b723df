"""The worker's entry point: one job, delivered at least once, handled idempotently."""

from __future__ import annotations

import logging

from ..dispatch.base import Job
from .context import Services
from .executor import advance_run
from .threads import purge_thread

log = logging.getLogger(__name__)


def handle_job(svc: Services, job: Job) -> None:
    kind = job.get("kind")
    if kind == "run":
        run = advance_run(svc, job["project"], job["thread_id"], job["run_id"])
        log.info("run job done: %s", run["status"] if run else "run not found")
    elif kind == "purge_thread":
        purge_thread(svc, job["project"], job["thread_id"])
        log.info("purge job done")
    else:
        log.warning("ignoring a job of unknown kind: %r", job)
