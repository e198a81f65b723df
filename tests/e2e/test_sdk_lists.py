"""List semantics (CONTRACT.md, Lists) as the SDK and raw HTTP see them."""

from __future__ import annotations

import httpx2
import openai
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _ids(page: object) -> list[str]:
    return [item.id for item in page.data]  # type: ignore[attr-defined]


def test_cursors_and_has_more(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    m = [
        client.beta.threads.messages.create(thread_id=thread.id, role="user", content=str(i)).id
        for i in range(5)
    ]
    lst = client.beta.threads.messages.list
    tid = thread.id

    page = lst(tid, limit=2)
    assert (_ids(page), page.has_more) == ([m[4], m[3]], True)
    page = lst(tid, limit=2, after=m[3])
    assert (_ids(page), page.has_more) == ([m[2], m[1]], True)
    page = lst(tid, limit=2, after=m[1])
    assert (_ids(page), page.has_more) == ([m[0]], False)

    page = lst(tid, limit=2, order="asc", after=m[0])
    assert (_ids(page), page.has_more) == ([m[1], m[2]], True)
    page = lst(tid, limit=2, order="asc", after=m[2])
    assert (_ids(page), page.has_more) == ([m[3], m[4]], False)

    # before=X: the `limit` items immediately preceding X, still in the requested order;
    # has_more: more items lie before the first item of the page.
    page = lst(tid, limit=2, before=m[1])
    assert (_ids(page), page.has_more) == ([m[3], m[2]], True), "desc, before m1"
    page = lst(tid, limit=2, before=m[3])
    assert (_ids(page), page.has_more) == ([m[4]], False), "desc, before m3"
    page = lst(tid, limit=2, order="asc", before=m[4])
    assert (_ids(page), page.has_more) == ([m[2], m[3]], True), "asc, before m4"
    page = lst(tid, limit=3, order="asc", before=m[3])
    assert (_ids(page), page.has_more) == ([m[0], m[1], m[2]], False), "asc, before m3"

    page = lst(tid, limit=2, order="asc", after=m[0], before=m[4])
    assert _ids(page)[:2] == [m[1], m[2]], "both cursors: the first items strictly between"
    assert page.has_more is True
    page = lst(tid, limit=10, order="asc", after=m[0], before=m[4])
    assert _ids(page) == [m[1], m[2], m[3]]


def test_default_limit_is_20(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": f"m{i}"} for i in range(21)]
    )
    page = client.beta.threads.messages.list(thread.id)
    assert len(page.data) == 20 and page.has_more is True
    assert len(list(client.beta.threads.messages.list(thread.id))) == 21, "auto-pagination"


def test_empty_page_and_list_envelope(client: openai.OpenAI, http: httpx2.Client) -> None:
    thread = client.beta.threads.create()
    response = http.get(f"/threads/{thread.id}/runs")
    assert response.status_code == 200
    assert response.json() == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }
    for _ in range(2):
        client.beta.threads.messages.create(thread_id=thread.id, role="user", content="x")
    body = http.get(f"/threads/{thread.id}/messages", params={"limit": 1}).json()
    assert body["first_id"] == body["last_id"] == body["data"][0]["id"]
    assert body["has_more"] is True
