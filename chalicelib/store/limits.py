"""DynamoDB's size limits, enforced by both engines so nothing passes locally and fails deployed."""

from __future__ import annotations

import json
from typing import Any

from ..domain.errors import ItemTooLarge

# DynamoDB's limit is 400 KB per item; we measure a JSON rendering, which slightly overestimates.
MAX_ITEM_BYTES = 400 * 1024
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024


def item_size(record: dict[str, Any]) -> int:
    return len(json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode())


def check_size(record: dict[str, Any], what: str) -> None:
    size = item_size(record)
    if size > MAX_ITEM_BYTES:
        raise ItemTooLarge(
            f"The {what} is too large to store: {size} bytes, over the limit of "
            f"{MAX_ITEM_BYTES} bytes per object.",
            code="object_too_large",
        )


def too_large_after_change() -> ItemTooLarge:
    """An update that would make an item too large: refused, nothing written."""
    return ItemTooLarge(
        f"The change would make the object too large to store: over the limit of "
        f"{MAX_ITEM_BYTES} bytes per object.",
        code="object_too_large",
    )


def check_transaction_size(total: int) -> None:
    if total > MAX_TRANSACTION_BYTES:
        raise ItemTooLarge(
            f"The request is too large to store at once: {total} bytes, over the limit of "
            f"{MAX_TRANSACTION_BYTES} bytes.",
            code="object_too_large",
        )


def dynamodb_size(value: Any) -> int:
    """An attribute value's size as DynamoDB counts it (its documented rules), for the engines
    that must refuse what DynamoDB refuses: UTF-8 bytes of strings and names, about a byte per
    two digits of a number, 3 bytes plus a byte per element for a map or list."""
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float):
        digits = len(repr(value).lstrip("-").replace(".", "").lstrip("0")) or 1
        return (digits + 1) // 2 + 1
    if isinstance(value, dict):
        return 3 + sum(1 + dynamodb_size(k) + dynamodb_size(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return 3 + sum(1 + dynamodb_size(v) for v in value)
    return len(str(value))


def dynamodb_item_size(item: dict[str, Any]) -> int:
    return sum(dynamodb_size(name) + dynamodb_size(value) for name, value in item.items())
