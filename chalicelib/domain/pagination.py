"""List parameters (`limit`, `order`, `after`, `before`) and the list envelope."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import InvalidRequest
from .ids import is_valid_id

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    order: str = "desc"
    after: str | None = None
    before: str | None = None


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    has_more: bool


def parse_page_request(
    query: Mapping[str, str],
    kind: str,
    default_limit: int = DEFAULT_LIMIT,
    max_limit: int = MAX_LIMIT,
) -> PageRequest:
    """Validate list query parameters; cursors must be IDs of `kind` (e.g. 'run').

    Files list up to 10,000 at once (default 10,000), everything else 1..100 (default 20).
    """
    raw_limit = query.get("limit")
    limit = default_limit
    if raw_limit is not None:
        try:
            limit = int(raw_limit)
        except ValueError:
            raise InvalidRequest(
                f"Invalid 'limit': expected an integer, but got '{raw_limit[:40]}' instead.",
                param="limit",
            ) from None
        if not 1 <= limit <= max_limit:
            raise InvalidRequest(
                f"Invalid 'limit': expected an integer between 1 and {max_limit}, but got "
                f"{limit} instead.",
                param="limit",
            )
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest(
            f"Invalid value for 'order': expected one of 'asc' or 'desc', but got "
            f"'{order[:40]}' instead.",
            param="order",
        )
    cursors: dict[str, str | None] = {}
    for name in ("after", "before"):
        value = query.get(name)
        if value is not None and not is_valid_id(kind, value):
            raise InvalidRequest(
                f"Invalid '{name}': expected an ID of a {kind} object, but got "
                f"'{value[:64]}' instead.",
                param=name,
            )
        cursors[name] = value
    return PageRequest(limit=limit, order=order, after=cursors["after"], before=cursors["before"])


def list_body(items: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": items,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": has_more,
    }
