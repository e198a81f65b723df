"""Embeddings from any server that speaks OpenAI's `POST /embeddings` (OpenAI, Ollama, vLLM,
LiteLLM, llama.cpp, text-embeddings-inference, ...). Standard library only.

- Texts go in batches (at most `MAX_BATCH_TEXTS` texts and `MAX_BATCH_CHARACTERS` characters a
  request: OpenAI takes 2,048 inputs and 300,000 tokens; small local servers want less).
- `encoding_format: "float"`; `dimensions` is sent only to OpenAI's `text-embedding-3-*` models
  (others may refuse it). Whatever the server answers must have EMBEDDINGS_DIMENSION floats, or
  the call fails with a message that says so.
- Vectors are L2-normalised here: not every server does it, and the index scores by dot product.
- Errors as for chat (openai_compat.py): 429 is `rate_limit_exceeded`, 429/5xx/timeouts/
  unreachable are retryable, anything else is a server_error that is not.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any

from ..openai_compat import HTTP_FAILURES, provider_error

DEFAULT_MODEL = "text-embedding-3-small"
MAX_BATCH_TEXTS = 96
MAX_BATCH_CHARACTERS = 400_000


def _batches(texts: Sequence[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    for text in texts:
        if batch and (len(batch) == MAX_BATCH_TEXTS or size + len(text) > MAX_BATCH_CHARACTERS):
            yield batch
            batch, size = [], 0
        batch.append(text)
        size += len(text)
    if batch:
        yield batch


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else vector


class OpenAICompatibleEmbedder:
    """An Embedder for `POST {base_url}/embeddings`."""

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        dimension: int = 512,
        api_key: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.url = base_url.rstrip("/") + "/embeddings"
        self.model = model or DEFAULT_MODEL
        self.dimension = dimension
        self._api_key = api_key
        self.timeout = timeout

    def request_body(self, texts: list[str]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self.model.startswith("text-embedding-3"):
            body["dimensions"] = self.dimension
        return body

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = [[0.0] * self.dimension for _ in texts]
        # Blank texts stay zero vectors: several servers refuse empty input.
        wanted = [i for i, text in enumerate(texts) if text.strip()]
        done = 0
        for batch in _batches([texts[i] for i in wanted]):
            for offset, vector in enumerate(self._post(batch)):
                vectors[wanted[done + offset]] = vector
            done += len(batch)
        return vectors

    def _post(self, texts: list[str]) -> list[list[float]]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        data = json.dumps(self.request_body(texts)).encode("utf-8")
        request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                payload = json.loads(answer.read())
            return self._vectors(payload, len(texts))
        except HTTP_FAILURES as error:
            raise provider_error(error, "embeddings server") from None

    def _vectors(self, payload: Any, count: int) -> list[list[float]]:
        items = sorted(payload["data"], key=lambda item: int(item.get("index", 0)))
        if len(items) != count:
            raise ValueError(f"{len(items)} embeddings for {count} inputs")
        vectors = []
        for item in items:
            vector = [float(x) for x in item["embedding"]]
            if len(vector) != self.dimension:
                raise ValueError(
                    f"{self.model} made {len(vector)}-dimensional embeddings, "
                    f"EMBEDDINGS_DIMENSION is {self.dimension}"
                )
            vectors.append(_unit(vector))
        return vectors
