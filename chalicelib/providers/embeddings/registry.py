"""Which embedder turns text into vectors, chosen by configuration; clients load on first use."""

from __future__ import annotations

from ...config import Settings
from .base import Embedder

PROVIDERS = ("hashing", "bedrock", "openai")
MAX_DIMENSION = 4096  # S3 Vectors' largest index dimension


def build_embedder(settings: Settings) -> Embedder:
    name = settings.embeddings_provider
    dimension = settings.embeddings_dimension
    if not 1 <= dimension <= MAX_DIMENSION:
        raise ValueError(f"EMBEDDINGS_DIMENSION={dimension}: expected 1 to {MAX_DIMENSION}")
    if name == "hashing":
        from .hashing import HashingEmbedder

        return HashingEmbedder(dimension)
    if name == "bedrock":
        from .bedrock import BedrockEmbedder

        return BedrockEmbedder(
            model=settings.embeddings_model, dimension=dimension, region=settings.bedrock_region
        )
    if name == "openai":
        if not settings.embeddings_base_url:
            raise ValueError("EMBEDDINGS_PROVIDER=openai needs EMBEDDINGS_BASE_URL")
        from .openai_compat import OpenAICompatibleEmbedder

        return OpenAICompatibleEmbedder(
            settings.embeddings_base_url,
            model=settings.embeddings_model,
            dimension=dimension,
            api_key=settings.embeddings_api_key,
        )
    raise ValueError(f"unknown EMBEDDINGS_PROVIDER {name!r}: expected hashing, bedrock or openai")
