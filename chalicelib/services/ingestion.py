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

from ..dispatch.base import ingest_job
from ..domain import vector_stores as vs
from ..domain.chunking import chunk_text
from ..domain.errors import ApiError
from ..domain.extraction import ExtractionError, extract_text
from ..store.vectors import Chunk
from .context import Services

log = logging.getLogger(__name__)
EMBED_BATCH = 64  # texts per embeddings call


def ingest_file(
    svc: Services, project: str, vector_store_id: str, file_id: str, refresh: bool = False
) -> str:
    """Ingest a file if it is still in progress; the file's status afterwards (or 'skipped').

    With `refresh`, a completed file is indexed again with its current attributes (after an
    attribute update), its status and counts untouched.
    """
    if refresh:
        return _refresh(svc, project, vector_store_id, file_id)
    record = svc.store.raw_vector_store_file(project, vector_store_id, file_id)
    if record is None or record.get("status") != vs.IN_PROGRESS:
        return "skipped"
    try:
        chunks, usage = _index(svc, project, record)
    except ExtractionError as error:
        return _fail(svc, project, record, error.code, error.message)
    except Exception as error:  # never leave the file in progress because of us
        log.exception(json.dumps({"event": "ingestion_failed", "file_id": file_id}))
        message = f"The file could not be indexed: {type(error).__name__}: {str(error)[:300]}"
        return _fail(svc, project, record, "server_error", message)
    changes = {"usage_bytes": usage, "chunk_count": chunks}
    if not svc.store.finish_vector_store_file(project, record, vs.COMPLETED, changes):
        return _lost(svc, project, vector_store_id, file_id)
    current = svc.store.get_vector_store_file(project, vector_store_id, file_id)
    if current is not None and current.get("attributes") != record.get("attributes"):
        # Its attributes changed while it was being indexed: index it again with the new ones.
        svc.dispatcher.send(ingest_job(project, vector_store_id, file_id, refresh=True))
    return vs.COMPLETED


def _index(svc: Services, project: str, record: dict[str, Any]) -> tuple[int, int]:
    """Read, extract, chunk, embed and index the file: (chunks, usage bytes)."""
    from .files import read_file_content

    try:
        data = read_file_content(svc, project, record["id"])
    except ApiError:  # the file was deleted (its cascade removes this record too)
        raise ExtractionError("invalid_file", "The file was deleted.") from None
    text = extract_text(record.get("filename") or "", data)
    static = record["chunking_strategy"]["static"]
    pieces = chunk_text(text, static["max_chunk_size_tokens"], static["chunk_overlap_tokens"])
    if not pieces:
        # The hosted API failed files it could not parse any text from.
        raise ExtractionError("invalid_file", "The file contains no text to index.")
    chunks = _embed(svc, record, pieces)
    svc.vectors.put_chunks(project, record["vector_store_id"], record["id"], chunks)
    return len(chunks), len(text.encode("utf-8"))


def _refresh(svc: Services, project: str, vector_store_id: str, file_id: str) -> str:
    """Index a completed file again until its chunks carry the attributes its record has."""
    for _ in range(3):  # another update meanwhile: go again (its own job may be behind)
        record = svc.store.get_vector_store_file(project, vector_store_id, file_id)
        if record is None or record.get("status") != vs.COMPLETED:
            return "skipped"
        try:
            _index(svc, project, record)
        except Exception:  # the old chunks stay; search still checks the current attributes
            log.exception(json.dumps({"event": "refresh_failed", "file_id": file_id}))
            return "refresh_failed"
        current = svc.store.get_vector_store_file(project, vector_store_id, file_id)
        if current is None or current.get("status") != vs.COMPLETED:
            return _lost(svc, project, vector_store_id, file_id)
        if current.get("attributes") == record.get("attributes"):
            return "refreshed"
    return "refreshed"


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
