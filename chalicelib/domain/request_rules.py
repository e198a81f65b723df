"""What every request body shares: the base model, metadata, and how a check fails.

requests.py (assistants, threads, runs) and vector_store_requests.py both build on it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError

MAX_METADATA_KEYS = 16
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512


def fail(message: str, param: str | None = None) -> PydanticCustomError:
    """A validation failure; `param`, when given, overrides the field path the API reports."""
    return PydanticCustomError("invalid_value", message, {"param": param} if param else None)


def check_metadata(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise fail("Invalid type for 'metadata': expected an object.", "metadata")
    if len(value) > MAX_METADATA_KEYS:
        raise fail(
            f"Invalid 'metadata': too many properties. Expected an object with at most "
            f"{MAX_METADATA_KEYS} properties, but got an object with {len(value)} properties "
            "instead.",
            "metadata",
        )
    for key, item in value.items():
        if not key:
            raise fail(
                "Invalid 'metadata': empty key. Expected keys of 1 to "
                f"{MAX_METADATA_KEY_CHARS} characters, but got an empty key instead.",
                "metadata",
            )
        if len(key) > MAX_METADATA_KEY_CHARS:
            raise fail(
                f"Invalid 'metadata': key '{key[:80]}' is too long. Expected a key with at most "
                f"{MAX_METADATA_KEY_CHARS} characters, but got {len(key)} characters instead.",
                "metadata",
            )
        if not isinstance(item, str):
            raise fail(f"Invalid type for 'metadata.{key}': expected a string.", f"metadata.{key}")
        if len(item) > MAX_METADATA_VALUE_CHARS:
            raise fail(
                f"Invalid 'metadata.{key}': string too long. Expected a string with maximum "
                f"length {MAX_METADATA_VALUE_CHARS}, but got a string with length {len(item)} "
                "instead.",
                f"metadata.{key}",
            )
    return dict(value)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("metadata", mode="before", check_fields=False)
    @classmethod
    def _metadata(cls, value: Any) -> Any:
        return check_metadata(value)
