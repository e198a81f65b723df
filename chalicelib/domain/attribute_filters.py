"""Search `filters` on a vector store file's `attributes`: ComparisonFilter and CompoundFilter.

As the hosted API documents them: eq/ne compare any value; gt/gte/lt/lte compare numbers with
numbers and strings with strings (other pairs never match); in/nin test membership in an array.
A missing attribute matches only `ne` and `nin`.
"""

from __future__ import annotations

from typing import Any


def _comparable(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return False
    numbers = (int, float)
    return (isinstance(left, numbers) and isinstance(right, numbers)) or (
        isinstance(left, str) and isinstance(right, str)
    )


def _equal(left: Any, right: Any) -> bool:
    # True == 1 in Python; attributes keep booleans and numbers apart.
    return isinstance(left, bool) == isinstance(right, bool) and left == right


def matches(filters: dict[str, Any] | None, attributes: dict[str, Any] | None) -> bool:
    if filters is None:
        return True
    attributes = attributes or {}
    kind = filters["type"]
    if kind == "and":
        return all(matches(part, attributes) for part in filters["filters"])
    if kind == "or":
        return any(matches(part, attributes) for part in filters["filters"])
    key, value = filters["key"], filters["value"]
    present = key in attributes
    current = attributes.get(key)
    if kind == "eq":
        return present and _equal(current, value)
    if kind == "ne":
        return not (present and _equal(current, value))
    if kind == "in":
        return present and any(_equal(current, v) for v in value)
    if kind == "nin":
        return not (present and any(_equal(current, v) for v in value))
    if not present or not _comparable(current, value):
        return False
    if kind == "gt":
        return bool(current > value)
    if kind == "gte":
        return bool(current >= value)
    if kind == "lt":
        return bool(current < value)
    if kind == "lte":
        return bool(current <= value)
    raise ValueError(f"unknown filter type {kind!r}")
