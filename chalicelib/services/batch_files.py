"""The worker's side of a file batch (the `add_batch_files` job): add one slice's entries.

A batch request only writes its entries and answers (vector_stores.start_file_batch); this job
adds each entry still pending in the slice, through the one add there is
(vector_stores.add_resolved_file, which sends the file's ingestion job). Delivered at least
once: an entry already added or resolved is skipped by the add's own condition, and a cancelled
batch's entries are never added (the cancel counted them). An entry whose file is gone fails in
the batch's counts without a vector store file (a deleted file leaves every store, so a store
never lists it); a file the store already holds is skipped, as a batch always did. A job whose
store was deleted stops and leaves the rest to the purge. A lost job is re-sent by the sweeper
(`recover_batch_slices`), and after INGEST_MAX_ATTEMPTS the slice's pending entries fail.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict

from ..dispatch.base import add_batch_files_job
from ..domain import vector_stores as vs
from ..domain.errors import ApiError
from ..store.batch_entry_records import SliceRef
from ..store.vector_store_records import AddOutcome
from .context import Services

log = logging.getLogger(__name__)


def add_batch_files(
    svc: Services, project: str, vector_store_id: str, batch_id: str, slice_number: int
) -> int:
    """Add the slice's pending entries; how many files were added."""
    from .files import get_file
    from .vector_stores import add_resolved_file

    store = svc.store
    if store.get_file_batch(project, vector_store_id, batch_id) is None:
        # The store (or the batch's request) is gone: nothing to add, the slice goes.
        store.drop_batch_slice(project, vector_store_id, batch_id, slice_number)
        return 0
    added = 0
    for entry_key, entry in store.pending_entries(project, vector_store_id, batch_id, slice_number):
        try:
            file = get_file(svc, project, entry["file_id"])
        except ApiError:  # unknown, deleted or expired: the entry fails
            store.resolve_entry(project, vector_store_id, entry_key, vs.FAILED)
            continue
        outcome, _ = add_resolved_file(
            svc,
            project,
            vector_store_id,
            file,
            entry["chunking_strategy"],
            entry["attributes"],
            batch_id,
            entry_key,
        )
        if outcome == AddOutcome.ADDED:
            added += 1
        elif outcome == AddOutcome.EXISTS:
            store.resolve_entry(project, vector_store_id, entry_key, None)
        elif outcome == AddOutcome.EXPIRED:
            store.resolve_entry(project, vector_store_id, entry_key, vs.FAILED)
        elif outcome == AddOutcome.NO_STORE:
            return added  # deleted mid-way: the purge removes the rest
    store.drop_batch_slice(project, vector_store_id, batch_id, slice_number)
    return added


def fail_batch_slice(svc: Services, ref: SliceRef) -> int:
    """A slice whose job never finished: its pending entries end failed; how many did."""
    store = svc.store
    failed = 0
    for entry_key, _ in store.pending_entries(
        ref.project, ref.vector_store_id, ref.batch_id, ref.slice_number
    ):
        failed += store.resolve_entry(ref.project, ref.vector_store_id, entry_key, vs.FAILED)
    store.drop_batch_slice(ref.project, ref.vector_store_id, ref.batch_id, ref.slice_number)
    return failed


def recover_batch_slice(svc: Services, ref: SliceRef, now: int) -> str:
    """A slice past its deadline: its job was lost or its worker died. Dropped if its batch is
    gone, sent again (fenced on the attempt, so two sweeps send it once), or, after
    `ingest_max_attempts` deliveries, failed. What happened: dropped, resent, failed or none."""
    store = svc.store
    marker = store.get_batch_slice(ref.project, ref.vector_store_id, ref.batch_id, ref.slice_number)
    if marker is None:
        return "none"
    if store.get_file_batch(ref.project, ref.vector_store_id, ref.batch_id) is None:
        store.drop_batch_slice(ref.project, ref.vector_store_id, ref.batch_id, ref.slice_number)
        return "dropped"
    attempt = int(marker.get("attempt", 1))
    if attempt >= svc.settings.ingest_max_attempts:
        fail_batch_slice(svc, ref)
        log.info(json.dumps({"event": "batch_slice_failed", **asdict(ref), "attempt": attempt}))
        return "failed"
    due = now + svc.settings.ingest_resend_after_seconds
    if not store.reschedule_batch_slice(ref, attempt, due):
        return "none"
    job = add_batch_files_job(ref.project, ref.vector_store_id, ref.batch_id, ref.slice_number)
    svc.dispatcher.send(job)
    return "resent"
