"""Which provider answers a run, chosen by configuration; heavy clients load on first use."""

from __future__ import annotations

from ..config import Settings
from .base import ModelProvider


def resolve_model(settings: Settings, run_model: str) -> str:
    """The provider's model ID for a run's `model` (MODEL_MAP, with "*" as a fallback)."""
    return settings.model_map.get(run_model) or settings.model_map.get("*") or run_model


def build_provider(settings: Settings) -> ModelProvider:
    name = settings.model_provider
    if name == "echo":
        from .echo import EchoProvider

        return EchoProvider(word_delay=settings.echo_word_delay_ms / 1000)
    if name == "bedrock":
        from .bedrock import BedrockProvider

        return BedrockProvider(region=settings.bedrock_region)
    if name == "openai":
        from .openai_compat import OpenAICompatibleProvider

        if not settings.openai_base_url:
            raise ValueError("MODEL_PROVIDER=openai needs OPENAI_COMPAT_BASE_URL")
        return OpenAICompatibleProvider(settings.openai_base_url, settings.openai_api_key)
    raise ValueError(f"unknown MODEL_PROVIDER {name!r}: expected echo, bedrock or openai")
