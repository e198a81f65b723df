"""Builds the services once per process, from the environment; tests may put their own."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .config import DATABASE_FILE, Settings, load_settings
from .dispatch.base import Dispatcher, Job
from .domain.clock import SystemClock
from .services.context import Services

if TYPE_CHECKING:
    from .store.blobs import BlobStore
    from .store.engine import Engine
    from .store.store import Store

# Uploaded files' content, under DATA_DIR, when no FILES_BUCKET is set.
FILES_DIRECTORY = "files"

_services: Services | None = None
_lock = threading.Lock()


def _dispatcher(settings: Settings) -> Dispatcher:
    if settings.run_queue_url:
        from .dispatch.sqs import SqsDispatcher

        return SqsDispatcher(settings.run_queue_url)
    from .dispatch.local import ThreadDispatcher
    from .services.jobs import handle_job

    def handle(job: Job) -> None:
        handle_job(get_services(), job)

    return ThreadDispatcher(handle)


def build_store(settings: Settings) -> Store:
    """The store on the configured engine (imported here: a request pays only for its own)."""
    from .store.store import Store

    engine: Engine
    if settings.store_engine == "sqlite":
        from .store.sqlite import SqliteEngine

        engine = SqliteEngine(Path(settings.data_dir) / DATABASE_FILE)
    elif settings.store_engine == "dynamodb":
        from .store.dynamodb import DynamoDBEngine, botocore_client

        engine = DynamoDBEngine(botocore_client(), settings.table_name)
    else:
        raise ValueError(
            f"unknown STORE_ENGINE {settings.store_engine!r}: expected sqlite or dynamodb"
        )
    return Store(
        engine, settings.active_index_shards, retention_seconds=settings.retention_days * 86400
    )


def build_blobs(settings: Settings) -> BlobStore:
    """Where file content lives: the stack's bucket when one is named, else DATA_DIR/files."""
    if settings.files_bucket:
        from .store.blobs import S3Blobs

        return S3Blobs(settings.files_bucket)
    from .store.blobs import LocalBlobs

    return LocalBlobs(Path(settings.data_dir) / FILES_DIRECTORY)


def build_services(settings: Settings | None = None) -> Services:
    from .providers.embeddings.registry import build_embedder
    from .providers.registry import build_provider
    from .store.vector_indexes import build_vector_index

    settings = settings or load_settings()
    store = build_store(settings)
    return Services(
        settings=settings,
        store=store,
        clock=SystemClock(),
        dispatcher=_dispatcher(settings),
        provider=build_provider(settings),
        blobs=build_blobs(settings),
        vectors=build_vector_index(settings, store.engine),
        embedder=build_embedder(settings),
    )


def get_services() -> Services:
    global _services
    if _services is None:
        with _lock:
            if _services is None:
                _services = build_services()
    return _services
