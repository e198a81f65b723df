"""A DynamoDB client double that enforces DynamoDB's key limits, which moto checks only on
PutItem: real DynamoDB refuses, on every operation, a partition key over 2048 bytes or a sort
key over 1024 bytes (UTF-8) with a ValidationException, which the service would answer as a 500.

`KeyLimitClient(client)` wraps a boto3 client (moto's in the tests), checks every key a call
names before passing it on, and records each key string in `.keys`, so a test can also show that
a malformed ID never reached a key at all.
"""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import ClientError

MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
_PARTITION_KEYS = frozenset({"pk", "gsi1pk", "gsi2pk"})
_SORT_KEYS = frozenset({"sk", "gsi1sk", "gsi2sk"})


def _validation_error(operation: str, message: str) -> ClientError:
    error = {"Code": "ValidationException", "Message": message}
    return ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)


class KeyLimitClient:
    """A boto3 DynamoDB client whose calls fail, as DynamoDB's would, on an over-long key."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.keys: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            for attribute, value in _named_keys(name, kwargs):
                self._check(name, attribute, value)
            return attr(*args, **kwargs)

        return call

    def _check(self, operation: str, attribute: str, value: str) -> None:
        self.keys.append(value)
        size = len(value.encode("utf-8", "surrogatepass"))
        limit = MAX_PARTITION_KEY_BYTES if attribute in _PARTITION_KEYS else MAX_SORT_KEY_BYTES
        kind = "hashkey" if attribute in _PARTITION_KEYS else "range key"
        if size > limit:
            raise _validation_error(
                operation,
                f"One or more parameter values were invalid: Size of {kind} has exceeded the "
                f"maximum size limit of {limit} bytes",
            )


def _key_strings(item: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(attribute, string) for the key attributes of an item or a Key."""
    out = []
    for attribute, value in (item or {}).items():
        if attribute in _PARTITION_KEYS | _SORT_KEYS and "S" in value:
            out.append((attribute, value["S"]))
    return out


def _condition_keys(kwargs: dict[str, Any]) -> list[tuple[str, str]]:
    """The values a Query's key condition compares `pk`/`sk` (or an index's keys) with: each
    placeholder belongs to the key attribute named last before it."""
    names = kwargs.get("ExpressionAttributeNames", {})
    values = kwargs.get("ExpressionAttributeValues", {})
    out, attribute = [], ""
    for token in re.findall(r"[:#]?\w+", kwargs.get("KeyConditionExpression", "")):
        if token.startswith(":"):
            value = values.get(token, {})
            if attribute and "S" in value:
                out.append((attribute, value["S"]))
        elif names.get(token, token) in _PARTITION_KEYS | _SORT_KEYS:
            attribute = names.get(token, token)
    return out


def _named_keys(operation: str, kwargs: dict[str, Any]) -> list[tuple[str, str]]:
    if operation in ("get_item", "delete_item", "update_item"):
        return _key_strings(kwargs.get("Key"))
    if operation == "put_item":
        return _key_strings(kwargs.get("Item"))
    if operation in ("query", "scan"):
        return [*_condition_keys(kwargs), *_key_strings(kwargs.get("ExclusiveStartKey"))]
    if operation == "transact_write_items":
        out = []
        for op in kwargs.get("TransactItems", []):
            for body in op.values():
                out += _key_strings(body.get("Key")) + _key_strings(body.get("Item"))
        return out
    if operation == "batch_write_item":
        out = []
        for requests in kwargs.get("RequestItems", {}).values():
            for request in requests:
                for body in request.values():
                    out += _key_strings(body.get("Key")) + _key_strings(body.get("Item"))
        return out
    return []
