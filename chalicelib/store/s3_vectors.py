"""The deployed vector index: Amazon S3 Vectors (one vector bucket, one index per stack).

Why S3 Vectors: serverless like the rest of the stack (no cluster, no minimum: a stack that
stores nothing and answers nothing costs nothing), pay per PUT, per GB-month and per query,
created by CloudFormation, and reached with IAM through a botocore client (nothing to ship).

Layout. A chunk is a vector whose key is deterministic, `<project tag>/<vector store>/<file>/
<position>` (the tag: the first 32 hex digits of SHA-256 of the project, so a key never depends
on what a project name may contain). Its metadata:

- filterable (S3 Vectors allows 2 KB of it per vector): `project` (the tag), `vector_store_id`,
  `file_id`, `position`, and each of the file's `attributes` as `attr_<key>`, so that search
  `filters` run inside the query (vector_filters.to_s3vectors), before the top-k;
- non-filterable (declared so on the index by the stack, `NON_FILTERABLE_KEYS`): `text` and
  `filename`. The total per vector is 40 KB: a text that would pass it is cut (on a character
  boundary) and the cut logged; chunks of at most 4096 tokens fit unless they are mostly
  multi-byte characters.

Replacing a file's chunks needs the keys of the old ones, and S3 Vectors cannot list keys by
prefix. So each file has a manifest vector (`…/<file>/manifest`) whose metadata holds how many
positions may exist. It carries no `project` key, so no query ever returns it. A replacement
first raises the manifest to max(old, new) (a crash then still knows every key that may exist),
puts the new chunks, deletes positions new..old-1 and finally writes the manifest's new count;
every step can be repeated, so a retried ingestion job converges.

Queries ask for `topK` ≤ 100 (S3 Vectors' cap) with a filter on the project tag and
`vector_store_id $in [...]`, `returnMetadata` and `returnDistance`; with the cosine metric the
score is 1 - distance.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .engine import StoreError
from .vector_filters import stores_to_query, to_s3vectors
from .vectors import Chunk, Hit

log = logging.getLogger(__name__)

MAX_TOP_K = 100  # QueryVectors' topK cap
MAX_PUT_VECTORS = 500  # vectors per PutVectors call
MAX_DELETE_VECTORS = 500  # keys per DeleteVectors call
MAX_GET_VECTORS = 100  # keys per GetVectors call
MAX_REQUEST_BYTES = 16 * 1024 * 1024  # below PutVectors' 20 MiB request payload
MAX_METADATA_BYTES = 40_000  # below the 40 KB of metadata per vector (filterable + not)
MAX_FILTERABLE_BYTES = 2_000  # below the 2 KB of filterable metadata per vector
NON_FILTERABLE_KEYS = ("text", "filename")
ATTRIBUTE_PREFIX = "attr_"
DELETE_STORE_ROUNDS = 10_000  # delete_store's query-and-delete rounds before it gives up


def project_tag(project: str) -> str:
    return hashlib.sha256(project.encode("utf-8")).hexdigest()[:32]


def vector_key(project: str, vector_store_id: str, file_id: str, position: int | str) -> str:
    return f"{project_tag(project)}/{vector_store_id}/{file_id}/{position}"


def attribute_key(name: str) -> str:
    return ATTRIBUTE_PREFIX + name


def index_definition(dimension: int) -> dict[str, Any]:
    """What the stack's AWS::S3Vectors::Index declares (tests/test_package.py compares)."""
    return {
        "DataType": "float32",
        "Dimension": dimension,
        "DistanceMetric": "cosine",
        "MetadataConfiguration": {"NonFilterableMetadataKeys": list(NON_FILTERABLE_KEYS)},
    }


