"""Ingestion of one vector store file (the `ingest_file` job): extract, chunk, embed, index.

Delivered at least once, handled idempotently: only a file still `in_progress` is worked on,
the index write replaces the file's chunks, and the final status is one conditional transaction
(store and batch counts with it), so a second delivery, a cancel or a delete that wins the race
leaves the counts as they are. A worker that lost (the file was cancelled, deleted, or its store
deleted while it worked) drops the chunks it wrote, so nothing it indexed outlives the file.
A worker that dies leaves the file to the sweeper (`recover_ingestion`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from ..domain import vector_stores as vs
from ..domain.chunking import chunk_text
from ..domain.errors import ApiError
from ..domain.extraction import ExtractionError, extract_text
from ..store.vectors import Chunk
from .context import Services

log = logging.getLogger(__name__)
EMBED_BATCH = 64  # texts per embeddings call


def ingest_file(svc: Services, project: str, vector_store_id: str, file_id: str) -> str:
    """Ingest a file if it is still in progress; the file's status afterwards (or 'skipped')."""
    from .files import read_file_content

    record = svc.store.raw_vector_store_file(project, vector_store_id, file_id)
    if record is None or record.get("status") != vs.IN_PROGRESS:
        return "skipped"
    try:
        try:
            data = read_file_content(svc, project, file_id)
        except ApiError:  # the file was deleted (its cascade removes this record too)
            return _fail(svc, project, record, "invalid_file", "The file was deleted.")
        text = extract_text(record.get("filename") or "", data)
        static = record["chunking_strategy"]["static"]
        pieces = chunk_text(text, static["max_chunk_size_tokens"], static["chunk_overlap_tokens"])
        if not pieces:
            # The hosted API failed files it could not parse any text from.
            raise ExtractionError("invalid_file", "The file contains no text to index.")
        chunks = _embed(svc, record, pieces)
        svc.vectors.put_chunks(project, vector_store_id, file_id, chunks)
    except ExtractionError as error:
        return _fail(svc, project, record, error.code, error.message)
    except Exception as error:  # never leave the file in progress because of us
        log.exception(json.dumps({"event": "ingestion_failed", "file_id": file_id}))
        message = f"The file could not be indexed: {type(error).__name__}: {str(error)[:300]}"
        return _fail(svc, project, record, "server_error", message)
    usage = len(text.encode("utf-8"))
    changes = {"usage_bytes": usage, "chunk_count": len(chunks)}
    if svc.store.finish_vector_store_file(project, record, vs.COMPLETED, changes):
        return vs.COMPLETED
    return _lost(svc, project, vector_store_id, file_id)


def _embed(svc: Services, record: dict[str, Any], pieces: list[str]) -> list[Chunk]:
    chunks: list[Chunk] = []
    attributes = record.get("attributes") or {}
    for start in range(0, len(pieces), EMBED_BATCH):
        batch = pieces[start : start + EMBED_BATCH]
        vectors = svc.embedder.embed(batch)
        for offset, (text, vector) in enumerate(zip(batch, vectors, strict=True)):
            chunks.append(
                Chunk(
                    vector_store_id=record["vector_store_id"],
                    file_id=record["id"],
                    position=start + offset,
                    text=text,
                    vector=tuple(vector),
                    filename=record.get("filename") or "",
                    attributes=attributes,
                )
            )
    return chunks


def _fail(svc: Services, project: str, record: dict[str, Any], code: str, message: str) -> str:
    error = {"code": code, "message": message}
    if svc.store.finish_vector_store_file(project, record, vs.FAILED, {"last_error": error}):
        return vs.FAILED
    return _lost(svc, project, record["vector_store_id"], record["id"])


def _lost(svc: Services, project: str, vector_store_id: str, file_id: str) -> str:
    """Another change won the race: keep the chunks only if the file is completed in a store
    that still exists (a duplicate delivery that finished first)."""
    current = svc.store.raw_vector_store_file(project, vector_store_id, file_id)
    status = current.get("status") if current else None
    store = svc.store.get_vector_store(project, vector_store_id)
    if status != vs.COMPLETED or store is None:
        svc.vectors.delete_file(project, vector_store_id, file_id)
    return str(status or "skipped")
