"""Vector stores, their files and file batches: records, statuses and wire objects.

A store and a batch keep their file counts as top-level numbers (`n_in_progress`, ...), so the
store can move them with increments inside the transaction that changes a file's status; their
`status` is derived from the counts when the object is sent, never stored, so it cannot drift
from them. A vector store file's `status` is stored: it is what every conditional write checks.
"""

from __future__ import annotations

from typing import Any, Final, TypedDict

from .ids import new_id

Record = dict[str, Any]


class VectorStoreRecord(TypedDict, total=False):
    id: str
    object: str  # "vector_store"
    created_at: int
    name: str | None  # sent as "" when unset
    usage_bytes: int
    expires_after: dict[str, Any] | None
    expires_at: int | None
    last_active_at: int
    metadata: dict[str, str]
    # Internal: the counters `file_counts` and `status` are derived from, and the expiry mark.
    n_in_progress: int
    n_completed: int
    n_failed: int
    n_cancelled: int
    n_total: int
    expired: bool


class VectorStoreFileRecord(TypedDict, total=False):
    id: str  # the file's ID
    object: str  # "vector_store.file"
    usage_bytes: int
    created_at: int
    vector_store_id: str
    status: str  # in_progress | completed | failed | cancelled (| deleted: internal)
    last_error: dict[str, str] | None
    chunking_strategy: dict[str, Any]
    attributes: dict[str, Any]
    # Internal.
    filename: str  # the file's name when it was added (search results carry it)
    batch_id: str | None  # the batch that added it
    chunk_count: int
    attempt: int  # deliveries of its ingestion job so far (fences the sweeper's re-sends)
    listed: str  # "1" on a live file: what lists filter on (a tombstone has none)


class FileBatchRecord(TypedDict, total=False):
    id: str
    object: str  # "vector_store.files_batch"
    created_at: int
    vector_store_id: str
    # Internal: the counters `file_counts` and `status` are derived from, and the cancel mark.
    n_in_progress: int
    n_completed: int
    n_failed: int
    n_cancelled: int
    n_total: int
    # Entries the batch still has to add (pre-counted in_progress in the batch and its store):
    # the worker's add and the cancel each take them off, so one of them counts each entry.
    n_pending: int
    cancelled: bool


class BatchEntry(TypedDict):
    """A file a batch still has to add: what the worker needs to add it (`add_batch_files`)."""

    file_id: str
    chunking_strategy: dict[str, Any]  # resolved (as the file object reports it)
    attributes: dict[str, Any] | None


IN_PROGRESS: Final = "in_progress"
COMPLETED: Final = "completed"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"
EXPIRED: Final = "expired"
# A vector store file being removed: its counts are already taken off the store, the item goes
# next (an engine transaction cannot delete). Never sent; reads treat it as absent.
DELETED: Final = "deleted"
FILE_STATUSES: Final = (IN_PROGRESS, COMPLETED, FAILED, CANCELLED)
COUNT_OF: Final = {status: f"n_{status}" for status in FILE_STATUSES}
TOTAL: Final = "n_total"
COUNT_ATTRS: Final = (*COUNT_OF.values(), TOTAL)

# The hosted API's `auto` strategy (documented: 800-token chunks overlapping by 400).
AUTO_MAX_CHUNK_TOKENS: Final = 800
AUTO_CHUNK_OVERLAP_TOKENS: Final = 400
DAY_SECONDS: Final = 86_400

VECTOR_STORE_KEYS = (
    "id", "object", "created_at", "name", "usage_bytes", "file_counts", "status",
    "expires_after", "expires_at", "last_active_at", "metadata",
)  # fmt: skip
VECTOR_STORE_FILE_KEYS = (
    "id", "object", "usage_bytes", "created_at", "vector_store_id", "status", "last_error",
    "chunking_strategy", "attributes",
)  # fmt: skip
FILE_BATCH_KEYS = ("id", "object", "created_at", "vector_store_id", "status", "file_counts")


def file_counts(record: Record) -> dict[str, int]:
    """The wire `file_counts` of a store or batch record."""
    counts = {status: int(record.get(attr, 0)) for status, attr in COUNT_OF.items()}
    counts["total"] = int(record.get(TOTAL, 0))
    return counts


def static_strategy(max_chunk_size_tokens: int, chunk_overlap_tokens: int) -> dict[str, Any]:
    return {
        "type": "static",
        "static": {
            "max_chunk_size_tokens": max_chunk_size_tokens,
            "chunk_overlap_tokens": chunk_overlap_tokens,
        },
    }


def resolve_strategy(request: dict[str, Any] | None) -> dict[str, Any]:
    """A request's chunking strategy as the file object reports it: `auto` is shown as the
    static sizes it stands for, as the hosted API did."""
    if request is None or request.get("type") == "auto":
        return static_strategy(AUTO_MAX_CHUNK_TOKENS, AUTO_CHUNK_OVERLAP_TOKENS)
    return static_strategy(**request["static"])


def expires_at(expires_after: dict[str, Any] | None, last_active_at: int) -> int | None:
    if not expires_after:
        return None
    return last_active_at + int(expires_after["days"]) * DAY_SECONDS


