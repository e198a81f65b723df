"""Routes: /v1/assistants.

Request models (pydantic) are imported inside the handlers that parse a body, so that reads,
polls, the worker and the sweeper never load pydantic.
"""

from __future__ import annotations

from typing import Any

from ..domain.objects import to_wire
from ..domain.pagination import list_body, parse_page_request
from ..services import assistants
from .router import ApiRequest, Router

router = Router()


@router.route("POST", "/v1/assistants")
def create_assistant(req: ApiRequest) -> dict[str, Any]:
    from ..domain.requests import CreateAssistant

    return to_wire(assistants.create_assistant(req.svc, req.project, req.body(CreateAssistant)))


@router.route("GET", "/v1/assistants")
def list_assistants(req: ApiRequest) -> dict[str, Any]:
    page = assistants.list_assistants(
        req.svc, req.project, parse_page_request(req.query, "assistant")
    )
    return list_body([to_wire(a) for a in page.items], page.has_more)


@router.route("GET", "/v1/assistants/{assistant_id}")
def get_assistant(req: ApiRequest, assistant_id: str) -> dict[str, Any]:
    return to_wire(assistants.get_assistant(req.svc, req.project, assistant_id))


@router.route("POST", "/v1/assistants/{assistant_id}")
def modify_assistant(req: ApiRequest, assistant_id: str) -> dict[str, Any]:
    from ..domain.requests import ModifyAssistant

    request = req.body(ModifyAssistant)
    return to_wire(assistants.modify_assistant(req.svc, req.project, assistant_id, request))


@router.route("DELETE", "/v1/assistants/{assistant_id}")
def delete_assistant(req: ApiRequest, assistant_id: str) -> dict[str, Any]:
    return assistants.delete_assistant(req.svc, req.project, assistant_id)
