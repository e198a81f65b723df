"""The inspector's routes: served without a key, only its own files, OpenAI errors otherwise."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from chalicelib.api import inspector
from tests.conftest import Api


@pytest.mark.parametrize("path", ["/", "/inspector"])
def test_the_page_needs_no_key(client: Any, path: str) -> None:
    response = client.http.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "connect-src 'self'" in response.headers["Content-Security-Policy"]
    assert b"<title>Assistants inspector</title>" in response.body


def test_the_page_links_only_files_that_are_served(client: Any) -> None:
    html = client.http.get("/").body.decode()
    linked = re.findall(r'(?:src|href)="inspector/([^"]+)"', html)
    assert sorted(linked) == ["app.js", "style.css"]
    for name in linked:
        response = client.http.get(f"/inspector/{name}")
        assert response.status_code == 200, name
        assert response.headers["Content-Type"] == inspector.ASSETS[name]
        assert response.body.decode() == (inspector.ASSETS_DIR / name).read_text()


@pytest.mark.parametrize("name", ["nope.js", "..%2Fapp.py", "__init__.py", "index.htm"])
def test_any_other_file_is_the_openai_404(client: Any, name: str) -> None:
    response = client.http.get(f"/inspector/{name}")
    assert response.status_code == 404
    error = json.loads(response.body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"].startswith("Invalid URL (GET /inspector/")
    assert error["type"] == "invalid_request_error"


def test_other_methods_are_an_openai_405(client: Any) -> None:
    response = client.http.post("/inspector", body=b"")
    assert response.status_code == 405
    error = json.loads(response.body)["error"]
    assert error["message"] == "Invalid method for URL (POST /inspector). Allowed: GET."


def test_the_api_still_wants_a_key(client: Any) -> None:
    response = client.http.get("/v1/assistants")
    assert response.status_code == 401


def test_api_requests_never_read_the_page(api: Api) -> None:
    inspector.read_asset.cache_clear()
    api.ok("GET", "/v1/assistants")
    api.ok("POST", "/v1/threads", {})
    assert inspector.read_asset.cache_info().currsize == 0
    api.client.http.get("/inspector")
    assert inspector.read_asset.cache_info().currsize == 1
