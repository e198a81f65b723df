"""Routes: /v1/threads and their messages.

Request models (pydantic) are imported inside the handlers that parse a body, so that reads,
polls, the worker and the sweeper never load pydantic.
"""

from __future__ import annotations

from typing import Any

from ..domain.errors import InvalidRequest
from ..domain.ids import is_valid_id
from ..domain.objects import to_wire
from ..domain.pagination import list_body, parse_page_request
from ..services import threads
from .router import ApiRequest, Router

router = Router()


@router.route("POST", "/v1/threads")
def create_thread(req: ApiRequest) -> dict[str, Any]:
    from ..domain.requests import CreateThread

    return to_wire(threads.create_thread(req.svc, req.project, req.body(CreateThread)))


@router.route("GET", "/v1/threads/{thread_id}")
def get_thread(req: ApiRequest, thread_id: str) -> dict[str, Any]:
    return to_wire(threads.get_thread(req.svc, req.project, thread_id))


@router.route("POST", "/v1/threads/{thread_id}")
def modify_thread(req: ApiRequest, thread_id: str) -> dict[str, Any]:
    from ..domain.requests import ModifyThread

    request = req.body(ModifyThread)
    return to_wire(threads.modify_thread(req.svc, req.project, thread_id, request))


@router.route("DELETE", "/v1/threads/{thread_id}")
def delete_thread(req: ApiRequest, thread_id: str) -> dict[str, Any]:
    return threads.delete_thread(req.svc, req.project, thread_id)


@router.route("POST", "/v1/threads/{thread_id}/messages")
def create_message(req: ApiRequest, thread_id: str) -> dict[str, Any]:
    from ..domain.requests import CreateMessage

    request = req.body(CreateMessage)
    return to_wire(threads.add_message(req.svc, req.project, thread_id, request))


@router.route("GET", "/v1/threads/{thread_id}/messages")
def list_messages(req: ApiRequest, thread_id: str) -> dict[str, Any]:
    page_request = parse_page_request(req.query, "message")
    run_id = req.query.get("run_id")
    if run_id is not None and not is_valid_id("run", run_id):
        raise InvalidRequest(f"Invalid 'run_id': '{run_id[:64]}' is not a run ID.", param="run_id")
    page = threads.list_messages(req.svc, req.project, thread_id, page_request, run_id)
    return list_body([to_wire(m) for m in page.items], page.has_more)


@router.route("GET", "/v1/threads/{thread_id}/messages/{message_id}")
def get_message(req: ApiRequest, thread_id: str, message_id: str) -> dict[str, Any]:
    return to_wire(threads.get_message(req.svc, req.project, thread_id, message_id))


@router.route("POST", "/v1/threads/{thread_id}/messages/{message_id}")
def modify_message(req: ApiRequest, thread_id: str, message_id: str) -> dict[str, Any]:
    from ..domain.requests import ModifyMetadata

    request = req.body(ModifyMetadata)
    return to_wire(threads.modify_message(req.svc, req.project, thread_id, message_id, request))


@router.route("DELETE", "/v1/threads/{thread_id}/messages/{message_id}")
def delete_message(req: ApiRequest, thread_id: str, message_id: str) -> dict[str, Any]:
    return threads.delete_message(req.svc, req.project, thread_id, message_id)
