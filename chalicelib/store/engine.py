"""What the store asks of a database engine, as data: keyed items, conditions, writes.

An item is a plain dict of JSON-like values with its keys (`pk`, `sk`) and, for runs, the sparse
index attributes. Conditions and writes are small dataclasses that each engine applies in its own
way: DynamoDB compiles them to expressions, the embedded engine evaluates them inside one SQLite
transaction. Both give the same answer; tests/test_store.py runs the same suite on each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..domain.transitions import IfMissing, Increment

Item = dict[str, Any]
Returns = Literal["new", "old"]


# -- conditions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Exists:
    attr: str


@dataclass(frozen=True)
class Missing:
    attr: str


@dataclass(frozen=True)
class Equals:
    attr: str
    value: Any


@dataclass(frozen=True)
class OneOf:
    attr: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Above:
    """attr > value"""

    attr: str
    value: Any


@dataclass(frozen=True)
class AtMost:
    """attr <= value"""

    attr: str
    value: Any


@dataclass(frozen=True)
class Either:
    options: tuple[Condition, ...]


@dataclass(frozen=True)
class All:
    parts: tuple[Condition, ...]


Condition = Exists | Missing | Equals | OneOf | Above | AtMost | Either | All


def holds(condition: Condition | None, item: Item | None) -> bool:
    """Whether `condition` holds for `item` (None: no such item), with DynamoDB's semantics."""
    if condition is None:
        return True
    item = item or {}
    match condition:
        case Exists(attr):
            return attr in item
        case Missing(attr):
            return attr not in item
        case Equals(attr, value):
            return attr in item and item[attr] == value
        case OneOf(attr, values):
            return attr in item and item[attr] in values
        case Above(attr, value):
            return _comparable(item.get(attr), value) and item[attr] > value
        case AtMost(attr, value):
            return _comparable(item.get(attr), value) and item[attr] <= value
        case Either(options):
            return any(holds(option, item) for option in options)
        case All(parts):
            return all(holds(part, item) for part in parts)
    raise TypeError(f"not a condition: {condition!r}")


def _comparable(current: Any, value: Any) -> bool:
    numbers = (int, float)
    if isinstance(current, bool) or isinstance(value, bool):
        return False
    if isinstance(current, numbers) and isinstance(value, numbers):
        return True
    return isinstance(current, str) and isinstance(value, str)


# -- writes --------------------------------------------------------------------------------


@dataclass
class Put:
    item: Item  # with pk and sk
    condition: Condition | None = None


@dataclass
class Update:
    """Set attributes (None removes one, IfMissing sets it only where absent, Increment adds)."""

    pk: str
    sk: str
    changes: dict[str, Any]
    condition: Condition | None = None


@dataclass
class Check:
    pk: str
    sk: str
    condition: Condition


Write = Put | Update | Check


def apply_changes(item: Item | None, changes: dict[str, Any], pk: str, sk: str) -> Item:
    """The item after an update: what both engines compute, and DynamoDB does server-side."""
    new = dict(item) if item else {"pk": pk, "sk": sk}
    for attr, value in changes.items():
        if value is None:
            new.pop(attr, None)
        elif isinstance(value, IfMissing):
            new.setdefault(attr, value.value)
        elif isinstance(value, Increment):
            new[attr] = new.get(attr, 0) + value.by
        else:
            new[attr] = value
    return new


@dataclass
class IndexPage:
    items: list[Item]
    # Where the next page starts (opaque to the store); None when the query is exhausted.
    next_start: Any = None


@dataclass
class KeyRange:
    """Sort keys between `low` and `high` (both inclusive) in one partition, in one direction."""

    pk: str
    low: str
    high: str
    forward: bool = True
    limit: int = 100
    equals: dict[str, str] = field(default_factory=dict)  # attribute filters


class StoreError(Exception):
    """The engine refused an operation the store should never send (a defect, not bad input)."""


class TransactionConflict(StoreError):
    """Concurrent transactions kept cancelling ours; retrying did not get through."""


class Engine(Protocol):
    """A database the store can run on. Every method is atomic on its own."""

    def create_schema(self) -> None: ...

    def get(self, pk: str, sk: str) -> Item | None: ...

    def put(self, write: Put) -> bool:
        """False when the condition failed (nothing written)."""
        ...

    def put_many(self, items: list[Item]) -> None:
        """Unconditional puts in bulk (seeding, tests); not necessarily one transaction."""
        ...

    def update(self, write: Update, returns: Returns = "new") -> Item | None:
        """The item after (or before) the update; None when the condition failed."""
        ...

    def delete(self, pk: str, sk: str) -> Item | None:
        """The deleted item, or None if there was none."""
        ...

    def transact(self, writes: list[Write]) -> list[bool] | None:
        """All or nothing. None when written; else, per write, whether its condition failed."""
        ...

    def query(self, key_range: KeyRange) -> list[Item]:
        """Up to `limit` items of the range that pass the filters, in sort-key order."""
        ...

    def query_index(
        self, index: str, partition: str, below: str, limit: int, start: Any = None
    ) -> IndexPage:
        """A sparse index's entries in one of its partitions with sort key < `below`."""
        ...

    def delete_under(self, pk: str, prefix: str, limit: int) -> tuple[int, bool]:
        """Delete up to `limit` items whose sort key starts with `prefix`: (deleted, none left)."""
        ...

    def remove_expired(self, now: int, limit: int) -> int:
        """Delete items whose `ttl` has passed (DynamoDB does this itself: it returns 0)."""
        ...
