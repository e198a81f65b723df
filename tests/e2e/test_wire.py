"""The wire checker itself: it must map paths to the spec's templates and reject bad bodies,
or every e2e test's spec check would pass vacuously."""

from __future__ import annotations

import json

import httpx2
import pytest

from tests.e2e.wire import check_response, check_sse, template_for
from tests.support.spec import SpecViolation

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("POST", "/v1/threads/runs", "/threads/runs"),
        ("POST", "/v1/threads/thread_a", "/threads/{thread_id}"),
        ("POST", "/v1/threads/thread_a/runs", "/threads/{thread_id}/runs"),
        (
            "GET",
            "/v1/threads/t/runs/r/steps/s",
            "/threads/{thread_id}/runs/{run_id}/steps/{step_id}",
        ),
        ("POST", "/v1/threads/t/runs/r/cancel", "/threads/{thread_id}/runs/{run_id}/cancel"),
        ("PUT", "/v1/threads/t", None),
        ("GET", "/v1/nothing", None),
    ],
)
def test_template_for(method: str, path: str, template: str | None) -> None:
    assert template_for(method, path) == template


def _response(
    method: str, path: str, status: int, body: object, sse: bool = False
) -> httpx2.Response:
    request = httpx2.Request(method, f"http://127.0.0.1/v1{path}")
    content_type = "text/event-stream" if sse else "application/json"
    content = body if isinstance(body, str) else json.dumps(body)
    return httpx2.Response(
        status, headers={"content-type": content_type}, content=content.encode(), request=request
    )


def test_bad_bodies_are_rejected() -> None:
    with pytest.raises(SpecViolation):
        check_response(_response("GET", "/threads/t/runs/r", 200, {"id": "run_x"}))
    with pytest.raises(SpecViolation):
        check_response(_response("GET", "/threads/t", 404, {"error": {"message": "m"}}))
    with pytest.raises(SpecViolation):
        check_response(_response("GET", "/nothing", 404, {"detail": "Not Found"}))
    with pytest.raises(SpecViolation):
        check_sse('event: thread.run.created\ndata: {"id": "run_x"}\n\n')
    with pytest.raises(SpecViolation):
        check_sse(
            'event: thread.run.created\ndata: {"id": "run_x"}\n\nevent: done\ndata: [DONE]\n\n'
        )


def test_good_bodies_pass() -> None:
    error = {
        "error": {"message": "m", "type": "invalid_request_error", "param": None, "code": None}
    }
    check_response(_response("GET", "/nothing", 404, error))
    check_response(_response("PUT", "/threads/t", 405, error))
    deleted = {"id": "thread_x", "object": "thread.deleted", "deleted": True}
    check_response(_response("DELETE", "/threads/thread_x", 200, deleted))
    check_sse("event: done\ndata: [DONE]\n\n")
