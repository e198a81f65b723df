"""Check every HTTP response the e2e tests receive against OpenAI's OpenAPI document.

`check_response` is installed as an httpx2 response hook on the SDK's HTTP client and on the raw
HTTP client, so every body the tests see (including auto-pagination pages, poll requests and
streams) is validated as sent on the wire, before the SDK's pydantic models touch it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

import httpx2

from tests.support.spec import (
    SpecViolation,
    files_operations,
    operations,
    validate_response,
    validate_schema,
    validate_stream_event,
)

API_PREFIX = "/v1"
DONE_FRAME = "event: done\ndata: [DONE]"
# Operations whose success is the raw bytes of a file, whatever the spec writes (its quirk 3).
RAW_BODY_OPERATIONS = {("get", "/files/{file_id}/content")}


@functools.cache
def _templates() -> list[tuple[str, str, re.Pattern[str]]]:
    """(method, template, regex), literal templates first: `/threads/runs` beats `{thread_id}`."""
    every = [*operations(), *files_operations()]
    ops = sorted(every, key=lambda op: (op[1].count("{"), op[1], op[0]))
    compiled = []
    for method, template in ops:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        compiled.append((method, template, re.compile(f"^{pattern}$")))
    return compiled


def template_for(method: str, path: str) -> str | None:
    """The spec's path template for a request path like `/v1/threads/thread_x/runs`."""
    if not path.startswith(API_PREFIX + "/"):
        return None
    path = path[len(API_PREFIX) :]
    for op_method, template, regex in _templates():
        if op_method == method.lower() and regex.match(path):
            return template
    return None


def check_error_body(body: object) -> None:
    """An OpenAI error: `{"error": {message, type, param, code}}`, all four keys present."""
    validate_schema(body, "ErrorResponse")
    assert isinstance(body, dict)
    missing = {"message", "type", "param", "code"} - set(body["error"])
    if missing:
        raise SpecViolation(f"error body misses {sorted(missing)}: {body!r}")


def parse_sse(text: str) -> list[tuple[str, Any]]:
    """Frames of an event-stream body as (event, data); data is parsed JSON or `"[DONE]"`."""
    events: list[tuple[str, Any]] = []
    for frame in text.split("\n\n"):
        if not frame.strip():
            continue
        name: str | None = None
        data_lines: list[str] = []
        for line in frame.split("\n"):
            if line.startswith("event:"):
                name = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data_lines.append(line[len("data:") :].lstrip(" "))
        if name is None:
            raise SpecViolation(f"stream frame without an event name: {frame!r}")
        raw = "\n".join(data_lines)
        events.append((name, raw if name == "done" else json.loads(raw)))
    return events


def check_sse(text: str) -> list[tuple[str, Any]]:
    """Validate a whole event-stream body: every event's data, and `done` / `[DONE]` last."""
    if not text.rstrip("\n").endswith(DONE_FRAME):
        raise SpecViolation(f"stream does not end with {DONE_FRAME!r}: ...{text[-200:]!r}")
    events = parse_sse(text)
    names = [name for name, _ in events]
    if names.count("done") != 1:
        raise SpecViolation(f"expected exactly one `done` event, got {names}")
    for name, data in events:
        validate_stream_event(name, data)
    return events


def check_response(response: httpx2.Response) -> None:
    """httpx2 response hook: validate the body against the spec (raises SpecViolation)."""
    response.read()
    method = response.request.method
    path = response.request.url.path
    what = f"{method} {path} -> {response.status_code}"
    content_type = response.headers.get("content-type", "")
    template = template_for(method, path)
    if (method.lower(), template) in RAW_BODY_OPERATIONS and response.status_code == 200:
        return  # any bytes (the tests compare them with what they uploaded)
    if content_type.startswith("text/event-stream"):
        if response.status_code != 200:
            raise SpecViolation(f"{what}: an event stream with a non-200 status")
        check_sse(response.text)
        return
    if not content_type.startswith("application/json"):
        raise SpecViolation(f"{what}: content-type {content_type!r}, body {response.text[:300]!r}")
    try:
        body = response.json()
    except ValueError:
        raise SpecViolation(f"{what}: body is not JSON: {response.text[:300]!r}") from None
    if template is None:
        if response.status_code < 400:
            raise SpecViolation(f"{what}: success on a route the spec does not define")
        check_error_body(body)
        return
    validate_response(method, template, response.status_code, body)


def sdk_raw(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
    """Call a `with_raw_response` SDK method: (the SDK's parsed object, the raw JSON body).

    Parsing runs the SDK's strict validation; the hook has already checked the raw body against
    the spec. The raw body is what to inspect for keys the SDK's models would hide.
    """
    response = call(*args, **kwargs)
    parsed = response.parse()
    raw = response.http_response.json()
    assert isinstance(raw, dict), raw
    return parsed, raw
