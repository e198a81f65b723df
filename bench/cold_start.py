"""Cold start: `import app`, and `import app` + a first GetItem, against bare boto3 doing the same.

    .venv/bin/python bench/cold_start.py [--runs 15] [--zip build/package/deployment.zip]

The app is imported from the extracted deployment zip, as Lambda does: the packaged chalice
runtime and the manylinux pydantic wheels, with boto3 from this interpreter (Lambda ships its
own). Each figure is the median wall time of `python -c "import X"` minus the median of
`python -c "pass"` (the interpreter's own start). The first GetItem goes to a stub DynamoDB on
127.0.0.1 (an empty item), so it counts building the client and the services, not the network.
Without --zip it reuses
build/package/deployment.zip (`make package`), or packages once into a temporary directory.
Prints figures only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Filled in by main(): the stub endpoint and dummy credentials (nothing leaves the machine).
_FAKE_AWS: dict[str, str] = {}
BUILT_ZIP = ROOT / "build" / "package" / "deployment.zip"
# Modules a request path may need but `import app` should not pay for (or never load at all).
WATCHED = (
    "boto3",
    "botocore",
    "s3transfer",
    "moto",
    "openai",
    "httpx",
    "pydantic",
    "pydantic_core",
    "chalicelib.providers.bedrock",
    "chalicelib.providers.openai_compat",
    "chalicelib.store.store",
    "urllib.request",
    "http.client",
    "concurrent.futures",
)


_APP_GET_ITEM = (
    "import app\nfrom chalicelib.wiring import get_services\n"
    "get_services().store.get_run('p', 'thread_x', 'run_x')"
)
_BOTO3_GET_ITEM = (
    "import boto3\nboto3.client('dynamodb').get_item("
    "TableName='assistants-runs', Key={'pk': {'S': 'p'}, 'sk': {'S': 'RUN#x'}})"
)


class _EmptyDynamoDB(BaseHTTPRequestHandler):
    """Answers every DynamoDB call with an empty JSON object (GetItem: no such item)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def _stub_dynamodb() -> str:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EmptyDynamoDB)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def _package(out: Path) -> Path:
    chalice = Path(sysconfig.get_path("scripts")) / "chalice"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    command = [str(chalice), "package", "--stage", "dev"]
    command += ["--merge-template", "infra/resources.json", str(out)]
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    return out / "deployment.zip"


def _run(code: str, cwd: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "AWS_DEFAULT_REGION": "us-east-1"}
    env.update(_FAKE_AWS)
    return subprocess.run(
        [sys.executable, *flags, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


def _elapsed_ms(code: str, cwd: Path) -> float:
    start = time.perf_counter()
    _run(code, cwd)
    return (time.perf_counter() - start) * 1000


def _self_time_by_package(module: str, cwd: Path) -> list[tuple[str, float]]:
    """Where `import module` spends its time: -X importtime self µs, by top-level package."""
    stderr = _run(f"import {module}", cwd, "-X", "importtime").stderr
    totals: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        own, _, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if own.isdigit():
            package = name.split(".", 1)[0]
            totals[package] = totals.get(package, 0.0) + int(own) / 1000
    return sorted(totals.items(), key=lambda row: row[1], reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--zip", type=Path, help="a deployment.zip (default: build/package)")
    args = parser.parse_args()

    _FAKE_AWS.update(
        AWS_ENDPOINT_URL_DYNAMODB=_stub_dynamodb(),
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        STAGE="dev",
        RUN_QUEUE_URL="http://127.0.0.1:1/queue",
    )
    with tempfile.TemporaryDirectory() as tmp:
        zip_path = args.zip or (BUILT_ZIP if BUILT_ZIP.exists() else _package(Path(tmp) / "pkg"))
        size = zip_path.stat().st_size
        names = zipfile.ZipFile(zip_path).namelist()
        shipped_pyc = sum(1 for name in names if name.endswith(".pyc"))
        # As shipped: /var/task is read-only, so Python can only use the .pyc files the zip
        # carries (infra/precompile.py adds them); anything else it compiles from source on
        # every cold start (hence PYTHONDONTWRITEBYTECODE).
        source = Path(tmp) / "source"
        zipfile.ZipFile(zip_path).extractall(source)
        # Compiled: everything precompiled, for comparison.
        compiled = Path(tmp) / "compiled"
        zipfile.ZipFile(zip_path).extractall(compiled)
        _run("import compileall; compileall.compile_dir('.', quiet=1)", compiled)

        # Interleaved rounds, so a noisy machine slows every measurement alike.
        cases = {
            "pass": ("pass", source),
            "app_source": ("import app", source),
            "app": ("import app", compiled),
            "boto3": ("import boto3", compiled),
            "app_get": (_APP_GET_ITEM, source),
            "boto3_get": (_BOTO3_GET_ITEM, compiled),
        }
        samples: dict[str, list[float]] = {case: [] for case in cases}
        for _ in range(args.runs):
            for case, (code, cwd) in cases.items():
                samples[case].append(_elapsed_ms(code, cwd))
        median = {case: statistics.median(values) for case, values in samples.items()}
        base = median["pass"]
        app_source_ms = median["app_source"] - base
        app_ms = median["app"] - base
        boto_ms = median["boto3"] - base
        app_get_ms = median["app_get"] - base
        boto_get_ms = median["boto3_get"] - base
        probe = (
            "import app, sys, json; boto3 = sys.modules.get('boto3'); "
            "print(json.dumps([sorted(sys.modules), getattr(boto3, 'DEFAULT_SESSION', None) "
            "is not None, getattr(sys.modules.get('chalicelib.wiring'), '_services', 0) "
            "is not None]))"
        )
        loaded, session_made, services_built = json.loads(_run(probe, compiled).stdout)
        packages = _self_time_by_package("app", compiled)

    print(f"deployment.zip           {size / 1e6:.2f} MB ({size} bytes; limit 10 MB)  {zip_path}")
    print(f".pyc files in the zip    {shipped_pyc}")
    print(f"interpreter start        {base:7.1f} ms  (median of {args.runs}; subtracted below)")
    print(f"import app, as shipped   {app_source_ms:7.1f} ms  ({shipped_pyc} .pyc in the zip)")
    print(f"import app, compiled     {app_ms:7.1f} ms")
    print(f"import boto3, compiled   {boto_ms:7.1f} ms")
    print(
        f"ratio app / boto3        {app_source_ms / boto_ms:7.2f} as shipped, "
        f"{app_ms / boto_ms:.2f} compiled"
    )
    print(
        f"import app + 1st GetItem {app_get_ms:7.1f} ms  (as shipped: services built, one GetItem)"
    )
    print(f"import boto3 + GetItem   {boto_get_ms:7.1f} ms  (a client, one GetItem)")
    print(f"ratio with a first GetItem {app_get_ms / boto_get_ms:5.2f} as shipped")
    print(f"boto3 session/client created by `import app`: {'YES' if session_made else 'no'}")
    print(f"services (store, provider) built by `import app`: {'YES' if services_built else 'no'}")
    print(f"modules loaded by `import app`: {len(loaded)}; of those to watch:")
    for name in WATCHED:
        print(f"  {name:34} {'LOADED' if name in loaded else '-'}")
    print("`import app` self time by top-level package (-X importtime, compiled, one run):")
    for package, ms in packages[:10]:
        print(f"  {ms:7.1f} ms  {package}")


if __name__ == "__main__":
    main()
