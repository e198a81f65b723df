"""The vector index: chunks of a vector store's files, their embeddings, exact or ANN top-k.

Two implementations: a table inside the embedded engine's file (local stage, exact top-k) and
Amazon S3 Vectors (deployed). Scores are cosine similarities in [-1, 1]; vectors are unit length.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

AttributeValue = str | float | bool


@dataclass(frozen=True)
class Chunk:
    """One piece of one file in one vector store, with its embedding."""

    vector_store_id: str
    file_id: str
    position: int  # 0-based order of the chunk within its file
    text: str
    vector: tuple[float, ...]
    filename: str = ""
    # The vector store file's `attributes` (what search `filters` match on).
    attributes: dict[str, AttributeValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    chunk: Chunk  # `vector` may be empty: callers never need it back
    score: float


class VectorIndex(Protocol):
    def create_schema(self) -> None:
        """Create what the index needs (idempotent); a no-op where the stack creates it."""
        ...

    def put_chunks(
        self, project: str, vector_store_id: str, file_id: str, chunks: Sequence[Chunk]
    ) -> None:
        """Replace every chunk of this file in this store with `chunks`."""
        ...

    def delete_file(self, project: str, vector_store_id: str, file_id: str) -> None: ...

    def delete_store(self, project: str, vector_store_id: str) -> None: ...

    def query(
        self,
        project: str,
        vector_store_ids: Sequence[str],
        vector: Sequence[float],
        top_k: int,
        filters: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """The `top_k` chunks nearest `vector` across the stores, best first (project-scoped).

        `filters`: OpenAI's search filter on the chunks' `attributes` (see vector_filters.py;
        check it with `vector_filters.check_filter` first), applied before the top-k is taken.
        """
        ...
