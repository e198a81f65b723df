"""Routes: /v1/vector_stores, their files, file batches and search.

Request models are imported inside the handlers that parse a body (reads never load pydantic).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..domain import vector_stores as vs
from ..domain.errors import InvalidRequest
from ..domain.pagination import list_body, parse_page_request
from ..services import vector_stores as service
from .router import ApiRequest, Router, json_response

if TYPE_CHECKING:
    from chalice import Response

router = Router()
STORES = "/v1/vector_stores"
STORE = STORES + "/{vector_store_id}"
FILES = STORE + "/files"
FILE = FILES + "/{file_id}"
BATCHES = STORE + "/file_batches"
BATCH = BATCHES + "/{batch_id}"


def _status_filter(req: ApiRequest) -> str | None:
    value = req.query.get("filter")
    if value is not None and value not in vs.FILE_STATUSES:
        raise InvalidRequest(
            f"Invalid value for 'filter': expected one of {', '.join(map(repr, vs.FILE_STATUSES))}"
            f", but got '{value[:40]}' instead.",
            param="filter",
        )
    return value


def _polled(req: ApiRequest, body: dict[str, Any]) -> Response:
    """An object the SDK's `*_and_poll` helpers poll, with the hint they read (as runs have)."""
    return json_response(
        body, headers={"openai-poll-after-ms": str(req.svc.settings.poll_after_ms)}
    )


def _file_list(page: Any) -> dict[str, Any]:
    return list_body([vs.vector_store_file_wire(r) for r in page.items], page.has_more)


# -- vector stores -------------------------------------------------------------------------


@router.route("POST", STORES)
def create_vector_store(req: ApiRequest) -> dict[str, Any]:
    from ..domain.vector_store_requests import CreateVectorStore

    request = req.body(CreateVectorStore)
    return vs.vector_store_wire(service.create_vector_store(req.svc, req.project, request))


@router.route("GET", STORES)
def list_vector_stores(req: ApiRequest) -> dict[str, Any]:
    page = parse_page_request(req.query, "vector_store")
    found = service.list_vector_stores(req.svc, req.project, page)
    return list_body([vs.vector_store_wire(r) for r in found.items], found.has_more)


@router.route("GET", STORE)
def get_vector_store(req: ApiRequest, vector_store_id: str) -> dict[str, Any]:
    return vs.vector_store_wire(service.get_vector_store(req.svc, req.project, vector_store_id))


@router.route("POST", STORE)
def modify_vector_store(req: ApiRequest, vector_store_id: str) -> dict[str, Any]:
    from ..domain.vector_store_requests import ModifyVectorStore

    request = req.body(ModifyVectorStore)
    record = service.modify_vector_store(req.svc, req.project, vector_store_id, request)
    return vs.vector_store_wire(record)


@router.route("DELETE", STORE)
def delete_vector_store(req: ApiRequest, vector_store_id: str) -> dict[str, Any]:
    return service.delete_vector_store(req.svc, req.project, vector_store_id)


@router.route("POST", STORE + "/search")
def search_vector_store(req: ApiRequest, vector_store_id: str) -> dict[str, Any]:
    from ..domain.vector_store_requests import SearchVectorStore
    from ..services.search import search_page, search_vector_stores

    request = req.body(SearchVectorStore)
    results = search_vector_stores(
        req.svc,
        req.project,
        [vector_store_id],
        " ".join(request.query),
        request.max_num_results,
        request.ranking_options,
        request.filters,
    )
    return search_page(request.query, results)


# -- files ---------------------------------------------------------------------------------


@router.route("POST", FILES)
def create_vector_store_file(req: ApiRequest, vector_store_id: str) -> dict[str, Any]:
    from ..domain.vector_store_requests import CreateVectorStoreFile

    request = req.body(CreateVectorStoreFile)
    record = service.add_file(
        req.svc,
        req.project,
        vector_store_id,
        request.file_id,
        chunking_strategy=request.chunking_strategy,
        attributes=request.attributes,
    )
    return vs.vector_store_file_wire(record)


@router.route("GET", FILES)
def list_vector_store_files(req: ApiRequest, vector_store_id: str) -> dict[str, Any]:
    page = parse_page_request(req.query, "file")
    status = _status_filter(req)
    found = service.list_vector_store_files(req.svc, req.project, vector_store_id, page, status)
    return _file_list(found)


@router.route("GET", FILE)
def get_vector_store_file(req: ApiRequest, vector_store_id: str, file_id: str) -> Response:
    record = service.get_vector_store_file(req.svc, req.project, vector_store_id, file_id)
    return _polled(req, vs.vector_store_file_wire(record))


@router.route("POST", FILE)
def update_vector_store_file(req: ApiRequest, vector_store_id: str, file_id: str) -> dict[str, Any]:
    from ..domain.vector_store_requests import UpdateFileAttributes

    request = req.body(UpdateFileAttributes)
    record = service.update_file_attributes(
        req.svc, req.project, vector_store_id, file_id, request.attributes
    )
    return vs.vector_store_file_wire(record)


@router.route("DELETE", FILE)
def delete_vector_store_file(req: ApiRequest, vector_store_id: str, file_id: str) -> dict[str, Any]:
    return service.delete_vector_store_file(req.svc, req.project, vector_store_id, file_id)


@router.route("GET", FILE + "/content")
def vector_store_file_content(
    req: ApiRequest, vector_store_id: str, file_id: str
) -> dict[str, Any]:
    return service.file_content(req.svc, req.project, vector_store_id, file_id)


# -- file batches --------------------------------------------------------------------------


@router.route("POST", BATCHES)
def create_file_batch(req: ApiRequest, vector_store_id: str) -> dict[str, Any]:
    from ..domain.vector_store_requests import CreateFileBatch

    request = req.body(CreateFileBatch)
    batch = service.create_file_batch(req.svc, req.project, vector_store_id, request)
    return vs.file_batch_wire(batch)


@router.route("GET", BATCH)
def get_file_batch(req: ApiRequest, vector_store_id: str, batch_id: str) -> Response:
    batch = service.get_file_batch(req.svc, req.project, vector_store_id, batch_id)
    return _polled(req, vs.file_batch_wire(batch))


@router.route("POST", BATCH + "/cancel")
def cancel_file_batch(req: ApiRequest, vector_store_id: str, batch_id: str) -> dict[str, Any]:
    batch = service.cancel_file_batch(req.svc, req.project, vector_store_id, batch_id)
    return vs.file_batch_wire(batch)


@router.route("GET", BATCH + "/files")
def list_batch_files(req: ApiRequest, vector_store_id: str, batch_id: str) -> dict[str, Any]:
    page = parse_page_request(req.query, "file")
    status = _status_filter(req)
    found = service.list_batch_files(req.svc, req.project, vector_store_id, batch_id, page, status)
    return _file_list(found)
