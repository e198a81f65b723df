"""S3 Vectors for tests: moto's storage, plus the QueryVectors that moto lacks.

moto (5.2) implements S3 Vectors' buckets, indexes, PutVectors, GetVectors, ListVectors and
DeleteVectors, but not QueryVectors. `QueryingClient` wraps a moto client and answers
`query_vectors` itself: the request is first validated by botocore against the service model
(as a real call would be), then every stored vector is scored exactly (cosine distance), filtered
with S3 Vectors' filter language ($eq $ne $gt $gte $lt $lte $in $nin $exists $and $or, and
the `{"key": value}` shorthand), and the top k answered in the service's response shape.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.validate import validate_parameters
from moto import mock_aws

from chalicelib.store.s3_vectors import S3VectorsIndex

BUCKET = "assistants-vectors-test"
INDEX = "chunks"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _number(a) and _number(b):
        return bool(a == b)
    return type(a) is type(b) and a == b


def _compare(operator: str, current: Any, operand: Any, present: bool) -> bool:
    if operator == "$exists":
        return present == operand
    if not present:
        return operator in ("$ne", "$nin")
    values = current if isinstance(current, list) else [current]
    if operator == "$eq":
        return any(_same(v, operand) for v in values)
    if operator == "$ne":
        return not any(_same(v, operand) for v in values)
    if operator == "$in":
        return any(_same(v, o) for v in values for o in operand)
    if operator == "$nin":
        return not any(_same(v, o) for v in values for o in operand)
    if not _number(current) or not _number(operand):
        return False
    return {
        "$gt": current > operand,
        "$gte": current >= operand,
        "$lt": current < operand,
        "$lte": current <= operand,
    }[operator]


def filter_matches(spec: dict[str, Any], metadata: dict[str, Any]) -> bool:
    """S3 Vectors' metadata filter, evaluated on one vector's metadata."""
    for key, condition in spec.items():
        if key == "$and":
            if not all(filter_matches(part, metadata) for part in condition):
                return False
        elif key == "$or":
            if not any(filter_matches(part, metadata) for part in condition):
                return False
        elif isinstance(condition, dict):
            for operator, operand in condition.items():
                if not _compare(operator, metadata.get(key), operand, key in metadata):
                    return False
        elif not _compare("$eq", metadata.get(key), condition, key in metadata):
            return False
    return True


class QueryingClient:
    """A moto s3vectors client that also answers query_vectors (see the module docstring)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.queries: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def query_vectors(self, **params: Any) -> dict[str, Any]:
        model = self._inner.meta.service_model.operation_model("QueryVectors")
        validate_parameters(params, model.input_shape)
        self.queries.append(params)
        where = {"vectorBucketName": params["vectorBucketName"], "indexName": params["indexName"]}
        index = self._inner.get_index(**where)["index"]
        query = params["queryVector"]["float32"]
        assert len(query) == index["dimension"], "the query's dimension must be the index's"
        stored = self._inner.list_vectors(**where, returnData=True, returnMetadata=True)
        scored = []
        for vector in stored["vectors"]:
            metadata = vector.get("metadata") or {}
            if "filter" in params and not filter_matches(params["filter"], metadata):
                continue
            data = vector["data"]["float32"]
            dot = sum(a * b for a, b in zip(query, data, strict=True))
            norms = math.sqrt(sum(a * a for a in query)) * math.sqrt(sum(b * b for b in data))
            distance = 1.0 - dot / norms if norms else 1.0
            scored.append((distance, vector["key"], metadata))
        scored.sort(key=lambda entry: (entry[0], entry[1]))
        answer = []
        for distance, key, metadata in scored[: params["topK"]]:
            found: dict[str, Any] = {"key": key}
            if params.get("returnDistance"):
                found["distance"] = distance
            if params.get("returnMetadata"):
                found["metadata"] = metadata
            answer.append(found)
        return {"vectors": answer, "distanceMetric": index["distanceMetric"]}


def moto_s3vectors(dimension: int = 512) -> S3VectorsIndex:
    """An S3VectorsIndex on moto (QueryingClient), bucket and index created; call it inside
    mock_aws (e.g. with the `dynamodb` fixture)."""
    client = QueryingClient(boto3.client("s3vectors", region_name="us-east-1"))
    index = S3VectorsIndex(client, BUCKET, INDEX, dimension)
    index.create_schema()
    return index


@contextmanager
def moto_s3vectors_index(dimension: int = 8) -> Iterator[tuple[S3VectorsIndex, QueryingClient]]:
    """An S3VectorsIndex on a moto of its own (with QueryingClient), and that client."""
    with mock_aws():
        index = moto_s3vectors(dimension)
        yield index, index.client
