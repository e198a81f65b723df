"""Vector stores over the API (chalice's test client on the real app): objects as the spec has them,
ingestion by the job, search, batches, deletes and their cascade, tenancy, bad input.

Jobs wait in a RecordingDispatcher until a test delivers them (`run_jobs`), so a test sees the
in_progress state first and can deliver a job twice.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.dispatch.base import add_batch_files_job, file_deleted_job, ingest_job
from chalicelib.services import files
from chalicelib.services.auth import project_for
from chalicelib.services.context import Services
from chalicelib.services.jobs import handle_job
from tests.conftest import KEY, OTHER_KEY, Api
from tests.support.spec import validate_response

# The embedded engine; DynamoDB and S3 on moto; and the whole deployed path (S3 Vectors on moto,
# Bedrock Titan through a validating double: tests/conftest.py, `svc`).
STORE_PATHS = pytest.mark.parametrize("svc", ["sqlite", "moto", "deployed"], indirect=True)
VS = "/v1/vector_stores"
ZEBRA = "Zebras live in Africa. They have black and white stripes and eat grass all day."
ROCKET = "Rockets burn fuel to produce thrust. A rocket engine expels hot exhaust gases."
BREAD = "Bread is baked from flour, water and yeast. The dough rises before baking."


def run_jobs(svc: Services) -> list[dict[str, Any]]:
    delivered = []
    while jobs := svc.dispatcher.take():  # type: ignore[attr-defined]
        for job in jobs:
            handle_job(svc, job)
            delivered.append(job)
    return delivered


def project(svc: Services, key: str = KEY) -> str:
    return project_for(svc, f"Bearer {key}")


def upload(svc: Services, name: str, text: str | bytes, key: str = KEY) -> str:
    data = text.encode() if isinstance(text, str) else text
    return str(files.create_file(svc, project(svc, key), name, "assistants", data)["id"])


def checked(api: Api, method: str, path: str, template: str, body: Any = None) -> Any:
    """A 200 whose body is valid for the spec's operation."""
    data = api.ok(method, path, body)
    validate_response(method, template, 200, data)
    return data


def error(api: Api, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    status, data = api.call(method, path, body)
    assert status >= 400, (status, data)
    validate_response("get", "/vector_stores", status, data)  # an ErrorResponse, all four keys
    return status, data["error"]


@pytest.fixture
def three(svc: Services) -> list[str]:
    page = f"<html><script>var x;</script><p>{BREAD}</p></html>"
    return [
        upload(svc, "zebra.txt", ZEBRA),
        upload(svc, "rocket.md", ROCKET),
        upload(svc, "bread.html", page),
    ]


@STORE_PATHS
def test_create_with_files_ingests_and_search_finds_the_right_file_first(
    api: Api, svc: Services, three: list[str]
) -> None:
    store = checked(api, "POST", VS, "/vector_stores", {"name": "docs", "file_ids": three})
    assert store["object"] == "vector_store" and store["id"].startswith("vs_")
    assert store["status"] == "in_progress"
    assert store["file_counts"] == {
        "in_progress": 3, "completed": 0, "failed": 0, "cancelled": 0, "total": 3
    }  # fmt: skip
    jobs = run_jobs(svc)
    assert [j["kind"] for j in jobs] == ["ingest_file"] * 3
    path = f"{VS}/{store['id']}"
    done = checked(api, "GET", path, "/vector_stores/{vector_store_id}")
    assert done["status"] == "completed" and done["file_counts"]["completed"] == 3
    assert done["usage_bytes"] > 0

    body = {"query": "what do zebras eat", "max_num_results": 2}
    found = checked(api, "POST", f"{path}/search", "/vector_stores/{vector_store_id}/search", body)
    assert found["search_query"] == ["what do zebras eat"]
    assert found["data"][0]["file_id"] == three[0]
    assert found["data"][0]["filename"] == "zebra.txt"
    assert found["data"][0]["content"] == [{"type": "text", "text": ZEBRA}]
    assert len(found["data"]) <= 2
    scores = [r["score"] for r in found["data"]]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)

    top = found["data"][0]["score"]
    body = {"query": "what do zebras eat", "ranking_options": {"score_threshold": top}}
    strict = api.ok("POST", f"{path}/search", body)
    assert [r["file_id"] for r in strict["data"]] == [three[0]], "threshold drops the rest"

    page = api.ok("POST", f"{path}/search", {"query": "baking flour dough yeast"})
    assert page["data"][0]["file_id"] == three[2]
    assert "var x" not in page["data"][0]["content"][0]["text"], "scripts are not indexed"


