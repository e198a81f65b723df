"""Shared fixtures: services on the embedded engine (or moto), a movable clock, recorded jobs."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.config import Settings
from chalicelib.providers.echo import EchoProvider
from chalicelib.providers.embeddings.base import Embedder
from chalicelib.providers.embeddings.bedrock import BedrockEmbedder
from chalicelib.providers.embeddings.hashing import HashingEmbedder
from chalicelib.services.context import Services
from chalicelib.store.blobs import BlobStore, LocalBlobs, S3Blobs
from chalicelib.store.dynamodb import DynamoDBEngine
from chalicelib.store.engine import Engine
from chalicelib.store.sqlite import SqliteEngine
from chalicelib.store.store import Store
from chalicelib.store.vectors import VectorIndex
from tests.support import engines
from tests.support.bedrock_embeddings import TitanRuntime
from tests.support.doubles import ManualClock, RecordingDispatcher
from tests.support.s3vectors import moto_s3vectors
from tests.support.vectors import vector_index_for

TABLE = "assistants-runs-test"
FILES_BUCKET = "assistants-files-test"
KEY = "sk-test-key-0001"
OTHER_KEY = "sk-test-key-0002"


def auth_headers(key: str = KEY) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {key}",
        "OpenAI-Beta": "assistants=v2",
        "Content-Type": "application/json",
    }


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test ever reaches AWS: dummy credentials and a fixed region."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    """A DynamoDB client on moto with the service's table created."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        DynamoDBEngine(client, TABLE).create_schema()
        yield client


@pytest.fixture
def sqlite_engine(tmp_path: Any) -> Iterator[SqliteEngine]:
    """The embedded engine on a file of its own."""
    engine = engines.sqlite_engine(tmp_path)
    yield engine
    engine.close()


def make_services(
    engine: Engine | Any,
    blobs: BlobStore | None = None,
    vectors: VectorIndex | None = None,
    embedder: Embedder | None = None,
    **settings: Any,
) -> Services:
    """Services on `engine` (a moto client: DynamoDB on moto, table TABLE); stage `local`
    (any key is its own project) unless given. File content: `blobs`, else a new directory.
    The vector index is the embedded engine's table (in `engine`'s file, or a file of its own
    on moto: see tests/support/vectors.py)."""
    config = Settings(**{"table_name": TABLE, "stage": "local", **settings})
    if not isinstance(engine, (SqliteEngine, DynamoDBEngine)):
        engine = DynamoDBEngine(engine, TABLE)
    return Services(
        settings=config,
        store=Store(engine, config.active_index_shards),
        clock=ManualClock(),
        dispatcher=RecordingDispatcher(),
        provider=EchoProvider(),
        blobs=blobs or LocalBlobs(tempfile.mkdtemp(prefix="assistants-blobs-")),
        vectors=vectors or vector_index_for(engine),
        embedder=embedder or HashingEmbedder(config.embeddings_dimension),
    )


def moto_blobs() -> S3Blobs:
    """S3Blobs on moto (call inside mock_aws, e.g. with the `dynamodb` fixture): bucket
    FILES_BUCKET, created here."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=FILES_BUCKET)
    return S3Blobs(FILES_BUCKET, s3)


@pytest.fixture
def svc(request: pytest.FixtureRequest) -> Services:
    """Services on the embedded engine, a ManualClock, and a RecordingDispatcher (jobs wait).

    `@pytest.mark.parametrize("svc", ["moto"], indirect=True)` puts them on moto instead
    (DynamoDB and S3). File content goes to the test's own directory (or moto's bucket).
    `"deployed"` adds the deployed vector index and embedder (S3 Vectors on moto, Bedrock
    Titan V2 through a double) to the moto variant.
    """
    if getattr(request, "param", "sqlite") == "deployed":
        # Everything on the deployed path: DynamoDB and S3 on moto, S3 Vectors on moto (with
        # the QueryVectors moto lacks, tests/support/s3vectors.py) and Titan V2 embeddings
        # through BedrockEmbedder on a validating bedrock-runtime double.
        client = request.getfixturevalue("dynamodb")
        embedder = BedrockEmbedder(client=TitanRuntime(), dimension=512)
        return make_services(
            client, blobs=moto_blobs(), vectors=moto_s3vectors(512), embedder=embedder
        )
    if getattr(request, "param", "sqlite") == "moto":
        client = request.getfixturevalue("dynamodb")
        tmp_path = request.getfixturevalue("tmp_path")
        return make_services(client, blobs=moto_blobs(), vectors=vector_index_for(client, tmp_path))
    blobs = LocalBlobs(request.getfixturevalue("tmp_path") / "files")
    return make_services(request.getfixturevalue("sqlite_engine"), blobs=blobs)


@pytest.fixture
def client(svc: Services) -> Iterator[Any]:
    """chalice.test.Client on the real app, wired to `svc`."""
    from chalice.test import Client

    from app import app
    from tests.support.services import set_services

    set_services(svc)
    with Client(app) as test_client:
        yield test_client
    set_services(None)


class Api:
    """A thin JSON client over chalice.test.Client, for readable API tests."""

    def __init__(self, client: Any, key: str = KEY) -> None:
        self.client = client
        self.key = key

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        import json

        raw = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        response = self.client.http.request(
            method, path, headers=headers or auth_headers(self.key), body=raw or b""
        )
        text = response.body.decode() if response.body else ""
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = text
        return response.status_code, data

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, data = self.call(method, path, body)
        assert status == 200, (status, data)
        return data


def partition_items(svc: Services, project: str, thread_id: str) -> list[dict[str, Any]]:
    """Every stored item of a thread's partition, raw (to see what the API never shows)."""
    return engines.partition_items(svc.store.engine, f"P#{project}#T#{thread_id}")


@pytest.fixture
def api(client: Any) -> Api:
    return Api(client)


@pytest.fixture
def other_api(client: Any) -> Api:
    return Api(client, OTHER_KEY)


def pytest_configure(config: pytest.Config) -> None:
    # Importing app.py with STAGE=local starts a local stage (threads, a data file) in the test
    # process: tests build their own services instead, and live servers run in subprocesses.
    os.environ.pop("STAGE", None)
