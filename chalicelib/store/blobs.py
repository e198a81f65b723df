"""File content (blobs): a directory under DATA_DIR locally, an S3 bucket deployed.

A blob is the bytes of one uploaded file, under a key the files service chooses
(`blob_key(project, file_id)`). The store package is the only place that speaks to S3: S3Blobs
uses a botocore client (no boto3 in the Lambda), created on first use so that requests that
never touch a file never pay for it.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol

# What a key may hold: path segments of id-like characters. No "..", no leading "/", no
# backslash: a key can never name a path outside the root (LocalBlobs checks that again).
_KEY = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_.-]+)*")


class BlobNotFound(KeyError):
    """No blob under that key."""


class BlobStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes:
        """The blob's bytes; BlobNotFound if there is none."""
        ...

    def delete(self, key: str) -> None:
        """Remove the blob; deleting a missing one is not an error (deletes are retried)."""
        ...


def blob_key(project: str, file_id: str) -> str:
    """Where a file's content lives: one prefix per project."""
    return check_key(f"{project}/{file_id}")


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key) or any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"not a blob key: {key[:200]!r}")
    return key


class LocalBlobs:
    """Blobs as files under `root` (the local stage: DATA_DIR/files/).

    A put writes a temporary file in the same directory and renames it over the target, so a
    reader sees the old content or the new, never half of one, and a crash leaves no torn blob.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"blob key escapes the root: {key[:200]!r}")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Blobs:
    """Blobs as objects of one S3 bucket (deployed: the stack's FilesBucket).

    The bucket encrypts at rest (its default encryption) and keeps deleted objects as noncurrent
    versions for a few days (its lifecycle rule), so a delete here is final for clients but
    recoverable by an operator for that long.
    """

    def __init__(self, bucket: str, client: Any | None = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = s3_client()
        return self._client

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=check_key(key), Body=data, ContentType=content_type
        )

    def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=check_key(key))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise BlobNotFound(key) from None
            raise
        body = response["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def delete(self, key: str) -> None:
        # S3 answers a delete of a missing key with success: retries are harmless.
        self.client.delete_object(Bucket=self.bucket, Key=check_key(key))


def s3_client() -> Any:
    """An S3 client; honours AWS_ENDPOINT_URL_S3 and the usual AWS settings."""
    import botocore.session

    return botocore.session.get_session().create_client("s3")
