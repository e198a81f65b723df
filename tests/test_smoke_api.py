from __future__ import annotations

from tests.conftest import Api


def test_create_run_stays_queued_until_a_worker_takes_it(api: Api) -> None:
    assistant = api.ok("POST", "/v1/assistants", {"model": "gpt-4o"})
    thread = api.ok("POST", "/v1/threads", {"messages": [{"role": "user", "content": "hi"}]})
    run = api.ok("POST", f"/v1/threads/{thread['id']}/runs", {"assistant_id": assistant["id"]})
    assert run["status"] == "queued"
    again = api.ok("GET", f"/v1/threads/{thread['id']}/runs/{run['id']}")
    assert again == run
