"""Search over vector stores: the search endpoint and a run's file_search both call this.

The query is embedded once and the index asked for the nearest chunks across the stores, with
`filters` applied inside the index (before its top-k) on the attributes each chunk was indexed
with. The hits are then checked against each file's current record: the file must still be in
the store and completed, and its current `attributes` must pass the filters too. An attribute
update re-indexes the file's chunks in the background (ingestion.py, `refresh`); until that is
done, a file whose new attributes no longer match is already left out, and one whose new
attributes now match is found once its chunks carry them. The index is asked for a few more hits
than `max_num_results`, for the ones this check drops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..domain import vector_stores as vs
from ..domain.errors import InvalidRequest
from ..store.vector_filters import FilterError, check_filter, matches
from .context import Services
from .vector_stores import pending_files, touch_vector_store, usable_vector_store

__all__ = ["SearchResult", "pending_files", "search_page", "search_vector_stores"]

OVERFETCH_FACTOR = 2
OVERFETCH_LIMIT = 100  # S3 Vectors answers at most 100 per query


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
    if filters is not None:
        try:
            check_filter(filters)
        except FilterError as error:
            raise InvalidRequest(f"Invalid 'filters': {error}.", param="filters") from None
    stores = [usable_vector_store(svc, project, vector_store_id) for vector_store_id in ids]
    for store in stores:
        touch_vector_store(svc, project, store)
    if not ids or not query.strip():
        return []
    threshold = float((ranking_options or {}).get("score_threshold") or 0)
    top_k = min(max(max_num_results * OVERFETCH_FACTOR, max_num_results + 10), OVERFETCH_LIMIT)
    vector = svc.embedder.embed([query])[0]
    hits = svc.vectors.query(project, ids, vector, top_k, filters)
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
        if filters is not None and not matches(filters, attributes):
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
