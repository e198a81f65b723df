"""Run dynalite (npm ``dynalite``, an independent DynamoDB implementation) on 127.0.0.1 for tests.

``start_dynalite()`` launches ``node_modules/.bin/dynalite --host 127.0.0.1 --port <free port>``
in memory (no ``--path``), waits until it answers ``ListTables`` and returns a ``DynaliteServer``
with ``.endpoint_url`` and ``.stop()``.

What dynalite 4.0.0 does (checked by tests/test_dynalite_support.py):

* Tables and GSIs (hash + range keys), Query on a GSI, ConditionExpression failing with
  ``ConditionalCheckFailedException``, BatchWriteItem, DescribeTimeToLive: supported.
* ``TransactWriteItems``/``TransactGetItems`` (and ``UpdateTimeToLive``, PartiQL): not
  implemented; the call fails with ``UnknownOperationException`` (HTTP 400) and writes nothing.
* ``ReturnValuesOnConditionCheckFailure=ALL_OLD`` is accepted but ignored: the error carries no
  ``Item``.
* New tables stay ``CREATING`` for 500 ms unless ``--createTableMs`` is passed (``extra_args``).

moto: ``mock_aws`` adds a ``before-send`` hook to every botocore client, but (moto 5.2) it only
answers URLs that look like AWS hosts (``dynamodb.<region>.amazonaws.com``); requests to
``http://127.0.0.1:<port>`` pass through to dynalite. Creating dynalite clients outside any
``mock_aws`` context is still the safe rule (``mock_aws`` also swaps in fake AWS credentials).
"""

from __future__ import annotations

import atexit
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

__all__ = ["DynaliteServer", "dynalite_client", "start_dynalite"]

REPO_ROOT = Path(__file__).resolve().parents[2]
DYNALITE_BIN = REPO_ROOT / "node_modules" / ".bin" / "dynalite"
HOST = "127.0.0.1"
REGION = "us-east-1"
STARTUP_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
_POLL_INTERVAL_S = 0.05
_PORT_ATTEMPTS = 3
_READY_BANNER = "Dynalite listening at:"


def dynalite_client(endpoint_url: str, *, timeout: float = 10.0) -> Any:
    """A boto3 DynamoDB client for ``endpoint_url`` with dummy credentials in us-east-1.

    Create it outside any moto ``mock_aws`` context (see the module docstring).
    """
    config = Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"total_max_attempts": 1},
    )
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="dynalite",
        aws_secret_access_key="dynalite",
        config=config,
    )


@dataclass
class DynaliteServer:
    """A running dynalite process. ``stop()`` is idempotent; also usable as a context manager."""

    process: subprocess.Popen[bytes]
    port: int
    host: str = HOST
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client(self) -> Any:
        """A boto3 DynamoDB client for this server (dummy credentials, us-east-1)."""
        return dynalite_client(self.endpoint_url)

    def output(self) -> str:
        """Everything the process wrote to stdout/stderr so far."""
        if self._log is None or self._log.closed:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def stop(self) -> None:
        """Terminate the process (SIGTERM), wait, and kill it if it does not exit in time."""
        atexit.unregister(self.stop)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)
        if self._log is not None and not self._log.closed:
            self._log.close()

    def __enter__(self) -> DynaliteServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _wait_until_ready(server: DynaliteServer, timeout: float) -> None:
    client = dynalite_client(server.endpoint_url, timeout=1.0)
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"dynalite exited with code {server.process.returncode} before it was ready "
                f"on {server.endpoint_url}.\nOutput:\n{server.output()}"
            )
        # Require our own process's banner too: otherwise another server already on the port
        # would answer ListTables while our process dies with EADDRINUSE.
        if _READY_BANNER in server.output():
            try:
                client.list_tables(Limit=1)
                return
            except (BotoCoreError, ClientError) as exc:
                last_error = exc
        time.sleep(_POLL_INTERVAL_S)
    raise RuntimeError(
        f"dynalite did not answer ListTables on {server.endpoint_url} within {timeout:.0f} s "
        f"(last error: {last_error!r}).\nOutput:\n{server.output()}"
    )


def start_dynalite(
    port: int | None = None,
    *,
    extra_args: Sequence[str] = (),
    startup_timeout: float = STARTUP_TIMEOUT_S,
) -> DynaliteServer:
    """Start an in-memory dynalite on 127.0.0.1 and wait until it serves ``ListTables``.

    ``port=None`` picks a free port (retrying if another process grabs it first).
    ``extra_args`` go to the CLI, e.g. ``["--createTableMs", "0"]``.
    Raises ``RuntimeError`` (with the process output) if it cannot start.
    """
    if not DYNALITE_BIN.exists():
        raise RuntimeError(
            f"{DYNALITE_BIN} not found: run `npm install` in {REPO_ROOT} "
            "(package.json lists dynalite as a devDependency)."
        )
    if shutil.which("node") is None:
        raise RuntimeError("`node` is not on PATH; dynalite needs Node.js >= 16.")

    attempts = 1 if port is not None else _PORT_ATTEMPTS
    last_failure: RuntimeError | None = None
    for _ in range(attempts):
        chosen = port if port is not None else _free_port()
        log = tempfile.TemporaryFile()  # noqa: SIM115 - owned and closed by DynaliteServer.stop
        command = [str(DYNALITE_BIN), "--host", HOST, "--port", str(chosen), *extra_args]
        try:
            process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        except OSError as exc:
            log.close()
            raise RuntimeError(f"could not run {command}: {exc}") from exc
        server = DynaliteServer(process=process, port=chosen, _log=log)
        try:
            _wait_until_ready(server, startup_timeout)
        except RuntimeError as exc:
            output = server.output()
            server.stop()
            last_failure = exc
            if "EADDRINUSE" in output:
                continue
            raise
        atexit.register(server.stop)  # safety net if a test forgets; stop() unregisters it
        return server
    assert last_failure is not None
    raise last_failure
