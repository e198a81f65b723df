"""Load: N concurrent official-SDK clients against a live local server, then a consistency check.

Run: .venv/bin/python bench/load.py [--seconds 20] [--clients 8] [--poll-ms 25] [--shared-key]

Starts `python -m chalicelib.local.server` on a free 127.0.0.1 port (tests/support/live_server.py:
embedded engine, echo model, worker threads, sweeper every second). Each client is a thread with
its own `openai.OpenAI(max_retries=0)`; by default each has its own API key, i.e. its own project
(`--shared-key`: one key, one project for all). Until the time is up, each client loops:

    threads.create(messages=[one user message])  ->  runs.create_and_poll(...)  ->  messages.list

No loop starts after the deadline; a client still inside an iteration --grace seconds after it
(e.g. create_and_poll waiting on a stuck run) is abandoned and reported, so the whole run is
bounded by --seconds + --grace + the final check. Printed:
HTTP requests/s (counted on the wire), completed runs/s, p50/p99/max latency per SDK operation,
and errors. Then it checks that nothing was lost or stuck: every run created is `completed`, every
thread has exactly its 2 messages (the user's and the echoed reply), and the server's lists agree
with what the clients counted. Exit status 1 if any check fails or any request erred.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import threading
import time
import uuid
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402  (the SDK's HTTP library)
import openai  # noqa: E402

from tests.support.live_server import LiveServer, start_server  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)  # "The Assistants API is ..."
OPERATIONS = ("threads.create", "runs.create_and_poll", "messages.list")


@dataclass
class Loop:
    """One iteration's objects, for the final check."""

    key: str
    thread_id: str
    run_id: str | None = None
    run_status: str | None = None
    text: str = ""


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    http_requests: int = 0
    loops: list[Loop] = field(default_factory=list)

    def count_request(self, _request: Any) -> None:
        with self.lock:
            self.http_requests += 1

    def record(self, operation: str, seconds: float) -> None:
        with self.lock:
            self.latencies[operation].append(seconds)

    def error(self, operation: str, error: Exception) -> None:
        with self.lock:
            self.errors[operation] += 1
            if len(self.error_samples) < 5:
                self.error_samples.append(f"{operation}: {type(error).__name__}: {error}"[:300])


def make_client(server: LiveServer, key: str, stats: Stats) -> openai.OpenAI:
    http = httpx2.Client(event_hooks={"request": [stats.count_request]}, timeout=30.0)
    return openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0, http_client=http)


