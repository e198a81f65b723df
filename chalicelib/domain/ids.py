"""Object IDs: a prefix plus 24 characters from [0-9A-Za-z] that sort in creation order.

The 24 characters are a base62 number: milliseconds since the epoch in the high digits, random
low digits, and a per-process monotonic bump so that two IDs made in the same millisecond (or
with a clock that stepped back) still sort in the order they were made. The alphabet is in ASCII
order, so string order is numeric order and a list cursor is a plain key range in DynamoDB.
"""

from __future__ import annotations

import re
import secrets
import threading
import time

from .errors import NotFound

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ID_LENGTH = 24
_RANDOM_DIGITS = 15  # 24 - 9 time digits: 62**9 ms lasts far beyond any deployment
_RANDOM_SPAN = 62**_RANDOM_DIGITS
_MAX_VALUE = 62**ID_LENGTH - 1

PREFIXES = {
    "assistant": "asst_",
    "thread": "thread_",
    "message": "msg_",
    "run": "run_",
    "step": "step_",
    "call": "call_",
    "file": "file-",
    "vector_store": "vs_",
    "file_batch": "vsfb_",
}

_lock = threading.Lock()
_last_value = 0


def _encode(value: int) -> str:
    chars = []
    for _ in range(ID_LENGTH):
        value, digit = divmod(value, 62)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


def new_id(kind: str) -> str:
    """A fresh ID for an object of `kind` (a key of PREFIXES)."""
    global _last_value
    prefix = PREFIXES[kind]
    # Leave headroom in the random part so the monotonic bump never carries into the time.
    candidate = time.time_ns() // 1_000_000 * _RANDOM_SPAN + secrets.randbelow(_RANDOM_SPAN // 2)
    with _lock:
        value = max(candidate, _last_value + 1)
        _last_value = value
    return prefix + _encode(min(value, _MAX_VALUE))


_PATTERNS = {kind: re.compile(re.escape(p) + "[0-9A-Za-z]{24}") for kind, p in PREFIXES.items()}


def is_valid_id(kind: str, value: str) -> bool:
    """True when `value` has the exact shape of an ID of `kind`."""
    return bool(_PATTERNS[kind].fullmatch(value))


def require_id(kind: str, value: str) -> None:
    """A 404 for an ID that is not of `kind`'s shape, exactly as for an unknown one.

    Checked before an ID reaches a key: DynamoDB refuses keys over 2048 bytes (partition) or
    1024 bytes (sort) and strings that are not valid UTF-8, which would otherwise be a 500.
    """
    if not is_valid_id(kind, value):
        raise NotFound(kind, value)