@STORE_PATHS
def test_file_objects_list_retrieve_update_and_content(
    api: Api, svc: Services, three: list[str]
) -> None:
    store = api.ok("POST", VS, {})
    assert store["name"] == "" and "expires_after" not in store
    path = f"{VS}/{store['id']}/files"
    body = {"file_id": three[0], "attributes": {"lang": "en", "year": 2024, "ok": True}}
    added = checked(api, "POST", path, "/vector_stores/{vector_store_id}/files", body)
    assert added["status"] == "in_progress" and added["last_error"] is None
    assert added["chunking_strategy"] == {
        "type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}
    }  # fmt: skip
    static = {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}}
    api.ok("POST", path, {"file_id": three[1], "chunking_strategy": static})
    again = api.ok("POST", path, {"file_id": three[0]})
    assert again["id"] == three[0] and again["attributes"]["lang"] == "en", "added once"
    run_jobs(svc)

    listing = checked(api, "GET", f"{path}?order=asc", "/vector_stores/{vector_store_id}/files")
    assert [f["id"] for f in listing["data"]] == three[:2]
    assert {f["status"] for f in listing["data"]} == {"completed"}
    assert api.ok("GET", f"{path}?filter=in_progress")["data"] == []
    one = api.ok("GET", f"{path}?limit=1&order=asc")
    assert one["has_more"] is True and one["last_id"] == three[0]
    assert api.ok("GET", f"{path}?limit=1&order=asc&after={three[0]}")["has_more"] is False

    template = "/vector_stores/{vector_store_id}/files/{file_id}"
    got = checked(api, "GET", f"{path}/{three[1]}", template)
    assert got["chunking_strategy"] == static and got["usage_bytes"] == len(ROCKET)
    updated = checked(api, "POST", f"{path}/{three[1]}", template, {"attributes": {"k": "v"}})
    assert updated["attributes"] == {"k": "v"}

    content = checked(api, "GET", f"{path}/{three[0]}/content", template + "/content")
    assert content["data"] == [{"type": "text", "text": ZEBRA}]
    search = f"{VS}/{store['id']}/search"
    by_k = {"query": "zebra", "filters": {"type": "eq", "key": "k", "value": "v"}}
    assert api.ok("POST", search, by_k)["data"] == [], "its chunks still carry the old ones"
    jobs = run_jobs(svc)
    assert jobs == [ingest_job(project(svc), store["id"], three[1], refresh=True)]
    assert api.ok("GET", f"{path}/{three[1]}")["status"] == "completed"
    filtered = api.ok("POST", search, by_k)
    assert [r["file_id"] for r in filtered["data"]] == [three[1]], "re-indexed with the new ones"
    compound = {"type": "and", "filters": [{"type": "gte", "key": "year", "value": 2000},
                                          {"type": "eq", "key": "ok", "value": True}]}  # fmt: skip
    hits = api.ok("POST", search, {"query": "zebra", "filters": compound})["data"]
    assert [r["file_id"] for r in hits] == [three[0]]
    assert hits[0]["attributes"] == {"lang": "en", "year": 2024, "ok": True}
    # Attributes that no longer match leave the results at once (the index is behind).
    api.ok("POST", f"{path}/{three[0]}", {"attributes": {"year": 1999}})
    assert api.ok("POST", search, {"query": "zebra", "filters": compound})["data"] == []
    run_jobs(svc)
    assert api.ok("POST", search, {"query": "zebra", "filters": compound})["data"] == []
    assert api.ok("GET", VS + f"/{store['id']}")["file_counts"]["completed"] == 2


