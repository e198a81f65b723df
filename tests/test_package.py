"""The deployable stack: `chalice package --merge-template infra/resources.json`, then checks.

Packaging runs once per stage (module-scoped). It needs Lambda-compatible wheels (pydantic-core
for manylinux x86_64): chalice reuses its cache in .chalice/deployments, else downloads them from
PyPI. Without either, these tests fail; they never skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chalicelib.config import load_settings
from chalicelib.observability.metrics import METRICS
from chalicelib.store.dynamodb import table_definition
from chalicelib.store.s3_vectors import index_definition

ROOT = Path(__file__).resolve().parents[1]
MAX_ZIP_BYTES = 10 * 1024 * 1024
FUNCTIONS = {
    "api": "APIHandler",
    "worker": "RunWorker",
    "sweeper": "Sweeper",
    "stream": "StreamHandler",
}
LOG_GROUPS = {
    "api": "ApiHandlerLogGroup",
    "worker": "RunWorkerLogGroup",
    "sweeper": "SweeperLogGroup",
    "stream": "StreamHandlerLogGroup",
}
# The three POSTs that can stream, routed to the streaming function.
STREAMING_ROUTES = (
    "/v1/threads/{thread_id}/runs",
    "/v1/threads/runs",
    "/v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs",
)
MODEL_ACTIONS = {"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"}
EMBEDDING_MODEL_ARN = {
    "Fn::Sub": "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/"
    "amazon.titan-embed-text-v2:0"
}
VECTOR_INDEX_ARN = {"Fn::GetAtt": ["VectorIndex", "IndexArn"]}
# S3 Vectors calls in chalicelib/store/s3_vectors.py -> IAM actions. create_schema's calls are
# local only (tests, a local stage on a real bucket): deployed, CloudFormation creates both.
S3VECTORS_CALL_ACTIONS = {
    "put_vectors": "s3vectors:PutVectors",
    "get_vectors": "s3vectors:GetVectors",
    "delete_vectors": "s3vectors:DeleteVectors",
    "query_vectors": "s3vectors:QueryVectors",
}
# What each function does with the index: the worker ingests (puts, replaces), runs file_search
# and handles cascades; the API searches and deletes store files inline; the sweeper drops
# expired stores' chunks; the streaming function runs file_search in streamed turns. Deleting
# reads the file's manifest (GetVectors), and a whole store is found by querying it.
S3VECTORS_BY_ROLE = {
    "worker": set(S3VECTORS_CALL_ACTIONS.values()),
    "api": {"s3vectors:QueryVectors", "s3vectors:GetVectors", "s3vectors:DeleteVectors"},
    "sweeper": {"s3vectors:QueryVectors", "s3vectors:GetVectors", "s3vectors:DeleteVectors"},
    "stream": {"s3vectors:QueryVectors", "s3vectors:GetVectors"},
}

# Statements allowed to use "Resource": "*", each with the reason it cannot name a resource.
# Today there are none: every statement names the table, its indexes, the queue, a log group,
# or Bedrock foundation models / inference profiles (ARN patterns, never a bare "*").
UNAVOIDABLE_WILDCARDS: dict[str, str] = {}

# How each DynamoDB client call in chalicelib/store maps to IAM actions. Transactions have no
# action of their own: IAM checks each operation in them (see TRANSACTION_OPERATIONS).
CLIENT_CALL_ACTIONS = {
    "get_item": {"dynamodb:GetItem"},
    "put_item": {"dynamodb:PutItem"},
    "update_item": {"dynamodb:UpdateItem"},
    "delete_item": {"dynamodb:DeleteItem"},
    "query": {"dynamodb:Query"},
    "batch_write_item": {"dynamodb:BatchWriteItem"},
    "transact_write_items": set(),
    # Local only: the embedded DynamoDB and tests create the table; deployed, CloudFormation does.
    "create_table": set(),
    "get_waiter": set(),
}
# Store modules that speak to something other than DynamoDB (each has its own check below).
NON_DYNAMODB_SOURCES = {"blobs.py", "s3_vectors.py"}
# How each S3 client call of the file content (chalicelib/store/blobs.py) maps to IAM actions,
# and which functions need which: the API writes, reads and deletes content; the worker and the
# streaming function read it (ingestion, image_file parts of a turn); the sweeper deletes the
# content of expired files.
S3_CALL_ACTIONS = {
    "put_object": "s3:PutObject",
    "get_object": "s3:GetObject",
    "delete_object": "s3:DeleteObject",
}
FILE_CONTENT_ACTIONS = {
    "api": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
    "worker": {"s3:GetObject"},
    "stream": {"s3:GetObject"},
    "sweeper": {"s3:DeleteObject"},
}
BINARY_MEDIA_TYPES = {"multipart/form-data", "application/octet-stream", "application/binary"}
TRANSACTION_OPERATIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


def _tool(name: str) -> str:
    path = Path(sysconfig.get_path("scripts")) / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} is not installed: pip install -r requirements-dev.txt"
    return found


def _env() -> dict[str, str]:
    """No credentials or profile: packaging must not need an AWS account."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    return env


