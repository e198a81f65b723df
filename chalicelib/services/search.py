"""Search over vector stores: the search endpoint and a run's file_search both call this.

The query is embedded once and the index asked for the nearest chunks across the stores. The
index knows nothing of `filters` or of files removed a moment ago, so it is asked for more than
`max_num_results` and the hits are checked here against each file's current record: the file
must still be in the store and completed, and its current `attributes` must pass the filters
(attribute updates apply at once, without re-indexing). With filters that reject most files a
search can return fewer results than asked for (at most OVERFETCH_LIMIT hits are read).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..domain import vector_stores as vs
from ..domain.attribute_filters import matches
from .context import Services
from .vector_stores import pending_files, touch_vector_stores, usable_vector_store

__all__ = ["SearchResult", "pending_files", "search_page", "search_vector_stores"]

OVERFETCH_FACTOR = 4
OVERFETCH_LIMIT = 100


@dataclass(frozen=True)
class SearchResult:
    file_id: str
    filename: str
    score: float
    content: list[dict[str, Any]]
    attributes: dict[str, Any] = field(default_factory=dict)
    vector_store_id: str = ""

    def to_wire(self) -> dict[str, Any]:
        """A VectorStoreSearchResultItem."""
        return {
            "file_id": self.file_id,
            "filename": self.filename,
            "score": self.score,
            "attributes": self.attributes,
            "content": self.content,
        }


def search_vector_stores(
    svc: Services,
    project: str,
    vector_store_ids: list[str],
    query: str,
    max_num_results: int,
    ranking_options: dict[str, Any] | None,
    filters: dict[str, Any] | None = None,
) -> list[SearchResult]:
    """The best chunks for `query` across the stores, best first, at most `max_num_results`.

    Every store must exist in the project (else 404) and not be expired (else 400); each one
    searched becomes active now. Scores are cosine similarities clipped to [0, 1]; a result
    scoring below `ranking_options.score_threshold` is left out.
    """
    ids = list(dict.fromkeys(vector_store_ids))
    for vector_store_id in ids:
        usable_vector_store(svc, project, vector_store_id)
    touch_vector_stores(svc, project, ids)
    if not ids or not query.strip():
        return []
    threshold = float((ranking_options or {}).get("score_threshold") or 0)
    top_k = min(max(max_num_results * OVERFETCH_FACTOR, max_num_results + 10), OVERFETCH_LIMIT)
    vector = svc.embedder.embed([query])[0]
    hits = svc.vectors.query(project, ids, vector, top_k)
    files: dict[tuple[str, str], dict[str, Any] | None] = {}
    results: list[SearchResult] = []
    for hit in hits:
        chunk = hit.chunk
        key = (chunk.vector_store_id, chunk.file_id)
        if key not in files:
            files[key] = svc.store.get_vector_store_file(project, *key)
        record = files[key]
        if record is None or record.get("status") != vs.COMPLETED:
            continue
        attributes = record.get("attributes") or {}
        if not matches(filters, attributes):
            continue
        score = min(max(float(hit.score), 0.0), 1.0)
        if score < threshold:
            continue
        results.append(
            SearchResult(
                file_id=chunk.file_id,
                filename=record.get("filename") or chunk.filename,
                score=score,
                content=[{"type": "text", "text": chunk.text}],
                attributes=attributes,
                vector_store_id=chunk.vector_store_id,
            )
        )
        if len(results) >= max_num_results:
            break
    results.sort(key=lambda r: r.score, reverse=True)
    return results


def search_page(query: list[str], results: list[SearchResult]) -> dict[str, Any]:
    """A VectorStoreSearchResultsPage (one page: the search returns every result at once)."""
    return {
        "object": "vector_store.search_results.page",
        "search_query": query,
        "data": [result.to_wire() for result in results],
        "has_more": False,
        "next_page": None,
    }
