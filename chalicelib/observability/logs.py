"""Structured JSON logs at an explicit level, carrying the ids of what is being worked on.

On Lambda the stack sets the native JSON log format (LoggingConfig), so the runtime writes each
record as JSON with its timestamp, level and request id; `context(...)` adds project, thread and
run ids to every record logged inside it. Elsewhere (make run, tests) `configure()` installs the
same shape of formatter. LOG_LEVEL sets the level everywhere (default INFO).
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

# The ids a record carries; empty ones are left out.
FIELDS = ("request_id", "project", "thread_id", "run_id")
_ids: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar(
    "log_ids", default=()
)
_configured = False


class _AddIds(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _ids.get():
            setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, in the shape of Lambda's native JSON format."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value:
                line[name] = value
        if record.exc_info:
            line["stackTrace"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure() -> None:
    """Once per process: the level from LOG_LEVEL, the ids on every record, JSON off Lambda."""
    global _configured
    if _configured:
        return
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    level = "WARNING" if level == "WARN" else level  # Lambda's spelling
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError(f"LOG_LEVEL={level!r}: expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
    root = logging.getLogger()
    root.setLevel(level)
    if not root.handlers:  # Lambda's runtime installs its own (JSON) handler
        root.addHandler(json_handler())
    for handler in root.handlers:
        handler.addFilter(_AddIds())
    _configured = True


def json_handler(stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing JSON lines with the ids of the current context."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(_AddIds())
    return handler


@contextmanager
def context(**ids: str | None) -> Iterator[None]:
    """Every record logged inside carries these ids (and those of an enclosing context)."""
    merged = {**dict(_ids.get()), **{k: v for k, v in ids.items() if v}}
    token = _ids.set(tuple(merged.items()))
    try:
        yield
    finally:
        _ids.reset(token)
