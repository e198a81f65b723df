"""Use cases for files: upload, read, list, delete; expired files are removed by the sweeper.

A file is a record in the store (its project's files partition) plus a blob holding its bytes
(svc.blobs). The blob is written first and removed last, so a record never names missing
content. Deleting a file also takes it out of every vector store of its project: that is a job
(`file_deleted`) for the worker, sent once the record is gone.
"""

from __future__ import annotations

import logging
from typing import Any

from ..dispatch.base import file_deleted_job
from ..domain import files as rules
from ..domain.pagination import Page, PageRequest
from ..store.blobs import BlobNotFound, blob_key
from ..store.store import Record
from .context import Services

log = logging.getLogger(__name__)


def create_file(
    svc: Services,
    project: str,
    filename: str,
    purpose: str,
    data: bytes,
    content_type: str | None = None,
    expires_after: dict[str, Any] | None = None,
) -> Record:
    """Store an upload: its content as a blob, then its record. Returns the record."""
    rules.check_purpose(purpose)
    rules.check_filename(filename)
    if len(data) > svc.settings.file_max_bytes:
        raise rules.content_too_large(len(data), svc.settings.file_max_bytes)
    now = svc.clock.now()
    file: Record = dict(
        rules.new_file(
            filename=filename,
            purpose=purpose,
            size=len(data),
            now=now,
            expires_at=rules.expires_at(purpose, expires_after, now),
            content_type=content_type,
        )
    )
    file["blob_key"] = blob_key(project, file["id"])
    svc.blobs.put(file["blob_key"], data, file["content_type"])
    try:
        svc.store.put_file(project, file)
    except BaseException:
        _remove_blob(svc, file["blob_key"])
        raise
    return file


def get_file(svc: Services, project: str, file_id: str) -> Record:
    """The file's record; 404 for an unknown id, another project's file or an expired one."""
    rules.require_file_id(file_id)
    file = svc.store.get_file(project, file_id)
    if file is None or rules.is_expired(file, svc.clock.now()):
        raise rules.file_not_found(file_id)
    return file


def read_file_content(svc: Services, project: str, file_id: str) -> bytes:
    return content_of(svc, get_file(svc, project, file_id), project)


def content_of(svc: Services, file: Record, project: str) -> bytes:
    """The bytes of a file whose record the caller has (from get_file).

    A blob that cannot be read because the file was deleted meanwhile is a 404 (S3 answers
    AccessDenied, not NoSuchKey, for a missing key to a role without s3:ListBucket).
    """
    try:
        return svc.blobs.get(file["blob_key"])
    except BlobNotFound:
        raise rules.file_not_found(file["id"]) from None
    except Exception:
        if svc.store.get_file(project, file["id"]) is None:
            raise rules.file_not_found(file["id"]) from None
        raise


def list_files(svc: Services, project: str, page: PageRequest, purpose: str | None = None) -> Page:
    """A page of the project's files; an expired one the sweeper has not removed yet is left out."""
    found = svc.store.list_files(project, page, purpose)
    now = svc.clock.now()
    return Page([f for f in found.items if not rules.is_expired(f, now)], found.has_more)


def delete_file(svc: Services, project: str, file_id: str) -> dict[str, Any]:
    """Delete the record and the content, then have the worker take the file out of its stores.

    One write, no read first: the delete returns the record it removed. One that had expired is
    removed as the sweeper would have, and answered as gone already (404).
    """
    rules.require_file_id(file_id)
    removed = svc.store.delete_file(project, file_id)
    if removed is None:  # unknown, another project's, or a concurrent delete won
        raise rules.file_not_found(file_id)
    _forget(svc, project, removed)
    if rules.is_expired(removed, svc.clock.now()):
        raise rules.file_not_found(file_id)
    return rules.deleted_file(file_id)


def expire_file(svc: Services, project: str, file_id: str, now: int) -> bool:
    """Remove a file past its `expires_at` (the sweeper): as a delete would. False if it is not
    (any more) there and expired."""
    file = svc.store.get_file(project, file_id)
    if file is None or not rules.is_expired(file, now):
        return False
    removed = svc.store.delete_file(project, file_id)
    if removed is None:
        return False
    _forget(svc, project, removed)
    return True


def _forget(svc: Services, project: str, removed: Record) -> None:
    """After a file's record is gone: its content, then its place in vector stores."""
    _remove_blob(svc, removed["blob_key"])
    svc.dispatcher.send(file_deleted_job(project, removed["id"]))


def _remove_blob(svc: Services, key: str) -> None:
    try:
        svc.blobs.delete(key)
    except Exception:  # the record is gone already; an orphan blob is logged, never a 500
        log.exception("could not delete the blob %s", key)
