"""A deterministic, offline embedding: signed feature hashing of a text's words.

What it computes (the README's "hashing embedder" is this, word for word):

1. Normalise: Unicode NFKC, then casefold; words are the runs of `\\w` characters.
2. Drop a fixed list of English stop words (`STOP_WORDS`), unless that leaves nothing (a query
   of stop words only keeps them).
3. Features, each with a weight: every word (`w:<word>`, 1.0); every pair of adjacent words
   (`b:<word> <word>`, 0.5), so phrases count; the character trigrams of `^word$`
   (`c:<tri>`, together 0.5 per word), so `ingest` and `ingestion` still meet.
4. Each feature's summed weight is dampened to `log1p(weight)` (a word said ten times is not ten
   times the evidence).
5. Signed hashing into two slots: BLAKE2b-128 of the feature's UTF-8 bytes, read as two 64-bit
   numbers; each picks a slot (the number modulo `dimension`) and a sign (its top bit), and gets
   the feature's weight. Signs make collisions cancel on average instead of piling up; two slots
   make one collision cost half a feature, not all of it.
6. L2-normalise. A text without words is the zero vector (it scores 0 against everything).

Stable across processes and machines (no salted `hash()`), no model, no network: what tests and
the local stage need. It is lexical, not semantic: synonyms do not meet.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

DEFAULT_DIMENSION = 512
WORD_WEIGHT = 1.0
BIGRAM_WEIGHT = 0.5
TRIGRAMS_WEIGHT = 0.5  # shared by all trigrams of one word
# Each feature goes to two slots: a collision then costs half a feature, not all of it.
SLOTS_PER_FEATURE = 2

_WORD = re.compile(r"\w+")
_STOP_WORDS_TEXT = """a an and are as at be but by can do does for from had has have how i if in
into is it its me my no not of on or our so such than that the their them then there these they
this to was we were what when where which who why will with you your"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


def words(text: str) -> list[str]:
    """The text's normalised words, stop words dropped unless nothing else is left."""
    found = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    content = [w for w in found if w not in STOP_WORDS]
    return content or found


@lru_cache(maxsize=1 << 16)
def _word_features(word: str) -> tuple[tuple[str, float], ...]:
    """A word's own features: itself and its trigrams (the same for every occurrence)."""
    marked = f"^{word}$"
    trigrams = [marked[i : i + 3] for i in range(len(marked) - 2)]
    share = TRIGRAMS_WEIGHT / len(trigrams)
    return (("w:" + word, WORD_WEIGHT), *(("c:" + trigram, share) for trigram in trigrams))


def features(text: str) -> dict[str, float]:
    """Feature -> summed weight, before dampening and hashing."""
    weights: dict[str, float] = {}
    get = weights.get
    tokens = words(text)
    previous = None
    for word in tokens:
        own = _word_features(word)
        key, weight = own[0]
        weights[key] = get(key, 0.0) + weight
        if previous is not None:
            pair = f"b:{previous} {word}"
            weights[pair] = get(pair, 0.0) + BIGRAM_WEIGHT
        for key, weight in own[1:]:
            weights[key] = get(key, 0.0) + weight
        previous = word
    return weights


@lru_cache(maxsize=1 << 16)
def _slots(feature: str, dimension: int) -> tuple[tuple[int, float], ...]:
    """The (slot, sign) pairs of a feature: BLAKE2b, so the same everywhere and every time."""
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8 * SLOTS_PER_FEATURE).digest()
    pairs = []
    for start in range(0, len(digest), 8):
        number = int.from_bytes(digest[start : start + 8], "big")
        pairs.append((number % dimension, 1.0 if number >> 63 else -1.0))
    return tuple(pairs)


class HashingEmbedder:
    """An Embedder with no model: see the module's docstring for the definition."""

    def __init__(self, dimension: int = DEFAULT_DIMENSION) -> None:
        if dimension < 1:
            raise ValueError("the hashing embedder needs a dimension of at least 1")
        self.dimension = dimension

    def embed_one(self, text: str) -> list[float]:
        vector = [0.0] * self.dimension
        dimension = self.dimension
        log1p = math.log1p
        for feature, weight in features(text).items():
            value = log1p(weight)
            for slot, sign in _slots(feature, dimension):
                vector[slot] += sign * value
        norm = math.sqrt(sum(x * x for x in vector))
        return [x / norm for x in vector] if norm else vector

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.embed_one(text) for text in texts]