@STORE_PATHS
def test_unsupported_invalid_and_empty_files_fail_with_last_error(api: Api, svc: Services) -> None:
    binary = upload(svc, "photo.png", b"\x89PNG\r\n\x1a\n\x00\x00binary")
    not_utf8 = upload(svc, "notes.txt", b"caf\xe9 au lait")
    empty = upload(svc, "empty.md", b"   \n")
    bom = upload(svc, "bom.txt", b"\xef\xbb\xbfhello with a byte order mark")
    store = api.ok("POST", VS, {"file_ids": [binary, not_utf8, empty, bom]})
    run_jobs(svc)
    path = f"{VS}/{store['id']}/files"
    errors = {f["id"]: f["last_error"] for f in api.ok("GET", path)["data"]}
    assert errors[binary]["code"] == "unsupported_file" and "'.png'" in errors[binary]["message"]
    assert errors[not_utf8]["code"] == "invalid_file"
    assert errors[empty] == {
        "code": "invalid_file",
        "message": "The file contains no text to index.",
    }
    assert errors[bom] is None
    assert api.ok("GET", f"{path}?filter=failed")["data"][0]["status"] == "failed"
    counts = api.ok("GET", f"{VS}/{store['id']}")["file_counts"]
    assert (counts["failed"], counts["completed"], counts["total"]) == (3, 1, 4)
    hit = api.ok("POST", f"{VS}/{store['id']}/search", {"query": "byte order mark"})["data"][0]
    assert hit["content"][0]["text"] == "hello with a byte order mark", "the BOM is dropped"


@STORE_PATHS
def test_deletes_remove_chunks_fix_counts_and_cascade(
    api: Api, svc: Services, three: list[str]
) -> None:
    first = api.ok("POST", VS, {"file_ids": three})
    second = api.ok("POST", VS, {"file_ids": three[:1]})
    run_jobs(svc)
    path = f"{VS}/{first['id']}"
    gone = checked(api, "DELETE", f"{path}/files/{three[1]}",
                   "/vector_stores/{vector_store_id}/files/{file_id}")  # fmt: skip
    assert gone == {"id": three[1], "object": "vector_store.file.deleted", "deleted": True}
    assert error(api, "GET", f"{path}/files/{three[1]}")[0] == 404
    assert error(api, "DELETE", f"{path}/files/{three[1]}")[0] == 404
    store = api.ok("GET", path)
    assert store["file_counts"]["total"] == 2 and store["file_counts"]["completed"] == 2
    found = api.ok("POST", f"{path}/search", {"query": "rocket engine thrust exhaust"})
    assert three[1] not in [r["file_id"] for r in found["data"]]
    files.get_file(svc, project(svc), three[1])  # the file itself remains

    # Deleting the file (Files API) takes it out of every store of the project.
    files.delete_file(svc, project(svc), three[0])
    assert file_deleted_job(project(svc), three[0]) in svc.dispatcher.jobs  # type: ignore[attr-defined]
    run_jobs(svc)
    for store_id in (first["id"], second["id"]):
        ids = [f["id"] for f in api.ok("GET", f"{VS}/{store_id}/files")["data"]]
        assert three[0] not in ids
    assert api.ok("GET", f"{VS}/{second['id']}")["file_counts"]["total"] == 0
    handle_job(svc, file_deleted_job(project(svc), three[0]))  # a second delivery: no change

    deleted = checked(api, "DELETE", path, "/vector_stores/{vector_store_id}")
    assert deleted == {"id": first["id"], "object": "vector_store.deleted", "deleted": True}
    assert (
        error(api, "GET", path)[1]["message"] == f"No vector store found with id '{first['id']}'."
    )
    assert svc.vectors.query(project(svc), [first["id"]], [1.0] * svc.embedder.dimension, 10) == []
    files.get_file(svc, project(svc), three[2])


