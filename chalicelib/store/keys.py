"""Key builders: everything a thread owns lives in the thread's partition (see README, Design)."""

from __future__ import annotations

import hashlib

THREAD_SK = "THREAD"
MSG = "MSG#"
RUN = "RUN#"
STEP = "STEP#"
ASST = "ASST#"
API_KEY_SK = "KEY"
# Sort-key bounds: every ID character is in [0-9A-Za-z], all between "!" and "~" in ASCII.
BELOW_IDS = "!"
ABOVE_IDS = "~"


def thread_pk(project: str, thread_id: str) -> str:
    return f"P#{project}#T#{thread_id}"


def assistants_pk(project: str) -> str:
    return f"P#{project}#ASST"


def run_sk(run_id: str) -> str:
    return RUN + run_id


def step_prefix(run_id: str) -> str:
    return f"{STEP}{run_id}#"


def step_sk(run_id: str, step_id: str) -> str:
    return step_prefix(run_id) + step_id


def api_key_pk(key_hash: str) -> str:
    return f"KEY#{key_hash}"


def shard_of(run_id: str, shards: int) -> int:
    return int(hashlib.blake2b(run_id.encode(), digest_size=4).hexdigest(), 16) % shards


def active_index_keys(run_id: str, expires_at: int, shards: int) -> dict[str, str]:
    """Sparse index `active`: only active runs carry these, sorted by deadline."""
    return {
        "gsi1pk": f"ACTIVE#{shard_of(run_id, shards)}",
        "gsi1sk": f"{expires_at:012d}#{run_id}",
    }


def pending_index_keys(run_id: str, since: int, shards: int) -> dict[str, str]:
    """Sparse index `pending`: runs waiting for a worker (queued) or to let go (cancelling)."""
    return {
        "gsi2pk": f"PENDING#{shard_of(run_id, shards)}",
        "gsi2sk": f"{since:012d}#{run_id}",
    }
