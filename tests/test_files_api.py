"""The /v1/files routes through the real app (chalice.test.Client): multipart uploads as the SDK,
curl and browsers send them, downloads as raw bytes, lists, deletes, and every refusal an
OpenAI-shaped 4xx. Objects are checked against the Files spec."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.services.context import Services
from tests.conftest import KEY, OTHER_KEY, make_services
from tests.support.spec import validate_response, validate_schema

BOUNDARY = "----test-boundary-7MA4YWxkTrZu0gW"
SDK_HEADERS = {"Authorization": f"Bearer {KEY}"}  # the SDK sends no OpenAI-Beta to /v1/files


def form_body(
    fields: dict[str, str] | None = None,
    file: tuple[str, bytes, str | None] | None = ("notes.txt", b"hello files", "text/plain"),
    boundary: str = BOUNDARY,
    disposition: str | None = None,
) -> bytes:
    """A multipart/form-data body: text fields, then (name, bytes, type) as the `file` part."""
    out = b""
    for name, value in (fields or {}).items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    if file is not None:
        filename, data, content_type = file
        head = disposition or f'form-data; name="file"; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {head}\r\n".encode()
        if content_type:
            out += f"Content-Type: {content_type}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def multipart_type(boundary: str = BOUNDARY) -> str:
    return f"multipart/form-data; boundary={boundary}"


class FilesApi:
    def __init__(self, client: Any, key: str = KEY) -> None:
        self.client = client
        self.key = key

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, Any, Any]:
        sent = {"Authorization": f"Bearer {self.key}", **(headers or {})}
        response = self.client.http.request(method, path, headers=sent, body=body)
        raw = response.body
        content_type = response.headers.get("Content-Type", "")
        data = json.loads(raw) if raw and content_type.startswith("application/json") else raw
        return response.status_code, data, response.headers

    def upload(
        self,
        purpose: str | None = "assistants",
        content_type: str | None = None,
        body: bytes | None = None,
        **form: Any,
    ) -> tuple[int, Any]:
        fields = {"purpose": purpose} if purpose is not None else {}
        fields.update(form.pop("fields", {}))
        raw = body if body is not None else form_body(fields, **form)
        status, data, _ = self.request(
            "POST", "/v1/files", raw, {"Content-Type": content_type or multipart_type()}
        )
        return status, data

    def create(self, **kwargs: Any) -> dict[str, Any]:
        status, data = self.upload(**kwargs)
        assert status == 200, data
        validate_response("post", "/files", 200, data)
        return data  # type: ignore[no-any-return]

    def content(self, file_id: str, accept: str | None = "application/binary") -> Any:
        headers = {"Accept": accept} if accept else {}
        return self.request("GET", f"/v1/files/{file_id}/content", headers=headers)


@pytest.fixture
def files_api(client: Any) -> FilesApi:
    return FilesApi(client)


def error_of(data: Any, status: int) -> dict[str, Any]:
    """The error object of a 4xx body: OpenAI's shape, all four keys."""
    validate_response("get", "/files/{file_id}", status, data)
    return data["error"]  # type: ignore[no-any-return]


def test_upload_retrieve_download_list_delete(files_api: FilesApi, svc: Services) -> None:
    data = b"first line\r\nsecond line\r\n--not a boundary\r\n\x00\xff\xfe"
    created = files_api.create(file=("notes.txt", data, "text/plain"))
    assert created["object"] == "file" and created["id"].startswith("file-")
    assert (created["bytes"], created["filename"], created["purpose"]) == (
        len(data),
        "notes.txt",
        "assistants",
    )
    assert created["status"] == "processed"
    assert created["expires_at"] is None and created["status_details"] is None

    status, got, _ = files_api.request("GET", f"/v1/files/{created['id']}")
    assert (status, got) == (200, created)
    validate_schema(got, "OpenAIFile")

    status, body, headers = files_api.content(created["id"])
    assert (status, body) == (200, data), "the exact bytes, CRLFs included"
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Disposition"] == "attachment; filename*=UTF-8''notes.txt"

    status, listed, _ = files_api.request("GET", "/v1/files")
    assert status == 200
    validate_response("get", "/files", 200, listed)
    assert listed["data"] == [created] and listed["has_more"] is False

    status, deleted, _ = files_api.request("DELETE", f"/v1/files/{created['id']}")
    assert (status, deleted) == (200, {"id": created["id"], "object": "file", "deleted": True})
    validate_response("delete", "/files/{file_id}", 200, deleted)
    assert svc.dispatcher.take() == [  # type: ignore[attr-defined]
        {"kind": "file_deleted", "project": _project(svc), "file_id": created["id"]}
    ]
    for path in (f"/v1/files/{created['id']}", f"/v1/files/{created['id']}/content"):
        status, missing, _ = files_api.request("GET", path, headers={"Accept": "*/*"})
        assert status == 404
        assert error_of(missing, 404)["message"] == f"No such File object: {created['id']}"


