"""tests/support/dynalite.py starts a working dynalite; record what dynalite 4.0.0 supports."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import dynalite as dynalite_support
from tests.support.dynalite import DynaliteServer, dynalite_client, start_dynalite

pytestmark = pytest.mark.dynalite

TABLE = "support_probe"


def _error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


@pytest.fixture(scope="module")
def server() -> Iterator[DynaliteServer]:
    srv = start_dynalite()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def ddb(server: DynaliteServer) -> Any:
    client = server.client()
    client.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "gpk", "gsk")
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gpk", "KeyType": "HASH"},
                    {"AttributeName": "gsk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    # dynalite keeps new tables CREATING for 500 ms by default, like DynamoDB's async create.
    deadline = time.monotonic() + 10
    while client.describe_table(TableName=TABLE)["Table"]["TableStatus"] != "ACTIVE":
        assert time.monotonic() < deadline, "table never became ACTIVE"
        time.sleep(0.05)
    return client


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def test_server_listens_on_loopback(server: DynaliteServer) -> None:
    assert server.endpoint_url == f"http://127.0.0.1:{server.port}"
    assert "Dynalite listening at: http://127.0.0.1:" in server.output()
    # A plain POST without a DynamoDB X-Amz-Target still gets an HTTP answer (404) from dynalite.
    request = urllib.request.Request(server.endpoint_url, data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert info.value.code == 404


def test_put_and_get(ddb: Any) -> None:
    ddb.put_item(
        TableName=TABLE,
        Item={**_key("thread#1", "run#1"), "status": {"S": "queued"}, "n": {"N": "1"}},
    )
    got = ddb.get_item(TableName=TABLE, Key=_key("thread#1", "run#1"), ConsistentRead=True)
    assert got["Item"]["status"] == {"S": "queued"}
    assert ddb.get_item(TableName=TABLE, Key=_key("thread#1", "missing")).get("Item") is None


def test_query_range_key_order_and_pagination(ddb: Any) -> None:
    for i in range(3):
        ddb.put_item(TableName=TABLE, Item=_key("thread#page", f"msg#{i}"))
    page = ddb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
        ExpressionAttributeValues={":p": {"S": "thread#page"}, ":s": {"S": "msg#"}},
        ScanIndexForward=False,
        Limit=2,
    )
    assert [item["sk"]["S"] for item in page["Items"]] == ["msg#2", "msg#1"]
    assert page["LastEvaluatedKey"] == _key("thread#page", "msg#1")


def test_transact_write_items_is_not_implemented(ddb: Any) -> None:
    # dynalite 4.0.0 has no TransactWriteItems/TransactGetItems action: the request fails with
    # UnknownOperationException (HTTP 400) and nothing is written. Code that needs transactions
    # cannot be exercised against dynalite.
    with pytest.raises(ClientError) as info:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": _key("thread#tx", "a")}},
                {"Put": {"TableName": TABLE, "Item": _key("thread#tx", "b")}},
            ]
        )
    assert _error_code(info) == "UnknownOperationException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "Item" not in ddb.get_item(TableName=TABLE, Key=_key("thread#tx", "a"))

    with pytest.raises(ClientError) as info:
        ddb.transact_get_items(
            TransactItems=[{"Get": {"TableName": TABLE, "Key": _key("thread#tx", "a")}}]
        )
    assert _error_code(info) == "UnknownOperationException"


def test_gsi_query(ddb: Any) -> None:
    for i, status in enumerate(["queued", "in_progress", "queued"]):
        ddb.put_item(
            TableName=TABLE,
            Item={
                **_key(f"thread#g{i}", f"run#{i}"),
                "gpk": {"S": f"status#{status}"},
                "gsk": {"S": f"{i:04d}"},
            },
        )
    result = ddb.query(
        TableName=TABLE,
        IndexName="gsi1",
        KeyConditionExpression="gpk = :g",
        ExpressionAttributeValues={":g": {"S": "status#queued"}},
    )
    assert [item["pk"]["S"] for item in result["Items"]] == ["thread#g0", "thread#g2"]
    # Like DynamoDB, consistent reads on a GSI are rejected.
    with pytest.raises(ClientError) as info:
        ddb.query(
            TableName=TABLE,
            IndexName="gsi1",
            ConsistentRead=True,
            KeyConditionExpression="gpk = :g",
            ExpressionAttributeValues={":g": {"S": "status#queued"}},
        )
    assert _error_code(info) == "ValidationException"


def test_conditional_update(ddb: Any) -> None:
    key = _key("thread#cond", "run#1")
    ddb.put_item(TableName=TABLE, Item={**key, "status": {"S": "queued"}})

    with pytest.raises(ClientError) as info:
        ddb.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET #s = :new",
            ConditionExpression="#s = :expected",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":new": {"S": "completed"},
                ":expected": {"S": "in_progress"},
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert _error_code(info) == "ConditionalCheckFailedException"
    assert isinstance(info.value, ddb.exceptions.ConditionalCheckFailedException)
    # dynalite accepts ReturnValuesOnConditionCheckFailure but ignores it: no Item comes back
    # (DynamoDB would return the old item here).
    assert "Item" not in info.value.response

    updated = ddb.update_item(
        TableName=TABLE,
        Key=key,
        UpdateExpression="SET #s = :new",
        ConditionExpression="#s = :expected",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":new": {"S": "in_progress"}, ":expected": {"S": "queued"}},
        ReturnValues="ALL_NEW",
    )
    assert updated["Attributes"]["status"] == {"S": "in_progress"}

    with pytest.raises(ClientError) as info:
        ddb.put_item(TableName=TABLE, Item=key, ConditionExpression="attribute_not_exists(pk)")
    assert _error_code(info) == "ConditionalCheckFailedException"


def test_client_reaches_dynalite_even_inside_mock_aws(server: DynaliteServer, ddb: Any) -> None:
    # moto's mock_aws hooks every botocore client, but (moto 5.x) only intercepts AWS-looking
    # hosts; an explicit http://127.0.0.1 endpoint passes through. Create dynalite clients
    # outside mock_aws anyway: mock_aws also replaces the AWS credentials in the environment.
    moto = pytest.importorskip("moto")
    outside = dynalite_client(server.endpoint_url)
    with moto.mock_aws():
        inside = dynalite_client(server.endpoint_url)
        assert TABLE in outside.list_tables()["TableNames"]
        assert TABLE in inside.list_tables()["TableNames"]


def test_explicit_port_in_use_fails_clearly(server: DynaliteServer) -> None:
    with pytest.raises(RuntimeError, match="EADDRINUSE"):
        start_dynalite(server.port, startup_timeout=10)


def test_stop_is_idempotent_and_ends_the_process() -> None:
    srv = start_dynalite(extra_args=["--createTableMs", "0"])
    client = srv.client()
    client.create_table(
        TableName="instant",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    # With --createTableMs 0 the table is usable at once (default: CREATING for 500 ms).
    time.sleep(0.05)
    assert client.describe_table(TableName="instant")["Table"]["TableStatus"] == "ACTIVE"
    srv.stop()
    srv.stop()
    assert srv.process.returncode is not None
    with pytest.raises(Exception):  # noqa: B017 - connection refused surfaces as various errors
        dynalite_client(srv.endpoint_url, timeout=1).list_tables()


def test_missing_node_modules_says_npm_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(dynalite_support, "DYNALITE_BIN", tmp_path / "no" / "dynalite")
    with pytest.raises(RuntimeError, match="npm install"):
        start_dynalite()