@STORE_PATHS
def test_jobs_are_idempotent_and_a_cancelled_batch_file_is_not_revived(
    api: Api, svc: Services, three: list[str]
) -> None:
    store = api.ok("POST", VS, {})
    path = f"{VS}/{store['id']}/file_batches"
    body = {"files": [{"file_id": three[0], "attributes": {"n": 1}}, {"file_id": three[1]}],
            "attributes": {"n": 2}}  # fmt: skip
    batch = checked(api, "POST", path, "/vector_stores/{vector_store_id}/file_batches", body)
    assert batch["object"] == "vector_store.files_batch" and batch["id"].startswith("vsfb_")
    assert batch["status"] == "in_progress" and batch["file_counts"]["in_progress"] == 2
    (add,) = svc.dispatcher.take()  # type: ignore[attr-defined]
    assert add == add_batch_files_job(project(svc), store["id"], batch["id"], 0)
    handle_job(svc, add)
    handle_job(svc, add)  # the batch's add job delivered twice: each file added once
    jobs = svc.dispatcher.take()  # type: ignore[attr-defined]
    assert jobs == [ingest_job(project(svc), store["id"], f) for f in sorted(three[:2])]
    jobs.sort(key=lambda job: three.index(job["file_id"]))
    handle_job(svc, jobs[0])
    handle_job(svc, jobs[0])  # delivered twice: counted once
    template = "/vector_stores/{vector_store_id}/file_batches/{batch_id}"
    cancelled = checked(api, "POST", f"{path}/{batch['id']}/cancel", template + "/cancel")
    assert cancelled["status"] == "cancelled"
    assert cancelled["file_counts"] == {
        "in_progress": 0, "completed": 1, "failed": 0, "cancelled": 1, "total": 2
    }  # fmt: skip
    handle_job(svc, jobs[1])  # the cancelled file's job arrives late: nothing happens
    files_path = f"{path}/{batch['id']}/files"
    listing = checked(api, "GET", f"{files_path}?filter=cancelled", template + "/files")
    assert [f["id"] for f in listing["data"]] == [three[1]]
    assert listing["data"][0]["attributes"] == {"n": 2}
    assert api.ok("GET", f"{VS}/{store['id']}/files/{three[0]}")["attributes"] == {"n": 1}
    again = checked(api, "GET", f"{path}/{batch['id']}", template)
    assert again["file_counts"]["completed"] == 1
    found = api.ok("POST", f"{VS}/{store['id']}/search", {"query": "rocket thrust"})["data"]
    assert three[1] not in [r["file_id"] for r in found], "a cancelled file is not searchable"

    second = api.ok("POST", path, {"file_ids": [three[2], three[2]]})
    assert second["file_counts"]["total"] == 1, "a batch adds a file once"
    run_jobs(svc)
    assert api.ok("GET", f"{path}/{second['id']}")["status"] == "completed"
    assert api.ok("GET", f"{VS}/{store['id']}")["file_counts"] == {
        "in_progress": 0, "completed": 2, "failed": 0, "cancelled": 1, "total": 3
    }  # fmt: skip


def test_modify_and_list_stores(api: Api, svc: Services) -> None:
    created = [api.ok("POST", VS, {"name": f"s{i}", "metadata": {"i": str(i)}}) for i in range(3)]
    listing = checked(api, "GET", f"{VS}?limit=2&order=asc", "/vector_stores")
    assert [s["id"] for s in listing["data"]] == [c["id"] for c in created[:2]]
    assert listing["has_more"] is True
    path = f"{VS}/{created[0]['id']}"
    body = {"name": None, "expires_after": {"anchor": "last_active_at", "days": 7}}
    modified = checked(api, "POST", path, "/vector_stores/{vector_store_id}", body)
    assert modified["name"] == "" and modified["metadata"] == {"i": "0"}
    assert modified["expires_after"] == {"anchor": "last_active_at", "days": 7}
    assert modified["expires_at"] == modified["last_active_at"] + 7 * 86_400
    cleared = api.ok("POST", path, {"expires_after": None, "metadata": {"x": "y"}})
    assert cleared["expires_at"] is None and cleared["metadata"] == {"x": "y"}


