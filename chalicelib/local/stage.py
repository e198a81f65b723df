"""The local stage (`make run` and `chalice local --stage local`): what SQS and the schedule do
when deployed, done in-process, on the embedded engine.

`start_local_stage` runs when app.py is imported with STAGE=local, so both ways of starting the
local server get the same thing: settings checked at startup (one clear message, not a 500 on
every request), the store's schema, the hardened HTTP handling, worker threads (the dispatcher)
and a sweeper thread.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger("local")
_started = False
_lock = threading.Lock()


def _start_sweeper(interval: float) -> None:
    from ..services.sweeper import expire_stale_runs
    from ..wiring import get_services

    def tick() -> None:
        stop = threading.Event()
        while not stop.wait(interval):
            try:
                expire_stale_runs(get_services())
            except Exception:
                log.exception("sweep failed")

    threading.Thread(target=tick, name="sweeper", daemon=True).start()


def _resume_queued_runs() -> int:
    """Queued runs whose jobs were in the last process's memory: send them again now rather
    than after QUEUED_RESEND_AFTER_SECONDS (a duplicate delivery finds nothing to claim).
    Runs that were executing come back when their lease lapses (the sweeper)."""
    from ..dispatch.base import run_job
    from ..domain import lifecycle
    from ..wiring import get_services

    svc = get_services()
    resumed = 0
    for entry in svc.store.runs_pending_since(svc.clock.now() + 1):
        if entry.status == lifecycle.QUEUED:
            svc.dispatcher.send(run_job(entry.project, entry.thread_id, entry.run_id))
            resumed += 1
    return resumed


def _body_limit(settings: Settings) -> int:
    """What the HTTP layer reads at most: a JSON body, or an upload of FILE_MAX_BYTES and its
    form (each route then applies its own limit, with a 413 in the OpenAI shape)."""
    from ..api.router import MULTIPART_OVERHEAD_BYTES

    return max(settings.max_body_bytes, settings.file_max_bytes + MULTIPART_OVERHEAD_BYTES)


def _describe(settings: Settings) -> str:
    from ..config import DATABASE_FILE

    if settings.store_engine == "sqlite":
        where = f"embedded SQLite at {os.path.join(settings.data_dir, DATABASE_FILE)}"
    else:
        endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or "AWS"
        where = f"DynamoDB table {settings.table_name!r} at {endpoint}"
    return f"Local stage: any API key is accepted (each key is its own project); data: {where}"


def start_local_stage() -> None:
    """Check the settings, prepare the store and start the background threads (once)."""
    global _started
    with _lock:
        if _started:
            return
        from ..wiring import get_services
        from . import http

        try:
            svc = get_services()
            svc.store.create_schema()
            svc.vectors.create_schema()
        except Exception as error:  # whatever it is, the server must not start half-configured
            raise SystemExit(f"assistants-runs: cannot start the local stage: {error}") from None
        http.install(_body_limit(svc.settings), svc.settings.local_read_timeout_seconds)
        _start_sweeper(float(os.environ.get("SWEEP_INTERVAL_SECONDS", "5")))
        print(_describe(svc.settings), file=sys.stderr, flush=True)
        resumed = _resume_queued_runs()
        if resumed:
            print(f"Resumed {resumed} queued run(s) from before the restart", file=sys.stderr)
        _started = True
