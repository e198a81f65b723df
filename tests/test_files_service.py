"""The files service (chalicelib/services/files.py) on the embedded engine with content in a
directory, and on moto (DynamoDB and S3): the two store paths."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain import objects, records
from chalicelib.domain.errors import ApiError
from chalicelib.domain.pagination import PageRequest
from chalicelib.services import files
from chalicelib.services.context import Services
from chalicelib.services.sweeper import expire_stale_runs
from chalicelib.store.blobs import BlobNotFound
from tests.support.doubles import ManualClock

PROJECT = "local-aaaa"
OTHER = "local-bbbb"
BOTH_PATHS = pytest.mark.parametrize("svc", ["sqlite", "moto"], indirect=True)


def _clock(svc: Services) -> ManualClock:
    assert isinstance(svc.clock, ManualClock)
    return svc.clock


def _jobs(svc: Services) -> list[dict[str, Any]]:
    return svc.dispatcher.take()  # type: ignore[attr-defined,no-any-return]


def _error(call: Any, *args: Any, **kwargs: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_the_file_record_type_names_every_wire_key() -> None:
    missing = set(objects.FILE_KEYS) - set(records.FileRecord.__annotations__)
    assert not missing


@BOTH_PATHS
def test_create_read_list_delete(svc: Services) -> None:
    data = b"line one\r\nline two\x00\xff binary"
    file = files.create_file(svc, PROJECT, "notes.txt", "assistants", data, "text/plain")
    wire = objects.to_wire(file)
    assert wire == {
        "id": file["id"],
        "object": "file",
        "bytes": len(data),
        "created_at": svc.clock.now(),
        "expires_at": None,
        "filename": "notes.txt",
        "purpose": "assistants",
        "status": "processed",
        "status_details": None,
    }
    assert file["id"].startswith("file-")
    assert files.get_file(svc, PROJECT, file["id"])["filename"] == "notes.txt"
    assert files.read_file_content(svc, PROJECT, file["id"]) == data
    page = files.list_files(svc, PROJECT, PageRequest(limit=10_000))
    assert [f["id"] for f in page.items] == [file["id"]]

    assert files.delete_file(svc, PROJECT, file["id"]) == {
        "id": file["id"],
        "object": "file",
        "deleted": True,
    }
    assert _jobs(svc) == [{"kind": "file_deleted", "project": PROJECT, "file_id": file["id"]}]
    with pytest.raises(BlobNotFound):
        svc.blobs.get(file["blob_key"])
    for call in (files.get_file, files.read_file_content, files.delete_file):
        error = _error(call, svc, PROJECT, file["id"])
        assert (error.status, error.message) == (404, f"No such File object: {file['id']}")
    assert _jobs(svc) == [], "a second delete sends nothing"


@BOTH_PATHS
def test_another_projects_file_is_a_404_like_an_unknown_one(svc: Services) -> None:
    file = files.create_file(svc, PROJECT, "a.txt", "assistants", b"mine")
    for call in (files.get_file, files.read_file_content, files.delete_file):
        error = _error(call, svc, OTHER, file["id"])
        assert (error.status, error.message, error.param) == (
            404,
            f"No such File object: {file['id']}",
            "id",
        )
    assert files.read_file_content(svc, PROJECT, file["id"]) == b"mine", "nothing was deleted"
    for bad in ("file-short", "asst_" + "a" * 24, "../../etc/passwd", "x" * 5000):
        assert _error(files.get_file, svc, PROJECT, bad).status == 404


@pytest.mark.parametrize(
    ("purpose", "message"),
    [
        (None, "'purpose' is a required property"),
        (
            "answers",
            "'answers' is not one of ['assistants', 'batch', 'fine-tune', 'vision', "
            "'user_data', 'evals'] - 'purpose'",
        ),
    ],
)
def test_a_missing_or_unknown_purpose_is_a_400(
    svc: Services, purpose: str | None, message: str
) -> None:
    error = _error(files.create_file, svc, PROJECT, "a.txt", purpose, b"x")  # type: ignore[arg-type]
    assert (error.status, error.message, error.param) == (400, message, "purpose")


def test_every_upload_purpose_is_accepted(svc: Services) -> None:
    for purpose in ("assistants", "batch", "fine-tune", "vision", "user_data", "evals"):
        assert files.create_file(svc, PROJECT, "a", purpose, b"x")["purpose"] == purpose


def test_a_file_over_the_limit_is_a_413_and_nothing_is_stored(svc: Services) -> None:
    limit = svc.settings.file_max_bytes
    error = _error(files.create_file, svc, PROJECT, "big.bin", "assistants", b"x" * (limit + 1))
    assert error.status == 413
    assert (
        error.message == f"Maximum content size limit ({limit}) exceeded ({limit + 1} bytes read)"
    )
    assert files.list_files(svc, PROJECT, PageRequest()).items == []
    assert files.create_file(svc, PROJECT, "ok.bin", "assistants", b"x" * limit)["bytes"] == limit


@pytest.mark.parametrize(
    ("expires_after", "param"),
    [
        ({"anchor": "created_at", "seconds": 3599}, "expires_after.seconds"),
        ({"anchor": "created_at", "seconds": 2_592_001}, "expires_after.seconds"),
        ({"anchor": "created_at", "seconds": "soon"}, "expires_after.seconds"),
        ({"anchor": "created_at", "seconds": True}, "expires_after.seconds"),
        ({"anchor": "created_at"}, "expires_after.seconds"),
        ({"anchor": "last_active_at", "seconds": 3600}, "expires_after.anchor"),
        ({"seconds": 3600}, "expires_after.anchor"),
    ],
)
def test_a_bad_expires_after_is_a_400(
    svc: Services, expires_after: dict[str, Any], param: str
) -> None:
    error = _error(
        files.create_file, svc, PROJECT, "a", "assistants", b"x", expires_after=expires_after
    )
    assert (error.status, error.param) == (400, param)


def test_expiry_sets_expires_at_and_an_expired_file_is_gone(svc: Services) -> None:
    now = svc.clock.now()
    file = files.create_file(
        svc,
        PROJECT,
        "a",
        "assistants",
        b"x",
        expires_after={"anchor": "created_at", "seconds": "3600"},
    )
    assert file["expires_at"] == now + 3600
    batch = files.create_file(svc, PROJECT, "b.jsonl", "batch", b"{}")
    assert batch["expires_at"] == now + 30 * 86400, "batch files expire in 30 days by default"
    kept = files.create_file(svc, PROJECT, "c", "assistants", b"y")
    _clock(svc).advance(3600)
    assert _error(files.get_file, svc, PROJECT, file["id"]).status == 404
    assert _error(files.read_file_content, svc, PROJECT, file["id"]).status == 404
    listed = files.list_files(svc, PROJECT, PageRequest(limit=100, order="asc")).items
    assert [f["id"] for f in listed] == [batch["id"], kept["id"]]


@BOTH_PATHS
def test_the_sweeper_removes_expired_files_with_their_content(svc: Services) -> None:
    expiring = files.create_file(
        svc,
        PROJECT,
        "a",
        "assistants",
        b"x",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    kept = files.create_file(svc, PROJECT, "b", "assistants", b"y")
    assert expire_stale_runs(svc).files_expired == 0
    _clock(svc).advance(3600)
    report = expire_stale_runs(svc)
    assert report.files_expired == 1 and report.errors == 0
    assert svc.store.get_file(PROJECT, expiring["id"]) is None
    with pytest.raises(BlobNotFound):
        svc.blobs.get(expiring["blob_key"])
    assert _jobs(svc) == [{"kind": "file_deleted", "project": PROJECT, "file_id": expiring["id"]}]
    assert files.read_file_content(svc, PROJECT, kept["id"]) == b"y"
    assert expire_stale_runs(svc).files_expired == 0, "each file is removed once"


def test_a_sweep_that_cannot_remove_one_file_goes_on(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = {"anchor": "created_at", "seconds": 3600}
    first = files.create_file(svc, PROJECT, "a", "assistants", b"1", expires_after=spec)
    second = files.create_file(svc, PROJECT, "b", "assistants", b"2", expires_after=spec)
    real = files.expire_file

    def flaky(svc: Services, project: str, file_id: str, now: int) -> bool:
        if file_id == first["id"]:
            raise RuntimeError("storage hiccup")
        return real(svc, project, file_id, now)

    monkeypatch.setattr(files, "expire_file", flaky)
    _clock(svc).advance(3600)
    report = expire_stale_runs(svc)
    assert (report.files_expired, report.errors) == (1, 1)
    assert svc.store.get_file(PROJECT, second["id"]) is None
    monkeypatch.setattr(files, "expire_file", real)
    assert expire_stale_runs(svc).files_expired == 1, "the next tick takes the one left"


def test_deleting_an_expired_file_is_a_404_and_removes_it_as_the_sweeper_would(
    svc: Services,
) -> None:
    spec = {"anchor": "created_at", "seconds": 3600}
    file = files.create_file(svc, PROJECT, "a", "assistants", b"x", expires_after=spec)
    _clock(svc).advance(3600)
    assert _error(files.delete_file, svc, PROJECT, file["id"]).status == 404
    assert svc.store.get_file(PROJECT, file["id"]) is None
    with pytest.raises(BlobNotFound):
        svc.blobs.get(file["blob_key"])
    assert _jobs(svc) == [{"kind": "file_deleted", "project": PROJECT, "file_id": file["id"]}]
    assert expire_stale_runs(svc).files_expired == 0, "nothing left for the sweeper"
