"""The DynamoDB engine (deployed stages): the store's writes compiled to DynamoDB expressions.

It speaks to DynamoDB through a botocore client and its own attribute-value (de)serialiser:
boto3's adds nothing here and costs the cold start its import.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from ..domain.transitions import IfMissing, Increment
from . import keys
from .engine import (
    Above,
    All,
    AtMost,
    Condition,
    Either,
    Equals,
    Exists,
    IndexPage,
    Item,
    KeyRange,
    Missing,
    OneOf,
    Put,
    Returns,
    StoreError,
    TransactionConflict,
    Update,
    Write,
)
from .limits import check_transaction_size, item_size, too_large_after_change

_TRANSACTION_RETRIES = 4
# What each index carries besides its keys: what the sweeper needs to act without reading the run.
INDEX_PROJECTION = ["status", "open_step_id", "expires_at", "usage_so_far"]


def table_definition(name: str) -> dict[str, Any]:
    """CreateTable arguments: one table, two sparse indexes (the same shape as infra/)."""
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": attr, "AttributeType": "S"}
            for attr in ("pk", "sk", *keys.INDEX_ATTRS)
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": pk_attr, "KeyType": "HASH"},
                    {"AttributeName": sk_attr, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": INDEX_PROJECTION},
            }
            for index, (pk_attr, sk_attr) in keys.INDEX_KEY_ATTRS.items()
        ],
    }


# -- attribute values --------------------------------------------------------------------


def to_attribute(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        return {"N": str(Decimal(repr(value)))}
    if isinstance(value, dict):
        return {"M": {k: to_attribute(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_attribute(v) for v in value]}
    raise TypeError(f"cannot store a {type(value).__name__}")


def from_attribute(attribute: dict[str, Any]) -> Any:
    (kind, value), *_ = attribute.items()
    if kind == "S":
        return value
    if kind == "N":
        number = Decimal(value)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "M":
        return {k: from_attribute(v) for k, v in value.items()}
    if kind == "L":
        return [from_attribute(v) for v in value]
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    raise TypeError(f"unexpected attribute type {kind}")


def to_item(item: Item) -> dict[str, Any]:
    return {k: to_attribute(v) for k, v in item.items()}


def from_item(raw: dict[str, Any]) -> Item:
    return {k: from_attribute(v) for k, v in raw.items()}


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


class _Expression:
    """One request's placeholder maps, and conditions and updates compiled into them."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}  # placeholder -> attribute
        self._placeholders: dict[str, str] = {}  # attribute -> placeholder
        self.values: dict[str, Any] = {}

    def name(self, attr: str) -> str:
        if attr not in self._placeholders:
            placeholder = f"#n{len(self.names)}"
            self.names[placeholder] = attr
            self._placeholders[attr] = placeholder
        return self._placeholders[attr]

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = to_attribute(value)
        return placeholder

    def condition(self, condition: Condition) -> str:
        match condition:
            case Exists(attr):
                return f"attribute_exists({self.name(attr)})"
            case Missing(attr):
                return f"attribute_not_exists({self.name(attr)})"
            case Equals(attr, value):
                return f"{self.name(attr)} = {self.value(value)}"
            case OneOf(attr, values):
                listed = ", ".join(self.value(v) for v in values)
                return f"{self.name(attr)} IN ({listed})"
            case Above(attr, value):
                return f"{self.name(attr)} > {self.value(value)}"
            case AtMost(attr, value):
                return f"{self.name(attr)} <= {self.value(value)}"
            case Either(options):
                return "(" + " OR ".join(self.condition(o) for o in options) + ")"
            case All(parts):
                return "(" + " AND ".join(self.condition(p) for p in parts) + ")"
        raise TypeError(f"not a condition: {condition!r}")

    def update(self, changes: dict[str, Any]) -> str:
        sets, removes = [], []
        for attr, value in changes.items():
            name = self.name(attr)
            if value is None:
                removes.append(name)
            elif isinstance(value, IfMissing):
                sets.append(f"{name} = if_not_exists({name}, {self.value(value.value)})")
            elif isinstance(value, Increment):
                zero, by = self.value(0), self.value(value.by)
                sets.append(f"{name} = if_not_exists({name}, {zero}) + {by}")
            else:
                sets.append(f"{name} = {self.value(value)}")
        parts = []
        if sets:
            parts.append("SET " + ", ".join(sets))
        if removes:
            parts.append("REMOVE " + ", ".join(removes))
        return " ".join(parts)

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.names:
            out["ExpressionAttributeNames"] = self.names
        if self.values:
            out["ExpressionAttributeValues"] = self.values
        return out


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _is_item_too_large(error: ClientError) -> bool:
    """DynamoDB says so in a ValidationException, or for a transaction in a cancellation reason."""
    info = error.response["Error"]
    if info["Code"] == "ValidationException":
        return "Item size" in info.get("Message", "")
    reasons = error.response.get("CancellationReasons") or []
    return any(
        r.get("Code") == "ValidationError" and "Item size" in (r.get("Message") or "")
        for r in reasons
    )


