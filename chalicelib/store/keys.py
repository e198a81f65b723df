"""Key builders: everything a thread owns lives in the thread's partition (see README, Design)."""

from __future__ import annotations

import hashlib

THREAD_SK = "THREAD"
MSG = "MSG#"
RUN = "RUN#"
STEP = "STEP#"
ASST = "ASST#"
FILE = "FILE#"
API_KEY_SK = "KEY"
# Sort-key bounds: every ID character is in [0-9A-Za-z], all between "!" and "~" in ASCII.
BELOW_IDS = "!"
ABOVE_IDS = "~"


def thread_pk(project: str, thread_id: str) -> str:
    return f"P#{project}#T#{thread_id}"


def assistants_pk(project: str) -> str:
    return f"P#{project}#ASST"


def files_pk(project: str) -> str:
    """A project's files (their records; the content is a blob, see store/blobs.py)."""
    return f"P#{project}#FILES"


def project_of_files_pk(pk: str) -> str:
    return pk[len("P#") : -len("#FILES")]


def run_sk(run_id: str) -> str:
    return RUN + run_id


def step_prefix(run_id: str) -> str:
    return f"{STEP}{run_id}#"


def step_sk(run_id: str, step_id: str) -> str:
    return step_prefix(run_id) + step_id


def split_thread_pk(pk: str) -> tuple[str, str]:
    """(project, thread_id) from a thread partition key."""
    head, _, thread_id = pk.rpartition("#T#")
    return head[len("P#") :], thread_id


def api_key_pk(key_hash: str) -> str:
    return f"KEY#{key_hash}"


def project_keys_pk(project: str) -> str:
    """A project's API keys, listed by hash (the items `api_key_pk` finds by hash)."""
    return f"P#{project}#KEYS"


# The two sparse indexes: their names, and the attributes that hold each one's keys.
ACTIVE_INDEX = "active"
PENDING_INDEX = "pending"
INDEX_KEY_ATTRS = {ACTIVE_INDEX: ("gsi1pk", "gsi1sk"), PENDING_INDEX: ("gsi2pk", "gsi2sk")}
INDEX_ATTRS = ("gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")
# An index partition kind: which index it lives in. The pending index has two kinds: runs waiting
# for a worker or to let go (queued, cancelling: by when they began waiting), and executing runs
# by when their worker's lease runs out (in_progress), so each sweep query reads only its own.
ACTIVE = "ACTIVE"
PENDING = "PENDING"
LEASE = "LEASE"
# Files with an `expires_at` are in the active index too, in partitions of their own, by when
# they expire: the sweeper finds expired files without a scan.
FILE_EXPIRY = "FILEEXP"
# Vector stores: files being ingested (pending index, by when the sweeper should look again)
# and stores with an expiry (active index, by expires_at).
INGESTING = "INGESTING"
VS_EXPIRY = "VSEXPIRY"
# Slices of file batches still to be added by the worker (pending index, by when the sweeper
# should re-send the slice's job).
BATCH_ADD = "BATCHADD"
INDEX_OF = {
    ACTIVE: ACTIVE_INDEX,
    PENDING: PENDING_INDEX,
    LEASE: PENDING_INDEX,
    FILE_EXPIRY: ACTIVE_INDEX,
    INGESTING: PENDING_INDEX,
    VS_EXPIRY: ACTIVE_INDEX,
    BATCH_ADD: PENDING_INDEX,
}


def index_partition(kind: str, shard: int) -> str:
    return f"{kind}#{shard}"


def index_sort_key(at: int, run_id: str) -> str:
    return f"{at:012d}#{run_id}"


def index_time(sort_key: str) -> int:
    return int(sort_key.split("#", 1)[0])


def shard_of(run_id: str, shards: int) -> int:
    return int(hashlib.blake2b(run_id.encode(), digest_size=4).hexdigest(), 16) % shards


def active_index_keys(run_id: str, expires_at: int, shards: int) -> dict[str, str]:
    """Sparse index `active`: only active runs carry these, sorted by deadline."""
    return {
        "gsi1pk": index_partition(ACTIVE, shard_of(run_id, shards)),
        "gsi1sk": index_sort_key(expires_at, run_id),
    }


