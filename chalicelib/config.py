"""Settings, read from the environment when first needed (never at import)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)  # type: ignore[arg-type]
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None


ROOT = Path(__file__).resolve().parents[1]


def _store_engine(env: Mapping[str, str]) -> str:
    """The embedded engine locally, unless a DynamoDB endpoint or a real table is named."""
    explicit = env.get("STORE_ENGINE")
    if explicit:
        return explicit
    wants_dynamodb = env.get("AWS_ENDPOINT_URL_DYNAMODB") or env.get("TABLE_NAME")
    return "sqlite" if env.get("STAGE") == "local" and not wants_dynamodb else "dynamodb"


@dataclass(frozen=True)
class Settings:
    # Only "local" accepts any key; unset ("") or any other name checks keys (fail closed).
    stage: str = ""
    table_name: str = "assistants-runs"
    # "dynamodb" (deployed stages) or "sqlite" (the embedded engine of the local stage).
    store_engine: str = "dynamodb"
    # Where the embedded engine keeps its file (and, later, uploaded files).
    data_dir: str = str(ROOT / ".data")
    run_expires_after_seconds: int = 600
    active_index_shards: int = 4
    run_queue_url: str | None = None
    # Which provider answers a run's model, and how run models map to provider model IDs.
    model_provider: str = "echo"
    model_map: dict[str, str] = field(default_factory=dict)
    openai_base_url: str | None = None
    openai_api_key: str | None = None
    bedrock_region: str | None = None
    # An executing run's lease: renewed while the model works; once it lapses the sweeper
    # re-queues the run, up to run_max_attempts claims in all, then ends it failed.
    run_lease_seconds: int = 60
    run_max_attempts: int = 3
    # Retrying a throttled / failing model call within one turn (services/provider_calls.py).
    provider_retry_budget_seconds: int = 60
    provider_retry_first_delay_ms: int = 500
    echo_word_delay_ms: int = 0  # the echo model's pace: a pause before each word it streams
    # The sweeper.
    queued_resend_after_seconds: int = 60
    cancelling_finalise_after_seconds: int = 30
    sweep_max_runs: int = 1000
    sweep_time_budget_seconds: int = 45
    retention_days: int = 0
    # Deleting a thread removes up to this many of its items inline, the rest in the background.
    delete_inline_items: int = 2000
    # Requests.
    max_body_bytes: int = 1024 * 1024
    api_key_cache_seconds: int = 60
    poll_after_ms: int = 500
    # The local HTTP server: how long a read of a request (headers, body) may wait.
    local_read_timeout_seconds: int = 10

    @property
    def is_local(self) -> bool:
        return self.stage == "local"


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    return Settings(
        stage=env.get("STAGE", ""),
        table_name=env.get("TABLE_NAME", "assistants-runs"),
        store_engine=_store_engine(env),
        data_dir=env.get("DATA_DIR") or str(ROOT / ".data"),
        run_expires_after_seconds=_int(env, "RUN_EXPIRES_AFTER_SECONDS", 600),
        active_index_shards=_int(env, "ACTIVE_INDEX_SHARDS", 4),
        run_queue_url=env.get("RUN_QUEUE_URL") or None,
        model_provider=env.get("MODEL_PROVIDER", "echo"),
        model_map=json.loads(env.get("MODEL_MAP") or "{}"),
        openai_base_url=env.get("OPENAI_COMPAT_BASE_URL") or None,
        openai_api_key=env.get("OPENAI_COMPAT_API_KEY") or None,
        bedrock_region=env.get("BEDROCK_REGION") or None,
        run_lease_seconds=_int(env, "RUN_LEASE_SECONDS", 60),
        run_max_attempts=_int(env, "RUN_MAX_ATTEMPTS", 3),
        provider_retry_budget_seconds=_int(env, "PROVIDER_RETRY_BUDGET_SECONDS", 60),
        provider_retry_first_delay_ms=_int(env, "PROVIDER_RETRY_FIRST_DELAY_MS", 500),
        echo_word_delay_ms=_int(env, "ECHO_WORD_DELAY_MS", 0),
        queued_resend_after_seconds=_int(env, "QUEUED_RESEND_AFTER_SECONDS", 60),
        cancelling_finalise_after_seconds=_int(env, "CANCELLING_FINALISE_AFTER_SECONDS", 30),
        sweep_max_runs=_int(env, "SWEEP_MAX_RUNS", 1000),
        sweep_time_budget_seconds=_int(env, "SWEEP_TIME_BUDGET_SECONDS", 45),
        retention_days=_int(env, "RETENTION_DAYS", 0),
        delete_inline_items=_int(env, "DELETE_INLINE_ITEMS", 2000),
        max_body_bytes=_int(env, "MAX_BODY_BYTES", 1024 * 1024),
        api_key_cache_seconds=_int(env, "API_KEY_CACHE_SECONDS", 60),
        poll_after_ms=_int(env, "POLL_AFTER_MS", 500),
        local_read_timeout_seconds=_int(env, "LOCAL_READ_TIMEOUT_SECONDS", 10),
    )
