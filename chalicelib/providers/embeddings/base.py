"""The one interface every embeddings provider implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Embedder(Protocol):
    dimension: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length vector of `dimension` floats per text. Raises ProviderError."""
        ...