@dataclass
class Packaged:
    stage: str
    out: Path
    template: dict[str, Any]
    log: str

    @property
    def resources(self) -> dict[str, Any]:
        return self.template["Resources"]

    def function(self, role: str) -> dict[str, Any]:
        return self.resources[FUNCTIONS[role]]["Properties"]

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == kind}


@pytest.fixture(scope="module", params=["dev", "prod"])
def packaged(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    stage = request.param
    out = tmp_path_factory.mktemp(f"package-{stage}") / "out"
    command = [
        _tool("chalice"),
        "package",
        "--stage",
        stage,
        "--merge-template",
        "infra/resources.json",
        str(out),
    ]
    result = subprocess.run(
        command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600, check=False
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, (
        f"`{' '.join(command)}` failed (it needs PyPI for Lambda wheels unless cached):\n{log}"
    )
    assert "Could not install dependencies" not in log, log
    template = json.loads((out / "sam.json").read_text())
    precompile = subprocess.run(
        [sys.executable, "infra/precompile.py", str(out / "deployment.zip")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert precompile.returncode == 0, precompile.stdout + precompile.stderr
    return Packaged(stage, out, template, log + precompile.stdout)


def _strip_name(definition: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in definition.items() if k != "TableName"}


def test_table_is_table_definition_with_pitr_and_ttl(packaged: Packaged) -> None:
    (table,) = packaged.of_type("AWS::DynamoDB::Table").values()
    props = table["Properties"]
    expected = _strip_name(table_definition("unused"))
    for key, value in expected.items():
        assert props[key] == value, f"infra/resources.json {key} differs from table_definition"
    assert {i["IndexName"] for i in props["GlobalSecondaryIndexes"]} == {"active", "pending"}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


def test_queue_has_a_dead_letter_queue_and_outlasts_the_worker(packaged: Packaged) -> None:
    queue = packaged.resources["JobQueue"]["Properties"]
    dlq = packaged.resources["JobDeadLetterQueue"]["Properties"]
    redrive = queue["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["JobDeadLetterQueue", "Arn"]}
    assert 1 < redrive["maxReceiveCount"] <= 10
    # A dead letter keeps its original enqueue time: the DLQ must retain it longer.
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    worker_timeout = packaged.function("worker")["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * worker_timeout


def test_worker_consumes_the_stack_queue(packaged: Packaged) -> None:
    events = packaged.function("worker")["Events"]
    (source,) = events.values()
    assert source["Type"] == "SQS"
    assert source["Properties"]["Queue"] in (
        {"Fn::GetAtt": ["JobQueue", "Arn"]},
        {"Fn::Sub": "${JobQueue.Arn}"},
    )
    assert source["Properties"]["BatchSize"] == 1
    assert source["Properties"]["ScalingConfig"]["MaximumConcurrency"] >= 2


def test_sweeper_is_scheduled_within_its_timeout(packaged: Packaged) -> None:
    sweeper = packaged.function("sweeper")
    (event,) = sweeper["Events"].values()
    assert event["Type"] == "Schedule"
    assert re.fullmatch(r"rate\(\d+ minutes?\)", event["Properties"]["Schedule"])
    variables = sweeper["Environment"]["Variables"]
    settings = load_settings({k: v for k, v in variables.items() if isinstance(v, str)})
    assert settings.sweep_time_budget_seconds < sweeper["Timeout"]


def test_functions_have_stage_config_and_the_stack_resources(packaged: Packaged) -> None:
    functions = packaged.of_type("AWS::Serverless::Function")
    assert set(functions) == set(FUNCTIONS.values())
    for name, function in functions.items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["TABLE_NAME"] == {"Ref": "RunsTable"}, name
        assert variables["RUN_QUEUE_URL"] == {"Ref": "JobQueue"}, name
        assert variables["STAGE"] == packaged.stage, name
        provider = {"dev": "echo", "prod": "bedrock"}[packaged.stage]
        assert variables["MODEL_PROVIDER"] == provider, name
    assert packaged.function("api")["Timeout"] <= 30  # API Gateway gives up after 29 s
    assert packaged.function("worker")["Timeout"] == 120
    assert packaged.function("sweeper")["Timeout"] == 60
    assert packaged.function("stream")["Timeout"] == 900  # a streamed turn: up to 15 minutes


def _statements(packaged: Packaged) -> dict[str, list[dict[str, Any]]]:
    """Every IAM statement in the template, by the role (or resource) that carries it."""
    found: dict[str, list[dict[str, Any]]] = {}
    for name, resource in packaged.resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            docs = [p["PolicyDocument"] for p in props.get("Policies", [])]
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            docs = [props["PolicyDocument"]]
        elif resource["Type"] == "AWS::Serverless::Function":
            docs = [p for p in props.get("Policies", []) if isinstance(p, dict)]
        else:
            continue
        found[name] = [s for doc in docs for s in doc["Statement"]]
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _actions(statements: list[dict[str, Any]], resource: Any | None = None) -> set[str]:
    return {
        action
        for s in statements
        if s["Effect"] == "Allow" and (resource is None or resource in _as_list(s["Resource"]))
        for action in _as_list(s["Action"])
    }


def test_each_function_has_its_own_least_privilege_role(packaged: Packaged) -> None:
    statements = _statements(packaged)
    role_names = {}
    for role, name in FUNCTIONS.items():
        arn = packaged.resources[name]["Properties"]["Role"]
        assert set(arn) == {"Fn::GetAtt"}, f"{name} must use a role from this template"
        role_names[role] = arn["Fn::GetAtt"][0]
    assert len(set(role_names.values())) == len(FUNCTIONS), role_names
    roles = {role: statements[name] for role, name in role_names.items()}
    assert "DefaultRole" not in packaged.resources

    for holder, items in statements.items():
        for statement in items:
            resources = _as_list(statement["Resource"])
            if "*" in resources:
                assert statement.get("Sid") in UNAVOIDABLE_WILDCARDS, (holder, statement)
            assert not any(a.endswith("*") for a in _as_list(statement["Action"])), statement
            assert statement["Effect"] == "Allow", statement

    table = {"Fn::GetAtt": ["RunsTable", "Arn"]}
    queue = {"Fn::GetAtt": ["JobQueue", "Arn"]}
    used = _dynamodb_actions_used()
    assert _actions(roles["worker"], table) >= used
    assert _actions(roles["api"], table) >= used - {"dynamodb:BatchWriteItem"}
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"} <= _actions(
        roles["worker"], queue
    )
    for role in roles.values():
        assert "sqs:SendMessage" in _actions(role, queue)
        assert "dynamodb:Scan" not in _actions(role)
    indexes = {"Fn::Sub": "${RunsTable.Arn}/index/*"}
    assert _actions(roles["sweeper"], indexes) == {"dynamodb:Query"}
    assert "sqs:ReceiveMessage" not in _actions(roles["api"]) | _actions(roles["sweeper"])
    # The worker and the streaming function run turns (through ConverseStream); the API only
    # embeds search queries (InvokeModel on the embedding model alone); the sweeper never calls
    # a model.
    for role in ("worker", "stream"):
        assert _actions(roles[role]) >= MODEL_ACTIONS
    api_bedrock = [
        s for s in roles["api"] if any(a.startswith("bedrock:") for a in _as_list(s["Action"]))
    ]
    assert [(_as_list(s["Action"]), s["Resource"]) for s in api_bedrock] == [
        (["bedrock:InvokeModel"], EMBEDDING_MODEL_ARN)
    ]
    assert not any(a.startswith("bedrock:") for a in _actions(roles["sweeper"]))
    # The embedding model is one the worker and the streaming function may call too.
    for role in ("worker", "stream"):
        model_arns = {
            json.dumps(r, sort_keys=True)
            for s in roles[role]
            if "bedrock:InvokeModel" in _as_list(s["Action"])
            for r in _as_list(s["Resource"])
        }
        assert {
            json.dumps(EMBEDDING_MODEL_ARN, sort_keys=True),
            json.dumps({"Fn::Sub": "arn:${AWS::Partition}:bedrock:*::foundation-model/*"}),
        } & model_arns, role
    # The vector index: each function exactly what it does, on the index alone.
    assert _s3vectors_actions_used() == S3VECTORS_BY_ROLE["worker"]
    for role, wanted in S3VECTORS_BY_ROLE.items():
        assert _actions(roles[role], VECTOR_INDEX_ARN) == wanted, role
        granted = {a for a in _actions(roles[role]) if a.startswith("s3vectors:")}
        assert granted == wanted, f"{role}: s3vectors actions beyond the index or beyond need"
    for role, log_group in LOG_GROUPS.items():
        arn = {"Fn::GetAtt": [log_group, "Arn"]}
        assert _actions(roles[role], arn) == {"logs:CreateLogStream", "logs:PutLogEvents"}
        # The log group exists before the function (no CreateLogGroup, so no race with it).
        assert not any(
            a.startswith("logs:") for a in _actions(roles[role]) - _actions(roles[role], arn)
        )


def test_the_streaming_posts_go_to_the_streaming_function(packaged: Packaged) -> None:
    paths = packaged.resources["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    streaming_uri = (
        "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2021-11-15/functions/"
        "${StreamHandler.Arn}/response-streaming-invocations"
    )
    for path in STREAMING_ROUTES:
        integration = paths[path]["post"]["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy", path
        assert integration["httpMethod"] == "POST", path  # how API Gateway calls Lambda
        assert integration["uri"] == {"Fn::Sub": streaming_uri}, path
        assert integration["responseTransferMode"] == "STREAM", path
        # A streamed integration may run up to 15 minutes; the function may not end first.
        assert integration["timeoutInMillis"] == 900_000, path
        assert packaged.function("stream")["Timeout"] * 1000 >= integration["timeoutInMillis"]
    # Every other method and route stays on the Chalice handler, buffered.
    for path, methods in paths.items():
        for method, operation in methods.items():
            integration = operation.get("x-amazon-apigateway-integration")
            if integration is None or (path in STREAMING_ROUTES and method == "post"):
                continue
            assert "${APIHandler.Arn}/invocations" in integration["uri"]["Fn::Sub"], (path, method)
            assert integration.get("responseTransferMode", "BUFFERED") == "BUFFERED"
    stream = packaged.function("stream")
    wrapper = stream["Environment"]["Variables"]["AWS_LAMBDA_EXEC_WRAPPER"]
    assert wrapper == "/var/task/chalicelib/lambda_stream/bootstrap"
    with zipfile.ZipFile(packaged.out / "deployment.zip") as archive:
        info = archive.getinfo("chalicelib/lambda_stream/bootstrap")
        assert (info.external_attr >> 16) & 0o111, "the exec wrapper must be executable"
        assert archive.read(info).startswith(b"#!/bin/sh")
    permission = packaged.resources["StreamHandlerInvokePermission"]["Properties"]
    assert permission["FunctionName"] == {"Ref": "StreamHandler"}
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert permission["Action"] == "lambda:InvokeFunction"  # covers InvokeWithResponseStream
    assert permission["SourceArn"]["Fn::Sub"][1] == {"RestAPIId": {"Ref": "RestAPI"}}


def _s3vectors_actions_used() -> set[str]:
    """The IAM actions that S3VectorsIndex's calls (outside create_schema) need."""
    source = (ROOT / "chalicelib" / "store" / "s3_vectors.py").read_text()
    calls = set(re.findall(r"_call\(\s*[\"'](\w+)[\"']", source))
    unknown = calls - set(S3VECTORS_CALL_ACTIONS)
    assert not unknown, f"map {unknown} to IAM actions here and grant them in infra/resources.json"
    return {S3VECTORS_CALL_ACTIONS[c] for c in calls}


def test_the_vector_index_matches_index_definition_and_the_embedder(packaged: Packaged) -> None:
    ((bucket_name, bucket),) = packaged.of_type("AWS::S3Vectors::VectorBucket").items()
    (index,) = packaged.of_type("AWS::S3Vectors::Index").values()
    props = index["Properties"]
    expected = index_definition(512)
    for key, value in expected.items():
        if key != "Dimension":
            assert props[key] == value, f"infra/resources.json {key} differs from index_definition"
    assert props["Dimension"] == {"Ref": "EmbeddingsDimension"}
    parameter = packaged.template["Parameters"]["EmbeddingsDimension"]
    assert parameter["Default"] == expected["Dimension"] == load_settings({}).embeddings_dimension
    assert set(parameter["AllowedValues"]) <= {256, 512, 1024}  # what Titan V2 makes
    assert props["VectorBucketArn"] == {"Fn::GetAtt": [bucket_name, "VectorBucketArn"]}
    assert bucket["Properties"]["EncryptionConfiguration"] == {"SseType": "AES256"}
    for resource in (bucket, index):
        assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"
    provider = {"dev": "hashing", "prod": "bedrock"}[packaged.stage]
    for role in FUNCTIONS:
        variables = packaged.function(role)["Environment"]["Variables"]
        assert variables["VECTOR_INDEX_NAME"] == props["IndexName"], role
        assert variables["VECTOR_BUCKET_NAME"] == {
            "Fn::Select": [
                1, {"Fn::Split": ["/", {"Fn::GetAtt": [bucket_name, "VectorBucketArn"]}]}
            ]
        }, role  # fmt: skip
        assert variables["EMBEDDINGS_DIMENSION"] == {"Ref": "EmbeddingsDimension"}, role
        assert variables["EMBEDDINGS_PROVIDER"] == provider, role
        assert "EMBEDDINGS_MODEL" not in variables, role  # the default: the model IAM allows


def _dynamodb_actions_used() -> set[str]:
    """The IAM actions that chalicelib/store's DynamoDB calls need."""
    modules = (ROOT / "chalicelib" / "store").glob("*.py")
    source = "\n".join(p.read_text() for p in modules if p.name not in NON_DYNAMODB_SOURCES)
    calls = set(re.findall(r"\bclient\.(\w+)\(", source))
    unknown = calls - set(CLIENT_CALL_ACTIONS)
    assert not unknown, f"map {unknown} to IAM actions here and grant them in infra/resources.json"
    needed = set().union(*(CLIENT_CALL_ACTIONS[c] for c in calls))
    if "transact_write_items" in calls:
        kinds = set(re.findall(r"[\"'](Put|Update|Delete|ConditionCheck)[\"']\s*:", source))
        needed |= {TRANSACTION_OPERATIONS[k] for k in kinds}
    return needed


def _s3_actions_used() -> set[str]:
    """The IAM actions that chalicelib/store/blobs.py's S3 calls need."""
    calls = set(re.findall(r"\bclient\.(\w+)\(", (ROOT / "chalicelib/store/blobs.py").read_text()))
    unknown = calls - set(S3_CALL_ACTIONS)
    assert not unknown, f"map {unknown} to IAM actions here and grant them in infra/resources.json"
    return {S3_CALL_ACTIONS[c] for c in calls}


def test_the_files_bucket_is_private_encrypted_versioned_and_tls_only(packaged: Packaged) -> None:
    (name,) = packaged.of_type("AWS::S3::Bucket")
    assert name == "FilesBucket"
    bucket = packaged.resources[name]
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    props = bucket["Properties"]
    [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    [lifecycle] = props["LifecycleConfiguration"]["Rules"]
    assert lifecycle["Status"] == "Enabled" and "Prefix" not in lifecycle
    assert 1 <= lifecycle["NoncurrentVersionExpiration"]["NoncurrentDays"] <= 30
    assert lifecycle["ExpiredObjectDeleteMarker"] is True
    assert lifecycle["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] <= 7
    assert "ExpirationInDays" not in lifecycle, "current content stays until the file is deleted"

    (policy,) = packaged.of_type("AWS::S3::BucketPolicy").values()
    assert policy["Properties"]["Bucket"] == {"Ref": "FilesBucket"}
    [deny] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "s3:*")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [
        {"Fn::GetAtt": ["FilesBucket", "Arn"]},
        {"Fn::Sub": "${FilesBucket.Arn}/*"},
    ]
    assert packaged.template["Outputs"]["FilesBucketName"]["Value"] == {"Ref": "FilesBucket"}


def test_file_content_access_is_least_privilege(packaged: Packaged) -> None:
    statements = _statements(packaged)
    objects = {"Fn::Sub": "${FilesBucket.Arn}/*"}
    assert set().union(*FILE_CONTENT_ACTIONS.values()) == _s3_actions_used()
    for role, function in FUNCTIONS.items():
        variables = packaged.function(role)["Environment"]["Variables"]
        assert variables["FILES_BUCKET"] == {"Ref": "FilesBucket"}, role
        granted = statements[packaged.resources[function]["Properties"]["Role"]["Fn::GetAtt"][0]]
        s3 = [s for s in granted if any(a.startswith("s3:") for a in _as_list(s["Action"]))]
        assert _actions(s3) == FILE_CONTENT_ACTIONS[role], role
        for statement in s3:
            assert _as_list(statement["Resource"]) == [objects], (role, statement)
    for holder, items in statements.items():
        for statement in items:  # no s3:ListBucket, no bucket-level or wildcard S3 action
            assert not {"s3:ListBucket", "s3:*"} & _actions([statement]), holder


def test_uploads_and_downloads_pass_as_bytes(packaged: Packaged) -> None:
    body = packaged.resources["RestAPI"]["Properties"]["DefinitionBody"]
    assert set(body["x-amazon-apigateway-binary-media-types"]) >= BINARY_MEDIA_TYPES
    responses = body["x-amazon-apigateway-gateway-responses"]
    assert responses["REQUEST_TOO_LARGE"]["statusCode"] == "413"


def _render(template: str) -> Any:
    """A gateway response template as API Gateway would fill it in."""
    filled = (
        template.replace("$context.error.messageString", json.dumps("Some message"))
        .replace("$context.httpMethod", "GET")
        .replace("$context.path", "/api/v1/nope")
    )
    assert "$" not in filled, template
    return json.loads(filled)


def test_gateway_responses_are_openai_errors(packaged: Packaged) -> None:
    body = packaged.resources["RestAPI"]["Properties"]["DefinitionBody"]
    responses = body["x-amazon-apigateway-gateway-responses"]
    expected_status = {"MISSING_AUTHENTICATION_TOKEN": "404", "UNAUTHORIZED": "401"}
    assert {"DEFAULT_4XX", "DEFAULT_5XX", *expected_status} <= set(responses)
    for kind, response in responses.items():
        if kind in expected_status:
            assert response["statusCode"] == expected_status[kind]
        error = _render(response["responseTemplates"]["application/json"])["error"]
        assert set(error) == {"message", "type", "param", "code"}, kind
        assert isinstance(error["message"], str) and error["message"], kind
        assert error["param"] is None, kind
        headers = response["responseParameters"]
        assert headers["gatewayresponse.header.Content-Type"] == "'application/json'"
    missing = _render(
        responses["MISSING_AUTHENTICATION_TOKEN"]["responseTemplates"]["application/json"]
    )
    assert missing["error"]["message"] == "Invalid URL (GET /api/v1/nope)"
    assert missing["error"]["type"] == "invalid_request_error"


def test_outputs_name_the_table_for_the_key_command(packaged: Packaged) -> None:
    assert packaged.template["Outputs"]["TableName"]["Value"] == {"Ref": "RunsTable"}
    assert packaged.template["Outputs"]["JobQueueUrl"]["Value"] == {"Ref": "JobQueue"}


def test_cfn_lint_passes(packaged: Packaged) -> None:
    # --include-checks I: informational rules too (e.g. explicit deletion policies).
    result = subprocess.run(
        [_tool("cfn-lint"), "--include-checks", "I", "--", str(packaged.out / "sam.json")],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_deployment_zip_is_small_and_lambda_compatible(packaged: Packaged) -> None:
    path = packaged.out / "deployment.zip"
    size = path.stat().st_size
    assert size < MAX_ZIP_BYTES, f"deployment.zip is {size / 1e6:.1f} MB"
    names = zipfile.ZipFile(path).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    # The Lambda runtime ships boto3; dev tools must not ride along.
    for unwanted in ("boto3", "botocore", "moto", "pytest", "openai", "cfnlint", "tests"):
        assert unwanted not in tops, unwanted
    sources = {n for n in names if n.startswith("chalice/") and "/__pycache__/" not in n}
    assert sources <= {
        "chalice/__init__.py",
        "chalice/app.py",
    }
    runtime = packaged.function("api")["Runtime"]  # e.g. python3.11
    tag = "cpython-" + runtime.removeprefix("python").replace(".", "")
    (core,) = [n for n in names if n.startswith("pydantic_core/_pydantic_core.")]
    assert core.endswith(f"{tag}-x86_64-linux-gnu.so"), core
    assert packaged.function("api")["Architectures"] == ["x86_64"]


def test_the_zip_carries_bytecode_that_python_uses(packaged: Packaged, tmp_path: Path) -> None:
    """Lambda cannot write __pycache__: the zip ships it, as unchecked-hash .pyc."""
    with zipfile.ZipFile(packaged.out / "deployment.zip") as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path)
    tag = sys.implementation.cache_tag
    for module in ("app", "chalicelib/api/router", "pydantic/main"):
        folder, _, name = module.rpartition("/")
        assert f"{folder + '/' if folder else ''}__pycache__/{name}.{tag}.pyc" in names, module
    # Spoil a source file: the import still works only if Python runs the shipped bytecode.
    source = tmp_path / "chalicelib" / "api" / "router.py"
    source.write_text(source.read_text() + "\nraise SystemExit('compiled from source')\n")
    result = subprocess.run(
        [sys.executable, "-B", "-c", "import app"],
        cwd=tmp_path, env={**_env(), "PYTHONPATH": str(tmp_path), "STAGE": packaged.stage},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_zip_drops_pydantic_v1_and_the_app_imports_without_it(
    packaged: Packaged, tmp_path: Path
) -> None:
    with zipfile.ZipFile(packaged.out / "deployment.zip") as archive:
        assert not [n for n in archive.namelist() if n.startswith("pydantic/v1/")]
        archive.extractall(tmp_path)
    code = (
        "import sys, app, chalicelib.domain.requests, chalicelib.api.router; "
        "assert 'pydantic.v1' not in sys.modules"
    )
    result = subprocess.run(
        [sys.executable, "-B", "-c", code],
        cwd=tmp_path, env={**_env(), "PYTHONPATH": str(tmp_path)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_requirements_hold_only_what_lambda_needs() -> None:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    names = {re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0].lower() for line in lines}
    names.discard("")
    names = {n for n in names if not n.startswith("#")}
    dev_only = {"boto3", "botocore", "chalice", "moto", "pytest", "openai", "ruff", "cfn-lint"}
    assert not names & dev_only, names


def test_key_commands_create_list_and_revoke(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m chalicelib.admin keys ...` on a deployed stage's table (moto here)."""
    from chalicelib import admin
    from chalicelib.domain.errors import Unauthorized
    from chalicelib.services import auth
    from tests.conftest import TABLE, make_services

    where = ["--project", "acme", "--table", TABLE]
    assert admin.main(["keys", "create", *where, "--name", "ci"]) == 0
    created = json.loads(capsys.readouterr().out)
    svc = make_services(dynamodb, stage="dev")
    assert auth.project_for(svc, f"Bearer {created['api_key']}") == "acme"

    assert admin.main(["keys", "list", *where]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["key_hash"] == created["key_hash"]
    assert listed["name"] == "ci"
    assert "api_key" not in listed

    assert admin.main(["keys", "revoke", *where, "--hash", created["key_hash"]]) == 0
    assert admin.main(["keys", "revoke", *where, "--hash", created["key_hash"]]) == 1
    capsys.readouterr()
    svc.key_cache.clear()
    with pytest.raises(Unauthorized, match="Incorrect API key"):
        auth.project_for(svc, f"Bearer {created['api_key']}")


def test_key_commands_need_a_table(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib import admin

    monkeypatch.delenv("TABLE_NAME", raising=False)
    assert admin.main(["keys", "list", "--project", "acme"]) == 2


# --- Monitoring: alarms and the dashboard refer only to what exists and what the code emits.

OUR_NAMESPACE = "AssistantsRuns/${AWS::StackName}"
ALARMS = {
    "DeadLetterQueueNotEmptyAlarm",
    "WorkerErrorsAlarm",
    "SweeperErrorsAlarm",
    "SweeperMissedScheduleAlarm",
    "FailedRunsRateAlarm",
}


def _check_metric(packaged: Packaged, namespace: Any, name: str, refs: list[str]) -> None:
    """A metric exists: ours is in METRICS; an AWS one names a resource of this stack."""
    if namespace in ({"Fn::Sub": OUR_NAMESPACE}, OUR_NAMESPACE):
        assert name in METRICS, f"{name} is not a metric the code emits"
        return
    assert namespace in ("AWS/Lambda", "AWS/SQS"), namespace
    assert refs, f"{namespace} {name} names no resource of the stack"
    for ref in refs:
        assert ref.split(".")[0] in packaged.resources, f"{ref} is not a resource of the stack"


def _refs(value: Any) -> list[str]:
    """The resources a dimension value refers to ({"Ref": X}, GetAtt X, or ${X} in a string)."""
    if isinstance(value, dict) and "Ref" in value:
        return [value["Ref"]]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return [value["Fn::GetAtt"][0]]
    return re.findall(r"\$\{([A-Za-z0-9.]+)\}", str(value))


def test_every_alarm_watches_something_that_exists(packaged: Packaged) -> None:
    alarms = packaged.of_type("AWS::CloudWatch::Alarm")
    assert set(alarms) == ALARMS
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        stats = [m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m]
        if not stats:
            stats = [props]
        for metric in stats:
            refs = [r for d in metric.get("Dimensions", []) for r in _refs(d["Value"])]
            _check_metric(packaged, metric["Namespace"], metric["MetricName"], refs)
        # Notifications go to the optional topic parameter, and nowhere when it is empty.
        expected = {
            "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
        }
        assert props["AlarmActions"] == expected, name
    assert packaged.template["Parameters"]["AlarmTopicArn"]["Default"] == ""


def test_the_dashboard_shows_only_metrics_that_exist(packaged: Packaged) -> None:
    (dashboard,) = packaged.of_type("AWS::CloudWatch::Dashboard").values()
    body = json.loads(dashboard["Properties"]["DashboardBody"]["Fn::Sub"])
    shown: set[str] = set()
    for widget in body["widgets"]:
        for row in widget["properties"]["metrics"]:
            parts = [p for p in row if not isinstance(p, dict)]
            namespace, name, dimensions = parts[0], parts[1], parts[2:]
            refs = [r for value in dimensions[1::2] for r in _refs(value)]
            _check_metric(packaged, namespace, name, refs)
            shown.add(name)
    titles = " ".join(w["properties"]["title"] for w in body["widgets"]).lower()
    for topic in ("funnel", "latency", "tokens", "errors", "dead-letter"):
        assert topic in titles
    # The funnel shows every run outcome the code counts.
    assert {n for n in METRICS if n.startswith("Runs")} <= shown


def test_functions_log_json_and_emit_metrics_into_the_stack_namespace(packaged: Packaged) -> None:
    for role in FUNCTIONS:
        props = packaged.function(role)
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        assert props["LoggingConfig"]["ApplicationLogLevel"] == {"Ref": "LogLevel"}
        env = props["Environment"]["Variables"]
        assert env["LOG_LEVEL"] == {"Ref": "LogLevel"}
        assert env["METRICS_NAMESPACE"] == {"Fn::Sub": OUR_NAMESPACE}


def test_the_inspector_ships_in_the_zip_and_is_routed(packaged: Packaged) -> None:
    names = set(zipfile.ZipFile(packaged.out / "deployment.zip").namelist())
    for name in ("index.html", "app.js", "style.css"):
        assert f"chalicelib/inspector/{name}" in names, name
    paths = packaged.resources["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    assert {"/", "/inspector", "/inspector/{name}"} <= set(paths)
    # The page is served without an authorizer, like every route here (the app checks keys).
    for path in ("/", "/inspector"):
        assert "security" not in paths[path]["get"], path
