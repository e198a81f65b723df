"""Provider failures within a turn: throttling, 5xx and timeouts are retried with backoff for
the turn's retry budget, then the run ends `failed` with the provider's code."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.providers.base import ModelRequest, ModelResponse, ProviderError, StreamListener
from chalicelib.providers.echo import EchoProvider
from chalicelib.providers.openai_compat import OpenAICompatibleProvider
from chalicelib.services.context import Services
from chalicelib.services.executor import advance_run
from tests.conftest import Api, make_services
from tests.test_provider_openai_compat import FakeServer, server  # noqa: F401 (fixture)


class FlakyProvider:
    """Fails with `error` for the first `failures` calls, then answers as echo."""

    def __init__(self, error: ProviderError, failures: int) -> None:
        self.error = error
        self.failures = failures
        self.calls = 0

    def count_prompt_tokens(self, request: ModelRequest) -> int:
        return 1

    def complete(
        self, request: ModelRequest, listener: StreamListener | None = None
    ) -> ModelResponse:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return EchoProvider().complete(request, listener)


@pytest.fixture
def svc(dynamodb: Any) -> Services:
    return make_services(
        dynamodb, provider_retry_budget_seconds=1, provider_retry_first_delay_ms=20
    )


def _queued_run(api: Api) -> dict[str, Any]:
    assistant = api.ok("POST", "/v1/assistants", {"model": "m"})
    thread = api.ok("POST", "/v1/threads", {"messages": [{"role": "user", "content": "ping"}]})
    return api.ok("POST", f"/v1/threads/{thread['id']}/runs", {"assistant_id": assistant["id"]})


def _project(api: Api, svc: Services, run: dict[str, Any]) -> str:
    [job] = svc.dispatcher.take()  # type: ignore[attr-defined]
    assert job["run_id"] == run["id"]
    return str(job["project"])


def test_a_throttled_call_is_retried_and_then_succeeds(api: Api, svc: Services) -> None:
    run = _queued_run(api)
    flaky = FlakyProvider(ProviderError("HTTP 429", "rate_limit_exceeded", retryable=True), 2)
    svc.provider = flaky
    done = advance_run(svc, _project(api, svc, run), run["thread_id"], run["id"])
    assert done is not None and done["status"] == "completed"
    assert flaky.calls == 3


def test_throttling_past_the_budget_ends_the_run_rate_limit_exceeded(
    api: Api, svc: Services
) -> None:
    run = _queued_run(api)
    flaky = FlakyProvider(ProviderError("HTTP 429", "rate_limit_exceeded", retryable=True), 10**6)
    svc.provider = flaky
    done = advance_run(svc, _project(api, svc, run), run["thread_id"], run["id"])
    assert done is not None and done["status"] == "failed"
    assert done["last_error"]["code"] == "rate_limit_exceeded"
    assert f"after {flaky.calls} attempts" in done["last_error"]["message"]
    assert flaky.calls >= 3, "retried with backoff within the 1 s budget"
    stored = api.ok("GET", f"/v1/threads/{run['thread_id']}/runs/{run['id']}")
    assert stored["status"] == "failed" and stored["last_error"]["code"] == "rate_limit_exceeded"


def test_server_errors_past_the_budget_end_server_error(api: Api, svc: Services) -> None:
    run = _queued_run(api)
    flaky = FlakyProvider(ProviderError("HTTP 503", "server_error", retryable=True), 10**6)
    svc.provider = flaky
    done = advance_run(svc, _project(api, svc, run), run["thread_id"], run["id"])
    assert done is not None and done["status"] == "failed"
    assert done["last_error"]["code"] == "server_error" and flaky.calls >= 3


def test_a_request_the_provider_refuses_is_not_retried(api: Api, svc: Services) -> None:
    run = _queued_run(api)
    flaky = FlakyProvider(ProviderError("HTTP 400: bad model", "server_error"), 10**6)
    svc.provider = flaky
    done = advance_run(svc, _project(api, svc, run), run["thread_id"], run["id"])
    assert done is not None and done["status"] == "failed" and flaky.calls == 1


def test_provider_429_answers_are_retried_then_rate_limit_exceeded(
    api: Api,
    svc: Services,
    server: FakeServer,  # noqa: F811
) -> None:
    """The real chat-completions provider against a server that keeps answering 429."""
    run = _queued_run(api)
    for _ in range(50):
        server.answer({"error": {"message": "Rate limit reached"}}, status=429)
    svc.provider = OpenAICompatibleProvider(server.base_url, timeout=5)
    done = advance_run(svc, _project(api, svc, run), run["thread_id"], run["id"])
    assert done is not None and done["status"] == "failed"
    assert done["last_error"]["code"] == "rate_limit_exceeded"
    assert "Rate limit reached" in done["last_error"]["message"]
    assert len(server.requests) >= 3
    assert all(json.loads(r.body)["stream"] is True for r in server.requests)
