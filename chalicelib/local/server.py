"""`make run`: the API on 127.0.0.1 with worker threads, a sweeper thread and the embedded engine.

The same as `chalice local --stage local` (both start the local stage when app.py is imported),
plus `--reset`, and the stage's variables from .chalice/config.json as defaults that the
process's own environment overrides.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def prepare(port: int) -> Any:
    """Set up the stage's environment; returns the chalice local server (not yet serving)."""
    from chalice.cli import create_local_server
    from chalice.cli import factory as cli_factory

    # A copy: chalice writes the stage's variables into the environ it is given, which would let
    # .chalice/config.json override what the process was started with (POLL_AFTER_MS=50 ...).
    factory = cli_factory.CLIFactory(project_dir=str(ROOT), environ=dict(os.environ))
    stage = factory.create_config_obj(chalice_stage_name="local")
    for name, value in stage.environment_variables.items():
        os.environ.setdefault(name, value)  # the stage's values are defaults; the process wins
    os.environ["STAGE"] = "local"
    return create_local_server(factory, "127.0.0.1", port, "local")


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the Assistants API locally.")
    parser.add_argument(
        "--reset", action="store_true", help="delete the local data first (a fresh start)"
    )
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    if args.reset:
        from ..config import load_settings

        data_dir = load_settings({**os.environ, "STAGE": "local"}).data_dir
        shutil.rmtree(data_dir, ignore_errors=True)
        print(f"Deleted {data_dir}", flush=True)
    port = int(os.environ.get("PORT", "8000"))
    server = prepare(port)
    print(f"Serving the Assistants API on http://127.0.0.1:{port}/v1", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