def test_another_projects_objects_answer_404(
    api: Api, other_api: Api, svc: Services, three: list[str]
) -> None:
    store = api.ok("POST", VS, {"file_ids": three[:1]})
    batch = api.ok("POST", f"{VS}/{store['id']}/file_batches", {"file_ids": three[1:2]})
    run_jobs(svc)
    base = f"{VS}/{store['id']}"
    calls = [
        ("GET", base, None), ("POST", base, {"name": "x"}), ("DELETE", base, None),
        ("POST", f"{base}/search", {"query": "zebra"}),
        ("GET", f"{base}/files", None), ("POST", f"{base}/files", {"file_id": three[0]}),
        ("GET", f"{base}/files/{three[0]}", None), ("DELETE", f"{base}/files/{three[0]}", None),
        ("POST", f"{base}/files/{three[0]}", {"attributes": {}}),
        ("GET", f"{base}/files/{three[0]}/content", None),
        ("POST", f"{base}/file_batches", {"file_ids": [three[0]]}),
        ("GET", f"{base}/file_batches/{batch['id']}", None),
        ("POST", f"{base}/file_batches/{batch['id']}/cancel", None),
        ("GET", f"{base}/file_batches/{batch['id']}/files", None),
    ]  # fmt: skip
    for method, path, body in calls:
        status, err = error(other_api, method, path, body)
        assert status == 404 and err["message"] == f"No vector store found with id '{store['id']}'."
    # The other project cannot add this project's file to its own store either.
    theirs = other_api.ok("POST", VS, {})
    status, err = error(other_api, "POST", f"{VS}/{theirs['id']}/files", {"file_id": three[0]})
    assert status == 404
    assert error(other_api, "POST", VS, {"file_ids": [three[0]]})[0] == 404
    assert [s["id"] for s in other_api.ok("GET", VS)["data"]] == [theirs["id"]]
    assert api.ok("GET", base)["file_counts"]["total"] == 2, "nothing of ours changed"
    unknown = f"{base}/file_batches/vsfb_{'0' * 24}"
    assert (
        error(api, "GET", unknown)[1]["message"]
        == f"No file batch found with id 'vsfb_{'0' * 24}'."
    )
    assert error(api, "GET", f"{VS}/not-an-id")[0] == 404
    assert error(api, "GET", f"{base}/files/file-{'0' * 24}")[0] == 404
    assert OTHER_KEY != KEY


BAD_BODIES = [
    ({"chunking_strategy": {"type": "static", "static": {"max_chunk_size_tokens": 99,
      "chunk_overlap_tokens": 0}}}, "chunking_strategy.static.max_chunk_size_tokens"),
    ({"chunking_strategy": {"type": "static", "static": {"max_chunk_size_tokens": 400,
      "chunk_overlap_tokens": 201}}}, "chunking_strategy.static.chunk_overlap_tokens"),
    ({"chunking_strategy": {"type": "other"}}, "chunking_strategy.type"),
    ({"expires_after": {"anchor": "last_active_at", "days": 0}}, "expires_after.days"),
    ({"expires_after": {"anchor": "created_at", "days": 3}}, "expires_after.anchor"),
    ({"metadata": {"k": 1}}, "metadata.k"),
    ({"file_ids": "file-x"}, "file_ids"),
    ({"name": 5}, "name"),
    ({"unknown": 1}, "unknown"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "param"), BAD_BODIES)
