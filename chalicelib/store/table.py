"""The DynamoDB table: its schema, the client, and (de)serialisation of records."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from ..domain.errors import ItemTooLarge

# DynamoDB's limit is 400 KB per item; we measure a JSON rendering, which slightly overestimates.
MAX_ITEM_BYTES = 400 * 1024
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024
ACTIVE_INDEX = "active"
PENDING_INDEX = "pending"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def table_definition(name: str) -> dict[str, Any]:
    """CreateTable arguments: one table, two sparse indexes (the same shape as infra/)."""
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": attr, "AttributeType": "S"}
            for attr in ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": f"{prefix}pk", "KeyType": "HASH"},
                    {"AttributeName": f"{prefix}sk", "KeyType": "RANGE"},
                ],
                # What the sweeper needs to act without reading the run first.
                "Projection": {
                    "ProjectionType": "INCLUDE",
                    "NonKeyAttributes": ["status", "open_step_id", "expires_at", "usage_so_far"],
                },
            }
            for index, prefix in ((ACTIVE_INDEX, "gsi1"), (PENDING_INDEX, "gsi2"))
        ],
    }


def create_table(client: Any, name: str) -> None:
    """Create the table if it is missing and wait until it is usable."""
    try:
        client.create_table(**table_definition(name))
    except client.exceptions.ResourceInUseException:
        return
    client.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100}
    )


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


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


def serialize(record: dict[str, Any]) -> dict[str, Any]:
    """A record as a DynamoDB item. Top-level nulls are not stored: to_wire restores them."""
    return {k: _serializer.serialize(_to_dynamo(v)) for k, v in record.items() if v is not None}


def serialize_value(value: Any) -> dict[str, Any]:
    return _serializer.serialize(_to_dynamo(value))


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _from_dynamo(_deserializer.deserialize(v)) for k, v in item.items()}
