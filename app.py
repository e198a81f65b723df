"""The Chalice app: wiring only. Routes live in chalicelib/api, use cases in chalicelib/services."""

from __future__ import annotations

import json
import os

from chalice import Chalice, Rate

from chalicelib.api import assistants, files, inspector, runs, threads, vector_stores
from chalicelib.observability import logs
from chalicelib.services.jobs import handle_job
from chalicelib.services.sweeper import expire_stale_runs
from chalicelib.wiring import get_services

app = Chalice(app_name="assistants-runs")
logs.configure()

# Uploads and file downloads pass through as bytes (deployed: the REST API's binary media types).
app.api.binary_types.extend(files.BINARY_TYPES)
for module in (assistants, threads, runs, files, vector_stores):
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
        job = json.loads(record.body)
        ids = {key: job.get(key) for key in ("project", "thread_id", "run_id")}
        with logs.context(request_id=getattr(event.context, "aws_request_id", None), **ids):
            handle_job(get_services(), job)


# The three POSTs that can stream are routed to this function (infra/resources.json). Its exec
# wrapper (chalicelib/lambda_stream/bootstrap) replaces the Python runtime's loop with one that
# streams responses, so this handler is never called; if it is, the wrapper is missing.
@app.lambda_function(name="stream_handler")
def stream_handler(event, context) -> None:  # type: ignore[no-untyped-def]
    raise RuntimeError(
        "stream_handler runs under AWS_LAMBDA_EXEC_WRAPPER (lambda_stream/bootstrap)"
    )


# Read when the app is packaged: the schedule is part of the deployed template.
SWEEP_EVERY_MINUTES = int(os.environ.get("SWEEP_EVERY_MINUTES", "1"))


@app.schedule(Rate(SWEEP_EVERY_MINUTES, unit=Rate.MINUTES), name="sweeper")
def sweeper(event) -> None:  # type: ignore[no-untyped-def]
    with logs.context(request_id=getattr(event.context, "aws_request_id", None)):
        expire_stale_runs(get_services())


# The local stage (`make run`, `chalice local --stage local`): worker threads, the sweeper and the
# embedded engine in this process. Deployed stages never take this branch.
if os.environ.get("STAGE") == "local":
    from chalicelib.local.stage import start_local_stage

    start_local_stage()