def test_bad_create_bodies_are_400s_naming_the_field(
    api: Api, body: dict[str, Any], param: str
) -> None:
    status, err = error(api, "POST", VS, body)
    assert (status, err["param"], err["type"]) == (400, param, "invalid_request_error")


def test_bad_file_search_and_list_input_are_400s(api: Api, svc: Services, three: list[str]) -> None:
    store = api.ok("POST", VS, {})
    base = f"{VS}/{store['id']}"
    many = {f"k{i}": "v" for i in range(17)}
    cases = [
        ("POST", f"{base}/files", {"file_id": three[0], "attributes": many}, "attributes"),
        ("POST", f"{base}/files", {}, "file_id"),
        ("POST", f"{base}/file_batches", {}, "file_ids"),
        ("POST", f"{base}/file_batches", {"file_ids": []}, "file_ids"),
        ("POST", f"{base}/file_batches", {"file_ids": [three[0]], "files": [{"file_id": three[1]}]},
         "files"),
        ("POST", f"{base}/search", {"query": "x", "max_num_results": 51}, "max_num_results"),
        ("POST", f"{base}/search", {}, "query"),
        ("POST", f"{base}/search", {"query": "x", "filters": {"type": "eq", "key": "k"}},
         "filters.value"),
        ("POST", f"{base}/search", {"query": "x", "filters": {"type": "and", "filters": [
            {"type": "like", "key": "k", "value": 1}]}}, "filters.filters[0].type"),
        ("POST", f"{base}/search", {"query": "x", "filters": {"type": "gt", "key": "k",
         "value": "b"}}, "filters.value"),
        ("POST", f"{base}/search", {"query": "x", "filters": {"type": "or", "filters": []}},
         "filters"),
        ("POST", f"{base}/search", {"query": "x", "ranking_options": {"score_threshold": 2}},
         "ranking_options.score_threshold"),
        ("GET", f"{base}/files?filter=done", None, "filter"),
        ("GET", f"{base}/files?limit=0", None, "limit"),
        ("GET", f"{VS}?after=asst_x", None, "after"),
    ]  # fmt: skip
    for method, path, body, param in cases:
        status, err = error(api, method, path, body)
        assert (status, err["param"]) == (400, param), (path, body, err)
    status, err = error(api, "POST", f"{base}/files", {"file_id": f"file-{'0' * 24}"})
    assert status == 404
    assert api.ok("GET", base)["file_counts"]["total"] == 0, "nothing was added"


@STORE_PATHS
def test_expired_store_reads_but_refuses_search_and_files(
    api: Api, svc: Services, three: list[str]
) -> None:
    from chalicelib.services.sweeper import expire_stale_runs

    body = {"file_ids": three[:1], "expires_after": {"anchor": "last_active_at", "days": 1}}
    store = api.ok("POST", VS, body)
    run_jobs(svc)
    path = f"{VS}/{store['id']}"
    svc.clock.advance(3600)  # type: ignore[attr-defined]
    api.ok("POST", f"{path}/search", {"query": "zebra"})
    touched = api.ok("GET", path)
    assert touched["last_active_at"] == store["created_at"] + 3600, "a search is activity"
    assert touched["expires_at"] == touched["last_active_at"] + 86_400
    svc.clock.advance(86_400 - 1)  # type: ignore[attr-defined]
    assert expire_stale_runs(svc).stores_expired == 0
    svc.clock.advance(1)  # type: ignore[attr-defined]
    assert expire_stale_runs(svc).stores_expired == 1
    assert expire_stale_runs(svc).stores_expired == 0, "once"
    expired = checked(api, "GET", path, "/vector_stores/{vector_store_id}")
    assert expired["status"] == "expired"
    status, err = error(api, "POST", f"{path}/search", {"query": "zebra"})
    assert status == 400
    assert err["message"] == (
        f"Vector store {store['id']} is expired. Create a new vector store and try again."
    )
    assert error(api, "POST", f"{path}/files", {"file_id": three[1]})[0] == 400
    assert api.ok("GET", f"{path}/files")["data"][0]["id"] == three[0], "its files still list"


