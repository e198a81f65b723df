"""file_search executed by the server inside a run's turn (never requires_action).

A run searches when it has the `file_search` tool and at least one usable vector store: the
assistant's `tool_resources.file_search.vector_store_ids` together with the thread's. The model
is offered the internal function (domain/file_search.py); each call it makes is searched here
and becomes a `file_search` tool call with its results.

Before the first search of a turn, the run waits (at most FILE_SEARCH_WAIT_SECONDS, polling)
while the *thread's* stores still have files in_progress, as the hosted API did ("a 60 second
maximum wait ... when the thread's vector store contains files that are still being processed";
the assistant's stores are not waited for). The executor's LeaseKeeper keeps renewing the run's
lease meanwhile. If files are still in progress at the bound, the search goes on over what is
indexed, as hosted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..domain import errors
from ..domain import file_search as fs
from ..domain.ids import new_id
from ..domain.objects import Record
from .context import Services

log = logging.getLogger(__name__)
WAIT_POLL_SECONDS = 0.5


@dataclass
class FileSearch:
    """What a run's file_search searches and how (built once per turn)."""

    tool: dict[str, Any]
    store_ids: list[str]
    thread_store_ids: list[str]
    max_num_results: int
    ranking: dict[str, Any]
    # (call ordinal, rank) -> file_id, over every file_search call of the run so far
    sources: dict[tuple[int, int], str] = field(default_factory=dict)
    calls_so_far: int = 0

    def note_call(self, call: Record) -> int:
        """Count a stored or new file_search call; its ordinal (for markers)."""
        ordinal = self.calls_so_far
        for rank, result in enumerate(call["file_search"].get("results") or []):
            self.sources[(ordinal, rank)] = result["file_id"]
        self.calls_so_far += 1
        return ordinal


def _resource_store_ids(record: Record | None) -> list[str]:
    resources = (record or {}).get("tool_resources") or {}
    return list((resources.get("file_search") or {}).get("vector_store_ids") or [])


def setup(svc: Services, project: str, run: Record) -> FileSearch | None:
    """The run's file_search, or None when it has no such tool or no usable store."""
    tool = fs.file_search_tool(run.get("tools") or [])
    if tool is None:
        return None
    assistant = svc.store.get_assistant(project, run["assistant_id"])
    thread = svc.store.get_thread(project, run["thread_id"])
    thread_ids = _resource_store_ids(thread)
    wanted = list(dict.fromkeys(_resource_store_ids(assistant) + thread_ids))
    usable = [i for i in wanted if _usable(svc, project, i)]
    if not usable:
        return None
    return FileSearch(
        tool=tool,
        store_ids=usable,
        thread_store_ids=[i for i in thread_ids if i in usable],
        max_num_results=fs.max_num_results(tool, run.get("model") or ""),
        ranking=fs.ranking_options(tool),
    )


def _usable(svc: Services, project: str, vector_store_id: str) -> bool:
    """A store deleted or expired since it was attached is left out, not an error."""
    from .vector_stores import usable_vector_store

    try:
        usable_vector_store(svc, project, vector_store_id)
    except errors.ApiError:
        return False
    return True


def wait_for_ingestion(
    svc: Services,
    project: str,
    search: FileSearch,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> int:
    """Wait while the thread's stores have files in_progress (bounded); the number left."""
    from .vector_stores import pending_files

    if not search.thread_store_ids:
        return 0
    give_up_at = monotonic() + svc.settings.file_search_wait_seconds
    while True:
        pending = pending_files(svc, project, search.thread_store_ids)
        if pending == 0 or monotonic() >= give_up_at:
            if pending:
                log.info("file_search goes on with %d file(s) still in progress", pending)
            return pending
        sleep(min(WAIT_POLL_SECONDS, max(give_up_at - monotonic(), 0.01)))


def execute(
    svc: Services, project: str, search: FileSearch, call_id: str, arguments: str, fallback: str
) -> tuple[Record, str]:
    """Search for one call: its `file_search` tool call record and the output for the model."""
    from .search import search_vector_stores

    queries = fs.queries_of(arguments, fallback)
    merged: dict[tuple[str, str], Record] = {}
    for query in queries:
        for hit in search_vector_stores(
            svc, project, search.store_ids, query, search.max_num_results, search.ranking
        ):
            result = {
                "file_id": hit.file_id,
                "file_name": hit.filename,
                "score": min(max(float(hit.score), 0.0), 1.0),
                "content": [
                    {"type": "text", "text": part.get("text", "")}
                    for part in hit.content
                    if part.get("type", "text") == "text"
                ],
            }
            key = (hit.file_id, fs.result_text(result))
            if key not in merged or merged[key]["score"] < result["score"]:
                merged[key] = result
    results = sorted(merged.values(), key=lambda r: r["score"], reverse=True)
    results = results[: search.max_num_results]
    call = {
        "id": call_id or new_id("call"),
        "type": "file_search",
        "file_search": {"ranking_options": dict(search.ranking), "results": results},
    }
    ordinal = search.note_call(call)
    return call, fs.output_for_model(ordinal, results)
