"""A provider-neutral estimate of a prompt's size, for models whose tokenizer we do not ship."""

from __future__ import annotations

from .base import ModelRequest

CHARS_PER_TOKEN = 4


def estimate_prompt_tokens(request: ModelRequest) -> int:
    """About one token per four characters (rounded up) of the instructions and every message's
    text, which includes the tool outputs carried by `tool` messages."""
    chars = len(request.instructions) + sum(len(m.text) for m in request.messages)
    return -(-chars // CHARS_PER_TOKEN)