@STORE_PATHS
def test_the_sweeper_resends_lost_ingestion_then_fails_it(api: Api, svc: Services) -> None:
    from chalicelib.services.sweeper import expire_stale_runs

    file_id = upload(svc, "a.txt", "some text")
    store = api.ok("POST", VS, {"file_ids": [file_id]})
    lost = svc.dispatcher.take()  # type: ignore[attr-defined]
    assert lost == [ingest_job(project(svc), store["id"], file_id)]
    wait = svc.settings.ingest_resend_after_seconds
    assert expire_stale_runs(svc).files_resent == 0, "not due yet"
    for attempt in range(2, svc.settings.ingest_max_attempts + 1):
        svc.clock.advance(wait)  # type: ignore[attr-defined]
        report = expire_stale_runs(svc)
        assert report.files_resent == 1, attempt
        assert svc.dispatcher.take() == lost  # type: ignore[attr-defined]
    svc.clock.advance(wait)  # type: ignore[attr-defined]
    assert expire_stale_runs(svc).files_failed == 1
    got = api.ok("GET", f"{VS}/{store['id']}/files/{file_id}")
    assert got["status"] == "failed" and got["last_error"]["code"] == "server_error"
    assert api.ok("GET", f"{VS}/{store['id']}")["status"] == "completed"
    handle_job(svc, lost[0])  # the job turns up after all: the failed file stays failed
    assert api.ok("GET", f"{VS}/{store['id']}/files/{file_id}")["status"] == "failed"


def test_a_sweep_resend_that_is_delivered_completes_the_file(api: Api, svc: Services) -> None:
    from chalicelib.services.sweeper import expire_stale_runs

    file_id = upload(svc, "a.txt", "some text")
    store = api.ok("POST", VS, {"file_ids": [file_id]})
    svc.dispatcher.take()  # type: ignore[attr-defined]  # the job is lost
    svc.clock.advance(svc.settings.ingest_resend_after_seconds)  # type: ignore[attr-defined]
    expire_stale_runs(svc)
    run_jobs(svc)
    assert api.ok("GET", f"{VS}/{store['id']}")["file_counts"]["completed"] == 1


def test_services_that_runs_use(svc: Services, three: list[str]) -> None:
    from chalicelib.services import search, vector_stores

    owner = project(svc)
    store = vector_stores.create_vector_store(
        svc, owner, {"file_ids": three[:2], "chunking_strategy": None, "name": "thread store"}
    )
    assert vector_stores.get_vector_store(svc, owner, store["id"])["name"] == "thread store"
    assert search.pending_files(svc, owner, [store["id"]]) == 2
    run_jobs(svc)
    assert search.pending_files(svc, owner, [store["id"], "vs_unknown"]) == 0
    added = vector_stores.add_file(svc, owner, store["id"], three[2], attributes={"a": "b"})
    assert added["status"] == "in_progress"
    run_jobs(svc)
    results = search.search_vector_stores(svc, owner, [store["id"]], "rocket fuel", 5, None)
    assert results[0].file_id == three[1] and results[0].filename == "rocket.md"
    assert results[0].content == [{"type": "text", "text": ROCKET}]
    only = search.search_vector_stores(
        svc, owner, [store["id"]], "rocket fuel", 5, None, {"type": "eq", "key": "a", "value": "b"}
    )
    assert [r.file_id for r in only] == [three[2]]
    assert json.dumps(results[0].to_wire())