def _json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def _cut(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, on a character boundary."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    return data[: max(limit, 0)].decode("utf-8", "ignore")


def _unit(dimension: int) -> list[float]:
    return [1.0] + [0.0] * (dimension - 1)


class S3VectorsIndex:
    """A VectorIndex on one S3 Vectors index. `client`: a botocore `s3vectors` client."""

    def __init__(self, client: Any, bucket: str, index: str, dimension: int = 512) -> None:
        self.client = client
        self.bucket = bucket
        self.index = index
        self.dimension = dimension

    @property
    def _where(self) -> dict[str, str]:
        return {"vectorBucketName": self.bucket, "indexName": self.index}

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(**self._where, **params)
        except ClientError as error:
            detail = error.response.get("Error", {})
            raise StoreError(
                f"S3 Vectors {operation} failed: {detail.get('Code')}: {detail.get('Message')}"
            ) from None
        except BotoCoreError as error:
            raise StoreError(f"S3 Vectors {operation} failed: {error}") from None

    # -- schema ----------------------------------------------------------------------------

    def create_schema(self) -> None:
        """Create the bucket and the index if they are missing (local use and tests; deployed,
        the stack creates them and the functions may not)."""
        from botocore.exceptions import ClientError

        def missing(call: Any, **params: Any) -> bool:
            try:
                call(**params)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") == "NotFoundException":
                    return True
                raise
            return False

        if missing(self.client.get_vector_bucket, vectorBucketName=self.bucket):
            self.client.create_vector_bucket(vectorBucketName=self.bucket)
        if missing(self.client.get_index, **self._where):
            definition = index_definition(self.dimension)
            self.client.create_index(
                **self._where,
                dataType=definition["DataType"],
                dimension=definition["Dimension"],
                distanceMetric=definition["DistanceMetric"],
                metadataConfiguration={"nonFilterableMetadataKeys": list(NON_FILTERABLE_KEYS)},
            )

    # -- writes ----------------------------------------------------------------------------

    def _metadata(self, project: str, chunk: Chunk) -> dict[str, Any]:
        filterable: dict[str, Any] = {
            "project": project_tag(project),
            "vector_store_id": chunk.vector_store_id,
            "file_id": chunk.file_id,
            "position": chunk.position,
        }
        for name, value in chunk.attributes.items():
            filterable[attribute_key(name)] = value
        size = _json_size(filterable)
        if size > MAX_FILTERABLE_BYTES:
            raise StoreError(
                f"the file's attributes take {size} bytes of filterable metadata; S3 Vectors "
                f"allows about {MAX_FILTERABLE_BYTES} per vector: use fewer or shorter attributes"
            )
        metadata = {**filterable, "filename": chunk.filename, "text": ""}
        room = MAX_METADATA_BYTES - _json_size(metadata)
        text = _cut(chunk.text, room)
        if len(text) < len(chunk.text):
            log.warning(
                "chunk %s of %s cut from %d to %d characters to fit S3 Vectors' metadata limit",
                chunk.position,
                chunk.file_id,
                len(chunk.text),
                len(text),
            )
        metadata["text"] = text
        return metadata

    def _manifest_key(self, project: str, vector_store_id: str, file_id: str) -> str:
        return vector_key(project, vector_store_id, file_id, "manifest")

    def _manifest_count(self, project: str, vector_store_id: str, file_id: str) -> int:
        key = self._manifest_key(project, vector_store_id, file_id)
        found = self._call("get_vectors", keys=[key], returnMetadata=True).get("vectors") or []
        for vector in found:
            if vector.get("key") == key:
                return int((vector.get("metadata") or {}).get("manifest_count") or 0)
        return 0

    def _write_manifest(self, project: str, vector_store_id: str, file_id: str, count: int) -> None:
        key = self._manifest_key(project, vector_store_id, file_id)
        if count == 0:
            self._call("delete_vectors", keys=[key])
            return
        manifest = {
            "key": key,
            "data": {"float32": _unit(self.dimension)},
            # No `project` key: query filters always name one, so this is never a result.
            "metadata": {"manifest_count": count},
        }
        self._call("put_vectors", vectors=[manifest])

    def _put_batches(self, vectors: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        size = 0
        for vector in vectors:
            # JSON floats take up to ~25 characters each.
            vector_size = _json_size(vector["metadata"]) + 25 * len(vector["data"]["float32"])
            if batch and (len(batch) == MAX_PUT_VECTORS or size + vector_size > MAX_REQUEST_BYTES):
                yield batch
                batch, size = [], 0
            batch.append(vector)
            size += vector_size
        if batch:
            yield batch

    def _delete_keys(self, keys: list[str]) -> None:
        for start in range(0, len(keys), MAX_DELETE_VECTORS):
            self._call("delete_vectors", keys=keys[start : start + MAX_DELETE_VECTORS])

    def put_chunks(
        self, project: str, vector_store_id: str, file_id: str, chunks: Sequence[Chunk]
    ) -> None:
        vectors = []
        for chunk in chunks:
            if (chunk.vector_store_id, chunk.file_id) != (vector_store_id, file_id):
                raise ValueError("every chunk must belong to the file being replaced")
            if len(chunk.vector) != self.dimension:
                raise StoreError(
                    f"a {len(chunk.vector)}-dimensional vector cannot go into the "
                    f"{self.dimension}-dimensional index {self.index!r}"
                )
            vectors.append(
                {
                    "key": vector_key(project, vector_store_id, file_id, chunk.position),
                    "data": {"float32": [float(x) for x in chunk.vector]},
                    "metadata": self._metadata(project, chunk),
                }
            )
        positions = {chunk.position for chunk in chunks}
        if len(positions) != len(chunks) or any(p < 0 for p in positions):
            raise ValueError("chunk positions must be distinct and non-negative")
        high = max(positions, default=-1) + 1
        old = self._manifest_count(project, vector_store_id, file_id)
        if high > old:
            self._write_manifest(project, vector_store_id, file_id, high)
        for batch in self._put_batches(vectors):
            self._call("put_vectors", vectors=batch)
        stale = [
            vector_key(project, vector_store_id, file_id, position)
            for position in range(old)
            if position not in positions
        ]
        self._delete_keys(stale)
        if high < old:
            self._write_manifest(project, vector_store_id, file_id, high)

    def delete_file(self, project: str, vector_store_id: str, file_id: str) -> None:
        count = self._manifest_count(project, vector_store_id, file_id)
        self._delete_keys(
            [vector_key(project, vector_store_id, file_id, position) for position in range(count)]
        )
        self._write_manifest(project, vector_store_id, file_id, 0)

    def delete_store(self, project: str, vector_store_id: str) -> None:
        """Every file of the store, found by querying the store and deleted by its manifest,
        until a query finds nothing. (Cheaper when the caller deletes its files one by one
        first: then this finds nothing at once.)"""
        for _ in range(DELETE_STORE_ROUNDS):
            found = (
                self._call(
                    "query_vectors",
                    topK=MAX_TOP_K,
                    queryVector={"float32": _unit(self.dimension)},
                    filter=self._scope(project, [vector_store_id]),
                    returnMetadata=True,
                ).get("vectors")
                or []
            )
            files = {(v.get("metadata") or {}).get("file_id") for v in found}
            files.discard(None)
            if not files:
                return
            for file_id in sorted(files):
                self.delete_file(project, vector_store_id, str(file_id))
        raise StoreError(f"vector store {vector_store_id} still has chunks after deleting")

    # -- queries ---------------------------------------------------------------------------

    @staticmethod
    def _scope(
        project: str, stores: Sequence[str], filters: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [
            {"project": {"$eq": project_tag(project)}},
            {"vector_store_id": {"$in": list(stores)}},
        ]
        if filters is not None:
            parts.append(to_s3vectors(filters, attribute_key))
        return {"$and": parts}

    def query(
        self,
        project: str,
        vector_store_ids: Sequence[str],
        vector: Sequence[float],
        top_k: int,
        filters: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        stores = stores_to_query(vector_store_ids, top_k, filters)
        if not stores:
            return []
        answer = self._call(
            "query_vectors",
            topK=min(top_k, MAX_TOP_K),
            queryVector={"float32": [float(x) for x in vector]},
            filter=self._scope(project, stores, filters),
            returnMetadata=True,
            returnDistance=True,
        )
        metric = str(answer.get("distanceMetric") or "cosine").lower()
        hits = []
        for found in answer.get("vectors") or []:
            metadata = found.get("metadata") or {}
            distance = float(found.get("distance") or 0.0)
            # Unit vectors: cosine similarity = 1 - cosine distance = 1 - (euclidean^2) / 2.
            score = 1.0 - distance if metric == "cosine" else 1.0 - distance * distance / 2
            chunk = Chunk(
                vector_store_id=str(metadata.get("vector_store_id", "")),
                file_id=str(metadata.get("file_id", "")),
                position=int(metadata.get("position", 0)),
                text=str(metadata.get("text", "")),
                vector=(),
                filename=str(metadata.get("filename", "")),
                attributes={
                    name[len(ATTRIBUTE_PREFIX) :]: value
                    for name, value in metadata.items()
                    if name.startswith(ATTRIBUTE_PREFIX)
                },
            )
            hits.append(Hit(chunk, score))
        hits.sort(key=lambda hit: -hit.score)
        return hits


def botocore_client() -> Any:
    """An S3 Vectors client with standard retries (429s back off), the usual AWS settings."""
    import botocore.session
    from botocore.config import Config

    config = Config(
        connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 5}
    )
    return botocore.session.get_session().create_client("s3vectors", config=config)
