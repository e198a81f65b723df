"""What every use case needs, built once per process and replaceable in tests."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ..config import Settings
from ..dispatch.base import Dispatcher
from ..domain.clock import Clock
from ..providers.base import ModelProvider
from ..providers.embeddings.base import Embedder
from ..providers.embeddings.hashing import HashingEmbedder
from ..store.blobs import BlobStore
from ..store.store import Store
from ..store.vector_indexes import UnconfiguredVectorIndex
from ..store.vectors import VectorIndex

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: Store
    clock: Clock
    dispatcher: Dispatcher
    provider: ModelProvider
    blobs: BlobStore  # file content: store/blobs.py
    # Chunks of vector store files and their embeddings (wiring.py picks them from settings).
    vectors: VectorIndex = field(default_factory=UnconfiguredVectorIndex)
    embedder: Embedder = field(default_factory=HashingEmbedder)
    # API key hash -> (project, cached until); deployed stages only.
    key_cache: dict[str, tuple[str | None, float]] = field(default_factory=dict)
    # An ImageFetcher to use instead of the one built from settings (tests: a local server).
    image_fetcher: Any = None

    def __post_init__(self) -> None:
        # Services are built once per process: say at startup whether this stage is open.
        log.log(*key_policy(self.settings))


def key_policy(settings: Settings) -> tuple[int, str]:
    """The startup line about API keys: (log level, message)."""
    if settings.is_local:
        return logging.WARNING, (
            "STAGE=local: any well-formed API key is accepted, each its own project. "
            "Never deploy this stage."
        )
    stage = repr(settings.stage) if settings.stage else "unset"
    return logging.INFO, f"STAGE {stage}: API keys are checked against the key table."
