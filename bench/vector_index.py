"""The local vector index as it grows, the ingest rate, and what 1,000 indexed pages cost deployed.

Run: .venv/bin/python bench/vector_index.py [--levels 1000,10000,50000] [--queries 200]
     [--dimension 512] [--top-k 20]

1. Ingest: chunks of ~600 words (what an 800-token chunk holds) of synthetic English-like text
   (a Zipf-distributed 20,000-word vocabulary, seeded), embedded by the hashing embedder and put
   into a SqliteVectorIndex in the embedded engine's file, 100 chunks per file (one put_chunks,
   one transaction, each): chunks per second embedded, indexed, and both.
2. Query latency at each level (1k, 10k, 50k chunks in one store of one project, plus a fifth
   as many in another project that must not be read): p50/p95/max of `query(top_k)` for hashing-
   embedded queries of 4-10 words (sparse: the index multiplies only their non-zero slots) and
   for dense unit vectors (what an OpenAI-compatible embedder gives locally). The larger levels
   are filled with 30-word chunks: a query's cost depends on the number of vectors, not on text.
3. A cost model for 1,000 pages indexed deployed (Titan Text Embeddings V2 into S3 Vectors),
   with every assumption printed; prices are flags, so they can be updated without editing.

Figures, not assertions.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chalicelib.providers.embeddings.hashing import HashingEmbedder  # noqa: E402
from chalicelib.store.s3_vectors import project_tag, vector_key  # noqa: E402
from chalicelib.store.sqlite import SqliteEngine  # noqa: E402
from chalicelib.store.sqlite_vectors import SqliteVectorIndex  # noqa: E402
from chalicelib.store.vectors import Chunk  # noqa: E402

PROJECT, NEIGHBOUR, STORE = "proj-bench", "proj-neighbour", "vs_bench"
CHUNKS_PER_FILE = 100


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Text:
    """Deterministic English-like text: pseudo-words with Zipf frequencies."""

    def __init__(self, seed: int = 13, vocabulary: int = 20_000) -> None:
        self.rng = random.Random(seed)
        letters = "etaoinshrdlcumwfgypbvkjxqz"
        self.words = [
            "".join(self.rng.choice(letters[: 8 + i % 18]) for _ in range(3 + i % 7))
            for i in range(vocabulary)
        ]
        self.weights = [1 / (rank + 1) for rank in range(vocabulary)]

    def words_of(self, n: int) -> str:
        return " ".join(self.rng.choices(self.words, self.weights, k=n))


def fill(
    index: SqliteVectorIndex, embedder: HashingEmbedder, text: Text, project: str, start: int,
    count: int, words: int,
) -> tuple[float, float]:  # fmt: skip
    """Add `count` chunks (files of CHUNKS_PER_FILE); (seconds embedding, seconds indexing)."""
    embedding = indexing = 0.0
    for first in range(start, start + count, CHUNKS_PER_FILE):
        n = min(CHUNKS_PER_FILE, start + count - first)
        texts = [text.words_of(words) for _ in range(n)]
        began = time.perf_counter()
        vectors = embedder.embed(texts)
        embedded = time.perf_counter()
        file_id = f"file-{first // CHUNKS_PER_FILE:08d}"
        chunks = [
            Chunk(STORE, file_id, i, t, tuple(v), filename=f"{file_id}.txt")
            for i, (t, v) in enumerate(zip(texts, vectors, strict=True))
        ]
        index.put_chunks(project, STORE, file_id, chunks)
        embedding += embedded - began
        indexing += time.perf_counter() - embedded
    return embedding, indexing


def time_queries(
    index: SqliteVectorIndex, vectors: list[list[float]], top_k: int
) -> dict[str, float]:
    seconds = []
    for vector in vectors:
        began = time.perf_counter()
        hits = index.query(PROJECT, [STORE], vector, top_k)
        seconds.append(time.perf_counter() - began)
        assert len(hits) == top_k
    ms = [s * 1000 for s in seconds]
    return {"p50": percentile(ms, 0.5), "p95": percentile(ms, 0.95), "max": max(ms)}


def dense_unit(rng: random.Random, dimension: int) -> list[float]:
    vector = [rng.gauss(0, 1) for _ in range(dimension)]
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector]


def cost_model(args: argparse.Namespace) -> None:
    pages = 1000
    tokens_per_page = args.words_per_page / args.words_per_token
    document_tokens = pages * tokens_per_page
    stride = args.chunk_tokens - args.overlap_tokens
    chunks = math.ceil(max(document_tokens - args.overlap_tokens, 1) / stride)
    embedded_tokens = chunks * args.chunk_tokens
    chars_per_chunk = args.chunk_tokens * args.chars_per_token
    key_bytes = len(vector_key("p", "vs_" + "x" * 24, "file-" + "x" * 24, 9999))
    filterable = len(
        f'{{"project":"{project_tag("p")}","vector_store_id":"vs_{"x" * 24}",'
        f'"file_id":"file-{"x" * 24}","position":9999}}'
    )
    vector_bytes = 4 * args.dimension
    put_bytes = vector_bytes + key_bytes + filterable + chars_per_chunk + 64  # + filename
    query_bytes = vector_bytes + key_bytes + filterable  # what a query "processes" per vector

    embed_cost = embedded_tokens / 1000 * args.titan_per_1k_tokens
    put_cost = chunks * put_bytes / 1e9 * args.put_per_gb
    storage_month = chunks * put_bytes / 1e9 * args.storage_per_gb_month
    per_1k_queries = 1000 * (
        args.query_per_million / 1e6
        + chunks * query_bytes / 1e12 * args.query_per_tb
        + args.query_tokens / 1000 * args.titan_per_1k_tokens
    )
    print("\nCost of 1,000 pages indexed deployed (Titan Text Embeddings V2 -> S3 Vectors)")
    print("  assumptions:")
    print(
        f"    a page: {args.words_per_page} words = {tokens_per_page:.0f} tokens "
        f"({args.words_per_token} words a token); chunks of {args.chunk_tokens} tokens with "
        f"{args.overlap_tokens} overlap (OpenAI's `auto`), {args.chars_per_token} characters "
        "a token"
    )
    print(
        f"    prices (us-east-1, flags): Titan V2 ${args.titan_per_1k_tokens}/1k tokens; "
        f"S3 Vectors PUT ${args.put_per_gb}/GB, storage ${args.storage_per_gb_month}/GB-month, "
        f"queries ${args.query_per_million}/million + ${args.query_per_tb}/TB processed"
    )
    print(
        f"    a vector as stored: {vector_bytes} B of float32 ({args.dimension} dimensions) + "
        f"{key_bytes} B key + {filterable} B filterable + ~{chars_per_chunk} B text = "
        f"~{put_bytes / 1024:.1f} KiB; a query processes {query_bytes} B per vector in the index"
    )
    print(f"  chunks: {chunks:,}; tokens embedded: {embedded_tokens:,.0f}")
    print(f"  one-time: embedding ${embed_cost:.4f} + PUT ${put_cost:.4f}"
          f" = ${embed_cost + put_cost:.4f}")  # fmt: skip
    print(f"  storage: ${storage_month:.5f} a month ({chunks * put_bytes / 1e6:.1f} MB)")
    print(
        f"  1,000 searches ({args.query_tokens}-token queries over these chunks): "
        f"${per_1k_queries:.4f}"
    )
    print("  idle: $0 (no cluster, nothing provisioned; Lambda and DynamoDB on demand)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--levels", default="1000,10000,50000")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--dimension", type=int, default=512)
    parser.add_argument("--top-k", type=int, default=20)
    parser.add_argument("--ingest-chunks", type=int, default=1000)
    parser.add_argument("--words-per-page", type=int, default=500)
    parser.add_argument("--words-per-token", type=float, default=0.75)
    parser.add_argument("--chars-per-token", type=int, default=4)
    parser.add_argument("--chunk-tokens", type=int, default=800)
    parser.add_argument("--overlap-tokens", type=int, default=400)
    parser.add_argument("--query-tokens", type=int, default=20)
    parser.add_argument("--titan-per-1k-tokens", type=float, default=0.00002)
    parser.add_argument("--put-per-gb", type=float, default=0.20)
    parser.add_argument("--storage-per-gb-month", type=float, default=0.06)
    parser.add_argument("--query-per-million", type=float, default=2.50)
    parser.add_argument("--query-per-tb", type=float, default=0.004)
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]

    embedder = HashingEmbedder(args.dimension)
    text = Text()
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as directory:
        engine = SqliteEngine(Path(directory) / "assistants.sqlite3")
        engine.create_schema()
        index = SqliteVectorIndex(engine)
        index.create_schema()

        print(f"SqliteVectorIndex, {args.dimension} dimensions, hashing embedder, pure Python")
        embedding, indexing = fill(index, embedder, text, PROJECT, 0, args.ingest_chunks, 600)
        n = args.ingest_chunks
        print(
            f"ingest ({n} chunks of 600 words, {CHUNKS_PER_FILE} a file): "
            f"embedding {n / embedding:,.0f} chunks/s, indexing {n / indexing:,.0f} chunks/s, "
            f"both {n / (embedding + indexing):,.0f} chunks/s"
        )

        queries_sparse = embedder.embed(
            [text.words_of(rng.randint(4, 10)) for _ in range(args.queries)]
        )
        queries_dense = [dense_unit(rng, args.dimension) for _ in range(args.queries)]
        print(f"\nquery(top_k={args.top_k}) latency, ms ({args.queries} queries each):")
        print(f"  {'chunks':>7}  {'sparse p50':>10} {'p95':>7} {'max':>7}   "
              f"{'dense p50':>9} {'p95':>7} {'max':>7}")  # fmt: skip
        have = args.ingest_chunks
        for level in levels:
            if level > have:
                fill(index, embedder, text, PROJECT, have, level - have, 30)
                # Another project's chunks, a fifth as many: they share the table, not the scan.
                fill(index, embedder, text, NEIGHBOUR, have // 5, (level - have) // 5, 30)
                have = level
            assert index.count(PROJECT, STORE) == level
            sparse = time_queries(index, queries_sparse, args.top_k)
            dense = time_queries(index, queries_dense[: max(20, args.queries // 4)], args.top_k)
            print(
                f"  {level:>7,}  {sparse['p50']:>10.1f} {sparse['p95']:>7.1f} "
                f"{sparse['max']:>7.1f}   {dense['p50']:>9.1f} {dense['p95']:>7.1f} "
                f"{dense['max']:>7.1f}"
            )
        size = Path(engine.path).stat().st_size / 1e6
        total = have + (have - args.ingest_chunks) // 5
        print(f"  file: {size:,.0f} MB with {total:,} chunks in it")
        engine.close()
    nonzero = statistics.mean(sum(1 for x in q if x) for q in queries_sparse)
    print(f"  (a sparse query has {nonzero:.0f} non-zero slots of {args.dimension} on average)")
    cost_model(args)


if __name__ == "__main__":
    main()