def new_vector_store(
    now: int,
    name: str | None,
    metadata: dict[str, str] | None,
    expires_after: dict[str, Any] | None,
) -> VectorStoreRecord:
    return {
        "id": new_id("vector_store"),
        "object": "vector_store",
        "created_at": now,
        "name": name,
        "usage_bytes": 0,
        "expires_after": expires_after,
        "expires_at": expires_at(expires_after, now),
        "last_active_at": now,
        "metadata": metadata or {},
        "n_in_progress": 0,
        "n_completed": 0,
        "n_failed": 0,
        "n_cancelled": 0,
        "n_total": 0,
    }


def new_vector_store_file(
    vector_store_id: str,
    file_id: str,
    now: int,
    *,
    filename: str,
    chunking_strategy: dict[str, Any],
    attributes: dict[str, Any] | None,
    batch_id: str | None = None,
) -> VectorStoreFileRecord:
    return {
        "id": file_id,
        "object": "vector_store.file",
        "usage_bytes": 0,
        "created_at": now,
        "vector_store_id": vector_store_id,
        "status": IN_PROGRESS,
        "last_error": None,
        "chunking_strategy": chunking_strategy,
        "attributes": attributes or {},
        # internal
        "filename": filename,
        "batch_id": batch_id,
    }


def new_file_batch(vector_store_id: str, now: int, pending: int = 0) -> FileBatchRecord:
    """A batch whose `pending` entries are counted in_progress from the start (as the hosted
    API answered a batch: in_progress with every file counted), the worker adding them later."""
    return {
        "id": new_id("file_batch"),
        "object": "vector_store.files_batch",
        "created_at": now,
        "vector_store_id": vector_store_id,
        "n_in_progress": pending,
        "n_completed": 0,
        "n_failed": 0,
        "n_cancelled": 0,
        "n_total": pending,
        "n_pending": pending,
    }


def batch_entries(
    requested: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]],
) -> list[BatchEntry]:
    """The entries of a batch request, (file ID, chunking strategy, attributes) each: a file
    given twice is added once, with what it was first given."""
    entries: dict[str, BatchEntry] = {}
    for file_id, strategy, attributes in requested:
        if file_id not in entries:
            entries[file_id] = {
                "file_id": file_id,
                "chunking_strategy": resolve_strategy(strategy),
                "attributes": attributes,
            }
    return list(entries.values())


def slices(entries: list[BatchEntry], size: int) -> list[list[BatchEntry]]:
    """The entries cut into slices of at most `size`, one worker job each."""
    return [entries[start : start + size] for start in range(0, len(entries), size)]


def store_status(record: Record) -> str:
    if record.get("expired"):
        return EXPIRED
    return IN_PROGRESS if int(record.get(COUNT_OF[IN_PROGRESS], 0)) > 0 else COMPLETED


def batch_status(record: Record) -> str:
    counts = file_counts(record)
    if record.get("cancelled"):
        return CANCELLED
    if counts[IN_PROGRESS] > 0:
        return IN_PROGRESS
    if counts["total"] > 0 and counts[FAILED] == counts["total"]:
        return FAILED
    return COMPLETED


def vector_store_wire(record: Record) -> Record:
    wire = {key: record.get(key) for key in VECTOR_STORE_KEYS}
    # The spec's `name` is a non-null string (the SDK's model too): an unnamed store has "".
    wire["name"] = record.get("name") or ""
    wire["usage_bytes"] = int(record.get("usage_bytes", 0))
    wire["file_counts"] = file_counts(record)
    wire["status"] = store_status(record)
    wire["metadata"] = record.get("metadata") or {}
    if wire["expires_after"] is None:
        # Optional and not nullable in the spec (the hosted API sent null): left out when unset.
        del wire["expires_after"]
    return wire


def vector_store_file_wire(record: Record) -> Record:
    wire = {key: record.get(key) for key in VECTOR_STORE_FILE_KEYS}
    wire["usage_bytes"] = int(record.get("usage_bytes", 0))
    wire["attributes"] = record.get("attributes") or {}
    return wire


def file_batch_wire(record: Record) -> Record:
    wire = {key: record.get(key) for key in FILE_BATCH_KEYS}
    wire["status"] = batch_status(record)
    wire["file_counts"] = file_counts(record)
    return wire


def is_live(record: Record | None) -> bool:
    """A vector store file that exists for clients (not absent, not being deleted)."""
    return record is not None and record.get("status") != DELETED


# -- errors (the hosted API's words where known) ----------------------------------------------


def vector_store_not_found(vector_store_id: str) -> Any:
    from .errors import NotFound

    return NotFound("vector store", vector_store_id)


def vector_store_file_not_found(vector_store_id: str, file_id: str) -> Any:
    from .errors import ApiError

    return ApiError(
        f"No file found with id '{file_id}' in vector store '{vector_store_id}'.", status=404
    )


def file_batch_not_found(batch_id: str) -> Any:
    from .errors import NotFound

    return NotFound("file batch", batch_id)


def vector_store_expired(vector_store_id: str) -> Any:
    from .errors import InvalidRequest

    return InvalidRequest(
        f"Vector store {vector_store_id} is expired. Create a new vector store and try again.",
        code="vector_store_expired",
    )
