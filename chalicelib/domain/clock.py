"""Time, in integer unix seconds, behind a tiny interface so tests can move it (tests/support)."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> int: ...


class SystemClock:
    def now(self) -> int:
        return int(time.time())
