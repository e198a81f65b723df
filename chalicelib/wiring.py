"""Builds the services once per process, from the environment; tests may put their own."""

from __future__ import annotations

import threading

from .config import Settings, load_settings
from .dispatch.base import Dispatcher, Job
from .domain.clock import SystemClock
from .services.context import Services

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


def build_services(settings: Settings | None = None) -> Services:
    import boto3  # here, not at import: the cold start pays only for what a request uses

    from .models.registry import build_provider
    from .store.store import Store

    settings = settings or load_settings()
    client = boto3.client("dynamodb")  # honours AWS_ENDPOINT_URL_DYNAMODB
    return Services(
        settings=settings,
        store=Store(
            client,
            settings.table_name,
            settings.active_index_shards,
            retention_seconds=settings.retention_days * 86400,
        ),
        clock=SystemClock(),
        dispatcher=_dispatcher(settings),
        provider=build_provider(settings),
    )


def get_services() -> Services:
    global _services
    if _services is None:
        with _lock:
            if _services is None:
                _services = build_services()
    return _services


def set_services(services: Services | None) -> None:
    """Use these services from now on (tests, the local server); None rebuilds on next use."""
    global _services
    _services = services
