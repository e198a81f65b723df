"""`make run`: the API on 127.0.0.1 with a worker thread, a sweeper timer and an embedded DB.

chalice local serves routes only; this starts the same local server with what the deployed
stack gets from SQS and the schedule: runs execute on worker threads, the sweeper runs on a timer.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("local")


def _openai_404_for_unknown_routes() -> None:
    """chalice local answers an unknown route like API Gateway (403); we answer OpenAI's 404."""
    from chalice import local

    original = local.LocalGateway.handle_request

    def handle_request(self: Any, method: str, path: str, headers: Any, body: Any) -> Any:
        try:
            return original(self, method, path, headers, body)
        except local.ForbiddenError:
            error = {
                "error": {
                    "message": f"Invalid URL ({method} {path.split('?', 1)[0]})",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            }
            return {
                "statusCode": 404,
                "headers": {"Content-Type": "application/json"},
                "multiValueHeaders": {},
                "body": json.dumps(error),
            }

    local.LocalGateway.handle_request = handle_request


def _start_sweeper(interval: float) -> threading.Thread:
    from ..services.sweeper import expire_stale_runs
    from ..wiring import get_services

    def tick() -> None:
        stop = threading.Event()
        while not stop.wait(interval):
            try:
                expire_stale_runs(get_services())
            except Exception:
                log.exception("sweep failed")

    thread = threading.Thread(target=tick, name="sweeper", daemon=True)
    thread.start()
    return thread


def prepare(port: int) -> Any:
    """Set up the database and services; returns the chalice local server (not yet serving)."""
    os.environ.setdefault("STAGE", "local")
    from .embedded import start_embedded_dynamodb, uses_real_dynamodb

    if not uses_real_dynamodb():
        start_embedded_dynamodb()
    from chalice.cli import create_local_server
    from chalice.cli import factory as cli_factory

    # A copy: chalice writes the stage's variables into the environ it is given, which would let
    # .chalice/config.json override what the process was started with (POLL_AFTER_MS=50 ...).
    factory = cli_factory.CLIFactory(project_dir=str(ROOT), environ=dict(os.environ))
    stage = factory.create_config_obj(chalice_stage_name="local")
    for name, value in stage.environment_variables.items():
        os.environ.setdefault(name, value)  # the stage's values are defaults; the process wins
    import boto3

    from ..config import load_settings
    from ..store.table import create_table

    settings = load_settings()
    create_table(boto3.client("dynamodb"), settings.table_name)
    _openai_404_for_unknown_routes()
    from chalice import local

    # chalice local sends headers and body in two writes: with Nagle's algorithm on, every
    # request on a keep-alive connection (the SDK's) waits ~40 ms for the client's delayed ACK.
    local.ChaliceRequestHandler.disable_nagle_algorithm = True
    from .streaming import serve_streams

    serve_streams(local.ChaliceRequestHandler)  # stream: true answers frame by frame
    _start_sweeper(float(os.environ.get("SWEEP_INTERVAL_SECONDS", "5")))

    return create_local_server(factory, "127.0.0.1", port, "local")


def main() -> None:
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    port = int(os.environ.get("PORT", "8000"))
    server = prepare(port)
    print(f"Serving the Assistants API on http://127.0.0.1:{port}/v1", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
