"""The store contract suite for files: the same tests on every engine (see tests/test_store.py).

Records in a project's files partition, listed in creation order with the spec's `after`,
`limit`, `order` and a `purpose` filter, exact `has_more`; files that expire are found through
the file-expiry partitions of the `active` index (no scan).
"""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.files import new_file
from chalicelib.domain.pagination import PageRequest
from chalicelib.store import keys
from chalicelib.store.blobs import blob_key
from chalicelib.store.store import Record, Store
from tests import test_store as contract
from tests.support import engines

NOW, PROJECT, OTHER_PROJECT = contract.NOW, contract.PROJECT, contract.OTHER_PROJECT
# The store suite's fixtures: every engine it runs on, each test on a table or file of its own.
dynalite_server = contract.dynalite_server
engine = contract.engine
store = contract.store


def file_record(
    purpose: str = "assistants",
    name: str = "notes.txt",
    expires_at: int | None = None,
    project: str = PROJECT,
) -> Record:
    file: Record = dict(
        new_file(
            filename=name,
            purpose=purpose,
            size=11,
            now=NOW,
            expires_at=expires_at,
            content_type="text/plain",
        )
    )
    file["blob_key"] = blob_key(project, file["id"])
    return file


def put_files(store: Store, count: int, **fields: Any) -> list[Record]:
    files = [file_record(**fields) for _ in range(count)]
    for file in files:
        store.put_file(PROJECT, file)
    return files


def ids(records: list[Record]) -> list[str]:
    return [r["id"] for r in records]


def test_file_put_get_delete(store: Store) -> None:
    file = file_record()
    store.put_file(PROJECT, file)
    stored = {k: v for k, v in file.items() if v is not None}
    assert store.get_file(PROJECT, file["id"]) == stored
    assert store.get_file(OTHER_PROJECT, file["id"]) is None, "files are per project"
    assert store.delete_file(OTHER_PROJECT, file["id"]) is None
    assert store.delete_file(PROJECT, file["id"]) == stored
    assert store.get_file(PROJECT, file["id"]) is None
    assert store.delete_file(PROJECT, file["id"]) is None


def test_files_live_in_their_projects_partition(store: Store) -> None:
    file = file_record()
    store.put_file(PROJECT, file)
    assert engines.partition(store.engine, keys.files_pk(PROJECT)) == [keys.FILE + file["id"]]
    assert engines.partition(store.engine, keys.files_pk(OTHER_PROJECT)) == []


def test_list_files_pages_in_creation_order_with_exact_has_more(store: Store) -> None:
    files = ids(put_files(store, 5))
    everything = store.list_files(PROJECT, PageRequest(limit=10_000))
    assert ids(everything.items) == files[::-1] and everything.has_more is False
    first = store.list_files(PROJECT, PageRequest(limit=2, order="asc"))
    assert ids(first.items) == files[:2] and first.has_more is True
    middle = store.list_files(PROJECT, PageRequest(limit=2, order="asc", after=files[1]))
    assert ids(middle.items) == files[2:4] and middle.has_more is True
    last = store.list_files(PROJECT, PageRequest(limit=2, order="asc", after=files[3]))
    assert ids(last.items) == files[4:] and last.has_more is False
    exact = store.list_files(PROJECT, PageRequest(limit=5, order="asc"))
    assert ids(exact.items) == files and exact.has_more is False
    backwards = store.list_files(PROJECT, PageRequest(limit=2, after=files[3]))
    assert ids(backwards.items) == [files[2], files[1]] and backwards.has_more is True
    assert store.list_files(OTHER_PROJECT, PageRequest()).items == []


def test_list_files_filters_by_purpose_with_exact_pages(store: Store) -> None:
    mixed = []
    for i in range(6):
        file = file_record(purpose="batch" if i % 2 else "assistants")
        store.put_file(PROJECT, file)
        mixed.append(file)
    batch = [f["id"] for f in mixed if f["purpose"] == "batch"]
    page = store.list_files(PROJECT, PageRequest(limit=2, order="asc"), purpose="batch")
    assert ids(page.items) == batch[:2] and page.has_more is True
    rest = store.list_files(
        PROJECT, PageRequest(limit=2, order="asc", after=batch[1]), purpose="batch"
    )
    assert ids(rest.items) == batch[2:] and rest.has_more is False
    assert store.list_files(PROJECT, PageRequest(), purpose="vision").items == []


def test_files_past_expiry_are_found_by_the_index(store: Store) -> None:
    soon = file_record(expires_at=NOW + 3600)
    later = file_record(expires_at=NOW + 7200)
    never = file_record()
    elsewhere = file_record(expires_at=NOW + 3600, project=OTHER_PROJECT)
    for file in (soon, later, never):
        store.put_file(PROJECT, file)
    store.put_file(OTHER_PROJECT, elsewhere)
    assert list(store.files_past_expiry(NOW + 3599)) == []
    found = set(store.files_past_expiry(NOW + 3600, page_size=1))
    assert found == {(PROJECT, soon["id"]), (OTHER_PROJECT, elsewhere["id"])}
    assert set(store.files_past_expiry(NOW + 10**6)) == found | {(PROJECT, later["id"])}
    store.delete_file(PROJECT, soon["id"])
    assert set(store.files_past_expiry(NOW + 3600)) == {(OTHER_PROJECT, elsewhere["id"])}
    assert "gsi1pk" not in (store.get_file(PROJECT, later["id"]) or {}), "index keys stay inside"


@pytest.mark.parametrize("shards", [1, 4])
def test_files_past_expiry_cover_every_shard(engine: Any, shards: int) -> None:
    sharded = Store(engine, shards)
    files = [file_record(expires_at=NOW + i) for i in range(1, 13)]
    for file in files:
        sharded.put_file(PROJECT, file)
    assert {f for _, f in sharded.files_past_expiry(NOW + 100, page_size=2)} == set(ids(files))
