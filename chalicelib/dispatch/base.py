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


def ingest_job(project: str, vector_store_id: str, file_id: str, refresh: bool = False) -> Job:
    """A vector store file to extract, chunk, embed and index (services/ingestion.py); with
    `refresh`, a completed file whose attributes changed, indexed again."""
    job: Job = {
        "kind": "ingest_file",
        "project": project,
        "vector_store_id": vector_store_id,
        "file_id": file_id,
    }
    if refresh:
        job["refresh"] = True
    return job


def add_batch_files_job(
    project: str, vector_store_id: str, batch_id: str, slice_number: int
) -> Job:
    """A slice of a file batch whose entries are to be added to the store (batch_files.py)."""
    return {
        "kind": "add_batch_files",
        "project": project,
        "vector_store_id": vector_store_id,
        "batch_id": batch_id,
        "slice": slice_number,
    }


def purge_vector_store_job(project: str, vector_store_id: str) -> Job:
    """A deleted vector store whose remaining file records, batches and chunks are to go."""
    return {"kind": "purge_vector_store", "project": project, "vector_store_id": vector_store_id}


def file_deleted_job(project: str, file_id: str) -> Job:
    """A deleted file to remove from every vector store of its project (and from the index)."""
    return {"kind": "file_deleted", "project": project, "file_id": file_id}


class Dispatcher(Protocol):
    def send(self, job: Job) -> None: ...
