"""File batches added by the worker, over the API: the request answers at once with every file
counted in_progress and makes a bounded number of store calls whatever the batch's size; the
`add_batch_files` jobs add the files (delivered twice, racing a cancel, a deleted file, a
deleted store, lost and re-sent by the sweeper).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from chalicelib.dispatch.base import add_batch_files_job
from chalicelib.services import files
from chalicelib.services.context import Services
from chalicelib.services.jobs import handle_job
from chalicelib.services.sweeper import expire_stale_runs
from chalicelib.store.batch_entry_records import SLICE_ENTRIES
from tests.conftest import Api
from tests.test_vector_stores_api import VS, checked, project, run_jobs, upload

BOTH_ENGINES = pytest.mark.parametrize("svc", ["sqlite", "moto"], indirect=True)
# Slices of a few entries, so a batch of a few files has several (moto is slow with hundreds);
# the 2000-file test keeps the real size.
SLICE = 4


@pytest.fixture
def small_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.services import vector_stores

    monkeypatch.setattr(vector_stores, "SLICE_ENTRIES", SLICE)


ENGINE_CALLS = ("get", "put", "put_many", "update", "delete", "transact", "query", "delete_under")


def counted_engine_calls(svc: Services, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every call the store makes to its engine from now on, by method."""
    calls: Counter[str] = Counter()
    engine = svc.store.engine
    for name in ENGINE_CALLS:
        method = getattr(engine, name)

        def counting(*args: Any, _name: str = name, _method: Any = method, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _method(*args, **kwargs)

        monkeypatch.setattr(engine, name, counting)
    return calls


def uploads(svc: Services, n: int) -> list[str]:
    return [upload(svc, f"f{i}.txt", f"file number {i} says hello") for i in range(n)]


def counts_of(api: Api, path: str) -> dict[str, int]:
    return dict(api.ok("GET", path)["file_counts"])


def test_a_2000_file_batch_answers_at_once_with_bounded_store_calls(
    api: Api, svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [
        str(files.create_file(svc, project(svc), f"f{i}.txt", "assistants", b"x")["id"])
        for i in range(2000)
    ]
    store = api.ok("POST", VS, {})
    calls = counted_engine_calls(svc, monkeypatch)
    body = {"file_ids": ids, "attributes": {"k": "v" * 512}}
    batch = checked(api, "POST", f"{VS}/{store['id']}/file_batches",
                    "/vector_stores/{vector_store_id}/file_batches", body)  # fmt: skip
    slices = -(-2000 // SLICE_ENTRIES)
    # The key's project, the store, then a transaction per slice and one for the batch.
    assert calls["transact"] == slices + 1
    assert sum(calls.values()) <= slices + 4, calls
    jobs = svc.dispatcher.take()  # type: ignore[attr-defined]
    assert jobs == [
        add_batch_files_job(project(svc), store["id"], batch["id"], n) for n in range(slices)
    ], "one job per slice, IDs only"
    assert batch["status"] == "in_progress"
    assert batch["file_counts"] == {
        "in_progress": 2000, "completed": 0, "failed": 0, "cancelled": 0, "total": 2000
    }  # fmt: skip
    assert api.ok("GET", f"{VS}/{store['id']}")["status"] == "in_progress", "the store too"
    for job in jobs:
        handle_job(svc, job)
    ingest = svc.dispatcher.take()  # type: ignore[attr-defined]
    assert len(ingest) == 2000 and {j["kind"] for j in ingest} == {"ingest_file"}
    listed = api.ok("GET", f"{VS}/{store['id']}/file_batches/{batch['id']}/files?limit=100")
    assert listed["has_more"] and listed["data"][0]["attributes"] == {"k": "v" * 512}
    assert counts_of(api, f"{VS}/{store['id']}")["in_progress"] == 2000


@BOTH_ENGINES
def test_duplicate_deliveries_add_each_file_once(
    api: Api, svc: Services, small_slices: None
) -> None:
    ids = uploads(svc, SLICE + 3)
    store = api.ok("POST", VS, {})
    path = f"{VS}/{store['id']}/file_batches"
    batch = api.ok("POST", path, {"file_ids": ids + ids[:5]})
    assert batch["file_counts"]["total"] == len(ids), "a file given twice is added once"
    jobs = svc.dispatcher.take()  # type: ignore[attr-defined]
    assert len(jobs) == 2, "two slices"
    for job in jobs + jobs:
        handle_job(svc, job)
    ingest = svc.dispatcher.take()  # type: ignore[attr-defined]
    assert sorted(j["file_id"] for j in ingest) == sorted(ids), "one ingestion job per file"
    for job in ingest + ingest:
        handle_job(svc, job)
    done = api.ok("GET", f"{path}/{batch['id']}")
    assert done["status"] == "completed"
    assert done["file_counts"] == {
        "in_progress": 0, "completed": len(ids), "failed": 0, "cancelled": 0, "total": len(ids)
    }  # fmt: skip
    assert counts_of(api, f"{VS}/{store['id']}") == done["file_counts"]

    # A second batch of files the store already holds skips them, as a batch always did.
    again = api.ok("POST", path, {"file_ids": ids[:2] + uploads(svc, 1)})
    run_jobs(svc)
    assert counts_of(api, f"{path}/{again['id']}") == {
        "in_progress": 0, "completed": 1, "failed": 0, "cancelled": 0, "total": 1
    }  # fmt: skip


@BOTH_ENGINES
def test_cancel_mid_way_counts_pending_files_cancelled_and_adds_none_later(
    api: Api, svc: Services, small_slices: None
) -> None:
    ids = uploads(svc, 2 * SLICE + 2)
    store = api.ok("POST", VS, {})
    path = f"{VS}/{store['id']}/file_batches"
    batch = api.ok("POST", path, {"file_ids": ids})
    first, second, *rest = svc.dispatcher.take()  # type: ignore[attr-defined]
    handle_job(svc, first)  # one slice added; its files are ingesting
    ingest = svc.dispatcher.take()  # type: ignore[attr-defined]
    for job in ingest[:3]:
        handle_job(svc, job)
    cancelled = api.ok("POST", f"{path}/{batch['id']}/cancel")
    assert cancelled["status"] == "cancelled"
    total = len(ids)
    assert cancelled["file_counts"] == {
        "in_progress": 0, "completed": 3, "failed": 0, "cancelled": total - 3, "total": total
    }  # fmt: skip
    for job in (second, *rest):  # the other slices' jobs arrive late: nothing is added
        handle_job(svc, job)
    run_jobs(svc)
    assert svc.dispatcher.jobs == []  # type: ignore[attr-defined]
    assert counts_of(api, f"{path}/{batch['id']}") == cancelled["file_counts"]
    listed = api.ok("GET", f"{VS}/{store['id']}/files?limit=100")["data"]
    assert len(listed) == SLICE, "pending entries never became files"
    assert counts_of(api, f"{VS}/{store['id']}") == {
        "in_progress": 0, "completed": 3, "failed": 0, "cancelled": SLICE - 3,
        "total": SLICE,
    }  # fmt: skip
    assert api.ok("GET", f"{VS}/{store['id']}")["status"] == "completed"


@BOTH_ENGINES
def test_a_deleted_or_unknown_file_fails_in_the_batch_and_is_not_listed(
    api: Api, svc: Services, small_slices: None
) -> None:
    ids = uploads(svc, 3)
    unknown = f"file-{'0' * 24}"
    store = api.ok("POST", VS, {})
    path = f"{VS}/{store['id']}/file_batches"
    batch = api.ok("POST", path, {"file_ids": [*ids, unknown]})
    assert batch["file_counts"]["in_progress"] == 4
    files.delete_file(svc, project(svc), ids[1])  # deleted before the worker adds it
    run_jobs(svc)
    done = api.ok("GET", f"{path}/{batch['id']}")
    assert done["status"] == "completed"
    assert done["file_counts"] == {
        "in_progress": 0, "completed": 2, "failed": 2, "cancelled": 0, "total": 4
    }  # fmt: skip
    listed = api.ok("GET", f"{path}/{batch['id']}/files")["data"]
    assert sorted(f["id"] for f in listed) == sorted([ids[0], ids[2]])
    assert counts_of(api, f"{VS}/{store['id']}") == {
        "in_progress": 0, "completed": 2, "failed": 0, "cancelled": 0, "total": 2
    }  # fmt: skip


@BOTH_ENGINES
def test_deleting_the_store_mid_way_stops_the_job_harmlessly(
    api: Api, svc: Services, small_slices: None
) -> None:
    ids = uploads(svc, SLICE + 1)
    store = api.ok("POST", VS, {})
    api.ok("POST", f"{VS}/{store['id']}/file_batches", {"file_ids": ids})
    first, second = svc.dispatcher.take()  # type: ignore[attr-defined]
    handle_job(svc, first)
    api.ok("DELETE", f"{VS}/{store['id']}")
    handle_job(svc, second)
    handle_job(svc, first)
    run_jobs(svc)
    assert all(svc.store.stores_holding_file(project(svc), f) == [] for f in ids)
    assert list(svc.store.batch_slices_due(svc.clock.now() + 10_000)) == []


@BOTH_ENGINES
def test_a_lost_job_is_resent_by_the_sweeper_then_fails_its_slice(
    api: Api, svc: Services, small_slices: None
) -> None:
    ids = uploads(svc, 2)
    store = api.ok("POST", VS, {})
    path = f"{VS}/{store['id']}/file_batches"
    batch = api.ok("POST", path, {"file_ids": ids})
    lost = svc.dispatcher.take()  # type: ignore[attr-defined]
    wait = svc.settings.ingest_resend_after_seconds
    assert expire_stale_runs(svc).slices_resent == 0, "not due yet"
    svc.clock.advance(wait)  # type: ignore[attr-defined]
    assert expire_stale_runs(svc).slices_resent == 1
    assert expire_stale_runs(svc).slices_resent == 0, "sent once"
    assert svc.dispatcher.take() == lost  # type: ignore[attr-defined]  # and lost again
    for _ in range(2, svc.settings.ingest_max_attempts):
        svc.clock.advance(wait)  # type: ignore[attr-defined]
        assert expire_stale_runs(svc).slices_resent == 1
        svc.dispatcher.take()  # type: ignore[attr-defined]
    svc.clock.advance(wait)  # type: ignore[attr-defined]
    assert expire_stale_runs(svc).slices_failed == 1
    failed = api.ok("GET", f"{path}/{batch['id']}")
    assert failed["status"] == "failed" and failed["file_counts"]["failed"] == 2
    assert api.ok("GET", f"{VS}/{store['id']}")["file_counts"]["total"] == 0
    handle_job(svc, lost[0])  # the job turns up after all: nothing changes
    assert counts_of(api, f"{path}/{batch['id']}") == failed["file_counts"]

    # A resent job that is delivered completes the batch.
    again = api.ok("POST", path, {"file_ids": ids})
    svc.dispatcher.take()  # type: ignore[attr-defined]
    svc.clock.advance(wait)  # type: ignore[attr-defined]
    expire_stale_runs(svc)
    run_jobs(svc)
    assert api.ok("GET", f"{path}/{again['id']}")["status"] == "completed"


@BOTH_ENGINES
def test_create_with_many_file_ids_goes_through_a_batch_of_its_own(
    api: Api, svc: Services, small_slices: None
) -> None:
    from chalicelib.services.vector_stores import INLINE_FILES

    ids = uploads(svc, INLINE_FILES + 5)
    store = api.ok("POST", VS, {"file_ids": ids})
    assert store["status"] == "in_progress"
    assert store["file_counts"] == {
        "in_progress": len(ids), "completed": 0, "failed": 0, "cancelled": 0, "total": len(ids)
    }  # fmt: skip
    assert {j["kind"] for j in svc.dispatcher.jobs} == {"add_batch_files"}  # type: ignore[attr-defined]
    run_jobs(svc)
    done = api.ok("GET", f"{VS}/{store['id']}")
    assert done["status"] == "completed" and done["file_counts"]["completed"] == len(ids)
    few = api.ok("POST", VS, {"file_ids": ids[:INLINE_FILES]})
    assert {j["kind"] for j in svc.dispatcher.take()} == {"ingest_file"}  # type: ignore[attr-defined]
    assert few["file_counts"]["in_progress"] == INLINE_FILES, "added in the request"
