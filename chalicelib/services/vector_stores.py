"""Use cases for vector stores, their files and file batches.

Adding a file puts it `in_progress` (its store's counts with it, in one transaction) and sends an
ingestion job (services/ingestion.py) that extracts, chunks, embeds and indexes it and then
completes or fails it. A store is `in_progress` while any of its files is; `expired` once the
sweeper found it past `expires_at` (it still reads, but no longer searches or takes files).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..dispatch.base import add_batch_files_job, ingest_job, purge_vector_store_job
from ..domain import vector_stores as vs
from ..domain.ids import is_valid_id
from ..domain.pagination import Page, PageRequest
from ..store.batch_entry_records import SLICE_ENTRIES, EntryKey
from ..store.vector_store_records import AddOutcome
from .context import Services
from .handoff import hand_off

if TYPE_CHECKING:
    from ..domain.vector_store_requests import CreateFileBatch, ModifyVectorStore

Record = dict[str, Any]
log = logging.getLogger(__name__)
# Up to this many `file_ids` on create are checked and added in the request; more go through a
# batch (added by the worker), so a request's work stays bounded whatever the list's length.
INLINE_FILES = 20
# A purge job's pass: at most this many rounds of 1000 file records, then it sends itself again.
_PURGE_ROUNDS = 20


def _field(request: Any, name: str) -> Any:
    """A request field, from a request model or a plain mapping (R passes either)."""
    if isinstance(request, Mapping):
        return request.get(name)
    return getattr(request, name, None)


def _require_store_id(vector_store_id: str) -> None:
    if not is_valid_id("vector_store", vector_store_id):
        raise vs.vector_store_not_found(vector_store_id)


def get_vector_store(svc: Services, project: str, vector_store_id: str) -> Record:
    """The store's record; 404 for an unknown ID or another project's store."""
    _require_store_id(vector_store_id)
    record = svc.store.get_vector_store(project, vector_store_id)
    if record is None:
        raise vs.vector_store_not_found(vector_store_id)
    return record


def usable_vector_store(svc: Services, project: str, vector_store_id: str) -> Record:
    """A store that can be searched or given files: 404 if unknown, 400 if expired."""
    record = get_vector_store(svc, project, vector_store_id)
    if record.get("expired"):
        raise vs.vector_store_expired(vector_store_id)
    return record


def create_vector_store(svc: Services, project: str, request: Any) -> Record:
    """A new store, with `file_ids` added (and ingesting) at once.

    `request` is a CreateVectorStore or a mapping with its fields (name, file_ids,
    chunking_strategy, expires_after, metadata): R creates a thread's store from attachments.
    Up to INLINE_FILES files are checked before anything is written (an unknown ID creates no
    store) and added in the request; more go through a batch of the store's own, not announced,
    added by the worker (services/batch_files.py), so the request's work stays bounded.
    """
    from .files import get_file

    file_ids = list(dict.fromkeys(_field(request, "file_ids") or []))
    inline = len(file_ids) <= INLINE_FILES
    files = [get_file(svc, project, file_id) for file_id in file_ids] if inline else []
    now = svc.clock.now()
    record = vs.new_vector_store(
        now,
        _field(request, "name"),
        _field(request, "metadata"),
        _field(request, "expires_after"),
    )
    svc.store.put_vector_store(project, record)
    strategy = vs.resolve_strategy(_field(request, "chunking_strategy"))
    if not inline:
        requested = [(f, _field(request, "chunking_strategy"), None) for f in file_ids]
        start_file_batch(svc, project, record["id"], vs.batch_entries(requested))
    for file in files:
        outcome = add_resolved_file(svc, project, record["id"], file, strategy, None, None)
        _added(svc, project, record["id"], *outcome)
    return get_vector_store(svc, project, record["id"]) if file_ids else record


def list_vector_stores(svc: Services, project: str, page: PageRequest) -> Page:
    return svc.store.list_vector_stores(project, page)


def modify_vector_store(
    svc: Services, project: str, vector_store_id: str, request: ModifyVectorStore
) -> Record:
    current = get_vector_store(svc, project, vector_store_id)
    given = request.model_dump(exclude_unset=True)
    changes: dict[str, Any] = {}
    if "name" in given:
        changes["name"] = given["name"]  # null clears it (sent as "")
    if "metadata" in given:
        changes["metadata"] = given["metadata"] or {}
    if "expires_after" in given and not current.get("expired"):
        anchor = int(current.get("last_active_at") or current["created_at"])
        changes["expires_after"] = given["expires_after"]
        changes["expires_at"] = vs.expires_at(given["expires_after"], anchor)
    if not changes:
        return current
    updated = svc.store.update_vector_store(project, vector_store_id, changes)
    if updated is None:
        raise vs.vector_store_not_found(vector_store_id)
    return updated


def delete_vector_store(svc: Services, project: str, vector_store_id: str) -> dict[str, Any]:
    """Delete the store, its file records, batches and chunks; the files themselves remain.

    The store answers 404 at once. Up to `delete_inline_items` file records go in the request
    (and then the chunks); a larger store's remainder goes to a purge job.
    """
    _require_store_id(vector_store_id)
    if svc.store.delete_vector_store(project, vector_store_id) is None:
        raise vs.vector_store_not_found(vector_store_id)
    inline = svc.settings.delete_inline_items
    if svc.store.purge_vector_store(project, vector_store_id, max_items=inline):
        svc.vectors.delete_store(project, vector_store_id)
    else:
        hand_off(svc, purge_vector_store_job(project, vector_store_id))
    return {"id": vector_store_id, "object": "vector_store.deleted", "deleted": True}


def purge_deleted_vector_store(svc: Services, project: str, vector_store_id: str) -> bool:
    """The purge job: a deleted store's records in rounds, then its chunks; True when done.

    A job naming a store that exists does nothing. Ingestion that finishes late finds the store
    gone and drops the chunks it wrote (ingestion.py).
    """
    if not is_valid_id("vector_store", vector_store_id):
        return True
    if svc.store.get_vector_store(project, vector_store_id) is not None:
        log.warning("ignoring a purge job for a vector store that exists: %s", vector_store_id)
        return True
    for _ in range(_PURGE_ROUNDS):
        if svc.store.purge_vector_store(project, vector_store_id):
            svc.vectors.delete_store(project, vector_store_id)
            return True
    svc.dispatcher.send(purge_vector_store_job(project, vector_store_id))  # the next pass
    return False


def touch_vector_stores(svc: Services, project: str, vector_store_ids: list[str]) -> None:
    """The stores were used (a search, a run's file_search): `last_active_at` moves to now, and
    so does `expires_at` for a store that expires after inactivity."""
    for vector_store_id in vector_store_ids:
        record = svc.store.get_vector_store(project, vector_store_id)
        if record is not None:
            touch_vector_store(svc, project, record)


def touch_vector_store(svc: Services, project: str, record: Record) -> None:
    """`touch_vector_stores` for a store already read (at most one write per store a second)."""
    now = svc.clock.now()
    if record.get("expired") or record.get("last_active_at") == now:
        return
    due = vs.expires_at(record.get("expires_after"), now)
    svc.store.touch_vector_store(project, record["id"], now, due)


def pending_files(svc: Services, project: str, vector_store_ids: list[str]) -> int:
    """How many files of these stores are still being ingested (unknown stores count 0)."""
    total = 0
    for vector_store_id in vector_store_ids:
        if not is_valid_id("vector_store", vector_store_id):
            continue
        record = svc.store.get_vector_store(project, vector_store_id)
        if record is not None:
            total += vs.file_counts(record)[vs.IN_PROGRESS]
    return total


# -- vector store files --------------------------------------------------------------------


def add_file(
    svc: Services,
    project: str,
    vector_store_id: str,
    file_id: str,
    chunking_strategy: dict[str, Any] | None = None,
    attributes: dict[str, Any] | None = None,
) -> Record:
    """Add a file to a store (it ingests in the background); a file already there is returned
    as it is."""
    from .files import get_file

    usable_vector_store(svc, project, vector_store_id)
    file = get_file(svc, project, file_id)
    strategy = vs.resolve_strategy(chunking_strategy)
    outcome = add_resolved_file(svc, project, vector_store_id, file, strategy, attributes, None)
    return _added(svc, project, vector_store_id, *outcome)


def _added(
    svc: Services, project: str, vector_store_id: str, outcome: str, stored: Record
) -> Record:
    """The file added in a request, or the error its outcome is."""
    if outcome == AddOutcome.NO_STORE:
        raise vs.vector_store_not_found(vector_store_id)
    if outcome == AddOutcome.EXPIRED:
        raise vs.vector_store_expired(vector_store_id)
    return stored


def add_resolved_file(
    svc: Services,
    project: str,
    vector_store_id: str,
    file: Record,
    strategy: dict[str, Any],
    attributes: dict[str, Any] | None,
    batch_id: str | None,
    entry: EntryKey | None = None,
) -> tuple[str, Record]:
    """The one way a file joins a store: its record in_progress, counts with it, then its
    ingestion job. With a batch `entry` (the worker adding a batch's files) the counts were
    taken when the batch was created. (outcome, record) as the store's add answers."""
    now = svc.clock.now()
    record = vs.new_vector_store_file(
        vector_store_id,
        file["id"],
        now,
        filename=file.get("filename") or "",
        chunking_strategy=strategy,
        attributes=attributes,
        batch_id=batch_id,
    )
    due = now + svc.settings.ingest_resend_after_seconds
    outcome, stored = svc.store.add_vector_store_file(project, record, due, entry)
    if outcome == AddOutcome.ADDED:
        # A lost send is logged: the sweeper re-sends the file's job (INGEST_RESEND_AFTER_SECONDS).
        hand_off(svc, ingest_job(project, vector_store_id, file["id"]))
    return outcome, stored


def get_vector_store_file(
    svc: Services, project: str, vector_store_id: str, file_id: str
) -> Record:
    get_vector_store(svc, project, vector_store_id)
    record = None
    if is_valid_id("file", file_id):
        record = svc.store.get_vector_store_file(project, vector_store_id, file_id)
    if record is None:
        raise vs.vector_store_file_not_found(vector_store_id, file_id)
    return record


def list_vector_store_files(
    svc: Services,
    project: str,
    vector_store_id: str,
    page: PageRequest,
    status: str | None = None,
) -> Page:
    get_vector_store(svc, project, vector_store_id)
    return svc.store.list_vector_store_files(project, vector_store_id, page, status)


def update_file_attributes(
    svc: Services,
    project: str,
    vector_store_id: str,
    file_id: str,
    attributes: dict[str, Any] | None,
) -> Record:
    """Replace a file's attributes. Search checks them at once; a completed file's chunks are
    indexed again with them in the background (a file still ingesting picks them up itself)."""
    get_vector_store_file(svc, project, vector_store_id, file_id)
    updated = svc.store.update_vector_store_file(
        project, vector_store_id, file_id, {"attributes": attributes or {}}
    )
    if updated is None:
        raise vs.vector_store_file_not_found(vector_store_id, file_id)
    if updated.get("status") == vs.COMPLETED:
        hand_off(svc, ingest_job(project, vector_store_id, file_id, refresh=True))
    return updated


def delete_vector_store_file(
    svc: Services, project: str, vector_store_id: str, file_id: str
) -> dict[str, Any]:
    """Take a file out of a store (counts fixed, chunks dropped); the file itself remains."""
    get_vector_store(svc, project, vector_store_id)
    removed = None
    if is_valid_id("file", file_id):
        removed = svc.store.remove_vector_store_file(
            project, vector_store_id, file_id, svc.clock.now()
        )
    if removed is None:
        raise vs.vector_store_file_not_found(vector_store_id, file_id)
    svc.vectors.delete_file(project, vector_store_id, file_id)
    return {"id": file_id, "object": "vector_store.file.deleted", "deleted": True}


def remove_file_from_all_stores(svc: Services, project: str, file_id: str) -> int:
    """The cascade of a file delete (the `file_deleted` job): out of every store of the project.

    Idempotent: a second delivery finds no store holding the file.
    """
    removed = 0
    now = svc.clock.now()
    for vector_store_id in svc.store.stores_holding_file(project, file_id):
        if svc.store.remove_vector_store_file(project, vector_store_id, file_id, now):
            removed += 1
        svc.vectors.delete_file(project, vector_store_id, file_id)
    return removed


def file_content(svc: Services, project: str, vector_store_id: str, file_id: str) -> dict[str, Any]:
    """The parsed content of a vector store file: its chunks as they were indexed (the text is
    extracted and chunked again, with the file's strategy: the same function of the same bytes).
    """
    from ..domain.chunking import chunk_text
    from ..domain.extraction import ExtractionError, extract_text
    from .files import read_file_content

    record = get_vector_store_file(svc, project, vector_store_id, file_id)
    chunks: list[str] = []
    if record["status"] == vs.COMPLETED:
        try:
            text = extract_text(
                record.get("filename") or "", read_file_content(svc, project, file_id)
            )
        except ExtractionError:
            text = ""
        static = record["chunking_strategy"]["static"]
        chunks = chunk_text(text, static["max_chunk_size_tokens"], static["chunk_overlap_tokens"])
    return {
        "object": "vector_store.file_content.page",
        "data": [{"type": "text", "text": chunk} for chunk in chunks],
        "has_more": False,
        "next_page": None,
    }


# -- file batches --------------------------------------------------------------------------


def create_file_batch(
    svc: Services, project: str, vector_store_id: str, request: CreateFileBatch
) -> Record:
    """A batch of files, answered at once `in_progress` with every file counted; the worker adds
    them (services/batch_files.py) and each then ingests on its own. A file given twice is
    added once; a file that does not exist (or no longer) ends `failed` in the batch's counts."""
    usable_vector_store(svc, project, vector_store_id)
    default_strategy = request.chunking_strategy
    requested: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]] = []
    if request.files is not None:
        for item in request.files:
            requested.append(
                (
                    item.file_id,
                    item.chunking_strategy or default_strategy,
                    item.attributes if item.attributes is not None else request.attributes,
                )
            )
    else:
        requested = [(f, default_strategy, request.attributes) for f in request.file_ids or []]
    return start_file_batch(svc, project, vector_store_id, vs.batch_entries(requested))


