"""The Chalice app: wiring only. Routes live in chalicelib/api, use cases in chalicelib/services."""

from __future__ import annotations

import json
import os

from chalice import Chalice, Rate

from chalicelib.api import assistants, inspector, runs, threads
from chalicelib.services.jobs import handle_job
from chalicelib.services.sweeper import expire_stale_runs
from chalicelib.wiring import get_services

app = Chalice(app_name="assistants-runs")

for module in (assistants, threads, runs):
    module.router.register(app, get_services)
inspector.register(app)  # the static page: no key needed to load it


# Read when the app is packaged, like the schedule below. The queue name is only a label here:
# infra/resources.json points the deployed event source at the stack's own queue (JobQueue).
# MaximumConcurrency caps parallel runs (and so parallel model calls) without reserving capacity.
WORKER_MAX_CONCURRENCY = int(os.environ.get("WORKER_MAX_CONCURRENCY", "10"))


@app.on_sqs_message(
    queue="assistants-runs-jobs",
    batch_size=1,
    name="run_worker",
    maximum_concurrency=WORKER_MAX_CONCURRENCY,
)
def run_worker(event) -> None:  # type: ignore[no-untyped-def]
    for record in event:
        handle_job(get_services(), json.loads(record.body))


# Read when the app is packaged: the schedule is part of the deployed template.
SWEEP_EVERY_MINUTES = int(os.environ.get("SWEEP_EVERY_MINUTES", "1"))


@app.schedule(Rate(SWEEP_EVERY_MINUTES, unit=Rate.MINUTES), name="sweeper")
def sweeper(event) -> None:  # type: ignore[no-untyped-def]
    expire_stale_runs(get_services())
