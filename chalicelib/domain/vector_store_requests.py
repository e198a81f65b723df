"""Request bodies of /v1/vector_stores and its sub-resources, validated as the spec has them.

Nested, polymorphic fields (chunking_strategy, expires_after, attributes, filters) are checked by
hand in before-validators, so a failure names the exact field (`param`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from .request_rules import Body, fail

MAX_ATTRIBUTES = 16
MAX_ATTRIBUTE_KEY_CHARS = 64
MAX_ATTRIBUTE_VALUE_CHARS = 512
MIN_CHUNK_TOKENS = 100
MAX_CHUNK_TOKENS = 4096
MAX_STORE_FILE_IDS = 500
MAX_BATCH_FILES = 2000
MAX_SEARCH_RESULTS = 50
MAX_FILTER_DEPTH = 8
MAX_QUERY_CHARS = 16_000
COMPARISONS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin")
RANGES = ("gt", "gte", "lt", "lte")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_chunking_strategy(value: Any, param: str = "chunking_strategy") -> dict[str, Any] | None:
    """`{"type": "auto"}` or `{"type": "static", "static": {...}}` (the spec's request forms)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise fail(f"Invalid type for '{param}': expected an object.", param)
    kind = value.get("type")
    if kind == "auto":
        if set(value) != {"type"}:
            extra = sorted(set(value) - {"type"})[0]
            raise fail(f"Unrecognized request argument supplied: {param}.{extra}", param)
        return {"type": "auto"}
    if kind != "static":
        raise fail(
            f"Invalid value for '{param}.type': expected one of 'auto' or 'static'.",
            f"{param}.type",
        )
    if set(value) - {"type", "static"}:
        extra = sorted(set(value) - {"type", "static"})[0]
        raise fail(f"Unrecognized request argument supplied: {param}.{extra}", param)
    static = value.get("static")
    where = f"{param}.static"
    if not isinstance(static, dict):
        raise fail(f"Missing required parameter: '{where}'.", where)
    if set(static) - {"max_chunk_size_tokens", "chunk_overlap_tokens"}:
        extra = sorted(set(static) - {"max_chunk_size_tokens", "chunk_overlap_tokens"})[0]
        raise fail(f"Unrecognized request argument supplied: {where}.{extra}", where)
    size, overlap = static.get("max_chunk_size_tokens"), static.get("chunk_overlap_tokens")
    for name, number in (("max_chunk_size_tokens", size), ("chunk_overlap_tokens", overlap)):
        if number is None:
            raise fail(f"Missing required parameter: '{where}.{name}'.", f"{where}.{name}")
        if not _is_int(number):
            raise fail(
                f"Invalid type for '{where}.{name}': expected an integer.", f"{where}.{name}"
            )
    if not MIN_CHUNK_TOKENS <= size <= MAX_CHUNK_TOKENS:
        raise fail(
            f"Invalid '{where}.max_chunk_size_tokens': expected an integer between "
            f"{MIN_CHUNK_TOKENS} and {MAX_CHUNK_TOKENS}, but got {size} instead.",
            f"{where}.max_chunk_size_tokens",
        )
    if overlap < 0 or overlap > size // 2:
        raise fail(
            f"Invalid '{where}.chunk_overlap_tokens': expected a non-negative integer of at most "
            f"half of max_chunk_size_tokens ({size // 2}), but got {overlap} instead.",
            f"{where}.chunk_overlap_tokens",
        )
    return {
        "type": "static",
        "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap},
    }


def check_expires_after(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    param = "expires_after"
    if not isinstance(value, dict):
        raise fail(f"Invalid type for '{param}': expected an object.", param)
    if set(value) - {"anchor", "days"}:
        extra = sorted(set(value) - {"anchor", "days"})[0]
        raise fail(f"Unrecognized request argument supplied: {param}.{extra}", param)
    if value.get("anchor") != "last_active_at":
        raise fail(
            f"Invalid value for '{param}.anchor': expected 'last_active_at'.", f"{param}.anchor"
        )
    days = value.get("days")
    if days is None:
        raise fail(f"Missing required parameter: '{param}.days'.", f"{param}.days")
    if not _is_int(days) or not 1 <= days <= 365:
        raise fail(
            f"Invalid '{param}.days': expected an integer between 1 and 365, but got "
            f"{str(days)[:40]} instead.",
            f"{param}.days",
        )
    return {"anchor": "last_active_at", "days": days}


def check_attributes(value: Any, param: str = "attributes") -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise fail(f"Invalid type for '{param}': expected an object.", param)
    if len(value) > MAX_ATTRIBUTES:
        raise fail(
            f"Invalid '{param}': too many properties. Expected an object with at most "
            f"{MAX_ATTRIBUTES} properties, but got an object with {len(value)} properties "
            "instead.",
            param,
        )
    for key, item in value.items():
        if not key or len(key) > MAX_ATTRIBUTE_KEY_CHARS:
            raise fail(
                f"Invalid '{param}': key '{key[:80]}' must have 1 to {MAX_ATTRIBUTE_KEY_CHARS} "
                "characters.",
                param,
            )
        where = f"{param}.{key}"
        if isinstance(item, str):
            if len(item) > MAX_ATTRIBUTE_VALUE_CHARS:
                raise fail(
                    f"Invalid '{where}': string too long. Expected a string with maximum length "
                    f"{MAX_ATTRIBUTE_VALUE_CHARS}, but got a string with length {len(item)} "
                    "instead.",
                    where,
                )
        elif not isinstance(item, (bool, int, float)):
            raise fail(
                f"Invalid type for '{where}': expected a string, a number or a boolean.", where
            )
    return dict(value)


def check_filter(value: Any, param: str = "filters", depth: int = 1) -> dict[str, Any]:
    """A ComparisonFilter or a CompoundFilter (nested), as the spec has them."""
    if not isinstance(value, dict):
        raise fail(f"Invalid type for '{param}': expected an object.", param)
    if depth > MAX_FILTER_DEPTH:
        raise fail(f"Invalid '{param}': filters nest at most {MAX_FILTER_DEPTH} levels.", param)
    kind = value.get("type")
    if kind in ("and", "or"):
        parts_given = value.get("filters")
        if (
            set(value) != {"type", "filters"}
            or not isinstance(parts_given, list)
            or not parts_given
        ):
            raise fail(
                f"Invalid '{param}': a compound filter is {{'type': '{kind}', 'filters': [...]}} "
                "with at least one filter.",
                param,
            )
        parts = [
            check_filter(part, f"{param}.filters[{i}]", depth + 1)
            for i, part in enumerate(value["filters"])
        ]
        return {"type": kind, "filters": parts}
    if kind not in COMPARISONS:
        raise fail(
            f"Invalid value for '{param}.type': expected one of "
            f"{', '.join(repr(c) for c in (*COMPARISONS, 'and', 'or'))}.",
            f"{param}.type",
        )
    if set(value) - {"type", "key", "value"}:
        extra = sorted(set(value) - {"type", "key", "value"})[0]
        raise fail(f"Unrecognized request argument supplied: {param}.{extra}", param)
    for name in ("key", "value"):
        if name not in value:
            raise fail(f"Missing required parameter: '{param}.{name}'.", f"{param}.{name}")
    if not isinstance(value["key"], str):
        raise fail(f"Invalid type for '{param}.key': expected a string.", f"{param}.key")
    operand = value["value"]
    if kind in ("in", "nin"):
        if (
            not isinstance(operand, list)
            or not operand
            or not all(isinstance(v, str) or _is_number(v) for v in operand)
        ):
            raise fail(
                f"Invalid '{param}.value': '{kind}' takes a non-empty array of strings and "
                "numbers.",
                f"{param}.value",
            )
    elif kind in RANGES:
        # The index compares numbers only (S3 Vectors' range operators take numbers).
        if not _is_number(operand):
            raise fail(
                f"Invalid '{param}.value': '{kind}' compares numbers only.", f"{param}.value"
            )
    elif not isinstance(operand, (str, int, float, bool)):
        raise fail(
            f"Invalid type for '{param}.value': expected a string, a number or a boolean.",
            f"{param}.value",
        )
    return {"type": kind, "key": value["key"], "value": operand}


def check_ranking_options(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    param = "ranking_options"
    if not isinstance(value, dict):
        raise fail(f"Invalid type for '{param}': expected an object.", param)
    if set(value) - {"ranker", "score_threshold"}:
        extra = sorted(set(value) - {"ranker", "score_threshold"})[0]
        raise fail(f"Unrecognized request argument supplied: {param}.{extra}", param)
    ranker = value.get("ranker", "auto")
    if ranker not in ("none", "auto", "default-2024-11-15"):
        raise fail(
            f"Invalid value for '{param}.ranker': expected one of 'none', 'auto' or "
            "'default-2024-11-15'.",
            f"{param}.ranker",
        )
    threshold = value.get("score_threshold", 0)
    if not _is_number(threshold) or not 0 <= threshold <= 1:
        raise fail(
            f"Invalid '{param}.score_threshold': expected a number between 0 and 1.",
            f"{param}.score_threshold",
        )
    return {"ranker": ranker, "score_threshold": threshold}


class _StrategyFields(Body):
    @field_validator("chunking_strategy", mode="before", check_fields=False)
    @classmethod
    def _chunking_strategy(cls, value: Any) -> Any:
        return check_chunking_strategy(value)

    @field_validator("attributes", mode="before", check_fields=False)
    @classmethod
    def _attributes(cls, value: Any) -> Any:
        return check_attributes(value)


FileIds = Annotated[
    list[Annotated[str, Field(max_length=256)]], Field(max_length=MAX_STORE_FILE_IDS)
]


class CreateVectorStore(_StrategyFields):
    file_ids: FileIds | None = None
    name: Annotated[str, Field(max_length=256)] | None = None
    expires_after: Any = None
    chunking_strategy: Any = None
    metadata: Any = None

    @field_validator("expires_after", mode="before")
    @classmethod
    def _expires_after(cls, value: Any) -> Any:
        return check_expires_after(value)


class ModifyVectorStore(Body):
    name: Annotated[str, Field(max_length=256)] | None = None
    expires_after: Any = None
    metadata: Any = None

    @field_validator("expires_after", mode="before")
    @classmethod
    def _expires_after(cls, value: Any) -> Any:
        return check_expires_after(value)


class CreateVectorStoreFile(_StrategyFields):
    file_id: Annotated[str, Field(max_length=256)]
    chunking_strategy: Any = None
    attributes: Any = None


class CreateFileBatch(_StrategyFields):
    file_ids: (
        Annotated[
            list[Annotated[str, Field(max_length=256)]],
            Field(min_length=1, max_length=MAX_BATCH_FILES),
        ]
        | None
    ) = None
    files: (
        Annotated[list[CreateVectorStoreFile], Field(min_length=1, max_length=MAX_BATCH_FILES)]
        | None
    ) = None
    chunking_strategy: Any = None
    attributes: Any = None

    @model_validator(mode="after")
    def _one_of(self) -> CreateFileBatch:
        if self.file_ids is None and self.files is None:
            raise fail("Missing required parameter: 'file_ids' (or 'files').", "file_ids")
        if self.file_ids is not None and self.files is not None:
            raise fail("Give either 'file_ids' or 'files', not both.", "files")
        return self


class UpdateFileAttributes(Body):
    attributes: Any

    @field_validator("attributes", mode="before")
    @classmethod
    def _attributes(cls, value: Any) -> Any:
        return check_attributes(value)


class SearchVectorStore(Body):
    query: Any
    rewrite_query: bool = False
    max_num_results: Annotated[int, Field(ge=1, le=MAX_SEARCH_RESULTS)] = 10
    filters: Any = None
    ranking_options: Any = None

    @field_validator("query", mode="before")
    @classmethod
    def _query(cls, value: Any) -> Any:
        if isinstance(value, str):
            queries = [value]
        elif isinstance(value, list) and value and all(isinstance(q, str) for q in value):
            queries = list(value)
        else:
            raise fail("Invalid 'query': expected a string or a non-empty array of strings.")
        if not any(q.strip() for q in queries):
            raise fail("Invalid 'query': expected a non-empty search query.", "query")
        if sum(len(q) for q in queries) > MAX_QUERY_CHARS:
            raise fail(f"Invalid 'query': longer than {MAX_QUERY_CHARS} characters.", "query")
        return queries

    @field_validator("filters", mode="before")
    @classmethod
    def _filters(cls, value: Any) -> Any:
        return None if value is None else check_filter(value)

    @field_validator("ranking_options", mode="before")
    @classmethod
    def _ranking(cls, value: Any) -> Any:
        return check_ranking_options(value)