def start_file_batch(
    svc: Services, project: str, vector_store_id: str, entries: list[vs.BatchEntry]
) -> Record:
    """Write a batch's entries (a transaction per slice), then the batch with them counted
    in_progress, then one `add_batch_files` job per slice (IDs only). The batch is written
    last: a request that dies before it leaves slices the sweeper finds without a batch and
    drops, never a batch waiting for entries that were not written."""
    now = svc.clock.now()
    batch = vs.new_file_batch(vector_store_id, now, pending=len(entries))
    due = now + svc.settings.ingest_resend_after_seconds
    pieces = vs.slices(entries, SLICE_ENTRIES)
    for number, piece in enumerate(pieces):
        svc.store.put_batch_slice(project, vector_store_id, batch["id"], number, piece, due)
    if not svc.store.put_file_batch(project, batch):
        usable_vector_store(svc, project, vector_store_id)  # raises 404 or 400
    for number in range(len(pieces)):
        # A lost send is logged: the sweeper re-sends the slice (INGEST_RESEND_AFTER_SECONDS).
        hand_off(svc, add_batch_files_job(project, vector_store_id, batch["id"], number))
    return dict(batch)


def get_file_batch(svc: Services, project: str, vector_store_id: str, batch_id: str) -> Record:
    get_vector_store(svc, project, vector_store_id)
    record = None
    if is_valid_id("file_batch", batch_id):
        record = svc.store.get_file_batch(project, vector_store_id, batch_id)
    if record is None:
        raise vs.file_batch_not_found(batch_id)
    return record


