"""Use cases for assistants."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..domain import errors
from ..domain.ids import require_id
from ..domain.objects import Record, new_assistant
from ..domain.pagination import Page, PageRequest
from ..store.limits import check_size
from .context import Services
from .resources import prepare_tool_resources

if TYPE_CHECKING:  # annotations only: polls and the worker never load pydantic
    from ..domain.requests import CreateAssistant, ModifyAssistant


def create_assistant(svc: Services, project: str, request: CreateAssistant) -> Record:
    resources = prepare_tool_resources(svc, project, request.tool_resources, creating=True)
    assistant = new_assistant(request, svc.clock.now())
    assistant["tool_resources"] = resources
    svc.store.put_assistant(project, assistant)
    return assistant


def get_assistant(svc: Services, project: str, assistant_id: str) -> Record:
    require_id("assistant", assistant_id)
    assistant = svc.store.get_assistant(project, assistant_id)
    if assistant is None:
        raise errors.assistant_not_found(assistant_id)
    return assistant


def modify_assistant(
    svc: Services, project: str, assistant_id: str, request: ModifyAssistant
) -> Record:
    require_id("assistant", assistant_id)
    changes = request.model_dump(exclude_unset=True)
    # Explicit nulls clear optional fields; the required ones keep their value.
    for key in ("model", "tools", "metadata", "response_format"):
        if key in changes and changes[key] is None:
            del changes[key]
    if changes.get("tool_resources"):
        changes["tool_resources"] = prepare_tool_resources(
            svc, project, changes["tool_resources"], creating=False
        )
    if changes:
        # Refuse an assistant that would outgrow an item before writing anything: a backend may
        # apply part of an update before it finds the item too large (moto, the local stage).
        check_size({**get_assistant(svc, project, assistant_id), **changes}, "assistant")
    updated = svc.store.update_assistant(project, assistant_id, changes)
    if updated is None:
        raise errors.assistant_not_found(assistant_id)
    return updated


def delete_assistant(svc: Services, project: str, assistant_id: str) -> dict[str, object]:
    require_id("assistant", assistant_id)
    if not svc.store.delete_assistant(project, assistant_id):
        raise errors.assistant_not_found(assistant_id)
    return {"id": assistant_id, "object": "assistant.deleted", "deleted": True}


def list_assistants(svc: Services, project: str, page: PageRequest) -> Page:
    return svc.store.list_assistants(project, page)
