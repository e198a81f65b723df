"""A provider-neutral estimate of a prompt's size, for models whose tokenizer we do not ship."""

from __future__ import annotations

from .base import ModelRequest

CHARS_PER_TOKEN = 4
# OpenAI's published vision costs: 85 tokens at `low`; a 1024x1024 image at `high` is 765.
# Without decoding the image that is the estimate for `auto`/`high`.
IMAGE_TOKENS = {"low": 85}
IMAGE_TOKENS_DEFAULT = 765


def estimate_prompt_tokens(request: ModelRequest) -> int:
    """About one token per four characters (rounded up) of the instructions and every message's
    text, which includes the tool outputs carried by `tool` messages; images at a flat rate."""
    chars = len(request.instructions) + sum(len(m.text) for m in request.messages)
    images = sum(
        IMAGE_TOKENS.get(image.detail, IMAGE_TOKENS_DEFAULT)
        for m in request.messages
        for image in m.images
    )
    return -(-chars // CHARS_PER_TOKEN) + images