def test_attributes_changed_while_ingesting_are_indexed_too(api: Api, svc: Services) -> None:
    file_id = upload(svc, "a.txt", "alpha beta gamma")
    store = api.ok("POST", VS, {})
    path = f"{VS}/{store['id']}/files"
    api.ok("POST", path, {"file_id": file_id, "attributes": {"v": 1}})
    embed = svc.embedder.embed

    def embed_while_updated(texts: Any) -> Any:
        # The client updates the attributes while the worker is embedding the old ones.
        svc.store.update_vector_store_file(
            project(svc), store["id"], file_id, {"attributes": {"v": 2}}
        )
        return embed(texts)

    svc.embedder.embed = embed_while_updated  # type: ignore[method-assign]
    (job,) = svc.dispatcher.take()  # type: ignore[attr-defined]
    handle_job(svc, job)
    svc.embedder.embed = embed  # type: ignore[method-assign]
    assert svc.dispatcher.jobs == [  # type: ignore[attr-defined]
        ingest_job(project(svc), store["id"], file_id, refresh=True)
    ]
    run_jobs(svc)
    v2 = {"query": "alpha", "filters": {"type": "eq", "key": "v", "value": 2}}
    assert [r["file_id"] for r in api.ok("POST", f"{VS}/{store['id']}/search", v2)["data"]] == [
        file_id
    ]


@STORE_PATHS
def test_a_file_deleted_while_it_ingests_leaves_no_chunks_and_is_not_revived(
    api: Api, svc: Services
) -> None:
    file_id = upload(svc, "a.txt", "alpha beta gamma delta")
    store = api.ok("POST", VS, {"file_ids": [file_id]})
    put_chunks = svc.vectors.put_chunks

    def put_after_the_delete(*args: Any) -> None:
        # The client takes the file out of the store while the worker is indexing it.
        api.ok("DELETE", f"{VS}/{store['id']}/files/{file_id}")
        put_chunks(*args)

    svc.vectors.put_chunks = put_after_the_delete  # type: ignore[method-assign]
    (job,) = svc.dispatcher.take()  # type: ignore[attr-defined]
    handle_job(svc, job)
    svc.vectors.put_chunks = put_chunks  # type: ignore[method-assign]
    vector = svc.embedder.embed(["alpha beta"])[0]
    assert svc.vectors.query(project(svc), [store["id"]], vector, 10) == [], "chunks dropped"
    handle_job(svc, job)  # delivered again: the file is gone, nothing comes back
    assert api.ok("GET", f"{VS}/{store['id']}/files")["data"] == []
    assert api.ok("GET", f"{VS}/{store['id']}")["file_counts"] == {
        "in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 0
    }  # fmt: skip
    assert svc.vectors.query(project(svc), [store["id"]], vector, 10) == []


def test_a_large_store_delete_finishes_in_a_purge_job(
    api: Api, svc: Services, three: list[str]
) -> None:
    import dataclasses

    from chalicelib.dispatch.base import purge_vector_store_job

    svc.settings = dataclasses.replace(svc.settings, delete_inline_items=1)
    store = api.ok("POST", VS, {"file_ids": three})
    run_jobs(svc)
    assert api.ok("DELETE", f"{VS}/{store['id']}")["deleted"] is True
    assert error(api, "GET", f"{VS}/{store['id']}")[0] == 404, "gone at once"
    job = purge_vector_store_job(project(svc), store["id"])
    assert svc.dispatcher.jobs == [job]  # type: ignore[attr-defined]
    vector = svc.embedder.embed(["zebra"])[0]
    assert svc.vectors.query(project(svc), [store["id"]], vector, 10), "chunks wait for the job"
    run_jobs(svc)
    assert svc.vectors.query(project(svc), [store["id"]], vector, 10) == []
    assert all(svc.store.stores_holding_file(project(svc), f) == [] for f in three)
    handle_job(svc, job)  # again: nothing left, nothing breaks
    mine = api.ok("POST", VS, {})
    handle_job(svc, purge_vector_store_job(project(svc), mine["id"]))  # a live store: ignored
    assert api.ok("GET", f"{VS}/{mine['id']}")["id"] == mine["id"]
