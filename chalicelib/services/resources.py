"""The files and vector stores an assistant, thread or message names must exist in the project.

Checked where they are given: message attachments (create message, a new thread's messages,
additional_messages, create thread and run), `tool_resources.code_interpreter.file_ids` and
`tool_resources.file_search.vector_store_ids` (assistants and threads, create and modify).
The hosted API's words:

- an ID of the wrong shape is a 400, as the hosted API answered for attachments:
  "Invalid 'messages[0].attachments[0].file_id': '…'. Expected an ID that begins with 'file'."
  (quoted in danny-avila/LibreChat#8178);
- an unknown file (or another project's) is the Files API's 404, "No such File object: {id}";
  an unknown vector store is "No vector store found with id '{id}'." (404); both with `param`
  naming the field.

`tool_resources.file_search.vector_stores` (create only) makes a store of the given files and
stands for its ID, and file_search attachments put their files in the thread's store, creating
one if the thread has none (recorded in its tool_resources), as the hosted API did. Stores the
helpers create expire 7 days after they were last active (the hosted default for them).
"""

from __future__ import annotations

from typing import Any

from ..domain import errors
from ..domain.objects import Record
from .context import Services

HELPER_STORE_EXPIRY = {"anchor": "last_active_at", "days": 7}


def _bad_id(param: str, value: str, prefix: str) -> errors.InvalidRequest:
    return errors.InvalidRequest(
        f"Invalid '{param}': '{value[:200]}'. Expected an ID that begins with '{prefix}'.",
        param=param,
    )


def check_file(svc: Services, project: str, file_id: str, param: str) -> Record:
    from .files import get_file

    if not file_id.startswith("file"):
        raise _bad_id(param, file_id, "file")
    try:
        return get_file(svc, project, file_id)
    except errors.ApiError as error:
        raise errors.ApiError(error.message, param=param, status=error.status) from None


def check_vector_store(svc: Services, project: str, vector_store_id: str, param: str) -> None:
    from .vector_stores import get_vector_store

    if not vector_store_id.startswith("vs_"):
        raise _bad_id(param, vector_store_id, "vs_")
    try:
        get_vector_store(svc, project, vector_store_id)
    except errors.ApiError as error:
        raise errors.ApiError(error.message, param=param, status=error.status) from None


def check_attachments(
    svc: Services, project: str, attachments: list[Record] | None, where: str
) -> None:
    """`where` is the message's place in the request, e.g. "" or "messages[0]."."""
    for i, attachment in enumerate(attachments or []):
        check_file(svc, project, attachment["file_id"], f"{where}attachments[{i}].file_id")


def check_message(svc: Services, project: str, message: Any, where: str) -> None:
    """A message request's attachments and `image_file` parts (`where`: its place, e.g. "")."""
    check_attachments(svc, project, message.attachments, where)
    if isinstance(message.content, list):
        for i, part in enumerate(message.content):
            if part["type"] == "image_file":
                file_id = part["image_file"]["file_id"]
                check_file(svc, project, file_id, f"{where}content[{i}].image_file.file_id")


def check_messages(svc: Services, project: str, messages: list[Any] | None, where: str) -> None:
    for i, message in enumerate(messages or []):
        check_message(svc, project, message, f"{where}[{i}].")


def prepare_tool_resources(
    svc: Services, project: str, resources: dict[str, Any] | None, *, creating: bool
) -> dict[str, Any] | None:
    """Check the IDs `resources` names; on create, make the `vector_stores` helper's store.

    Returns the resources as stored (the helper replaced by the new store's ID).
    """
    if not resources:
        return resources
    param = "tool_resources"
    code = resources.get("code_interpreter") or {}
    for i, file_id in enumerate(code.get("file_ids") or []):
        check_file(svc, project, file_id, f"{param}.code_interpreter.file_ids[{i}]")
    search = resources.get("file_search")
    if search is None:
        return resources
    for i, store_id in enumerate(search.get("vector_store_ids") or []):
        check_vector_store(svc, project, store_id, f"{param}.file_search.vector_store_ids[{i}]")
    helpers = search.get("vector_stores")
    if helpers is None:
        return resources
    if not creating:
        raise errors.InvalidRequest(
            f"Unknown parameter: '{param}.file_search.vector_stores'.",
            param=f"{param}.file_search.vector_stores",
        )
    for helper in helpers:
        for i, file_id in enumerate(helper["file_ids"]):
            check_file(svc, project, file_id, f"{param}.file_search.vector_stores[0].file_ids[{i}]")
    ids = list(search.get("vector_store_ids") or [])
    for helper in helpers:  # at most one (the request model checked)
        store = _create_store(svc, project, helper["file_ids"], helper)
        ids.append(store["id"])
    return {**resources, "file_search": {"vector_store_ids": ids}}


def _create_store(
    svc: Services, project: str, file_ids: list[str], helper: dict[str, Any] | None = None
) -> Record:
    from .vector_stores import create_vector_store

    helper = helper or {}
    return create_vector_store(
        svc,
        project,
        {
            "name": None,
            "file_ids": file_ids,
            "chunking_strategy": helper.get("chunking_strategy"),
            "metadata": helper.get("metadata"),
            "expires_after": dict(HELPER_STORE_EXPIRY),
        },
    )


def search_attachment_files(messages: list[Record]) -> list[str]:
    """The files attached for file_search, in order, each once."""
    found: list[str] = []
    for message in messages:
        for attachment in message.get("attachments") or []:
            wants_search = any(t.get("type") == "file_search" for t in attachment["tools"])
            if wants_search and attachment["file_id"] not in found:
                found.append(attachment["file_id"])
    return found


def with_thread_store(
    svc: Services, project: str, resources: dict[str, Any] | None, messages: list[Record]
) -> dict[str, Any] | None:
    """A new thread's tool_resources once its messages' file_search attachments are in its
    store (the one it names, or a new one)."""
    file_ids = search_attachment_files(messages)
    if not file_ids:
        return resources
    return _put_in_store(svc, project, resources, file_ids)


def attach_to_thread(svc: Services, project: str, thread_id: str, messages: list[Record]) -> None:
    """After messages were added to a thread: their file_search attachments go to its store."""
    file_ids = search_attachment_files(messages)
    if not file_ids:
        return
    thread = svc.store.get_thread(project, thread_id)
    if thread is None:
        return
    current = thread.get("tool_resources")
    updated = _put_in_store(svc, project, current, file_ids)
    if updated != current:
        svc.store.update_thread(project, thread_id, {"tool_resources": updated})


def _put_in_store(
    svc: Services, project: str, resources: dict[str, Any] | None, file_ids: list[str]
) -> dict[str, Any]:
    from .vector_stores import add_file

    resources = dict(resources or {})
    ids = list((resources.get("file_search") or {}).get("vector_store_ids") or [])
    if ids:
        try:
            for file_id in file_ids:
                add_file(svc, project, ids[0], file_id)
            return resources
        except errors.ApiError:
            pass  # the thread's store is gone or expired: the files get a new one
    store = _create_store(svc, project, file_ids)
    resources["file_search"] = {"vector_store_ids": [store["id"]]}
    return resources
