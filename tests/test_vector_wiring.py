"""Services.vectors and Services.embedder, as wiring.py builds them and as tests get them."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib import wiring
from chalicelib.config import load_settings
from chalicelib.providers.embeddings.hashing import HashingEmbedder
from chalicelib.providers.embeddings.registry import build_embedder
from chalicelib.services.context import Services
from chalicelib.store.sqlite_vectors import SqliteVectorIndex
from chalicelib.store.vectors import Chunk


def test_the_local_stage_indexes_in_the_engines_own_file(tmp_path: Path) -> None:
    settings = load_settings({"STAGE": "local", "DATA_DIR": str(tmp_path)})
    svc = wiring.build_services(settings)
    assert isinstance(svc.vectors, SqliteVectorIndex)
    assert svc.vectors.engine is svc.store.engine
    assert svc.vectors.engine.path == str(tmp_path / wiring.DATABASE_FILE)
    assert isinstance(svc.embedder, HashingEmbedder) and svc.embedder.dimension == 512
    svc.store.create_schema()
    svc.vectors.create_schema()
    (vector,) = svc.embedder.embed(["hello vector index"])
    svc.vectors.put_chunks("p", "vs_1", "file-1", [Chunk("vs_1", "file-1", 0, "hi", tuple(vector))])
    (hit,) = svc.vectors.query("p", ["vs_1"], vector, 3)
    assert hit.chunk.text == "hi"
    svc.store.engine.close()


@pytest.mark.parametrize("svc", ["sqlite", "moto", "deployed"], indirect=True)
def test_test_services_have_a_working_index_and_embedder(svc: Services) -> None:
    (vector,) = svc.embedder.embed(["refunds take fourteen days"])
    svc.vectors.put_chunks("p", "vs_1", "file-1", [Chunk("vs_1", "file-1", 0, "r", tuple(vector))])
    assert [h.chunk.text for h in svc.vectors.query("p", ["vs_1"], vector, 1)] == ["r"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EMBEDDINGS_PROVIDER": "word2vec"}, "unknown EMBEDDINGS_PROVIDER 'word2vec'"),
        ({"EMBEDDINGS_DIMENSION": "0"}, "EMBEDDINGS_DIMENSION=0: expected 1 to 4096"),
        ({"EMBEDDINGS_DIMENSION": "5000"}, "EMBEDDINGS_DIMENSION=5000: expected 1 to 4096"),
        ({"EMBEDDINGS_PROVIDER": "openai"}, "EMBEDDINGS_PROVIDER=openai needs EMBEDDINGS_BASE_URL"),
    ],
)
def test_bad_embeddings_settings_are_refused_with_their_variable(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_embedder(load_settings(env))
