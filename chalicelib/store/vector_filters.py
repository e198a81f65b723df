"""Search `filters` on a file's `attributes`: evaluated here, or compiled for S3 Vectors.

The filter is OpenAI's (ComparisonFilter / CompoundFilter): `{"type": "eq"|"ne"|"gt"|"gte"|
"lt"|"lte"|"in"|"nin", "key", "value"}` or `{"type": "and"|"or", "filters": [...]}`. Both index
implementations give the same answers, by these rules:

- `eq`/`ne`/`in`/`nin` compare exactly (a string never equals a number; `true` is not `1`);
- `gt`/`gte`/`lt`/`lte` compare numbers only (S3 Vectors' range operators take numbers): a
  string or boolean value in the filter is refused (FilterError), an attribute that is not a
  number never matches;
- an attribute the file does not have matches only `ne` and `nin` (it is "not equal").
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

COMPARISONS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin")
RANGES: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
MAX_DEPTH = 8


class FilterError(ValueError):
    """A filter this index cannot evaluate; the message says which part."""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    """Equality without Python's 1 == True == 1.0 conflation across kinds."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _number(a) and _number(b):
        return bool(a == b)
    return type(a) is type(b) and a == b


def check_filter(spec: Any, depth: int = 0) -> None:
    """Raise FilterError unless `spec` is a filter this module evaluates."""
    if depth > MAX_DEPTH:
        raise FilterError(f"filters nest deeper than {MAX_DEPTH} levels")
    if not isinstance(spec, Mapping):
        raise FilterError("a filter must be an object")
    kind = spec.get("type")
    if kind in ("and", "or"):
        parts = spec.get("filters")
        if not isinstance(parts, list) or not parts:
            raise FilterError(f"an '{kind}' filter needs a non-empty list of filters")
        for part in parts:
            check_filter(part, depth + 1)
        return
    if kind not in COMPARISONS:
        raise FilterError(f"unknown filter type {kind!r}")
    if not isinstance(spec.get("key"), str):
        raise FilterError("a comparison filter needs a string 'key'")
    value = spec.get("value")
    if kind in RANGES and not _number(value):
        raise FilterError(f"'{kind}' compares numbers only")
    if kind in ("in", "nin"):
        if not isinstance(value, list) or not value:
            raise FilterError(f"'{kind}' needs a non-empty list of values")
        if not all(isinstance(v, str) or _number(v) for v in value):
            raise FilterError(f"'{kind}' values must be strings or numbers")
    elif kind in ("eq", "ne") and not (isinstance(value, str | bool) or _number(value)):
        raise FilterError(f"'{kind}' needs a string, number or boolean value")


def matches(spec: Mapping[str, Any], attributes: Mapping[str, Any]) -> bool:
    """Whether a file with `attributes` passes the (checked) filter `spec`."""
    kind = spec["type"]
    if kind == "and":
        return all(matches(part, attributes) for part in spec["filters"])
    if kind == "or":
        return any(matches(part, attributes) for part in spec["filters"])
    key, value = spec["key"], spec["value"]
    if key not in attributes:
        return kind in ("ne", "nin")
    current = attributes[key]
    if kind == "eq":
        return _same(current, value)
    if kind == "ne":
        return not _same(current, value)
    if kind == "in":
        return any(_same(current, v) for v in value)
    if kind == "nin":
        return not any(_same(current, v) for v in value)
    return _number(current) and RANGES[kind](current, value)


def to_s3vectors(spec: Mapping[str, Any], key_of: Callable[[str], str]) -> dict[str, Any]:
    """The same (checked) filter in S3 Vectors' filter language, attribute `k` stored as
    metadata key `key_of(k)`. Missing keys are made explicit ($exists) so that S3 Vectors and
    `matches` agree."""
    kind = spec["type"]
    if kind in ("and", "or"):
        return {f"${kind}": [to_s3vectors(part, key_of) for part in spec["filters"]]}
    key, value = key_of(spec["key"]), spec["value"]
    if kind in ("ne", "nin"):
        return {"$or": [{key: {"$exists": False}}, {key: {f"${kind}": value}}]}
    return {key: {f"${kind}": value}}


def stores_to_query(
    vector_store_ids: Sequence[str], top_k: int, filters: Mapping[str, Any] | None
) -> list[str]:
    """What every index's query starts with: the stores once each, in order, and the filter
    checked; an empty list when there is nothing to search (no store, or top_k <= 0)."""
    if top_k <= 0 or not vector_store_ids:
        return []
    if filters is not None:
        check_filter(filters)
    return list(dict.fromkeys(vector_store_ids))
