"""Which vector index the services use: S3 Vectors where the stack made one, else a table in
the embedded engine's file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .engine import StoreError
from .vectors import Chunk, Hit, VectorIndex

if TYPE_CHECKING:
    from ..config import Settings
    from .engine import Engine


def build_vector_index(settings: Settings, engine: Engine | None = None) -> VectorIndex:
    """S3 Vectors when VECTOR_BUCKET_NAME is set; else the embedded engine's table (`engine`
    if it is the SQLite engine, else a SQLite file of its own under DATA_DIR, for a local stage
    on a DynamoDB endpoint); else (a deployed stage without the bucket) an index that says so."""
    from .sqlite import SqliteEngine

    if settings.vector_bucket_name:
        if not settings.vector_index_name:
            raise ValueError("VECTOR_BUCKET_NAME needs VECTOR_INDEX_NAME")
        from .s3_vectors import S3VectorsIndex, botocore_client

        return S3VectorsIndex(
            botocore_client(),
            settings.vector_bucket_name,
            settings.vector_index_name,
            settings.embeddings_dimension,
        )
    from .sqlite_vectors import SqliteVectorIndex

    if isinstance(engine, SqliteEngine):
        return SqliteVectorIndex(engine)
    if settings.is_local:
        from pathlib import Path

        from ..config import DATABASE_FILE

        return SqliteVectorIndex(SqliteEngine(Path(settings.data_dir) / DATABASE_FILE))
    return UnconfiguredVectorIndex()


class UnconfiguredVectorIndex:
    """No index configured: every use fails with what to set (never a silent empty result)."""

    MESSAGE = "no vector index is configured: set VECTOR_BUCKET_NAME and VECTOR_INDEX_NAME"

    def create_schema(self) -> None:
        return None

    def put_chunks(
        self, project: str, vector_store_id: str, file_id: str, chunks: Sequence[Chunk]
    ) -> None:
        raise StoreError(self.MESSAGE)

    def delete_file(self, project: str, vector_store_id: str, file_id: str) -> None:
        raise StoreError(self.MESSAGE)

    def delete_store(self, project: str, vector_store_id: str) -> None:
        raise StoreError(self.MESSAGE)

    def query(
        self,
        project: str,
        vector_store_ids: Sequence[str],
        vector: Sequence[float],
        top_k: int,
        filters: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        raise StoreError(self.MESSAGE)
