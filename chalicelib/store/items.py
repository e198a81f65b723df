"""Records as stored items and back: the one translation every part of the store uses."""

from __future__ import annotations

from typing import Any

from . import keys
from .engine import Item
from .limits import check_size

Record = dict[str, Any]


def strip_item(item: Item | None) -> Record | None:
    """A stored item without its key, index and retention attributes."""
    if item is None:
        return None
    return {k: v for k, v in item.items() if k not in ("pk", "sk", "ttl", *keys.INDEX_ATTRS)}


def record_item(pk: str, sk: str, record: Record, **extra: Any) -> Item:
    """A record as an item: size-checked; top-level nulls are not stored (to_wire restores them)."""
    check_size(record, record.get("object", "object").replace("thread.", ""))
    return {k: v for k, v in {"pk": pk, "sk": sk, **record, **extra}.items() if v is not None}
