"""What one sweep costs as the table grows: items read and wall time, 100 stale runs each time.

Run: .venv/bin/python bench/sweep_cost.py [--sizes 1000,10000] [--read-sizes 1000,10000,50000]
     [--embedded-sizes 500,10000,50000]

Three tables. First, whole sweeps (find + expire) on the embedded engine (SQLite), including an
idle sweep (nothing stale). Then whole sweeps on moto. Third, the sweep's discovery alone
(its index queries, page by page as `sweep` makes them) on dynalite, an independent DynamoDB
with a real sorted index, at sizes moto cannot hold: moto deep-copies the whole table for every
transaction and ran out of 24 GB at 50,000 runs.
The non-stale runs are half active with a future deadline (in the index, above the bound) and
half finished (not in the index at all). Items read = the sum of ScannedCount of every Query;
"index s" = time spent in those Queries. "sweep s" is the whole tick including the expiry writes:
on moto it grows with the table because moto deep-copies the whole table for every transaction
(its rollback snapshot), which DynamoDB does not do; compare "items read" and "index s".
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")

import boto3
from moto import mock_aws

from chalicelib.config import Settings
from chalicelib.domain.ids import new_id
from chalicelib.providers.echo import EchoProvider
from chalicelib.services.context import Services
from chalicelib.services.sweeper import expire_stale_runs
from chalicelib.store import keys
from chalicelib.store.blobs import LocalBlobs
from chalicelib.store.dynamodb import DynamoDBEngine
from chalicelib.store.sqlite import SqliteEngine
from chalicelib.store.store import Store
from tests.support.doubles import ManualClock, RecordingDispatcher

NOW = 1_800_000_000
PROJECT = "bench"


def run_items(status: str, expires_at: int, shards: int) -> list[dict[str, Any]]:
    """A thread and one run on it, as the store writes them."""
    thread_id, run_id = new_id("thread"), new_id("run")
    pk = keys.thread_pk(PROJECT, thread_id)
    run: dict[str, Any] = {
        "pk": pk,
        "sk": keys.run_sk(run_id),
        "id": run_id,
        "object": "thread.run",
        "thread_id": thread_id,
        "status": status,
        "expires_at": expires_at,
        "usage_so_far": {"prompt_tokens": 3, "completion_tokens": 0},
    }
    thread: dict[str, Any] = {"pk": pk, "sk": keys.THREAD_SK, "id": thread_id, "object": "thread"}
    if status in ("queued", "in_progress", "requires_action", "cancelling"):
        run.update(keys.active_index_keys(run_id, expires_at, shards))
        thread["active_run_id"] = run_id
    return [run, thread]


def measure(non_stale: int, stale: int) -> tuple[int, int, int, float]:
    with mock_aws():
        client = boto3.client("dynamodb")
        table = f"sweep-{non_stale}"
        engine = DynamoDBEngine(client, table)
        engine.create_schema()
        settings = Settings(
            table_name=table, queued_resend_after_seconds=10**9, sweep_time_budget_seconds=10**6
        )
        svc = Services(
            settings=settings,
            store=Store(engine, settings.active_index_shards),
            clock=ManualClock(NOW),
            dispatcher=RecordingDispatcher(),
            provider=EchoProvider(),
            blobs=LocalBlobs(tempfile.mkdtemp(prefix="bench-blobs-")),
        )
        engine.put_many(table_items(non_stale, stale, settings.active_index_shards))
        scanned = [0]
        query_seconds = [0.0]
        began = [0.0]

        def start(**_: Any) -> None:
            began[0] = time.perf_counter()

        def count(parsed: dict[str, Any], **_: Any) -> None:
            scanned[0] += parsed.get("ScannedCount", 0)
            query_seconds[0] += time.perf_counter() - began[0]

        client.meta.events.register("before-call.dynamodb.Query", start)
        client.meta.events.register("after-call.dynamodb.Query", count)
        started = time.perf_counter()
        report = expire_stale_runs(svc)
        elapsed = time.perf_counter() - started
        return scanned[0], report.expired, query_seconds[0], elapsed


def table_items(non_stale: int, stale: int, shards: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for i in range(non_stale):
        if i % 2:
            items += run_items("requires_action", NOW + 300 + i % 200, shards)
        else:
            items += run_items("completed", NOW - 1000, shards)
    for i in range(stale):
        items += run_items("in_progress", NOW - 1 - i % 50, shards)
    return items


def sweep_embedded(non_stale: int, stale: int) -> tuple[float, int, float]:
    """Whole sweeps on the embedded engine: (idle sweep s, expired, sweep s)."""
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        engine = SqliteEngine(Path(directory) / "sweep.sqlite3")
        engine.create_schema()
        settings = Settings(queued_resend_after_seconds=10**9, sweep_time_budget_seconds=10**6)
        clock = ManualClock(NOW - 10_000)  # first a tick when nothing is stale yet
        svc = Services(
            settings=settings,
            store=Store(engine, settings.active_index_shards),
            clock=clock,
            dispatcher=RecordingDispatcher(),
            provider=EchoProvider(),
            blobs=LocalBlobs(tempfile.mkdtemp(prefix="bench-blobs-")),
        )
        engine.put_many(table_items(non_stale, stale, settings.active_index_shards))
        started = time.perf_counter()
        expire_stale_runs(svc)
        idle = time.perf_counter() - started
        clock.set(NOW)
        started = time.perf_counter()
        report = expire_stale_runs(svc)
        elapsed = time.perf_counter() - started
        engine.close()
        return idle, report.expired, elapsed


def discover_on_dynalite(non_stale: int, stale: int) -> tuple[int, int, float]:
    """The sweep's index reads alone, on dynalite: (items read, stale found, seconds)."""
    from tests.support.dynalite import dynalite_client, start_dynalite

    server = start_dynalite(extra_args=["--createTableMs", "0"])
    try:
        client = dynalite_client(server.endpoint_url, timeout=60)
        table = f"sweep-{non_stale}"
        engine = DynamoDBEngine(client, table)
        engine.create_schema()
        store = Store(engine, Settings().active_index_shards)
        engine.put_many(table_items(non_stale, stale, store.shards))
        scanned = [0]
        client.meta.events.register(
            "after-call.dynamodb.Query",
            lambda parsed, **_: scanned.__setitem__(0, scanned[0] + parsed.get("ScannedCount", 0)),
        )
        started = time.perf_counter()
        found = sum(1 for _ in store.runs_past_deadline(NOW))
        return scanned[0], found, time.perf_counter() - started
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--read-sizes", default="1000,10000,50000")
    parser.add_argument("--embedded-sizes", default="500,10000,50000")
    parser.add_argument("--stale", type=int, default=100)
    args = parser.parse_args()
    print("Whole sweeps (find and expire), embedded engine:")
    header = ("non-stale runs", "stale", "idle sweep s", "expired", "sweep s")
    print("  ".join(f"{h:>14}" for h in header))
    for size in (int(s) for s in args.embedded_sizes.split(",") if s):
        idle, expired, elapsed = sweep_embedded(size, args.stale)
        row = (size, args.stale, f"{idle:.4f}", expired, f"{elapsed:.3f}")
        print("  ".join(f"{v:>14}" for v in row), flush=True)
    print("\nWhole sweeps (find and expire), moto:")
    header = ("non-stale runs", "stale", "items read", "expired", "index s", "sweep s")
    print("  ".join(f"{h:>14}" for h in header))
    for size in (int(s) for s in args.sizes.split(",")):
        read, expired, index_s, elapsed = measure(size, args.stale)
        row = (size, args.stale, read, expired, f"{index_s:.3f}", f"{elapsed:.2f}")
        print("  ".join(f"{v:>14}" for v in row), flush=True)
    print("\nThe sweep's discovery (index queries only), dynalite:")
    header = ("non-stale runs", "stale", "items read", "stale found", "index s")
    print("  ".join(f"{h:>14}" for h in header))
    for size in (int(s) for s in args.read_sizes.split(",") if s):
        read, found, seconds = discover_on_dynalite(size, args.stale)
        row = (size, args.stale, read, found, f"{seconds:.3f}")
        print("  ".join(f"{v:>14}" for v in row), flush=True)


if __name__ == "__main__":
    main()
