"""Settings, read from the environment when first needed (never at import).

Each setting is declared once, as a field of `Settings`: its name, type and default, and (in
`_setting`/`_about`) its environment variable and meaning. `load_settings` reads every field
from its variable and fails with a message naming the variable when a value does not parse.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The embedded engine's file, under DATA_DIR (items, and the local vector index beside them).
DATABASE_FILE = "assistants.sqlite3"


class SettingsError(ValueError):
    """An environment variable holds a value its setting cannot take."""


def _setting(env: str, default: Any, meaning: str) -> Any:
    """A field read from the environment variable `env`; `default` when unset or empty."""
    return field(default=default, metadata=_about(env, meaning))


def _about(env: str, meaning: str) -> dict[str, str]:
    return {"env": env, "meaning": meaning}


@dataclass(frozen=True)
class Settings:
    # Only "local" accepts any key; unset ("") or any other name checks keys (fail closed).
    stage: str = _setting("STAGE", "", "the chalice stage; only `local` accepts any key")
    table_name: str = _setting("TABLE_NAME", "assistants-runs", "the DynamoDB table")
    store_engine: str = _setting(
        "STORE_ENGINE", "dynamodb", "sqlite (the local default) or dynamodb (deployed)"
    )
    data_dir: str = _setting(
        "DATA_DIR", str(ROOT / ".data"), "the embedded engine's directory (local stage)"
    )
    run_expires_after_seconds: int = _setting(
        "RUN_EXPIRES_AFTER_SECONDS", 600, "expires_at = created_at + this"
    )
    active_index_shards: int = _setting(
        "ACTIVE_INDEX_SHARDS", 4, "partitions of the sparse indexes (write spread)"
    )
    run_queue_url: str | None = _setting(
        "RUN_QUEUE_URL", None, "the SQS job queue; unset: worker threads in-process"
    )
    model_provider: str = _setting("MODEL_PROVIDER", "echo", "echo, bedrock or openai")
    model_map: dict[str, str] = field(
        default_factory=dict,
        metadata=_about("MODEL_MAP", "JSON: a run's model -> the provider ID, '*' as fallback"),
    )
    openai_base_url: str | None = _setting(
        "OPENAI_COMPAT_BASE_URL", None, "an OpenAI-compatible chat-completions endpoint"
    )
    openai_api_key: str | None = _setting(
        "OPENAI_COMPAT_API_KEY", None, "the key for OPENAI_COMPAT_BASE_URL"
    )
    bedrock_region: str | None = _setting(
        "BEDROCK_REGION", None, "Bedrock Runtime region (default: the Lambda's)"
    )
    run_lease_seconds: int = _setting(
        "RUN_LEASE_SECONDS", 60, "an executing run's lease; once it lapses the run is re-queued"
    )
    run_max_attempts: int = _setting(
        "RUN_MAX_ATTEMPTS", 3, "claims a run gets before a stopped worker ends it failed"
    )
    provider_retry_budget_seconds: int = _setting(
        "PROVIDER_RETRY_BUDGET_SECONDS", 60, "how long a turn retries a throttled/failing model"
    )
    provider_retry_first_delay_ms: int = _setting(
        "PROVIDER_RETRY_FIRST_DELAY_MS", 500, "the first wait before a model call is retried"
    )
    echo_word_delay_ms: int = _setting(
        "ECHO_WORD_DELAY_MS", 0, "the echo model's pause before each word it streams"
    )
    image_max_bytes: int = _setting(
        "IMAGE_MAX_BYTES", 20 * 1024 * 1024, "largest image (url or file) sent to a model"
    )
    image_fetch_timeout_seconds: int = _setting(
        "IMAGE_FETCH_TIMEOUT_SECONDS", 10, "one image_url fetch, redirects included, in total"
    )
    image_fetch_max_redirects: int = _setting(
        "IMAGE_FETCH_MAX_REDIRECTS", 3, "redirects an image_url fetch follows (each re-checked)"
    )
    file_search_wait_seconds: int = _setting(
        "FILE_SEARCH_WAIT_SECONDS", 60, "a run waits this long for its thread's files to index"
    )
    queued_resend_after_seconds: int = _setting(
        "QUEUED_RESEND_AFTER_SECONDS", 60, "the sweeper re-sends a run queued this long"
    )
    cancelling_finalise_after_seconds: int = _setting(
        "CANCELLING_FINALISE_AFTER_SECONDS", 30, "the sweeper finishes an unacknowledged cancel"
    )
    sweep_max_runs: int = _setting("SWEEP_MAX_RUNS", 1000, "runs one sweeper tick may handle")
    sweep_time_budget_seconds: int = _setting(
        "SWEEP_TIME_BUDGET_SECONDS", 45, "seconds one sweeper tick may take"
    )
    ingest_resend_after_seconds: int = _setting(
        "INGEST_RESEND_AFTER_SECONDS", 300, "the sweeper re-sends a file ingesting this long"
    )
    ingest_max_attempts: int = _setting(
        "INGEST_MAX_ATTEMPTS", 3, "deliveries of a file's ingestion before it ends failed"
    )
    retention_days: int = _setting(
        "RETENTION_DAYS", 0, "TTL of terminal runs and their steps, in days (0: off)"
    )
    delete_inline_items: int = _setting(
        "DELETE_INLINE_ITEMS", 2000, "items a thread delete removes inline (rest: background)"
    )
    max_body_bytes: int = _setting("MAX_BODY_BYTES", 1024 * 1024, "larger bodies get a 413")
    files_bucket: str | None = _setting(
        "FILES_BUCKET", None, "the S3 bucket of uploaded files; unset: under DATA_DIR/files"
    )
    file_max_bytes: int = _setting(
        "FILE_MAX_BYTES", 4 * 1024 * 1024, "the largest file an upload may carry (else a 413)"
    )
    api_key_cache_seconds: int = _setting(
        "API_KEY_CACHE_SECONDS", 60, "how long a key -> project lookup is cached"
    )
    poll_after_ms: int = _setting(
        "POLL_AFTER_MS", 500, "the openai-poll-after-ms header on run reads"
    )
    local_read_timeout_seconds: int = _setting(
        "LOCAL_READ_TIMEOUT_SECONDS", 10, "local server: how long one read of a request may wait"
    )
    embeddings_provider: str = _setting(
        "EMBEDDINGS_PROVIDER", "hashing", "hashing (offline, the default), bedrock or openai"
    )
    embeddings_model: str | None = _setting(
        "EMBEDDINGS_MODEL", None, "the embedding model (bedrock: amazon.titan-embed-text-v2:0)"
    )
    embeddings_dimension: int = _setting(
        "EMBEDDINGS_DIMENSION", 512, "floats per embedding; the vector index's dimension"
    )
    embeddings_base_url: str | None = _setting(
        "EMBEDDINGS_BASE_URL", None, "an OpenAI-compatible embeddings endpoint (openai)"
    )
    embeddings_api_key: str | None = _setting(
        "EMBEDDINGS_API_KEY", None, "the key for EMBEDDINGS_BASE_URL"
    )
    vector_bucket_name: str | None = _setting(
        "VECTOR_BUCKET_NAME", None, "the S3 Vectors bucket; unset: the embedded engine's index"
    )
    vector_index_name: str | None = _setting(
        "VECTOR_INDEX_NAME", None, "the index in VECTOR_BUCKET_NAME (the stack creates both)"
    )

    @property
    def is_local(self) -> bool:
        return self.stage == "local"


def _parse(name: str, kind: str, raw: str) -> Any:
    try:
        if kind == "int":
            value = int(raw)
            if value < 0:
                raise ValueError
            return value
        if kind.startswith("dict"):
            value = json.loads(raw)
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise ValueError
            return value
    except ValueError:
        expected = "a non-negative integer" if kind == "int" else "a JSON object of strings"
        raise SettingsError(f"{name}={raw[:100]!r}: expected {expected}") from None
    return raw


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for setting in fields(Settings):
        name = setting.metadata["env"]
        raw = env.get(name)
        if raw not in (None, ""):
            values[setting.name] = _parse(name, str(setting.type), raw)
    values.setdefault("store_engine", _default_store_engine(env))
    return Settings(**values)


def _default_store_engine(env: Mapping[str, str]) -> str:
    """The embedded engine locally, unless a DynamoDB endpoint or a real table is named."""
    wants_dynamodb = env.get("AWS_ENDPOINT_URL_DYNAMODB") or env.get("TABLE_NAME")
    return "sqlite" if env.get("STAGE") == "local" and not wants_dynamodb else "dynamodb"
