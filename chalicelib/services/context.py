"""What every use case needs, built once per process and replaceable in tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import Settings
from ..dispatch.base import Dispatcher
from ..domain.clock import Clock
from ..models.base import ModelProvider
from ..store.store import Store


@dataclass
class Services:
    settings: Settings
    store: Store
    clock: Clock
    dispatcher: Dispatcher
    provider: ModelProvider
    # API key hash -> (project, cached until); deployed stages only.
    key_cache: dict[str, tuple[str | None, float]] = field(default_factory=dict)
