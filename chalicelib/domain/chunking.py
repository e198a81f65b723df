"""Text into overlapping chunks by tokens, counted as the rest of the service estimates them.

One token is about four characters (providers/estimate.py), so a chunk of N tokens holds at most
4N characters. Chunks break between whitespace-separated words where they can (a word longer
than a whole chunk is cut); the next chunk starts `overlap` tokens before the previous one ended.
"""

from __future__ import annotations

import re

from ..providers.estimate import CHARS_PER_TOKEN

_WORD = re.compile(r"\S+\s*")


def estimate_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def chunk_text(text: str, max_tokens: int, overlap_tokens: int) -> list[str]:
    """The chunks of `text` (none for blank text), each at most `max_tokens` estimated tokens."""
    if not text.strip():
        return []
    max_chars = max_tokens * CHARS_PER_TOKEN
    overlap_chars = overlap_tokens * CHARS_PER_TOKEN
    pieces: list[tuple[int, int]] = []  # (start, end) of each word with its trailing space
    for match in _WORD.finditer(text):
        start, end = match.span()
        while end - start > max_chars:  # a "word" longer than a chunk: cut it
            pieces.append((start, start + max_chars))
            start += max_chars
        pieces.append((start, end))
    chunks: list[str] = []
    first = 0
    while first < len(pieces):
        last = first
        begin = pieces[first][0]
        while last + 1 < len(pieces) and pieces[last + 1][1] - begin <= max_chars:
            last += 1
        chunks.append(text[begin : pieces[last][1]].strip())
        if last + 1 >= len(pieces):
            break
        # Step back over whole words while they fit in the overlap, always moving forward.
        end = pieces[last][1]
        following = last + 1
        while following - 1 > first and end - pieces[following - 1][0] <= overlap_chars:
            following -= 1
        first = following
    return [chunk for chunk in chunks if chunk]
