"""The deployed embedders: Bedrock Titan V2 through Stubber, OpenAI-compatible against a local
server that speaks the protocol (tests/support/fake_embeddings.py)."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import botocore.session
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from chalicelib.config import Settings
from chalicelib.providers.base import ProviderError
from chalicelib.providers.embeddings import openai_compat
from chalicelib.providers.embeddings.bedrock import DEFAULT_MODEL, BedrockEmbedder
from chalicelib.providers.embeddings.hashing import HashingEmbedder
from chalicelib.providers.embeddings.openai_compat import OpenAICompatibleEmbedder
from chalicelib.providers.embeddings.registry import build_embedder
from tests.support.bedrock_embeddings import TitanRuntime
from tests.support.fake_embeddings import fake_embeddings


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


def body(payload: dict[str, Any]) -> StreamingBody:
    raw = json.dumps(payload).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def runtime() -> Any:
    return botocore.session.get_session().create_client("bedrock-runtime", region_name="us-east-1")


def titan_answer(vector: list[float]) -> dict[str, Any]:
    return {
        "body": body({"embedding": vector, "inputTextTokenCount": 3}),
        "contentType": "application/json",
    }


def test_bedrock_sends_titan_v2_requests_and_reads_the_embedding() -> None:
    client = runtime()
    embedder = BedrockEmbedder(dimension=256, client=client, concurrency=1)
    stub = Stubber(client)
    for n, text in enumerate(["first chunk", "second chunk"]):
        expected = {
            "modelId": DEFAULT_MODEL,
            "body": json.dumps({"inputText": text, "dimensions": 256, "normalize": True}).encode(),
            "contentType": "application/json",
            "accept": "application/json",
        }
        stub.add_response("invoke_model", titan_answer([float(n)] + [0.0] * 255), expected)
    with stub:
        vectors = embedder.embed(["first chunk", "second chunk", "   "])
    assert [v[0] for v in vectors] == [0.0, 1.0, 0.0]
    assert vectors[2] == [0.0] * 256  # blank: no call
    stub.assert_no_pending_responses()


def test_bedrock_cuts_long_texts_to_titans_input_limit() -> None:
    client = runtime()
    stub = Stubber(client)
    text = "word " * 20_000
    expected = {
        "modelId": DEFAULT_MODEL,
        "body": json.dumps({"inputText": text[:50_000], "dimensions": 512, "normalize": True})
        .encode(),
        "contentType": "application/json",
        "accept": "application/json",
    }  # fmt: skip
    stub.add_response("invoke_model", titan_answer([1.0] * 512), expected)
    with stub:
        BedrockEmbedder(client=client).embed([text])


@pytest.mark.parametrize(
    ("code", "status", "expected_code", "retryable"),
    [
        ("ThrottlingException", 429, "rate_limit_exceeded", True),
        ("ServiceUnavailableException", 503, "server_error", True),
        ("InternalServerException", 500, "server_error", True),
        ("ModelTimeoutException", 408, "server_error", False),
        ("ValidationException", 400, "server_error", False),
        ("AccessDeniedException", 403, "server_error", False),
    ],
)
def test_bedrock_errors_map_like_the_chat_provider(
    code: str, status: int, expected_code: str, retryable: bool
) -> None:
    client = runtime()
    stub = Stubber(client)
    stub.add_client_error("invoke_model", code, "nope", http_status_code=status)
    with stub, pytest.raises(ProviderError) as error:
        BedrockEmbedder(client=client).embed(["x"])
    assert error.value.code == expected_code
    assert error.value.retryable is retryable
    assert code in str(error.value)


def test_bedrock_refuses_a_wrong_sized_answer() -> None:
    client = runtime()
    stub = Stubber(client)
    stub.add_response("invoke_model", titan_answer([1.0] * 10))
    with stub, pytest.raises(ProviderError, match="10 floats, expected 512"):
        BedrockEmbedder(client=client).embed(["x"])


def test_bedrock_titan_v2_dimensions_are_checked() -> None:
    with pytest.raises(ValueError, match="256, 512 or 1024"):
        BedrockEmbedder(dimension=384)
    assert BedrockEmbedder(model="cohere.embed-english-v3", dimension=1024).dimension == 1024


def test_bedrock_embeds_many_texts_concurrently_in_order() -> None:
    client = TitanRuntime()
    texts = [f"chunk number {i} about topic {i % 7}" for i in range(40)]
    vectors = BedrockEmbedder(client=client).embed(texts)
    assert vectors == HashingEmbedder(512).embed(texts)
    assert sorted(client.texts) == sorted(texts)


# -- OpenAI-compatible ------------------------------------------------------------------------


def test_openai_compatible_posts_batches_with_the_key_and_normalises() -> None:
    with fake_embeddings(api_key="sk-emb-1") as server:
        embedder = OpenAICompatibleEmbedder(
            server.base_url, model="nomic-embed-text", dimension=512, api_key="sk-emb-1"
        )
        texts = [f"text {i}" for i in range(200)] + [""]
        vectors = embedder.embed(texts)
    assert len(vectors) == 201
    expected = HashingEmbedder(512).embed(texts[:200])
    for got, want in zip(vectors[:200], expected, strict=True):
        assert got == pytest.approx(want)
    assert all(math.isclose(norm(v), 1.0) for v in vectors[:200])
    assert vectors[200] == [0.0] * 512
    assert [len(r["input"]) for r in server.requests] == [96, 96, 8]
    first = server.requests[0]
    assert first["model"] == "nomic-embed-text" and first["encoding_format"] == "float"
    assert "dimensions" not in first  # only OpenAI's text-embedding-3 models take it
    assert server.headers[0]["Authorization"] == "Bearer sk-emb-1"


def test_openai_text_embedding_3_gets_dimensions() -> None:
    with fake_embeddings(native_dimension=1536) as server:
        embedder = OpenAICompatibleEmbedder(server.base_url, dimension=256)
        (vector,) = embedder.embed(["hello"])
    assert len(vector) == 256
    assert server.requests[0]["model"] == "text-embedding-3-small"
    assert server.requests[0]["dimensions"] == 256
    assert "Authorization" not in server.headers[0]


def test_openai_compatible_batches_by_characters_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_compat, "MAX_BATCH_CHARACTERS", 100)
    with fake_embeddings() as server:
        OpenAICompatibleEmbedder(server.base_url, model="m").embed(["x" * 60] * 3)
    assert [len(r["input"]) for r in server.requests] == [1, 1, 1]


def test_openai_compatible_refuses_another_dimension() -> None:
    with fake_embeddings(native_dimension=768) as server:
        embedder = OpenAICompatibleEmbedder(server.base_url, model="bge", dimension=512)
        with pytest.raises(ProviderError, match=r"768-dimensional.*EMBEDDINGS_DIMENSION is 512"):
            embedder.embed(["x"])


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (429, "rate_limit_exceeded", True),
        (500, "server_error", True),
        (503, "server_error", True),
        (400, "server_error", False),
    ],
)
def test_openai_compatible_errors(status: int, code: str, retryable: bool) -> None:
    with fake_embeddings() as server:
        server.fail_next.append(status)
        with pytest.raises(ProviderError) as error:
            OpenAICompatibleEmbedder(server.base_url, model="m").embed(["x"])
    assert (error.value.code, error.value.retryable) == (code, retryable)
    assert f"HTTP {status}: failing on purpose" in str(error.value)


def test_openai_compatible_wrong_key_timeout_and_unreachable() -> None:
    with fake_embeddings(api_key="right") as server:
        with pytest.raises(ProviderError, match="HTTP 401: Incorrect API key") as error:
            OpenAICompatibleEmbedder(server.base_url, model="m", api_key="wrong").embed(["x"])
        assert not error.value.retryable
        server.hang = True
        slow = OpenAICompatibleEmbedder(server.base_url, model="m", api_key="right", timeout=0.3)
        with pytest.raises(ProviderError, match="request failed") as error:
            slow.embed(["x"])
        assert error.value.retryable
        url = server.base_url
    with pytest.raises(ProviderError, match="unreachable") as error:
        OpenAICompatibleEmbedder(url, model="m", timeout=2).embed(["x"])
    assert error.value.retryable


def test_build_embedder_for_each_provider() -> None:
    assert isinstance(build_embedder(Settings()), HashingEmbedder)
    bedrock = build_embedder(Settings(embeddings_provider="bedrock", embeddings_dimension=1024))
    assert isinstance(bedrock, BedrockEmbedder)
    assert (bedrock.model, bedrock.dimension) == (DEFAULT_MODEL, 1024)
    remote = build_embedder(
        Settings(
            embeddings_provider="openai",
            embeddings_base_url="http://127.0.0.1:9/v1/",
            embeddings_model="bge-m3",
            embeddings_api_key="k",
        )
    )
    assert isinstance(remote, OpenAICompatibleEmbedder)
    assert (remote.url, remote.model) == ("http://127.0.0.1:9/v1/embeddings", "bge-m3")
