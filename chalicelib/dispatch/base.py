"""How work reaches the worker: a job is a small JSON object, delivered at least once."""

from __future__ import annotations

from typing import Any, Protocol

Job = dict[str, Any]


def run_job(project: str, thread_id: str, run_id: str) -> Job:
    """A queued run to advance one turn."""
    return {"kind": "run", "project": project, "thread_id": thread_id, "run_id": run_id}


def purge_job(project: str, thread_id: str) -> Job:
    """A deleted thread whose messages, runs and steps are to be removed."""
    return {"kind": "purge_thread", "project": project, "thread_id": thread_id}


def ingest_job(project: str, vector_store_id: str, file_id: str) -> Job:
    """A vector store file to extract, chunk, embed and index (services/ingestion.py)."""
    return {
        "kind": "ingest_file",
        "project": project,
        "vector_store_id": vector_store_id,
        "file_id": file_id,
    }


def file_deleted_job(project: str, file_id: str) -> Job:
    """A deleted file to remove from every vector store of its project (and from the index)."""
    return {"kind": "file_deleted", "project": project, "file_id": file_id}


class Dispatcher(Protocol):
    def send(self, job: Job) -> None: ...
