"""The vector index as tests make it: always the embedded engine's table (SqliteVectorIndex).

On the SQLite engine it lives in the engine's own file, as in the local stage. Services on moto
(DynamoDB) get one in a SQLite file of their own: moto has S3 Vectors' writes but no
QueryVectors, so the deployed index (S3VectorsIndex) is tested on its own, through botocore's
Stubber and moto (tests/test_s3_vectors.py), and the services' tests search a real index.
"""

from __future__ import annotations

import atexit
import tempfile
import uuid
from pathlib import Path

from chalicelib.store.engine import Engine
from chalicelib.store.sqlite import SqliteEngine
from chalicelib.store.sqlite_vectors import SqliteVectorIndex

_spare: tempfile.TemporaryDirectory[str] | None = None


def _spare_directory() -> Path:
    global _spare
    if _spare is None:
        _spare = tempfile.TemporaryDirectory(prefix="vectors-")
        atexit.register(_spare.cleanup)
    return Path(_spare.name)


def vector_index_for(engine: Engine | object, directory: Path | None = None) -> SqliteVectorIndex:
    """The index beside `engine`'s items (SQLite), or in a file of its own under `directory`."""
    if not isinstance(engine, SqliteEngine):
        folder = directory or _spare_directory()
        engine = SqliteEngine(folder / f"vectors-{uuid.uuid4().hex[:8]}.sqlite3")
        engine.create_schema()
    index = SqliteVectorIndex(engine)
    index.create_schema()
    return index
