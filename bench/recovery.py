"""How long a run waits after its worker dies: from kill -9 to the run's next terminal status.

Run: .venv/bin/python bench/recovery.py [--leases 2,5] [--sweep-seconds 1]

For each lease L (RUN_LEASE_SECONDS): a local server (embedded engine) whose model hangs on its
first call; once the run is in_progress, the server is killed with SIGKILL and started again on
the same data. Printed: seconds from the kill to `completed`, and that time over L. The goal is
at most 2 x L (plus the restart, which is reported apart): the lease lapses at most L after the
last renewal, and the sweeper, every --sweep-seconds, re-queues it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import openai  # noqa: E402

from tests.support.fake_chat import fake_chat  # noqa: E402
from tests.support.live_server import start_server  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)


def one(lease: int, sweep_seconds: float) -> tuple[float, float]:
    """(seconds from kill to completed, seconds the restart took)."""
    data_dir = Path(tempfile.mkdtemp(prefix="recovery-"))
    key = "sk-recovery-" + uuid.uuid4().hex
    try:
        with fake_chat(hang_first=1) as model:
            env = {
                "DATA_DIR": str(data_dir),
                "MODEL_PROVIDER": "openai",
                "OPENAI_COMPAT_BASE_URL": model.base_url,
                "RUN_LEASE_SECONDS": str(lease),
                "SWEEP_INTERVAL_SECONDS": str(sweep_seconds),
            }
            first = start_server(env)
            sdk = openai.OpenAI(base_url=first.base_url, api_key=key, max_retries=0)
            assistant = sdk.beta.assistants.create(model="fake")
            thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
            run = sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
            model.started.wait(30)
            time.sleep(lease / 2)  # mid-turn, with the lease renewed at least once or not
            killed = time.monotonic()
            os.kill(first.process.pid, signal.SIGKILL)
            first.process.wait(timeout=10)
            first.stop()
            second = start_server(env)
            restarted = time.monotonic() - killed
            sdk = openai.OpenAI(base_url=second.base_url, api_key=key, max_retries=0)
            while True:
                current = sdk.beta.threads.runs.retrieve(thread_id=thread.id, run_id=run.id)
                if current.status not in ("queued", "in_progress"):
                    break
                time.sleep(0.05)
            waited = time.monotonic() - killed
            assert current.status == "completed", current.status
            second.stop()
            return waited, restarted
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leases", default="2,5")
    parser.add_argument("--sweep-seconds", type=float, default=1)
    args = parser.parse_args()
    print(f"{'lease s':>8} {'kill->completed s':>18} {'restart s':>10} {'/ lease':>8}")
    for lease in (int(x) for x in args.leases.split(",")):
        waited, restarted = one(lease, args.sweep_seconds)
        print(f"{lease:>8} {waited:>18.2f} {restarted:>10.2f} {waited / lease:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