def pending_index_keys(run_id: str, since: int, shards: int) -> dict[str, str]:
    """Sparse index `pending`: runs waiting for a worker (queued) or to let go (cancelling)."""
    return {
        "gsi2pk": index_partition(PENDING, shard_of(run_id, shards)),
        "gsi2sk": index_sort_key(since, run_id),
    }


def lease_index_keys(run_id: str, lease_until: int, shards: int) -> dict[str, str]:
    """Sparse index `pending`, lease partitions: executing runs, by when their lease lapses."""
    return {
        "gsi2pk": index_partition(LEASE, shard_of(run_id, shards)),
        "gsi2sk": index_sort_key(lease_until, run_id),
    }


# -- vector stores (their own partitions; see store.py, "vector stores") -------------------
VS = "VS#"
VS_FILE = "FILE#"
VS_BATCH = "BATCH#"
# A batch's entries still to add (BENTRY#<batch>#<slice>#<file>) and each slice's marker
# (BSLICE#<batch>#<slice>), which carries the slice's place in the sweeper's index.
VS_BATCH_ENTRY = "BENTRY#"
VS_BATCH_SLICE = "BSLICE#"


def batch_slice_sk(batch_id: str, slice_number: int) -> str:
    return f"{VS_BATCH_SLICE}{batch_id}#{slice_number:04d}"


def batch_entries_prefix(batch_id: str, slice_number: int) -> str:
    return f"{VS_BATCH_ENTRY}{batch_id}#{slice_number:04d}#"


def split_batch_slice_sk(sort_key: str) -> tuple[str, int]:
    """(batch_id, slice number) from a slice marker's sort key."""
    batch_id, _, number = sort_key[len(VS_BATCH_SLICE) :].rpartition("#")
    return batch_id, int(number)


def vector_stores_pk(project: str) -> str:
    """A project's vector stores, listed by ID."""
    return f"P#{project}#VS"


def project_of_vector_stores_pk(pk: str) -> str:
    return pk[len("P#") : -len("#VS")]


def vector_store_pk(project: str, vector_store_id: str) -> str:
    """One vector store's files and file batches."""
    return f"P#{project}#VS#{vector_store_id}"


def file_stores_pk(project: str, file_id: str) -> str:
    """The vector stores holding a file (sort keys VS#<id>): for the cascade of a file delete."""
    return f"P#{project}#FVS#{file_id}"


def split_vector_store_pk(pk: str) -> tuple[str, str]:
    """(project, vector_store_id) from a vector store partition key."""
    head, _, vector_store_id = pk.rpartition("#VS#")
    return head[len("P#") :], vector_store_id


def ingesting_index_keys(
    vector_store_id: str, file_id: str, due: int, shards: int
) -> dict[str, str]:
    """Pending index, ingestion partitions: a file in_progress, by when the sweeper looks again."""
    return {
        "gsi2pk": index_partition(INGESTING, shard_of(file_id, shards)),
        "gsi2sk": f"{due:012d}#{vector_store_id}#{file_id}",
    }


def batch_add_index_keys(
    vector_store_id: str, batch_id: str, slice_number: int, due: int, shards: int
) -> dict[str, str]:
    """Pending index, batch partitions: a slice of a batch still to add, by when it is due."""
    return {
        "gsi2pk": index_partition(BATCH_ADD, shard_of(batch_id, shards)),
        "gsi2sk": f"{due:012d}#{vector_store_id}#{batch_id}#{slice_number:04d}",
    }


def expiry_index_keys(vector_store_id: str, expires_at: int, shards: int) -> dict[str, str]:
    """Active index, expiry partitions: a store with `expires_after`, by its `expires_at`."""
    return {
        "gsi1pk": index_partition(VS_EXPIRY, shard_of(vector_store_id, shards)),
        "gsi1sk": index_sort_key(expires_at, vector_store_id),
    }


def file_expiry_index_keys(file_id: str, expires_at: int, shards: int) -> dict[str, str]:
    """Sparse index `active`, file-expiry partitions: files by when they expire."""
    return {
        "gsi1pk": index_partition(FILE_EXPIRY, shard_of(file_id, shards)),
        "gsi1sk": index_sort_key(expires_at, file_id),
    }
