"""What file_search adds to a run's turn, in process on the embedded engine (echo model).

Run: .venv/bin/python bench/file_search_run.py [files] [runs]
A vector store of `files` text files (about 2 KB each, hashing embedder, SQLite index) is
ingested once; then `runs` runs are executed with the file_search tool and `runs` without it
(same thread contents, same model), each run one turn: claim, (search step), answer, write.
Prints the median and p95 turn time of each, and the difference. No timed assertions anywhere.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chalicelib.config import Settings
from chalicelib.domain.requests import CreateAssistant, CreateRun, CreateThread
from chalicelib.services import assistants, executor, files, runs, threads, vector_stores
from chalicelib.services.jobs import handle_job
from chalicelib.wiring import build_services
from tests.support.doubles import RecordingDispatcher

PROJECT = "bench-project"
WORDS = [
    "zebra", "rocket", "bread", "engine", "yeast", "stripe", "savanna", "thrust", "flour",
    "orbit", "grass", "dough", "fuel", "oven", "planet", "water", "salt", "crust", "launch",
]  # fmt: skip


def _text(rng: random.Random, words: int = 300) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)) + "."


def main(file_count: int = 20, run_count: int = 30) -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(stage="local", store_engine="sqlite", data_dir=data_dir)
        svc = build_services(settings)
        svc.dispatcher = RecordingDispatcher()
        svc.store.create_schema()
        svc.vectors.create_schema()
        ids = [
            files.create_file(svc, PROJECT, f"doc{i}.txt", "assistants", _text(rng).encode())["id"]
            for i in range(file_count)
        ]
        store = vector_stores.create_vector_store(svc, PROJECT, {"file_ids": ids})
        while jobs := svc.dispatcher.take():
            for job in jobs:
                handle_job(svc, job)
        resources = {"file_search": {"vector_store_ids": [store["id"]]}}
        with_search = assistants.create_assistant(
            svc,
            PROJECT,
            CreateAssistant.model_validate(
                {"model": "gpt-4o", "tools": [{"type": "file_search"}], "tool_resources": resources}
            ),
        )
        plain = assistants.create_assistant(svc, PROJECT, CreateAssistant(model="gpt-4o"))
        figures = {}
        for label, assistant in (("with file_search", with_search), ("without", plain)):
            times = []
            for _ in range(run_count):
                body = {"messages": [{"role": "user", "content": "rocket engine thrust fuel"}]}
                thread = threads.create_thread(svc, PROJECT, CreateThread.model_validate(body))
                request = CreateRun.model_validate({"assistant_id": assistant["id"]})
                run = runs.create_run(svc, PROJECT, thread["id"], request, dispatch=False)
                started = time.perf_counter()
                done = executor.advance_run(svc, PROJECT, thread["id"], run["id"])
                times.append((time.perf_counter() - started) * 1000)
                assert done is not None and done["status"] == "completed"
            times.sort()
            figures[label] = (statistics.median(times), times[int(len(times) * 0.95) - 1])
        print(f"{file_count} files in the store, {run_count} runs each (one turn per run):")
        for label, (median, p95) in figures.items():
            print(f"  {label:>17}: median {median:6.1f} ms, p95 {p95:6.1f} ms")
        extra = figures["with file_search"][0] - figures["without"][0]
        print(f"  file_search adds about {extra:.1f} ms per turn (median)")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    main(*args)