def _project(svc: Services) -> str:
    from chalicelib.services.auth import project_for

    return project_for(svc, f"Bearer {KEY}")


@pytest.mark.parametrize("svc", ["moto"], indirect=True)
def test_the_deployed_store_path_keeps_the_bytes(files_api: FilesApi) -> None:
    data = bytes(range(256)) * 64
    created = files_api.create(file=("blob.bin", data, "application/octet-stream"))
    assert files_api.content(created["id"])[:2] == (200, data)
    assert files_api.request("DELETE", f"/v1/files/{created['id']}")[0] == 200
    assert files_api.content(created["id"])[0] == 404


def test_the_files_routes_need_no_beta_header_but_the_assistants_routes_still_do(
    files_api: FilesApi,
) -> None:
    assert files_api.request("GET", "/v1/files")[0] == 200
    status, data, _ = files_api.request("GET", "/v1/assistants")
    assert status == 400 and error_of(data, 400)["code"] == "invalid_beta"
    with_beta = {"OpenAI-Beta": "assistants=v2"}
    assert files_api.request("GET", "/v1/files", headers=with_beta)[0] == 200


@pytest.mark.parametrize(
    ("content_type", "boundary"),
    [
        ('multipart/form-data; boundary="quoted=;boundary"', "quoted=;boundary"),
        ("multipart/form-data; boundary=plain123", "plain123"),
        ("Multipart/Form-Data;boundary=upper;charset=utf-8", "upper"),
    ],
)
def test_boundaries_quoted_or_not(files_api: FilesApi, content_type: str, boundary: str) -> None:
    created = files_api.create(
        content_type=content_type, body=form_body({"purpose": "user_data"}, boundary=boundary)
    )
    assert created["purpose"] == "user_data" and created["bytes"] == len(b"hello files")


def test_file_names_plain_quoted_and_rfc_5987(files_api: FilesApi) -> None:
    cases = {
        'form-data; name="file"; filename="a \\"quoted\\" name.txt"': 'a "quoted" name.txt',
        "form-data; name=file; filename=unquoted.md": "unquoted.md",
        'form-data; name="file"; filename="x.txt"; filename*=UTF-8\'\'%E2%82%AC%20rates.csv': (
            "€ rates.csv"
        ),
        'form-data; name="file"; filename="Ünïcödé.txt"': "Ünïcödé.txt",
        'form-data; name="file"; filename="semi;colon.txt"': "semi;colon.txt",
    }
    for disposition, expected in cases.items():
        created = files_api.create(disposition=disposition)
        assert created["filename"] == expected, disposition
    headers = files_api.content(created["id"])[2]
    assert "filename*=UTF-8''semi%3Bcolon.txt" in headers["Content-Disposition"]


def test_expires_after_as_bracket_fields_sets_expires_at(
    files_api: FilesApi, svc: Services
) -> None:
    created = files_api.create(
        fields={"expires_after[anchor]": "created_at", "expires_after[seconds]": "3600"}
    )
    assert created["expires_at"] == created["created_at"] + 3600
    as_json = files_api.create(fields={"expires_after": '{"anchor":"created_at","seconds":7200}'})
    assert as_json["expires_at"] == as_json["created_at"] + 7200
    svc.clock.advance(3600)  # type: ignore[attr-defined]
    assert files_api.request("GET", f"/v1/files/{created['id']}")[0] == 404
    listed = files_api.request("GET", "/v1/files")[1]
    assert [f["id"] for f in listed["data"]] == [as_json["id"]]


def test_a_preamble_an_epilogue_and_padding_are_tolerated(files_api: FilesApi) -> None:
    body = form_body({"purpose": "assistants"})
    body = (
        b"ignored preamble\r\n"
        + body.replace(f"--{BOUNDARY}\r\n".encode(), f"--{BOUNDARY}  \r\n".encode(), 1)
        + b"epilogue"
    )
    assert files_api.create(body=body)["bytes"] == len(b"hello files")


