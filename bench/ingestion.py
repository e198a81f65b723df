"""Ingestion and search of vector stores on the local stage's parts, with figures.

Run: .venv/bin/python bench/ingestion.py [pages] [queries]
Uploads `pages` text files of one page each (about 500 words, 3,000 characters), adds them to a
store in one batch, ingests them through the worker's job handler (extract, chunk, hashing
embeddings, the SQLite vector index), then times `queries` searches. Prints the time per page,
the chunks per page, the store operations per file (what DynamoDB would bill: each write and each
transaction counted once), and search latency percentiles. No network, no model.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chalicelib.config import Settings
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.vector_store_requests import CreateFileBatch
from chalicelib.providers.echo import EchoProvider
from chalicelib.providers.embeddings.hashing import HashingEmbedder
from chalicelib.services import files, search, vector_stores
from chalicelib.services.context import Services
from chalicelib.services.jobs import handle_job
from chalicelib.store.blobs import LocalBlobs
from chalicelib.store.sqlite import SqliteEngine
from chalicelib.store.sqlite_vectors import SqliteVectorIndex
from chalicelib.store.store import Store
from tests.support.doubles import RecordingDispatcher

PROJECT = "bench"
WORDS = [
    "river", "mountain", "engine", "protocol", "harvest", "ledger", "orbit", "canyon", "lantern",
    "vector", "signal", "meadow", "quartz", "harbor", "cipher", "glacier", "beacon", "tundra",
]  # fmt: skip


class CountingEngine:
    """The engine, counting the operations the store asks of it."""

    def __init__(self, inner: SqliteEngine) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attr(*args, **kwargs)

        return call


def page(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(500)]
    return f"Page {n} topic-{n}. " + " ".join(words)


def main(pages: int, queries: int) -> None:
    rng = random.Random(7)
    folder = Path(tempfile.mkdtemp(prefix="bench-ingestion-"))
    sqlite = SqliteEngine(folder / "store.sqlite3")
    sqlite.create_schema()
    engine = CountingEngine(sqlite)
    index = SqliteVectorIndex(sqlite)
    index.create_schema()
    dispatcher = RecordingDispatcher()
    svc = Services(
        settings=Settings(stage="local"),
        store=Store(engine),  # type: ignore[arg-type]
        clock=SystemClock(),
        dispatcher=dispatcher,
        provider=EchoProvider(),
        blobs=LocalBlobs(folder / "files"),
        vectors=index,
        embedder=HashingEmbedder(),
    )
    ids = [
        files.create_file(svc, PROJECT, f"p{n}.txt", "assistants", page(rng, n).encode())["id"]
        for n in range(pages)
    ]
    store = vector_stores.create_vector_store(svc, PROJECT, {"name": "bench"})
    engine.calls.clear()
    started = time.perf_counter()
    vector_stores.create_file_batch(svc, PROJECT, store["id"], CreateFileBatch(file_ids=ids))
    added = time.perf_counter() - started
    add_calls = sum(engine.calls.values())
    engine.calls.clear()
    started = time.perf_counter()
    for job in dispatcher.take():
        handle_job(svc, job)
    ingested = time.perf_counter() - started
    ingest_calls = Counter(engine.calls)
    done = vector_stores.get_vector_store(svc, PROJECT, store["id"])
    chunks = index.count(PROJECT, store["id"])
    latencies = []
    for n in range(queries):
        started = time.perf_counter()
        results = search.search_vector_stores(
            svc, PROJECT, [store["id"]], f"topic-{n % pages} {rng.choice(WORDS)}", 10, None
        )
        latencies.append((time.perf_counter() - started) * 1000)
        assert results
    latencies.sort()
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    print(f"pages: {pages}, completed: {done['n_completed']}, chunks: {chunks} "
          f"({chunks / pages:.1f} per page, auto strategy 800/400 tokens)")  # fmt: skip
    print(f"add (one batch): {added * 1000 / pages:.2f} ms per file, "
          f"{add_calls / pages:.1f} store operations per file")  # fmt: skip
    print(f"ingest: {ingested * 1000 / pages:.2f} ms per page "
          f"({pages / ingested:.0f} pages/s on one worker thread)")  # fmt: skip
    per_file = {k: round(v / pages, 1) for k, v in sorted(ingest_calls.items())}
    print(f"ingest store operations per file: {per_file}")
    print(f"search over {chunks} chunks: p50 {statistics.median(latencies):.1f} ms, "
          f"p95 {p95:.1f} ms ({queries} queries)")  # fmt: skip


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    main(*(args + [200, 100][len(args) :]))
