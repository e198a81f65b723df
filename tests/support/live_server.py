"""Start the local server (`python -m chalicelib.local.server`) in a subprocess on a free port.

    with start_server() as server:
        requests.get(server.base_url + "/assistants", headers=...)

The server gets STAGE=local, the embedded engine on a data directory of its own (removed when
it stops; no AWS variables and no TABLE_NAME are passed on, so it can never reach a real table),
a sweeper every second and a 50 ms poll hint. `dynamodb_env` instead points it at a DynamoDB
endpoint on 127.0.0.1 (moto's server mode, tests/support/moto_server.py).
Its output goes to a temporary log file, readable with `.log()` until `.stop()`
removes it (`start_server(keep_log=True)` keeps it, e.g. to read after a failure).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 30.0
# Variables that would point the server at a real database or a real AWS account.
_DROPPED_PREFIXES = ("AWS_",)
_DROPPED_NAMES = frozenset({"TABLE_NAME", "USE_AWS", "RUN_QUEUE_URL"})


class ServerStartError(RuntimeError):
    """The server exited, or did not answer in time; the message carries its log."""


class LiveServer:
    """A running local server; stop it with `.stop()` or by leaving a `with` block."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        port: int,
        log_path: Path,
        keep_log: bool = False,
        data_dir: Path | None = None,
    ) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path
        self.keep_log = keep_log
        self.data_dir = data_dir  # removed on stop when the server made it

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Terminate the server (kill it if it does not exit within 10 s). Idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if not self.keep_log:
            self.log_path.unlink(missing_ok=True)
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    """True once GET /v1/assistants gets any HTTP answer (a 401 will do: the server is up)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with opener.open(f"http://127.0.0.1:{port}/v1/assistants", timeout=2.0):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, urllib.error.URLError):
        return False


def server_env(port: int, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_DROPPED_PREFIXES) and k not in _DROPPED_NAMES
    }
    env.update(
        PORT=str(port),
        STAGE="local",
        SWEEP_INTERVAL_SECONDS="1",
        POLL_AFTER_MS="50",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra_env or {})
    return env


def dynamodb_env(endpoint: str) -> dict[str, str]:
    """What points a server at the DynamoDB endpoint `endpoint`, on a table of its own."""
    return {
        "STORE_ENGINE": "dynamodb",
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "TABLE_NAME": f"e2e-{uuid.uuid4().hex[:12]}",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def s3_env(endpoint: str) -> dict[str, str]:
    """What puts a server's file content in a bucket of its own (created here) at the S3
    endpoint `endpoint` (moto's server mode serves S3 beside DynamoDB): the deployed blob path."""
    import boto3

    bucket = f"e2e-files-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    s3.create_bucket(Bucket=bucket)
    return {"FILES_BUCKET": bucket, "AWS_ENDPOINT_URL_S3": endpoint}


def start_server(
    extra_env: dict[str, str] | None = None,
    keep_log: bool = False,
    args: tuple[str, ...] = (),
) -> LiveServer:
    """Start the local server and wait (at most 30 s) until it answers.

    Unless `extra_env` names a DATA_DIR, the server gets a new one, removed when it stops.
    """
    extra_env = dict(extra_env or {})
    made_dir = None
    if "DATA_DIR" not in extra_env:
        made_dir = Path(tempfile.mkdtemp(prefix="assistants-data-"))
        extra_env["DATA_DIR"] = str(made_dir)
    port = free_port()
    handle, name = tempfile.mkstemp(prefix=f"assistants-server-{port}-", suffix=".log")
    log_path = Path(name)
    with os.fdopen(handle, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.local.server", *args],
            cwd=ROOT,
            env=server_env(port, extra_env),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(process, port, log_path, keep_log, made_dir)
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not _answers(port):
        if process.poll() is not None:
            message = f"the server exited with {process.returncode}:\n{server.log()}"
            server.stop()
            raise ServerStartError(message)
        if time.monotonic() > deadline:
            message = f"no answer within {STARTUP_TIMEOUT_SECONDS:.0f} s:\n{server.log()}"
            server.stop()
            raise ServerStartError(message)
        time.sleep(0.1)
    return server
