"""Use cases for threads and their messages."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..dispatch.base import purge_job
from ..domain import errors, lifecycle
from ..domain.ids import is_valid_id, require_id
from ..domain.objects import Record, new_thread, new_user_message
from ..domain.pagination import Page, PageRequest
from ..store.store import ThreadConflict
from .context import Services
from .handoff import hand_off
from .lazy_expiry import settle_run

log = logging.getLogger(__name__)
if TYPE_CHECKING:  # annotations only: polls and the worker never load pydantic
    from ..domain.requests import CreateMessage, CreateThread, ModifyMetadata, ModifyThread


def build_thread(request: CreateThread | None, now: int) -> tuple[Record, list[Record]]:
    """A new thread and its initial messages (not yet stored)."""
    if request is None:
        from ..domain.requests import CreateThread

        request = CreateThread()
    thread = new_thread(now, request.metadata, request.tool_resources)
    messages = [new_user_message(thread["id"], m, now) for m in request.messages or []]
    return thread, messages


def create_thread(svc: Services, project: str, request: CreateThread) -> Record:
    thread, messages = prepare_thread(svc, project, request)
    svc.store.create_thread(project, thread, messages)
    return thread


def prepare_thread(
    svc: Services,
    project: str,
    request: CreateThread | None,
    fallback_resources: dict[str, Any] | None = None,
    where: str = "messages",
) -> tuple[Record, list[Record]]:
    """A new thread and its messages, their file and vector store IDs checked, its store made
    (the vector_stores helper, file_search attachments) before anything is stored.

    `fallback_resources`: create thread and run's top-level tool_resources, used when the
    thread names none.
    """
    from .resources import check_messages, prepare_tool_resources, with_thread_store

    thread, messages = build_thread(request, svc.clock.now())
    check_messages(svc, project, request.messages if request else None, where)
    given = thread["tool_resources"]
    if given is None and fallback_resources is not None:
        given = fallback_resources
    resources = prepare_tool_resources(svc, project, given, creating=True)
    thread["tool_resources"] = with_thread_store(svc, project, resources, messages)
    return thread, messages


def get_thread(svc: Services, project: str, thread_id: str) -> Record:
    require_id("thread", thread_id)
    thread = svc.store.get_thread(project, thread_id)
    if thread is None:
        raise errors.thread_not_found(thread_id)
    return thread


def modify_thread(svc: Services, project: str, thread_id: str, request: ModifyThread) -> Record:
    require_id("thread", thread_id)
    changes = request.model_dump(exclude_unset=True)
    if changes.get("metadata", {}) is None:
        changes["metadata"] = {}
    if changes.get("tool_resources"):
        from .resources import prepare_tool_resources

        changes["tool_resources"] = prepare_tool_resources(
            svc, project, changes["tool_resources"], creating=False
        )
    updated = svc.store.update_thread(project, thread_id, changes)
    if updated is None:
        raise errors.thread_not_found(thread_id)
    return updated


def delete_thread(svc: Services, project: str, thread_id: str) -> dict[str, object]:
    """Delete a thread and what it owns: at once up to a budget, the rest in the background.

    Its contents must be gone when the answer says deleted, so the request itself deletes up to
    `delete_inline_items` items; only a larger thread's remainder goes to a purge job (until
    that finishes, the remainder can still be read: README, Limits).
    """
    require_id("thread", thread_id)
    if svc.store.delete_thread(project, thread_id) is None:
        raise errors.thread_not_found(thread_id)
    if not svc.store.purge_thread_items(project, thread_id, svc.settings.delete_inline_items):
        # The thread is gone either way; a lost send leaves its remainder (README, Limits).
        hand_off(svc, purge_job(project, thread_id))
    return {"id": thread_id, "object": "thread.deleted", "deleted": True}


def stale_marker(svc: Services, project: str, thread_id: str) -> str:
    """After a write found the thread busy: the marker's run ID if that run is over.

    Raises 404 for a missing thread, or the contract's error if its run is really active
    (a run past its deadline is expired first, as the sweeper would have done).
    """
    thread = svc.store.get_thread(project, thread_id)
    if thread is None:
        raise errors.thread_not_found(thread_id)
    run_id = thread.get("active_run_id")
    if run_id is None:
        return ""  # freed meanwhile: try again with no marker expected
    run = svc.store.get_run(project, thread_id, run_id)
    if run is not None:
        run = settle_run(svc, project, run)
        if not lifecycle.is_terminal(run["status"]):
            raise ThreadBusy(thread_id, run_id)
    return run_id


class ThreadBusy(Exception):
    def __init__(self, thread_id: str, run_id: str) -> None:
        super().__init__(thread_id, run_id)
        self.thread_id = thread_id
        self.run_id = run_id


def add_message(svc: Services, project: str, thread_id: str, request: CreateMessage) -> Record:
    from .resources import attach_to_thread, check_message

    require_id("thread", thread_id)
    check_message(svc, project, request, "")
    message = new_user_message(thread_id, request, svc.clock.now())
    stale: str | None = None
    for _ in range(3):
        try:
            svc.store.add_message(project, message, stale)
            attach_to_thread(svc, project, thread_id, [message])
            return message
        except ThreadConflict:
            try:
                stale = stale_marker(svc, project, thread_id) or None
            except ThreadBusy as busy:
                raise errors.thread_locked_for_messages(thread_id, busy.run_id) from None
    raise errors.ServerError("The thread kept changing; please try again.")


def get_message(svc: Services, project: str, thread_id: str, message_id: str) -> Record:
    _require_message_ids(svc, project, thread_id, message_id)
    message = svc.store.get_message(project, thread_id, message_id)
    if message is None:
        raise _message_or_thread_missing(svc, project, thread_id, message_id)
    return message


def _require_message_ids(svc: Services, project: str, thread_id: str, message_id: str) -> None:
    """IDs of the wrong shape answer as unknown ones do, before either reaches a key."""
    require_id("thread", thread_id)
    if not is_valid_id("message", message_id):
        raise _message_or_thread_missing(svc, project, thread_id, message_id)


def _message_or_thread_missing(
    svc: Services, project: str, thread_id: str, message_id: str
) -> errors.NotFound:
    if svc.store.get_thread(project, thread_id) is None:
        return errors.thread_not_found(thread_id)
    return errors.message_not_found(message_id)


def modify_message(
    svc: Services, project: str, thread_id: str, message_id: str, request: ModifyMetadata
) -> Record:
    if "metadata" not in request.model_fields_set:
        return get_message(svc, project, thread_id, message_id)
    _require_message_ids(svc, project, thread_id, message_id)
    changes = {"metadata": request.metadata or {}}
    updated = svc.store.update_message(project, thread_id, message_id, changes)
    if updated is None:
        raise _message_or_thread_missing(svc, project, thread_id, message_id)
    return updated


def delete_message(
    svc: Services, project: str, thread_id: str, message_id: str
) -> dict[str, object]:
    _require_message_ids(svc, project, thread_id, message_id)
    if not svc.store.delete_message(project, thread_id, message_id):
        raise _message_or_thread_missing(svc, project, thread_id, message_id)
    return {"id": message_id, "object": "thread.message.deleted", "deleted": True}


def list_messages(
    svc: Services, project: str, thread_id: str, page: PageRequest, run_id: str | None
) -> Page:
    require_id("thread", thread_id)
    result = svc.store.list_messages(project, thread_id, page, run_id)
    if not result.items:
        get_thread(svc, project, thread_id)
    return result


def purge_thread(svc: Services, project: str, thread_id: str) -> bool:
    """Delete a deleted thread's items in batches; False when some remain for a next pass.

    Only a deleted thread is purged: a job naming a live thread (forged, or mistaken) does
    nothing. A failed re-queue raises, so the queue delivers this job again.
    """
    if not is_valid_id("thread", thread_id) or svc.store.get_thread(project, thread_id):
        log.warning("ignoring a purge job for a thread that is not deleted: %s", thread_id[:100])
        return True
    done = svc.store.purge_thread_items(project, thread_id)
    if not done:
        svc.dispatcher.send(purge_job(project, thread_id))
    return done
