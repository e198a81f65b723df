"""Routes: runs and run steps.

Request models (pydantic) are imported inside the handlers that parse a body, so that reads,
polls, the worker and the sweeper never load pydantic.
"""

from __future__ import annotations

from typing import Any

from chalice import Response

from ..domain.objects import to_wire
from ..domain.pagination import list_body, parse_page_request
from ..services import runs, streams
from .router import ApiRequest, Router, json_response

router = Router()


def _sse(turn: streams.StreamTurn) -> Response:
    """The whole stream as one body: only where the streaming entry (api/streaming.py) is not
    in front of these routes, e.g. chalice.test.Client."""
    return Response(
        body=turn.collect().to_sse(),
        status_code=200,
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"},
    )


def _run(req: ApiRequest, run: dict[str, Any]) -> Response:
    """A run, with the hint the SDK's pollers read to decide when to ask again."""
    headers = {"openai-poll-after-ms": str(req.svc.settings.poll_after_ms)}
    return json_response(to_wire(run), headers=headers)


@router.route("POST", "/v1/threads/{thread_id}/runs")
def create_run(req: ApiRequest, thread_id: str) -> Response:
    from ..domain.requests import CreateRun

    include = runs.check_include(req.query_list("include[]"))
    request = req.body(CreateRun)
    if request.stream:
        return _sse(streams.start_create_run(req.svc, req.project, thread_id, request, include))
    return _run(req, runs.create_run(req.svc, req.project, thread_id, request, include=include))


@router.route("POST", "/v1/threads/runs")
def create_thread_and_run(req: ApiRequest) -> Response:
    from ..domain.requests import CreateThreadAndRun

    request = req.body(CreateThreadAndRun)
    if request.stream:
        return _sse(streams.start_create_thread_and_run(req.svc, req.project, request))
    _, run = runs.create_thread_and_run(req.svc, req.project, request)
    return _run(req, run)


@router.route("GET", "/v1/threads/{thread_id}/runs")
def list_runs(req: ApiRequest, thread_id: str) -> dict[str, Any]:
    page = runs.list_runs(req.svc, req.project, thread_id, parse_page_request(req.query, "run"))
    return list_body([to_wire(r) for r in page.items], page.has_more)


@router.route("GET", "/v1/threads/{thread_id}/runs/{run_id}")
def get_run(req: ApiRequest, thread_id: str, run_id: str) -> Response:
    return _run(req, runs.get_run(req.svc, req.project, thread_id, run_id))


@router.route("POST", "/v1/threads/{thread_id}/runs/{run_id}")
def modify_run(req: ApiRequest, thread_id: str, run_id: str) -> Response:
    from ..domain.requests import ModifyMetadata

    metadata = req.body(ModifyMetadata).metadata
    return _run(req, runs.modify_run(req.svc, req.project, thread_id, run_id, metadata))


@router.route("POST", "/v1/threads/{thread_id}/runs/{run_id}/cancel")
def cancel_run(req: ApiRequest, thread_id: str, run_id: str) -> Response:
    return _run(req, runs.cancel_run(req.svc, req.project, thread_id, run_id))


@router.route("POST", "/v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs")
def submit_tool_outputs(req: ApiRequest, thread_id: str, run_id: str) -> Response:
    from ..domain.requests import SubmitToolOutputs

    request = req.body(SubmitToolOutputs)
    if request.stream:
        turn = streams.start_submit_tool_outputs(req.svc, req.project, thread_id, run_id, request)
        return _sse(turn)
    run, _ = runs.submit_tool_outputs(req.svc, req.project, thread_id, run_id, request)
    return _run(req, run)


@router.route("GET", "/v1/threads/{thread_id}/runs/{run_id}/steps")
def list_steps(req: ApiRequest, thread_id: str, run_id: str) -> dict[str, Any]:
    include = runs.check_include(req.query_list("include[]"))
    page_request = parse_page_request(req.query, "step")
    page = runs.list_steps(req.svc, req.project, thread_id, run_id, page_request)
    return list_body([to_wire(s, include) for s in page.items], page.has_more)


@router.route("GET", "/v1/threads/{thread_id}/runs/{run_id}/steps/{step_id}")
def get_step(req: ApiRequest, thread_id: str, run_id: str, step_id: str) -> dict[str, Any]:
    include = runs.check_include(req.query_list("include[]"))
    return to_wire(runs.get_step(req.svc, req.project, thread_id, run_id, step_id), include)
