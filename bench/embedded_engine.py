"""The embedded engine as data grows, and under eight SDK clients for a minute.

Run: .venv/bin/python bench/embedded_engine.py [--levels 0,2000,10000,50000] [--samples 40]
     [--soak-seconds 60] [--clients 8]

Starts `python -m chalicelib.local.server` (tests/support/live_server.py: embedded SQLite on a
data directory of its own, echo model, worker threads, sweeper every second). At each level of
stored runs (each a thread with a user message, a completed run, its step and the reply, seeded
straight into the server's SQLite file between levels), it times through the official SDK:
retrieve run, list runs (20 in the thread), create message, create run, create_and_poll; and in
this process, on the same file: the engine's raw read of a run row, the store's get_run, and the
whole in-process API retrieve (chalice's test client on the app). Then it runs N SDK clients for
--soak-seconds, each looping threads.create + runs.create_and_poll, and reports throughput per
10 s window, the slowest request, and the server's memory over the run. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import openai  # noqa: E402

from chalicelib.domain.ids import new_id  # noqa: E402
from chalicelib.domain.objects import (  # noqa: E402
    new_assistant_message,
    new_run,
    new_step,
    new_thread,
    text_part,
)
from chalicelib.store import keys  # noqa: E402
from chalicelib.store.sqlite import SqliteEngine  # noqa: E402
from chalicelib.store.store import Store, record_item  # noqa: E402
from tests.support.live_server import LiveServer, start_server  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)
NOW = int(time.time())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def seed(engine: SqliteEngine, count: int) -> None:
    """`count` finished runs, each in a thread of its own with its messages and step."""
    batch: list[dict[str, Any]] = []
    for i in range(count):
        project = f"seed{i % 7}"
        thread = new_thread(NOW, None, None)
        pk = keys.thread_pk(project, thread["id"])
        assistant = {"id": new_id("assistant"), "model": "echo", "temperature": None}
        run = new_run(
            thread_id=thread["id"], assistant=assistant, overrides={}, now=NOW, expires_after=600
        )
        run.update(status="completed", started_at=NOW, completed_at=NOW, expires_at=None)
        user = {
            "id": new_id("message"),
            "object": "thread.message",
            "created_at": NOW,
            "thread_id": thread["id"],
            "status": "completed",
            "role": "user",
            "content": [text_part(f"seeded message {i}")],
            "attachments": [],
            "metadata": {},
        }
        reply = new_assistant_message(run, f"seeded message {i}", NOW)
        step = new_step(run, "message_creation", {"type": "message_creation"}, NOW)
        step["status"] = "completed"
        batch += [
            record_item(pk, keys.THREAD_SK, thread),
            record_item(pk, keys.MSG + user["id"], user),
            record_item(pk, keys.MSG + reply["id"], reply),
            record_item(pk, keys.run_sk(run["id"]), run),
            record_item(pk, keys.step_sk(run["id"], step["id"]), step),
        ]
        if len(batch) >= 5000:
            engine.put_many(batch)
            batch = []
    if batch:
        engine.put_many(batch)


def timed(samples: int, call: Any) -> list[float]:
    out = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def measure_level(server: LiveServer, engine: SqliteEngine, samples: int) -> dict[str, list[float]]:
    key = "sk-bench-" + uuid.uuid4().hex
    sdk = openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)
    runs = sdk.beta.threads.runs
    assistant = sdk.beta.assistants.create(model="echo")
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    for _ in range(20):
        last = runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20
        )
    figures: dict[str, list[float]] = {}
    figures["retrieve run"] = timed(
        samples, lambda: runs.retrieve(thread_id=thread.id, run_id=last.id)
    )
    figures["list runs"] = timed(samples, lambda: runs.list(thread_id=thread.id, limit=20))
    figures["create message"] = timed(
        samples,
        lambda: sdk.beta.threads.messages.create(thread_id=thread.id, role="user", content="x"),
    )
    other = sdk.beta.threads.create()

    def create_run() -> None:
        run = runs.create(thread_id=other.id, assistant_id=assistant.id)
        runs.poll(thread_id=other.id, run_id=run.id, poll_interval_ms=20)  # untimed: frees thread

    created: list[float] = []
    for _ in range(samples):
        started = time.perf_counter()
        run = runs.create(thread_id=other.id, assistant_id=assistant.id)
        created.append((time.perf_counter() - started) * 1000)
        runs.poll(thread_id=other.id, run_id=run.id, poll_interval_ms=20)
    figures["create run"] = created
    figures["create_and_poll"] = timed(
        samples,
        lambda: runs.create_and_poll(
            thread_id=other.id, assistant_id=assistant.id, poll_interval_ms=20
        ),
    )
    figures.update(in_process_reads(engine, key, thread.id, last.id, samples * 5))
    sdk.close()
    return figures


def in_process_reads(
    engine: SqliteEngine, key: str, thread_id: str, run_id: str, samples: int
) -> dict[str, list[float]]:
    """The same run read three ways in this process: raw SQL, the store, the whole API."""
    import os

    os.environ.pop("STAGE", None)  # importing app with STAGE=local would start a local stage
    from chalice.test import Client

    from app import app
    from chalicelib.config import Settings
    from chalicelib.domain.clock import SystemClock
    from chalicelib.providers.echo import EchoProvider
    from chalicelib.services.auth import project_for
    from chalicelib.services.context import Services
    from chalicelib.store.blobs import LocalBlobs
    from tests.support.services import set_services

    class NoJobs:
        def send(self, job: dict[str, Any]) -> None:
            raise AssertionError("a read sent a job")

    settings = Settings(stage="local", store_engine="sqlite")
    blobs = LocalBlobs(tempfile.mkdtemp(prefix="bench-blobs-"))
    svc = Services(settings, Store(engine), SystemClock(), NoJobs(), EchoProvider(), blobs)
    project = project_for(svc, f"Bearer {key}")
    pk, sk = keys.thread_pk(project, thread_id), keys.run_sk(run_id)
    connection = engine._connection()
    raw = timed(
        samples,
        lambda: connection.execute(
            "SELECT data FROM items WHERE pk = ? AND sk = ?", (pk, sk)
        ).fetchone(),
    )
    decoded = timed(
        samples,
        lambda: json.loads(
            connection.execute(
                "SELECT data FROM items WHERE pk = ? AND sk = ?", (pk, sk)
            ).fetchone()[0]
        ),
    )
    engine_get = timed(samples, lambda: engine.get(pk, sk))
    store = timed(samples, lambda: svc.store.get_run(project, thread_id, run_id))
    from chalicelib.services import runs as run_service

    use_case = timed(samples, lambda: run_service.get_run(svc, project, thread_id, run_id))
    headers = {"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"}
    path = f"/v1/threads/{thread_id}/runs/{run_id}"
    set_services(svc)
    with Client(app) as client:
        assert client.http.get(path, headers=headers).status_code == 200
        api = timed(samples, lambda: client.http.get(path, headers=headers))
    set_services(None)
    return {
        "raw engine read": raw,
        "raw read + JSON decode": decoded,
        "engine get": engine_get,
        "store get_run": store,
        "service retrieve run": use_case,
        "in-process API retrieve": api,
    }


def soak(server: LiveServer, clients: int, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    done: list[tuple[float, float]] = []  # (when it finished, how long the slowest call took)
    errors: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        sdk = openai.OpenAI(
            base_url=server.base_url, api_key="sk-soak-" + uuid.uuid4().hex, max_retries=0
        )
        assistant = sdk.beta.assistants.create(model="echo")
        while time.monotonic() < deadline:
            try:
                t0 = time.perf_counter()
                thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "go"}])
                t1 = time.perf_counter()
                run = sdk.beta.threads.runs.create_and_poll(
                    thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20
                )
                t2 = time.perf_counter()
                assert run.status == "completed", run.status
                with lock:
                    done.append((time.monotonic() - started, max(t1 - t0, t2 - t1)))
            except Exception as error:  # a figure to report, not a crash
                with lock:
                    errors.append(repr(error))
        sdk.close()

    memory: list[tuple[float, float]] = []
    workers = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for worker in workers:
        worker.start()
    while any(w.is_alive() for w in workers):
        memory.append((time.monotonic() - started, rss_mib(server.process.pid)))
        time.sleep(5)
    windows = int(seconds // 10)
    per_window = [
        sum(1 for at, _ in done if w * 10 <= at < (w + 1) * 10) / 10 for w in range(windows)
    ]
    return {
        "runs": len(done),
        "errors": errors,
        "per_window": per_window,
        "slowest_call_s": max((slow for _, slow in done), default=0.0),
        "memory": memory,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", default="0,2000,10000,50000")
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--soak-seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    env = {"MODEL_PROVIDER": "echo", "POLL_AFTER_MS": "20"}
    with start_server(env) as server:
        assert server.data_dir is not None
        engine = SqliteEngine(server.data_dir / "assistants.sqlite3")
        stored = 0
        results: dict[int, dict[str, list[float]]] = {}
        for level in levels:
            t0 = time.perf_counter()
            seed(engine, level - stored)
            stored = level
            print(f"seeded to {level} runs in {time.perf_counter() - t0:.1f} s", flush=True)
            results[level] = measure_level(server, engine, args.samples)
            rss = rss_mib(server.process.pid)
            print(f"  measured at {level}; server RSS {rss:.0f} MiB", flush=True)
        print("\np50 / p99 in ms by stored runs")
        ops = list(results[levels[0]])
        print(f"{'operation':<28}" + "".join(f"{lv:>18}" for lv in levels) + "   p50 ratio")
        for op in ops:
            cells = "".join(
                f"{statistics.median(results[lv][op]):>9.2f}/"
                f"{percentile(results[lv][op], 0.99):<8.2f}"
                for lv in levels
            )
            ratio = statistics.median(results[levels[-1]][op]) / statistics.median(
                results[levels[0]][op]
            )
            print(f"{op:<28}{cells}   {ratio:.2f}x")
        last = results[levels[-1]]
        if "raw engine read" in last:
            raw = statistics.median(last["raw engine read"])
            names = ("raw read + JSON decode", "store get_run", "in-process API retrieve")
            for name in names:
                print(
                    f"{name} p50 / raw engine read p50: {statistics.median(last[name]) / raw:.2f}x"
                )
        if "engine get" in last:
            engine_p50 = statistics.median(last["engine get"])
            retrieve_p50 = statistics.median(last["service retrieve run"])
            print(f"service retrieve run p50 / engine get p50: {retrieve_p50 / engine_p50:.2f}x")
        print(f"\nsoak: {args.clients} SDK clients for {args.soak_seconds:.0f} s")
        report = soak(server, args.clients, args.soak_seconds)
        print(f"  completed runs: {report['runs']}, errors: {len(report['errors'])}")
        for error in report["errors"][:5]:
            print("   ", error)
        print("  runs/s per 10 s window:", " ".join(f"{x:.1f}" for x in report["per_window"]))
        first, end = report["per_window"][0], report["per_window"][-1]
        print(f"  last window / first window: {end / first:.2f}" if first else "  no runs")
        print(f"  slowest single call: {report['slowest_call_s'] * 1000:.0f} ms")
        print("  server RSS (MiB):", " ".join(f"{m:.0f}" for _, m in report["memory"]))
        engine.close()


if __name__ == "__main__":
    main()