def client_loop(
    client: openai.OpenAI,
    key: str,
    assistant_id: str,
    deadline: float,
    poll_ms: int,
    stats: Stats,
    number: int,
) -> None:
    iteration = 0
    while time.monotonic() < deadline:
        iteration += 1
        text = f"client {number} iteration {iteration} says hello"
        start = time.perf_counter()
        try:
            thread = client.beta.threads.create(messages=[{"role": "user", "content": text}])
        except Exception as error:  # counted, and the loop goes on
            stats.error("threads.create", error)
            continue
        stats.record("threads.create", time.perf_counter() - start)
        loop = Loop(key=key, thread_id=thread.id, text=text)
        with stats.lock:
            stats.loops.append(loop)
        start = time.perf_counter()
        try:
            run = client.beta.threads.runs.create_and_poll(
                thread_id=thread.id, assistant_id=assistant_id, poll_interval_ms=poll_ms
            )
        except Exception as error:
            stats.error("runs.create_and_poll", error)
            continue
        stats.record("runs.create_and_poll", time.perf_counter() - start)
        loop.run_id, loop.run_status = run.id, run.status
        start = time.perf_counter()
        try:
            client.beta.threads.messages.list(thread_id=thread.id)
        except Exception as error:
            stats.error("messages.list", error)
            continue
        stats.record("messages.list", time.perf_counter() - start)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def verify(server: LiveServer, loops: list[Loop], clients: dict[str, openai.OpenAI]) -> list[str]:
    """Everything the clients created is there, terminal and consistent. Problems, if any."""
    problems: list[str] = []
    for loop in loops:
        client = clients[loop.key]
        runs = client.beta.threads.runs.list(thread_id=loop.thread_id, limit=100).data
        if loop.run_id is None:
            problems += [
                f"{loop.thread_id}: run {r.id} never came back to the client (status {r.status})"
                for r in runs
            ]
            continue
        if [r.id for r in runs] != [loop.run_id]:
            problems.append(f"{loop.thread_id}: runs {[r.id for r in runs]} != [{loop.run_id}]")
        run = client.beta.threads.runs.retrieve(thread_id=loop.thread_id, run_id=loop.run_id)
        if run.status != "completed" or loop.run_status != "completed":
            problems.append(
                f"{loop.run_id}: status {run.status} (the client saw {loop.run_status})"
            )
        messages = client.beta.threads.messages.list(
            thread_id=loop.thread_id, order="asc", limit=100
        ).data
        texts = [(m.role, m.content[0].text.value if m.content else "") for m in messages]
        expected = [("user", loop.text), ("assistant", loop.text)]
        if texts != expected:
            problems.append(f"{loop.thread_id}: messages {texts} != {expected}")
    # Every project's assistant is still the only one, and the server saw no failed job.
    for key, client in clients.items():
        assistants = client.beta.assistants.list(limit=100).data
        if len(assistants) != 1:
            problems.append(f"project of {key[:16]}...: {len(assistants)} assistants, not 1")
    log = server.log()
    if "Traceback" in log:
        start = log.index("Traceback")
        problems.append("the server logged an error:\n" + log[max(0, start - 300) : start + 3000])
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="how long clients loop")
    parser.add_argument("--clients", type=int, default=8, help="concurrent SDK clients")
    parser.add_argument("--poll-ms", type=int, default=25, help="create_and_poll interval")
    parser.add_argument(
        "--grace", type=float, default=60.0, help="how long to wait for iterations in flight"
    )
    parser.add_argument(
        "--shared-key", action="store_true", help="one API key (one project) for every client"
    )
    args = parser.parse_args()
    # A SIGTERM (e.g. `timeout`) still stops the server: the `with` block below is left normally.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not 0 < args.seconds <= 600 or not 1 <= args.clients <= 64:
        parser.error("--seconds must be in (0, 600] and --clients in [1, 64]")

    stats = Stats()
    with start_server() as server:
        shared = "sk-load-" + uuid.uuid4().hex
        keys = [
            shared if args.shared_key else f"sk-load-{i}-{uuid.uuid4().hex}"
            for i in range(args.clients)
        ]
        clients = {key: make_client(server, key, stats) for key in dict.fromkeys(keys)}
        assistants = {
            key: client.beta.assistants.create(model="gpt-4o", name="load").id
            for key, client in clients.items()
        }
        setup_requests = stats.http_requests
        print(
            f"server {server.base_url}: {args.clients} clients, "
            f"{len(clients)} project(s), {args.seconds:.0f} s, poll {args.poll_ms} ms",
            flush=True,
        )
        started = time.monotonic()
        deadline = started + args.seconds
        workers = [
            threading.Thread(
                target=client_loop,
                args=(clients[key], key, assistants[key], deadline, args.poll_ms, stats, i),
                name=f"client-{i}",
                daemon=True,  # abandoned (and reported) if still busy after the grace period
            )
            for i, key in enumerate(keys)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=max(0.0, deadline + args.grace - time.monotonic()))
        elapsed = time.monotonic() - started
        stuck = [worker.name for worker in workers if worker.is_alive()]
        load_requests = stats.http_requests - setup_requests

        with stats.lock:
            loops_started = len(stats.loops)
            completed = sum(1 for loop in stats.loops if loop.run_status == "completed")
        print(f"\nelapsed {elapsed:.1f} s, {loops_started} loops")
        print(f"HTTP requests: {load_requests} ({load_requests / elapsed:.1f} req/s)")
        print(f"completed runs: {completed} ({completed / elapsed:.2f} runs/s)")
        print(f"{'operation':<22}{'count':>7}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
        for operation in OPERATIONS:
            values = stats.latencies.get(operation, [])
            if not values:
                print(f"{operation:<22}{0:>7}")
                continue
            print(
                f"{operation:<22}{len(values):>7}"
                f"{statistics.median(values) * 1000:>10.1f}"
                f"{percentile(values, 0.99) * 1000:>10.1f}"
                f"{max(values) * 1000:>10.1f}"
            )
        total_errors = sum(stats.errors.values())
        print(f"errors: {total_errors} {dict(stats.errors) if total_errors else ''}".rstrip())
        for sample in stats.error_samples:
            print(f"  {sample}")

        with stats.lock:
            loops = list(stats.loops)  # abandoned clients may still append: check a snapshot
        problems = [
            f"{name}: still in an iteration {args.grace:.0f} s after the end" for name in stuck
        ]
        problems += verify(server, loops, clients)
        print(
            f"\ncheck: {len(loops)} threads, {completed} runs completed, {len(problems)} problem(s)"
        )
        for problem in problems[:20]:
            print(f"  {problem}")
        for client in clients.values():
            client.close()
    return 1 if problems or total_errors else 0


if __name__ == "__main__":
    sys.exit(main())
