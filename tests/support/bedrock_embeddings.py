"""A bedrock-runtime double for Titan Text Embeddings V2, for services on the deployed path.

Each `invoke_model` request is validated by botocore against the service model (as Stubber
would) and answered from its own text with the hashing embedder's vector of the requested
dimension, so answers are deterministic, meaningful, and safe under concurrent calls (Stubber
answers in the order responses were queued, which concurrent embedding does not keep).
"""

from __future__ import annotations

import io
import json
import threading
from typing import Any

import botocore.session
from botocore.response import StreamingBody
from botocore.validate import validate_parameters

from chalicelib.providers.embeddings.hashing import HashingEmbedder


def titan_answer(vector: list[float], tokens: int = 3) -> dict[str, Any]:
    raw = json.dumps({"embedding": vector, "inputTextTokenCount": tokens}).encode()
    return {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"}


class TitanRuntime:
    def __init__(self) -> None:
        client = botocore.session.get_session().create_client(
            "bedrock-runtime", region_name="us-east-1"
        )
        self._shape = client.meta.service_model.operation_model("InvokeModel").input_shape
        self._lock = threading.Lock()
        self.texts: list[str] = []

    def invoke_model(self, **params: Any) -> dict[str, Any]:
        validate_parameters(params, self._shape)
        request = json.loads(params["body"])
        assert request.get("normalize") is True, request
        with self._lock:
            self.texts.append(request["inputText"])
        (vector,) = HashingEmbedder(request["dimensions"]).embed([request["inputText"]])
        return titan_answer(vector, len(request["inputText"].split()))
