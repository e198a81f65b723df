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
    elif kind == "ingest_file":
        from .ingestion import ingest_file

        status = ingest_file(
            svc,
            job["project"],
            job["vector_store_id"],
            job["file_id"],
            refresh=bool(job.get("refresh")),
        )
        log.info("ingest job done: %s", status)
    elif kind == "add_batch_files":
        from .batch_files import add_batch_files

        added = add_batch_files(
            svc, job["project"], job["vector_store_id"], job["batch_id"], int(job["slice"])
        )
        log.info("add_batch_files job done: %d files added", added)
    elif kind == "purge_vector_store":
        from .vector_stores import purge_deleted_vector_store

        done = purge_deleted_vector_store(svc, job["project"], job["vector_store_id"])
        log.info("vector store purge job done: %s", "finished" if done else "continues")
    elif kind == "file_deleted":
        from .vector_stores import remove_file_from_all_stores

        removed = remove_file_from_all_stores(svc, job["project"], job["file_id"])
        log.info("file_deleted job done: removed from %d vector stores", removed)
    else:
        log.warning("ignoring a job of unknown kind: %r", job)
