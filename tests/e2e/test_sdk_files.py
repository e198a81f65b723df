"""Files through the official SDK against the live local server, on both store paths (embedded:
content under DATA_DIR/files; DynamoDB on moto: content in an S3 bucket on moto). Every response
is checked on the wire against the Files spec (wire.py) before the SDK parses it strictly."""

from __future__ import annotations

import io
from collections.abc import Iterator

import openai
import pytest

from tests.e2e.conftest import make_client, make_http, new_key
from tests.e2e.helpers import error_message
from tests.e2e.wire import sdk_raw
from tests.support.live_server import LiveServer, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
SMALL_LIMIT = 1000


def test_create_list_retrieve_content_delete(client: openai.OpenAI) -> None:
    texts = [f"document {i}\r\nwith a CRLF and bytes \x00\xff".encode("latin-1") for i in range(3)]
    made = [
        client.files.create(file=(f"doc{i}.txt", io.BytesIO(t), "text/plain"), purpose="assistants")
        for i, t in enumerate(texts)
    ]
    batch = client.files.create(file=("requests.jsonl", b'{"a":1}\n'), purpose="batch")
    ids = [f.id for f in made]
    assert all(i.startswith("file-") for i in ids)
    first = made[0]
    assert (first.object, first.bytes, first.filename, first.purpose, first.status) == (
        "file",
        len(texts[0]),
        "doc0.txt",
        "assistants",
        "processed",
    )
    assert first.expires_at is None
    assert batch.expires_at == batch.created_at + 30 * 86400, "batch files expire in 30 days"

    assert [f.id for f in client.files.list(purpose="assistants")] == ids[::-1]
    assert [f.id for f in client.files.list(purpose="batch")] == [batch.id]
    everything = [f.id for f in client.files.list(limit=2)]
    assert everything == [batch.id, *ids[::-1]], "auto-pagination over pages of 2"
    page = client.files.list(limit=2, order="asc")
    assert [f.id for f in page.data] == ids[:2] and page.has_more is True
    last = client.files.list(limit=2, order="asc", after=ids[2])
    assert [f.id for f in last.data] == [batch.id] and last.has_more is False

    got, raw = sdk_raw(client.files.with_raw_response.retrieve, ids[1])
    assert got.id == ids[1] and got.filename == "doc1.txt"
    assert raw["expires_at"] is None and raw["status_details"] is None, "null, never omitted"
    for file_id, text in zip(ids, texts, strict=True):
        assert client.files.content(file_id).read() == text

    deleted = client.files.delete(ids[0])
    assert (deleted.id, deleted.object, deleted.deleted) == (ids[0], "file", True)
    with pytest.raises(openai.NotFoundError) as missing:
        client.files.retrieve(ids[0])
    assert error_message(missing.value) == f"No such File object: {ids[0]}"
    with pytest.raises(openai.NotFoundError):
        client.files.content(ids[0])
    with pytest.raises(openai.NotFoundError):
        client.files.delete(ids[0])
    assert [f.id for f in client.files.list(purpose="assistants")] == ids[:0:-1]


def test_expires_after_sets_expires_at(client: openai.OpenAI) -> None:
    file = client.files.create(
        file=("short.txt", b"soon gone"),
        purpose="user_data",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    assert file.expires_at == file.created_at + 3600
    assert client.files.retrieve(file.id).expires_at == file.expires_at
    with pytest.raises(openai.BadRequestError) as bad:
        client.files.create(
            file=("x.txt", b"x"),
            purpose="assistants",
            expires_after={"anchor": "created_at", "seconds": 60},
        )
    assert bad.value.body["param"] == "expires_after.seconds"  # type: ignore[index]


def test_another_projects_file_is_a_404(client: openai.OpenAI, other_client: openai.OpenAI) -> None:
    mine = client.files.create(file=("secret.txt", b"mine only"), purpose="assistants")
    for call in (
        other_client.files.retrieve,
        other_client.files.content,
        other_client.files.delete,
    ):
        with pytest.raises(openai.NotFoundError) as caught:
            call(mine.id)
        assert error_message(caught.value) == f"No such File object: {mine.id}"
    assert list(other_client.files.list()) == []
    assert client.files.content(mine.id).read() == b"mine only"


def test_missing_or_bad_purpose_is_a_400(server: LiveServer, api_key: str) -> None:
    with make_http(server, api_key) as http:
        response = http.post("/files", files={"file": ("a.txt", b"x")})
        assert response.status_code == 400
        assert response.json()["error"] == {
            "message": "'purpose' is a required property",
            "type": "invalid_request_error",
            "param": "purpose",
            "code": None,
        }
        response = http.post("/files", data={"purpose": "assistants"})
        assert response.status_code in (400, 415)
        response = http.post("/files", data={"purpose": "answers"}, files={"file": ("a", b"x")})
        assert response.status_code == 400 and response.json()["error"]["param"] == "purpose"
    with make_client(server, api_key) as sdk, pytest.raises(openai.BadRequestError) as bad:
        sdk.files.create(file=("a.txt", b"x"), purpose="answers")  # type: ignore[arg-type]
    assert "is not one of" in error_message(bad.value)


@pytest.fixture(scope="module")
def small_limit_server() -> Iterator[LiveServer]:
    with start_server({"FILE_MAX_BYTES": str(SMALL_LIMIT)}) as server:
        yield server


def test_an_upload_over_the_limit_is_a_413(small_limit_server: LiveServer) -> None:
    with make_client(small_limit_server, new_key()) as sdk:
        ok = sdk.files.create(file=("ok.bin", b"x" * SMALL_LIMIT), purpose="assistants")
        assert ok.bytes == SMALL_LIMIT
        with pytest.raises(openai.APIStatusError) as too_big:
            sdk.files.create(file=("big.bin", b"x" * (SMALL_LIMIT + 1)), purpose="assistants")
        assert too_big.value.status_code == 413
        assert error_message(too_big.value) == (
            f"Maximum content size limit ({SMALL_LIMIT}) exceeded ({SMALL_LIMIT + 1} bytes read)"
        )
        # A body past what the local server reads at all (the larger of MAX_BODY_BYTES and the
        # upload limit plus its form) is refused from its Content-Length, unread: a 413 too.
        with pytest.raises(openai.APIStatusError) as unread:
            sdk.files.create(file=("huge.bin", b"x" * 2_000_000), purpose="assistants")
        assert unread.value.status_code == 413
        assert "Request body too large" in error_message(unread.value)
        assert [f.id for f in sdk.files.list()] == [ok.id]
