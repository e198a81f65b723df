"""Embeddings from Amazon Bedrock: Titan Text Embeddings V2 through InvokeModel (IAM, no keys).

One text per InvokeModel call (Titan V2 takes one `inputText`), several calls at once from a
small thread pool, so a file of a few hundred chunks embeds within the worker's timeout. The
request asks for `dimensions` floats (Titan V2: 256, 512 or 1024) and `normalize: true`, so the
vectors are unit length as the index expects. A text over Titan V2's 50,000 characters is cut
there (its other limit, 8,192 tokens, is far above a chunk's 4,096). Throttling and 5xx answers
are ProviderError(retryable=True), as for the chat models (bedrock.py).

botocore only, imported when the first call needs a client.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..base import ProviderError
from ..bedrock import RATE_LIMIT_CODES, RETRYABLE_SERVER_CODES

DEFAULT_MODEL = "amazon.titan-embed-text-v2:0"
TITAN_V2_DIMENSIONS = (256, 512, 1024)
MAX_INPUT_CHARACTERS = 50_000
CONCURRENCY = 8
_MAX_ERROR_CHARS = 300


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


class BedrockEmbedder:
    """An Embedder on bedrock-runtime InvokeModel. `client` can be injected (tests)."""

    def __init__(
        self,
        model: str | None = None,
        dimension: int = 512,
        region: str | None = None,
        client: Any | None = None,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.model = model or DEFAULT_MODEL
        self.concurrency = max(1, concurrency)
        if self.model.startswith("amazon.titan-embed-text-v2") and (
            dimension not in TITAN_V2_DIMENSIONS
        ):
            raise ValueError(
                f"EMBEDDINGS_DIMENSION={dimension}: {self.model} makes 256, 512 or 1024"
            )
        self.dimension = dimension
        self._region = region
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                import botocore.session
                from botocore.config import Config

                config = Config(
                    connect_timeout=5,
                    read_timeout=60,
                    retries={"mode": "standard", "max_attempts": 3},
                    max_pool_connections=CONCURRENCY,
                )
                self._client = botocore.session.get_session().create_client(
                    "bedrock-runtime", region_name=self._region, config=config
                )
            return self._client

    def _body(self, text: str) -> bytes:
        body = {
            "inputText": text[:MAX_INPUT_CHARACTERS],
            "dimensions": self.dimension,
            "normalize": True,
        }
        return json.dumps(body).encode("utf-8")

    def embed_one(self, text: str) -> list[float]:
        if not text.strip():
            return [0.0] * self.dimension  # Titan refuses blank input; no words, no direction
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.invoke_model(
                modelId=self.model,
                body=self._body(text),
                contentType="application/json",
                accept="application/json",
            )
            payload = json.loads(answer["body"].read())
        except ClientError as error:
            raise _client_error(error) from None
        except BotoCoreError as error:  # connection errors, read timeouts
            message = _short(f"Bedrock request failed: {type(error).__name__}: {error}")
            raise ProviderError(message, retryable=True) from None
        except ValueError as error:
            raise ProviderError(f"Bedrock returned an unreadable body: {error}") from None
        vector = payload.get("embedding") if isinstance(payload, dict) else None
        if not isinstance(vector, list) or len(vector) != self.dimension:
            got = len(vector) if isinstance(vector, list) else type(vector).__name__
            raise ProviderError(
                f"Bedrock {self.model} returned an embedding of {got} floats, "
                f"expected {self.dimension}"
            )
        return [float(x) for x in vector]

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if len(texts) <= 1 or self.concurrency == 1:
            return [self.embed_one(text) for text in texts]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(texts))) as pool:
            return list(pool.map(self.embed_one, texts))


def _client_error(error: Any) -> ProviderError:
    details = error.response.get("Error") or {}
    code = str(details.get("Code") or "ClientError")
    detail = str(details.get("Message") or "")
    message = _short(f"Bedrock {code}: {detail}" if detail else f"Bedrock {code}")
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code in RATE_LIMIT_CODES or status == 429:
        return ProviderError(message, code="rate_limit_exceeded", retryable=True)
    retryable = code in RETRYABLE_SERVER_CODES or status >= 500
    return ProviderError(message, code="server_error", retryable=retryable)