@pytest.mark.parametrize(
    ("kwargs", "status", "message", "param"),
    [
        ({"purpose": None}, 400, "'purpose' is a required property", "purpose"),
        ({"file": None}, 400, "'file' is a required property", "file"),
        (
            {"purpose": "answers"},
            400,
            "'answers' is not one of ['assistants', 'batch', 'fine-tune', 'vision', "
            "'user_data', 'evals'] - 'purpose'",
            "purpose",
        ),
        (
            {"file": None, "fields": {"file": "just text"}},
            400,
            "Invalid 'file': expected a file upload (a part with a filename), but got a text "
            "field instead.",
            "file",
        ),
        (
            {"fields": {"filename": "x"}},
            400,
            "Unrecognized request argument supplied: filename",
            "filename",
        ),
        (
            {"fields": {"expires_after[anchor]": "created_at", "expires_after[seconds]": "60"}},
            400,
            "Invalid 'expires_after.seconds': expected an integer between 3600 and 2592000, but "
            "got 60 instead.",
            "expires_after.seconds",
        ),
        (
            {"fields": {"expires_after": "soon"}},
            400,
            "Invalid type for 'expires_after': expected an object (send expires_after[anchor] "
            "and expires_after[seconds]).",
            "expires_after",
        ),
        (
            {"disposition": 'form-data; name="file"; filename=""'},
            400,
            "Invalid 'file': the file has no name.",
            "file",
        ),
    ],
)
def test_bad_uploads_are_400s_in_the_hosted_words(
    files_api: FilesApi, kwargs: dict[str, Any], status: int, message: str, param: str
) -> None:
    got_status, data = files_api.upload(**kwargs)
    assert got_status == status, data
    error = error_of(data, status)
    assert (error["message"], error["param"], error["type"]) == (
        message,
        param,
        "invalid_request_error",
    )
    assert files_api.request("GET", "/v1/files")[1]["data"] == [], "nothing was stored"


@pytest.mark.parametrize(
    ("content_type", "body", "says"),
    [
        ("multipart/form-data", form_body(), "names no boundary"),
        (multipart_type(), form_body()[: -len(f"--{BOUNDARY}--\r\n") - 2], "before its closing"),
        (multipart_type(), b"no boundary in here", "does not occur"),
        (
            multipart_type(),
            f"--{BOUNDARY}\r\nX-Other: y\r\n\r\nz\r\n--{BOUNDARY}--".encode(),
            "no Content-Disposition",
        ),
        (
            multipart_type(),
            f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nz\r\n--{BOUNDARY}--".encode(),
            "not form-data with a name",
        ),
        (multipart_type(), f"--{BOUNDARY}\r\nbroken".encode(), "headers do not end"),
        (
            multipart_type(),
            form_body({"purpose": "assistants", "purpose ": "x"}).replace(b"purpose ", b"purpose"),
            "given more than once",
        ),
        (
            multipart_type(),
            form_body({"purpose": "assistants"}).replace(b"assistants", b"\xff\xfe"),
            "not valid UTF-8",
        ),
    ],
)
def test_malformed_multipart_is_a_400(
    files_api: FilesApi, content_type: str, body: bytes, says: str
) -> None:
    status, data = files_api.upload(content_type=content_type, body=body)
    assert status == 400, data
    assert says in error_of(data, 400)["message"]


def test_content_types_are_kept_apart(files_api: FilesApi) -> None:
    status, data = files_api.upload(content_type="application/json", body=b'{"purpose":"x"}')
    assert status == 415 and "multipart/form-data" in error_of(data, 415)["message"]
    headers = {"OpenAI-Beta": "assistants=v2", "Content-Type": multipart_type()}
    status, data, _ = files_api.request("POST", "/v1/assistants", form_body(), headers)
    assert status == 415 and "application/json" in error_of(data, 415)["message"]


def test_an_upload_over_the_limit_is_a_413(sqlite_engine: Any, tmp_path: Any) -> None:
    from chalice.test import Client

    from app import app
    from chalicelib.store.blobs import LocalBlobs
    from tests.support.services import set_services

    svc = make_services(sqlite_engine, blobs=LocalBlobs(tmp_path), file_max_bytes=1000)
    set_services(svc)
    try:
        with Client(app) as test_client:
            api = FilesApi(test_client)
            assert api.create(file=("ok.bin", b"x" * 1000, None))["bytes"] == 1000
            status, data = api.upload(file=("big.bin", b"x" * 1001, None))
            assert status == 413
            assert error_of(data, 413)["message"] == (
                "Maximum content size limit (1000) exceeded (1001 bytes read)"
            )
            status, data = api.upload(body=b"x" * (1000 + 64 * 1024 + 1))
            assert status == 413 and "Maximum content size limit (1000)" in data["error"]["message"]
            assert len(api.request("GET", "/v1/files")[1]["data"]) == 1
    finally:
        set_services(None)


