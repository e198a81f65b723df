"""Routes: /v1/files.

Unlike the Assistants routes these need no `OpenAI-Beta` header (the SDK sends none to them).
An upload is multipart/form-data (`file`, `purpose`, optional `expires_after[anchor]` and
`expires_after[seconds]`); the content route answers the file's raw bytes.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from chalice import Response

from ..domain.errors import ApiError, InvalidRequest
from ..domain.files import DEFAULT_CONTENT_TYPE
from ..domain.objects import to_wire
from ..domain.pagination import list_body, parse_page_request
from ..services import files
from .multipart import parse_form
from .router import ApiRequest, Router

router = Router()

# Media types Chalice (and, deployed, API Gateway: the REST API's binary media types) must pass
# as bytes: uploads, and what a download is asked for with (the SDK's Accept is
# application/binary). application/octet-stream is among Chalice's defaults.
BINARY_TYPES = ("multipart/form-data", "application/binary")
FILES_LIST_LIMIT = 10_000  # the spec's range for GET /files: 1..10,000, default 10,000
_FIELDS = ("purpose", "expires_after")


@router.route("POST", "/v1/files", beta=False, multipart=True)
def create_file(req: ApiRequest) -> dict[str, Any]:
    form = parse_form(req.raw_body, req.headers.get("content-type", ""))
    for name in [*form.fields, *form.files]:
        if name not in (*_FIELDS, "file"):
            raise InvalidRequest(
                f"Unrecognized request argument supplied: {name[:100]}", param=name[:100]
            )
    upload = form.files.get("file")
    if upload is None:
        if "file" in form.fields:
            raise InvalidRequest(
                "Invalid 'file': expected a file upload (a part with a filename), but got a "
                "text field instead.",
                param="file",
            )
        raise InvalidRequest("'file' is a required property", param="file")
    purpose = form.fields.get("purpose")
    if purpose is not None and not isinstance(purpose, str):
        raise InvalidRequest("Invalid type for 'purpose': expected a string.", param="purpose")
    file = files.create_file(
        req.svc,
        req.project,
        upload.filename or "",
        purpose,  # type: ignore[arg-type]  # None: create_file answers the hosted API's 400
        upload.data,
        upload.content_type,
        expires_after=_expires_after(form.fields.get("expires_after")),
    )
    return to_wire(file)


def _expires_after(value: Any) -> dict[str, Any] | None:
    """Bracket fields arrive as a dict; a JSON object sent as one text field is taken too."""
    if value is None or isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise InvalidRequest(
            "Invalid type for 'expires_after': expected an object (send "
            "expires_after[anchor] and expires_after[seconds]).",
            param="expires_after",
        )
    return parsed


@router.route("GET", "/v1/files", beta=False)
def list_files(req: ApiRequest) -> dict[str, Any]:
    page_request = parse_page_request(
        req.query, "file", default_limit=FILES_LIST_LIMIT, max_limit=FILES_LIST_LIMIT
    )
    page = files.list_files(req.svc, req.project, page_request, req.query.get("purpose"))
    return list_body([to_wire(f) for f in page.items], page.has_more)


@router.route("GET", "/v1/files/{file_id}", beta=False)
def get_file(req: ApiRequest, file_id: str) -> dict[str, Any]:
    return to_wire(files.get_file(req.svc, req.project, file_id))


@router.route("DELETE", "/v1/files/{file_id}", beta=False)
def delete_file(req: ApiRequest, file_id: str) -> dict[str, Any]:
    return files.delete_file(req.svc, req.project, file_id)


@router.route("GET", "/v1/files/{file_id}/content", beta=False)
def file_content(req: ApiRequest, file_id: str) -> Response:
    file = files.get_file(req.svc, req.project, file_id)
    if not accepts_binary(req.headers.get("accept")):
        # Chalice (and API Gateway) hand bytes back only to a request that accepts a binary
        # type; anything else would get base64 text. Say so, in the OpenAI error shape.
        raise ApiError(
            "This endpoint answers the file's raw bytes (application/octet-stream): send an "
            "Accept header that allows them, such as 'Accept: */*' or "
            "'Accept: application/octet-stream'.",
            status=406,
        )
    name = quote(file["filename"], safe="")
    return Response(
        body=files.content_of(req.svc, file, req.project),
        status_code=200,
        headers={
            "Content-Type": DEFAULT_CONTENT_TYPE,
            "Content-Disposition": f"attachment; filename*=UTF-8''{name}",
        },
    )


def accepts_binary(accept: str | None) -> bool:
    """Whether Chalice would send bytes to a request with this Accept header: `*/*`, or a
    media type it treats as binary (its defaults and BINARY_TYPES), exactly as it decides."""
    if not accept:
        return False
    from chalice.app import APIGateway

    binary = {t.lower() for t in (*APIGateway().binary_types, *BINARY_TYPES)}
    accept = accept.lower()
    parts = {p.strip() for p in re.split("[,;]", accept)}
    return "*/*" in accept or bool(parts & binary)