def cancel_file_batch(svc: Services, project: str, vector_store_id: str, batch_id: str) -> Record:
    """Cancel a batch: its files still in progress become `cancelled` (their chunks dropped);
    files already done stay as they are."""
    batch = get_file_batch(svc, project, vector_store_id, batch_id)
    if vs.batch_status(batch) != vs.IN_PROGRESS:
        return batch
    # Entries not added yet are counted cancelled at once; the worker adds none of them later.
    svc.store.cancel_pending_entries(project, vector_store_id, batch_id)
    while True:
        page = svc.store.list_vector_store_files(
            project,
            vector_store_id,
            PageRequest(limit=100, order="asc"),
            status=vs.IN_PROGRESS,
            batch_id=batch_id,
        )
        for record in page.items:
            if svc.store.finish_vector_store_file(project, record, vs.CANCELLED, {}):
                svc.vectors.delete_file(project, vector_store_id, record["id"])
        if not page.has_more:
            break
    return get_file_batch(svc, project, vector_store_id, batch_id)


def list_batch_files(
    svc: Services,
    project: str,
    vector_store_id: str,
    batch_id: str,
    page: PageRequest,
    status: str | None = None,
) -> Page:
    get_file_batch(svc, project, vector_store_id, batch_id)
    return svc.store.list_vector_store_files(project, vector_store_id, page, status, batch_id)
