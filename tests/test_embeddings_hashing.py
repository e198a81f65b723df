"""The hashing embedder: deterministic everywhere, unit length, related texts closer."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from chalicelib.providers.embeddings.hashing import HashingEmbedder, features, words


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_vectors_are_unit_length_of_the_dimension() -> None:
    for dimension in (8, 256, 512):
        (vector,) = HashingEmbedder(dimension).embed(["The quick brown fox"])
        assert len(vector) == dimension
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-9)


def test_a_text_without_words_is_the_zero_vector() -> None:
    for text in ("", "   ", "?!."):
        assert HashingEmbedder(16).embed([text]) == [[0.0] * 16]


def test_the_same_text_gives_the_same_vector_in_another_process() -> None:
    text = "Files, vector stores and file_search that really retrieves — ümlauts too"
    here = HashingEmbedder(64).embed([text])[0]
    code = (
        "import json, sys; from chalicelib.providers.embeddings.hashing import HashingEmbedder; "
        "print(json.dumps(HashingEmbedder(64).embed([sys.argv[1]])[0]))"
    )
    # A different PYTHONHASHSEED: Python's own hash() would give another vector.
    env = {"PYTHONHASHSEED": "12345", "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", code, text], capture_output=True, text=True, env=env, check=True
    )
    import json

    assert json.loads(result.stdout) == here


def test_normalisation_case_and_unicode_forms_do_not_matter() -> None:
    embedder = HashingEmbedder()
    assert embedder.embed(["CAFÉ Menu"]) == embedder.embed(["café menu"])
    assert embedder.embed(["ﬁle"]) == embedder.embed(["file"])  # NFKC folds the ligature


def test_stop_words_are_dropped_unless_nothing_else_is_left() -> None:
    assert words("What is the capital of France?") == ["capital", "france"]
    assert words("What is it?") == ["what", "is", "it"]


def test_features_are_words_pairs_and_trigrams() -> None:
    found = features("vector index")
    assert found["w:vector"] == 1.0 and found["w:index"] == 1.0
    assert found["b:vector index"] == 0.5
    assert math.isclose(sum(v for k, v in found.items() if k.startswith("c:")), 1.0)


DOCUMENTS = {
    "refunds": "Refunds are issued within 14 days of a return. Refund requests need a receipt.",
    "shipping": "We ship worldwide. Shipping takes 3 to 5 business days by courier.",
    "security": "Passwords are hashed with a salt; two-factor authentication is available.",
    "ingestion": "Ingestion extracts text, chunks it, embeds each chunk and indexes vectors.",
}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("How do I get a refund?", "refunds"),
        ("how long does shipping take", "shipping"),
        ("is two-factor authentication supported", "security"),
        ("what does the ingest step do with chunks", "ingestion"),  # ingest ~ ingestion
    ],
)
def test_related_texts_score_higher_than_unrelated(query: str, expected: str) -> None:
    embedder = HashingEmbedder()
    names = list(DOCUMENTS)
    vectors = embedder.embed([DOCUMENTS[n] for n in names])
    (q,) = embedder.embed([query])
    scores = {name: cosine(q, v) for name, v in zip(names, vectors, strict=True)}
    best = max(scores, key=scores.__getitem__)
    assert best == expected, scores
    assert all(scores[expected] > scores[n] + 0.05 for n in names if n != expected), scores


def test_a_text_is_most_similar_to_itself_and_batches_match_single_calls() -> None:
    embedder = HashingEmbedder(128)
    texts = list(DOCUMENTS.values())
    batch = embedder.embed(texts)
    assert batch == [embedder.embed([t])[0] for t in texts]
    for i, vector in enumerate(batch):
        assert math.isclose(cosine(vector, vector), 1.0)
        assert all(cosine(vector, other) < 0.9 for j, other in enumerate(batch) if j != i)


def test_a_dimension_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="dimension"):
        HashingEmbedder(0)
