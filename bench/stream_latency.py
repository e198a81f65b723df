"""Time to the first text against the whole turn: streaming (`runs.stream`) and polling
(`create_and_poll`), on a slow local model.

    .venv/bin/python bench/stream_latency.py [--runs 5] [--tokens 20] [--interval 0.1]

Starts a chat-completions server on 127.0.0.1 that writes `tokens` words `interval` s apart,
and the local API server (`make run`'s) on it with MODEL_PROVIDER=openai. Streaming: the first
text is the first `thread.message.delta`. Polling: the text can only be read once the run has
completed, so the first text is when `create_and_poll` returns (poll hint 50 ms), then the
message read.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import openai  # noqa: E402
from openai import AssistantEventHandler  # noqa: E402
from openai.types.beta.threads import Text, TextDelta  # noqa: E402

from tests.support.live_server import start_server  # noqa: E402
from tests.support.slow_chat_server import slow_chat_server  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)


class FirstDelta(AssistantEventHandler):
    def __init__(self, started: float) -> None:
        super().__init__()
        self.started = started
        self.first: float | None = None
        self.deltas = 0

    def on_text_delta(self, delta: TextDelta, snapshot: Text) -> None:
        self.deltas += 1
        if self.first is None:
            self.first = time.monotonic() - self.started


def streamed(client: openai.OpenAI, assistant_id: str) -> tuple[float, float, int]:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
    started = time.monotonic()
    handler = FirstDelta(started)
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant_id, event_handler=handler
    ) as stream:
        stream.until_done()
    total = time.monotonic() - started
    assert handler.first is not None
    return handler.first, total, handler.deltas


def polled(client: openai.OpenAI, assistant_id: str) -> tuple[float, float, int]:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
    started = time.monotonic()
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant_id)
    assert run.status == "completed", run.status
    client.beta.threads.messages.list(thread_id=thread.id, run_id=run.id)
    total = time.monotonic() - started
    return total, total, 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.1)
    args = parser.parse_args()
    with slow_chat_server(args.tokens, args.interval) as model_url:
        env = {"MODEL_PROVIDER": "openai", "OPENAI_COMPAT_BASE_URL": model_url, "MODEL_MAP": ""}
        with start_server(env) as server:
            client = openai.OpenAI(
                base_url=server.base_url, api_key="sk-bench-" + uuid.uuid4().hex, max_retries=0
            )
            assistant = client.beta.assistants.create(model="gpt-4o")
            print(
                f"slow model: {args.tokens} tokens, {args.interval * 1000:.0f} ms apart; "
                f"{args.runs} runs each (medians)"
            )
            print(
                f"{'mode':<10}{'first text s':>14}{'total s':>10}{'first/total':>13}{'deltas':>8}"
            )
            for name, measure in (("streaming", streamed), ("polling", polled)):
                figures = [measure(client, assistant.id) for _ in range(args.runs)]
                first = statistics.median(f[0] for f in figures)
                total = statistics.median(f[1] for f in figures)
                deltas = statistics.median(f[2] for f in figures)
                print(f"{name:<10}{first:>14.3f}{total:>10.3f}{first / total:>13.1%}{deltas:>8.0f}")


if __name__ == "__main__":
    main()
