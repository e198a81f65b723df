"""The blob stores, one contract on both: LocalBlobs (a directory) and S3Blobs (moto's S3)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.store.blobs import BlobNotFound, BlobStore, LocalBlobs, S3Blobs, blob_key

BUCKET = "blobs-test"


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "local":
        yield LocalBlobs(tmp_path / "files")
        return
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield S3Blobs(BUCKET, s3)


def test_put_get_overwrite_delete(blobs: BlobStore) -> None:
    key = blob_key("local-abc", "file-0123456789ABCDEFGHIJKLMN")
    data = bytes(range(256)) + b"\r\n--boundary\r\n"
    blobs.put(key, data, "application/octet-stream")
    assert blobs.get(key) == data
    blobs.put(key, b"new", "text/plain")
    assert blobs.get(key) == b"new"
    blobs.delete(key)
    with pytest.raises(BlobNotFound):
        blobs.get(key)
    blobs.delete(key)  # a delete of a missing blob is not an error: deletes are retried
    blobs.put(key, b"", "text/plain")
    assert blobs.get(key) == b"", "an empty file is a blob too"


@pytest.mark.parametrize(
    "key",
    ["../outside", "a/../../b", "/absolute", "a//b", "a/./b", "a\\b", "", "a/b/", "é", "a b"],
)
def test_keys_never_escape_the_root(blobs: BlobStore, key: str) -> None:
    for call in (
        lambda: blobs.put(key, b"x", "text/plain"),
        lambda: blobs.get(key),
        lambda: blobs.delete(key),
    ):
        with pytest.raises(ValueError):
            call()


def test_blob_keys_are_per_project() -> None:
    assert blob_key("local-abc", "file-x") == "local-abc/file-x"
    with pytest.raises(ValueError):
        blob_key("../other", "file-x")


def test_a_local_put_is_atomic_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = LocalBlobs(tmp_path)
    blobs.put("p/f", b"old", "text/plain")

    def crash(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        blobs.put("p/f", b"new content", "text/plain")
    monkeypatch.undo()
    assert blobs.get("p/f") == b"old", "a failed write leaves the old content whole"
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["f"]


def test_a_local_root_that_is_a_symlink_still_holds_the_keys(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    blobs = LocalBlobs(tmp_path / "link")
    blobs.put("p/f", b"x", "text/plain")
    assert (real / "p" / "f").read_bytes() == b"x"


def test_s3_errors_other_than_a_missing_key_are_raised() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        blobs = S3Blobs("no-such-bucket", s3)
        with pytest.raises(ClientError):
            blobs.get("p/f")
        with pytest.raises(ClientError):
            blobs.put("p/f", b"x", "text/plain")


def test_s3_keeps_the_content_type() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        S3Blobs(BUCKET, s3).put("p/f", b"{}", "application/json")
        assert s3.head_object(Bucket=BUCKET, Key="p/f")["ContentType"] == "application/json"