def _refused(error: ClientError) -> Exception:
    """What a DynamoDB error means to the store."""
    if _is_item_too_large(error):
        return too_large_after_change()
    if _code(error) == "ValidationException":
        return StoreError(error.response["Error"].get("Message", "ValidationException"))
    return error


class DynamoDBEngine:
    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def create_schema(self) -> None:
        """Create the table if it is missing and wait until it is usable (local and tests)."""
        try:
            self.client.create_table(**table_definition(self.table))
        except ClientError as error:
            if _code(error) != "ResourceInUseException":
                raise
            return
        self.client.get_waiter("table_exists").wait(
            TableName=self.table, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100}
        )

    def get(self, pk: str, sk: str) -> Item | None:
        try:
            response = self.client.get_item(
                TableName=self.table, Key=_key(pk, sk), ConsistentRead=True
            )
        except ClientError as error:
            raise _refused(error) from None
        raw = response.get("Item")
        return from_item(raw) if raw else None

    def put(self, write: Put) -> bool:
        kwargs: dict[str, Any] = {"TableName": self.table, "Item": to_item(write.item)}
        if write.condition is not None:
            expression = _Expression()
            kwargs["ConditionExpression"] = expression.condition(write.condition)
            kwargs.update(expression.kwargs())
        try:
            self.client.put_item(**kwargs)
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return False
            raise _refused(error) from None
        return True

    def put_many(self, items: list[Item]) -> None:
        for start in range(0, len(items), 25):
            requests = [{"PutRequest": {"Item": to_item(i)}} for i in items[start : start + 25]]
            pending: dict[str, Any] = {self.table: requests}
            while pending:
                pending = self.client.batch_write_item(RequestItems=pending).get("UnprocessedItems")

    def update(self, write: Update, returns: Returns = "new") -> Item | None:
        expression = _Expression()
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Key": _key(write.pk, write.sk),
            "UpdateExpression": expression.update(write.changes),
            "ReturnValues": "ALL_NEW" if returns == "new" else "ALL_OLD",
        }
        if write.condition is not None:
            kwargs["ConditionExpression"] = expression.condition(write.condition)
        kwargs.update(expression.kwargs())
        try:
            response = self.client.update_item(**kwargs)
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return None
            raise _refused(error) from None
        return from_item(response.get("Attributes") or {})

    def delete(self, pk: str, sk: str) -> Item | None:
        try:
            response = self.client.delete_item(
                TableName=self.table, Key=_key(pk, sk), ReturnValues="ALL_OLD"
            )
        except ClientError as error:
            raise _refused(error) from None
        raw = response.get("Attributes")
        return from_item(raw) if raw else None

    def _transact_item(self, write: Write) -> dict[str, Any]:
        expression = _Expression()
        op: dict[str, Any] = {"TableName": self.table}
        if isinstance(write, Put):
            op["Item"] = to_item(write.item)
        else:
            op["Key"] = _key(write.pk, write.sk)
        if isinstance(write, Update):
            op["UpdateExpression"] = expression.update(write.changes)
        if write.condition is not None:
            op["ConditionExpression"] = expression.condition(write.condition)
        op.update(expression.kwargs())
        if isinstance(write, Put):
            return {"Put": op}
        if isinstance(write, Update):
            return {"Update": op}
        return {"ConditionCheck": op}

    def transact(self, writes: list[Write]) -> list[bool] | None:
        ops = [self._transact_item(w) for w in writes]
        check_transaction_size(sum(item_size(op) for op in ops))
        for attempt in range(_TRANSACTION_RETRIES):
            try:
                self.client.transact_write_items(TransactItems=ops)
                return None
            except ClientError as error:
                if _is_item_too_large(error):
                    raise too_large_after_change() from None
                if _code(error) != "TransactionCanceledException":
                    raise _refused(error) from None
                reasons = error.response.get("CancellationReasons") or []
                failed = [r.get("Code") == "ConditionalCheckFailed" for r in reasons]
                if any(failed):
                    return failed
                time.sleep(0.02 * (2**attempt))  # a conflicting transaction: try again
        raise TransactionConflict("the transaction kept conflicting with others")

    def query(self, key_range: KeyRange) -> list[Item]:
        expression = _Expression()
        condition = (
            f"{expression.name('pk')} = {expression.value(key_range.pk)} AND "
            f"{expression.name('sk')} BETWEEN {expression.value(key_range.low)} "
            f"AND {expression.value(key_range.high)}"
        )
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": condition,
            "ScanIndexForward": key_range.forward,
            "Limit": key_range.limit,
            "ConsistentRead": True,
        }
        if key_range.equals:
            kwargs["FilterExpression"] = expression.condition(
                All(tuple(Equals(k, v) for k, v in key_range.equals.items()))
            )
        kwargs.update(expression.kwargs())
        items: list[Item] = []
        while True:  # a filter can leave a page short: read on until `limit` or the end
            try:
                response = self.client.query(**kwargs)
            except ClientError as error:
                raise _refused(error) from None
            items.extend(from_item(i) for i in response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if len(items) >= key_range.limit or not start:
                return items[: key_range.limit]
            kwargs["ExclusiveStartKey"] = start

    def query_index(
        self, index: str, partition: str, below: str, limit: int, start: Any = None
    ) -> IndexPage:
        pk_attr, sk_attr = keys.INDEX_KEY_ATTRS[index]
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": f"{pk_attr} = :p AND {sk_attr} < :below",
            "ExpressionAttributeValues": {":p": {"S": partition}, ":below": {"S": below}},
            "Limit": limit,
        }
        if start:
            kwargs["ExclusiveStartKey"] = start
        response = self.client.query(**kwargs)
        items = [from_item(i) for i in response.get("Items", [])]
        return IndexPage(items, response.get("LastEvaluatedKey"))

    def delete_under(self, pk: str, prefix: str, limit: int) -> tuple[int, bool]:
        condition = "pk = :pk" + (" AND begins_with(sk, :prefix)" if prefix else "")
        values = {":pk": {"S": pk}, **({":prefix": {"S": prefix}} if prefix else {})}
        deleted = 0
        while deleted < limit:
            response = self.client.query(
                TableName=self.table,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=values,
                ProjectionExpression="pk, sk",
                Limit=min(100, limit - deleted),
            )
            batch = response.get("Items", [])
            if not batch:
                return deleted, True
            for start in range(0, len(batch), 25):
                requests = [{"DeleteRequest": {"Key": k}} for k in batch[start : start + 25]]
                pending: dict[str, Any] = {self.table: requests}
                while pending:
                    result = self.client.batch_write_item(RequestItems=pending)
                    pending = result.get("UnprocessedItems") or {}
            deleted += len(batch)
            if not response.get("LastEvaluatedKey"):
                return deleted, True
        return deleted, False

    def remove_expired(self, now: int, limit: int) -> int:
        return 0  # the table's TTL (attribute `ttl`) deletes expired items itself


def botocore_client() -> Any:
    """A DynamoDB client; honours AWS_ENDPOINT_URL_DYNAMODB and the usual AWS settings."""
    import botocore.session

    return botocore.session.get_session().create_client("dynamodb")