def test_another_projects_file_is_a_404(files_api: FilesApi, client: Any) -> None:
    created = files_api.create()
    other = FilesApi(client, OTHER_KEY)
    for method, path in [
        ("GET", f"/v1/files/{created['id']}"),
        ("GET", f"/v1/files/{created['id']}/content"),
        ("DELETE", f"/v1/files/{created['id']}"),
    ]:
        status, data, _ = other.request(method, path, headers={"Accept": "*/*"})
        assert status == 404
        assert error_of(data, 404) == {
            "message": f"No such File object: {created['id']}",
            "type": "invalid_request_error",
            "param": "id",
            "code": None,
        }
    assert other.request("GET", "/v1/files")[1]["data"] == []
    assert files_api.content(created["id"])[0] == 200, "still there for its owner"
    for bad in ("nope", "file-" + "x" * 300, "asst_" + "a" * 24):
        assert files_api.request("GET", f"/v1/files/{bad}")[0] == 404


def test_a_download_needs_an_accept_header_that_takes_bytes(files_api: FilesApi) -> None:
    created = files_api.create()
    for accept in ("*/*", "application/octet-stream", "application/binary", "text/html, */*;q=0.8"):
        assert files_api.content(created["id"], accept)[0] == 200, accept
    for accept in (None, "application/json"):
        status, data, _ = files_api.content(created["id"], accept)
        assert status == 406
        assert "Accept" in error_of(data, 406)["message"]


def test_lists_page_filter_and_check_their_parameters(files_api: FilesApi) -> None:
    made = [files_api.create(purpose="batch" if i % 2 else "assistants") for i in range(5)]
    ids = [f["id"] for f in made]
    status, page, _ = files_api.request("GET", "/v1/files?limit=2&order=asc")
    assert [f["id"] for f in page["data"]] == ids[:2] and page["has_more"] is True
    assert (page["first_id"], page["last_id"]) == (ids[0], ids[1])
    status, rest, _ = files_api.request("GET", f"/v1/files?limit=2&order=asc&after={ids[3]}")
    assert [f["id"] for f in rest["data"]] == ids[4:] and rest["has_more"] is False
    status, batch, _ = files_api.request("GET", "/v1/files?purpose=batch")
    assert [f["id"] for f in batch["data"]] == [ids[3], ids[1]]
    status, none, _ = files_api.request("GET", "/v1/files?purpose=vision")
    assert none == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }
    validate_response("get", "/files", 200, none)
    assert files_api.request("GET", "/v1/files?limit=10000")[0] == 200
    for query, param in [
        ("limit=10001", "limit"),
        ("limit=0", "limit"),
        ("limit=many", "limit"),
        ("order=up", "order"),
        ("after=asst_" + "a" * 24, "after"),
    ]:
        status, data, _ = files_api.request("GET", f"/v1/files?{query}")
        assert status == 400 and error_of(data, 400)["param"] == param, query


def test_mangled_uploads_never_get_a_5xx(files_api: FilesApi) -> None:
    """Seeded mutations of a valid upload (cuts, flipped bytes, lost line breaks, doubled
    headers, odd Content-Types): each answer is a success or an OpenAI-shaped 4xx."""
    import random

    rng = random.Random(13)
    valid = form_body(
        {
            "purpose": "assistants",
            "expires_after[anchor]": "created_at",
            "expires_after[seconds]": "3600",
        },
        file=("a.txt", b"a\r\nb\r\n--x\r\n", "text/plain"),
    )
    seen: dict[int, int] = {}
    types = [multipart_type(), "multipart/form-data", 'multipart/form-data; boundary=""', "", "x/y"]
    for _ in range(300):
        body = bytearray(valid)
        for _ in range(rng.randint(0, 3)):
            kind = rng.randrange(5)
            if not body:
                break
            at = rng.randrange(len(body))
            if kind == 0:
                del body[at:]
            elif kind == 1:
                body[at] = rng.randrange(256)
            elif kind == 2:
                body[:] = body.replace(b"\r\n", b"\n", rng.randint(1, 6))
            elif kind == 3:
                body[at:at] = b'\r\nContent-Disposition: form-data; name="file"\r\n'
            else:
                body[at:at] = rng.choice([b'"', b";", b"[", b"]", b"\\", b"\xff", b"--"])
        content_type = rng.choice(types) if rng.random() < 0.3 else multipart_type()
        status, data, _ = files_api.request(
            "POST", "/v1/files", bytes(body), {"Content-Type": content_type}
        )
        seen[status] = seen.get(status, 0) + 1
        assert status in (200, 400, 413, 415), (status, data, bytes(body)[:200])
        if status != 200:
            error_of(data, status)
    assert seen.get(200, 0) > 10 and seen.get(400, 0) > 50, seen
