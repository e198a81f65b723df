"""What the framework would otherwise answer itself: every such error is OpenAI-shaped."""

from __future__ import annotations

import time

import httpx2
import pytest

pytestmark = pytest.mark.e2e


def _error(response: httpx2.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"], error
    assert "Traceback" not in error["message"]
    return error  # type: ignore[no-any-return]


def test_unknown_route_is_an_openai_404(http: httpx2.Client) -> None:
    for method, path in (("GET", "/nothing/here"), ("POST", "/threads/x/runs/y/z/w")):
        error = _error(http.request(method, path), 404)
        assert error["type"] == "invalid_request_error"


def test_wrong_method_is_an_openai_405(http: httpx2.Client) -> None:
    for method, path in (("PUT", "/threads/x"), ("PATCH", "/assistants"), ("DELETE", "/threads")):
        error = _error(http.request(method, path), 405)
        assert error["type"] == "invalid_request_error"


def test_bad_json_is_an_openai_400(http: httpx2.Client) -> None:
    headers = {"Content-Type": "application/json"}
    error = _error(http.post("/threads", content=b'{"messages": [', headers=headers), 400)
    assert error["type"] == "invalid_request_error"
    assert "JSON" in str(error["message"])
    not_object = http.post("/assistants", content=b"[1, 2]", headers=headers)
    assert _error(not_object, 400)["type"] == "invalid_request_error"


def test_validation_error_is_400_never_422(http: httpx2.Client) -> None:
    error = _error(http.post("/assistants", json={"model": 42}), 400)
    assert error["param"] == "model"
    missing = _error(http.post("/threads/runs", json={}), 400)
    assert missing["param"] == "assistant_id"


def test_bad_query_values_are_400_naming_the_param(http: httpx2.Client) -> None:
    assert _error(http.get("/assistants", params={"order": "sideways"}), 400)["param"] == "order"
    assert _error(http.get("/assistants", params={"limit": "many"}), 400)["param"] == "limit"


def test_a_body_that_is_not_json_content_is_an_openai_error(http: httpx2.Client) -> None:
    response = http.post("/threads", content=b"messages=1", headers={"Content-Type": "text/plain"})
    assert response.status_code in (400, 415), response.text
    _error(response, response.status_code)


def test_an_oversized_body_is_an_openai_error(http: httpx2.Client) -> None:
    big = {"messages": [{"role": "user", "content": "x" * (1024 * 1024 + 10)}]}
    response = http.post("/threads", json=big)
    assert response.status_code in (400, 413), response.status_code
    _error(response, response.status_code)


def test_unicode_round_trips(http: httpx2.Client) -> None:
    text = 'héllo wörld ☃ 你好 🚀 "quoted" \\ back'
    assistant = http.post("/assistants", json={"model": "gpt-4o"}).json()
    created = http.post(
        "/threads/runs",
        json={
            "assistant_id": assistant["id"],
            "thread": {"messages": [{"role": "user", "content": text}]},
        },
    )
    assert created.status_code == 200, created.text
    run = created.json()
    for _ in range(100):
        run = http.get(f"/threads/{run['thread_id']}/runs/{run['id']}").json()
        if run["status"] == "completed":
            break
        time.sleep(0.05)
    assert run["status"] == "completed", run
    page = http.get(f"/threads/{run['thread_id']}/messages", params={"run_id": run["id"]}).json()
    assert page["data"][0]["content"][0]["text"]["value"] == text
